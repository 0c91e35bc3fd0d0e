package importfmt

import (
	"time"

	"github.com/consentd/consentd"
)

// The salesforce format is a communication subscription consent export:
// the fields of the Create Consent action (ContactPointValue,
// CommunicationSubscriptionChannelType, ConsentStatus,
// ConsentCapturedDateTime, PartyId, ConsentCapturedSource...), or a Data
// Loader / report export of the CommSubscriptionConsent object
// (CommSubscriptionChannelTypeId, PrivacyConsentStatus), with the contact
// point's value in a ContactPointValue column.
//
//	ContactPointValue                       the address (required)
//	CommunicationSubscriptionChannelType    the channel type id (0eB..., 15 or 18 characters; or
//	  (or CommSubscriptionChannelTypeId)    a consentd channel type id), matched against the
//	                                        catalog's channel type external ids
//	ConsentStatus (or PrivacyConsentStatus) OPT_IN, OptIn -> opted_in; OPT_OUT, OptOut -> opted_out;
//	                                        OptInPending -> pending; OptOutPending -> opted_out
//	                                        (an opt-out request is honoured at once, never
//	                                        parked); Seen, NotSeen -> skipped (no decision)
//	ConsentCapturedDateTime                 captured_at; else LastModifiedDate, else CreatedDate
//	PartyId                                 party_id
//	ConsentCapturedSource, ConsentCapturedSourceType, ConsentCapturedSourceName,
//	ConsentCapturedSourceDetails, Name, and the channel type id as written:
//	                                        kept in source.details (not ConsentId: it holds
//	                                        the address, which stays out of the log)
//
// Times: Salesforce ISO ("2024-03-14T09:30:00.000+0000",
// "2024-03-14T09:30:00.000Z"), RFC 3339, or without a zone
// ("2024-03-14T09:30:00", "2024-03-14 09:30:00", read in Options.Location,
// default UTC).
var salesforceFormat = format{
	required: [][]string{
		req("ContactPointValue"),
		req("CommunicationSubscriptionChannelType", "CommSubscriptionChannelTypeId", "CommSubscriptionChannelType"),
		req("ConsentStatus", "PrivacyConsentStatus"),
		req("ConsentCapturedDateTime", "LastModifiedDate", "CreatedDate"),
	},
	setup: func(r *Reader, c columns) error {
		if err := noTarget(r, "purpose", "channel", "topic"); err != nil {
			return err
		}
		if r.opt.Catalog == nil {
			return consentd.FieldErrorf(consentd.EINVALID, "catalog", "the salesforce format needs the workspace's catalog to match channel types by external id")
		}
		s := &r.sf
		s.value = r.bind(c, "ContactPointValue")
		s.channelType = r.bind(c, "CommunicationSubscriptionChannelType", "CommSubscriptionChannelTypeId", "CommSubscriptionChannelType")
		s.status = r.bind(c, "ConsentStatus", "PrivacyConsentStatus")
		s.captured = r.bind(c, "ConsentCapturedDateTime")
		s.modified = r.bind(c, "LastModifiedDate")
		s.created = r.bind(c, "CreatedDate")
		s.partyID = r.bind(c, "PartyId")
		s.source = r.bind(c, "ConsentCapturedSource")
		s.sourceType = r.bind(c, "ConsentCapturedSourceType")
		s.sourceName = r.bind(c, "ConsentCapturedSourceName")
		s.sourceDetails = r.bind(c, "ConsentCapturedSourceDetails")
		s.name = r.bind(c, "Name")
		return nil
	},
}

type salesforceCols struct {
	value, channelType, status, captured, modified, created, partyID,
	source, sourceType, sourceName, sourceDetails, name col
}

var salesforceTimes = []string{
	"2006-01-02T15:04:05.999999999Z0700",
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
}

// sfID18 returns the 18-character, case-safe form of a 15-character
// Salesforce id: each group of five characters gets a check character
// whose bits say which are upper case.
func sfID18(id string) string {
	if len(id) != 15 {
		return id
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	b := []byte(id)
	for g := 0; g < 3; g++ {
		n := 0
		for j := 0; j < 5; j++ {
			if c := id[g*5+j]; 'A' <= c && c <= 'Z' {
				n |= 1 << j
			}
		}
		b = append(b, alphabet[n])
	}
	return string(b)
}

// resolveChannelType finds a channel type by id, trying the 15- and
// 18-character forms of a Salesforce id.
func resolveChannelType(cat *consentd.Catalog, id string) (consentd.ChannelType, bool) {
	if ct, err := cat.ResolveID(id); err == nil {
		return ct, true
	}
	var alt string
	switch len(id) {
	case 15:
		alt = sfID18(id)
	case 18:
		alt = id[:15]
	default:
		return consentd.ChannelType{}, false
	}
	ct, err := cat.ResolveID(alt)
	return ct, err == nil
}

func (r *Reader) parseSalesforce(rec []string, row *Row) {
	s := &r.sf
	w := consentd.ConsentWrite{ContactPoint: s.value.get(rec), PartyID: s.partyID.get(rec)}
	if w.ContactPoint == "" {
		reject(row, consentd.EINVALIDCONTACTPOINT, s.value.name, "%s is empty", s.value.name)
		return
	}
	switch v := s.status.get(rec); key(v) {
	case "optin":
		w.Status = consentd.OptedIn
	case "optout", "optoutpending":
		w.Status = consentd.OptedOut
	case "optinpending":
		w.Status = consentd.Pending
	case "seen":
		row.Skip = "consent status Seen: the person made no choice"
		return
	case "notseen":
		row.Skip = "consent status NotSeen: the person made no choice"
		return
	default:
		reject(row, consentd.EINVALIDSTATUS, s.status.name, "%s %q is not OPT_IN, OPT_OUT, OptIn, OptOut, OptInPending, OptOutPending, Seen or NotSeen", s.status.name, v)
		return
	}
	ctID := s.channelType.get(rec)
	if ctID == "" {
		reject(row, consentd.EUNKNOWNCHANNELTYPE, s.channelType.name, "%s is empty", s.channelType.name)
		return
	}
	ct, ok := resolveChannelType(r.opt.Catalog, ctID)
	if !ok {
		reject(row, consentd.EUNKNOWNCHANNELTYPE, s.channelType.name, "no channel type has the external id %s", ctID)
		return
	}
	w.Channel, w.Purpose, w.Topic = ct.Channel, ct.Purpose, ct.Topic
	if w.CapturedAt, ok = firstTime(rec, row, r.opt.Location, salesforceTimes, s.captured, s.modified, s.created); !ok {
		return
	}
	w.Source = consentd.Source{Type: consentd.SourceImport, Name: r.source, Details: details(
		"CommunicationSubscriptionChannelType", ctID,
		"ConsentCapturedSource", s.source.get(rec),
		"ConsentCapturedSourceType", s.sourceType.get(rec),
		"ConsentCapturedSourceName", s.sourceName.get(rec),
		"ConsentCapturedSourceDetails", s.sourceDetails.get(rec),
		"Name", s.name.get(rec),
	)}
	row.Writes = []consentd.ConsentWrite{w}
}
