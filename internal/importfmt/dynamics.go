package importfmt

import (
	"strings"
	"time"

	"github.com/consentd/consentd"
)

// The dynamics format is an export of the Dynamics 365 Customer Insights -
// Journeys contact point consent table (msdynmkt_contactpointconsent4),
// with the columns' logical names as the header (Dataverse Web API, Power
// Query, Excel export with logical names). Option sets may be written as
// their values or their labels:
//
//	msdynmkt_contactpointvalue        the address (required)
//	msdynmkt_contactpointtype         534120000 Email -> email, 534120001 Text message -> sms,
//	                                  534120003 Voice -> voice, 534120002 Custom -> Options.Channel
//	                                  (rejected when no channel is given: the export does not say which)
//	msdynmkt_contactpointconsenttype  534120000 Purpose, 534120001 Topic; when the column is
//	                                  absent, a row with a topic id is a topic consent
//	msdynmkt_value                    534120001 Opted in -> opted_in, 534120002 Opted out -> opted_out,
//	                                  534120000 Not set -> skipped ("status not set")
//	msdynmkt_purposeid                the purpose GUID (or _msdynmkt_purposeid_value), matched
//	                                  case-insensitively, braces ignored, against the purposes'
//	                                  external_ids["dynamics"]
//	msdynmkt_topicid                  the topic GUID (or _msdynmkt_topicid_value), against the
//	                                  topics' external_ids["dynamics"]; the topic's purpose is used
//	msdynmkt_source, msdynmkt_logicalreason   kept in source.details as written
//	msdynmkt_reason                   the reason
//	modifiedon, createdon             captured_at: modifiedon, else createdon
//
// Times: RFC 3339 ("2024-03-14T09:30:00Z"), or without a zone
// ("2024-03-14T09:30:00", "2024-03-14 09:30:00") and US-style as the
// Dynamics UI exports them ("3/14/2024 9:30 AM", "3/14/2024 9:30:45 PM",
// "3/14/2024 21:30"), both read in Options.Location (default UTC).
var dynamicsFormat = format{
	required: [][]string{
		req("msdynmkt_contactpointvalue"),
		req("msdynmkt_contactpointtype"),
		req("msdynmkt_value"),
		req("msdynmkt_purposeid", "_msdynmkt_purposeid_value"),
		req("modifiedon", "createdon"),
	},
	setup: func(r *Reader, c columns) error {
		if err := noTarget(r, "purpose", "topic"); err != nil {
			return err
		}
		if r.opt.Catalog == nil {
			return consentd.FieldErrorf(consentd.EINVALID, "catalog", "the dynamics format needs the workspace's catalog to match purposes and topics by external_ids.dynamics")
		}
		d := &r.dyn
		d.value = r.bind(c, "msdynmkt_contactpointvalue")
		d.typ = r.bind(c, "msdynmkt_contactpointtype")
		d.consentType = r.bind(c, "msdynmkt_contactpointconsenttype")
		d.status = r.bind(c, "msdynmkt_value")
		d.purposeID = r.bind(c, "msdynmkt_purposeid", "_msdynmkt_purposeid_value")
		d.topicID = r.bind(c, "msdynmkt_topicid", "_msdynmkt_topicid_value")
		d.source = r.bind(c, "msdynmkt_source")
		d.logicalReason = r.bind(c, "msdynmkt_logicalreason")
		d.reason = r.bind(c, "msdynmkt_reason")
		d.modifiedOn = r.bind(c, "modifiedon")
		d.createdOn = r.bind(c, "createdon")
		d.purposes = map[string]string{}
		d.topics = map[string]*consentd.Topic{}
		for _, p := range r.opt.Catalog.Purposes {
			if g := guid(p.ExternalIDs["dynamics"]); g != "" {
				d.purposes[g] = p.ID
			}
		}
		for _, t := range r.opt.Catalog.Topics {
			if g := guid(t.ExternalIDs["dynamics"]); g != "" {
				d.topics[g] = t
			}
		}
		return nil
	},
}

type dynamicsCols struct {
	value, typ, consentType, status, purposeID, topicID, source, logicalReason, reason, modifiedOn, createdOn col
	purposes                                                                                                  map[string]string          // GUID -> purpose id
	topics                                                                                                    map[string]*consentd.Topic // GUID -> topic
}

var dynamicsTimes = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"1/2/2006 3:04 PM",
	"1/2/2006 3:04:05 PM",
	"1/2/2006 15:04",
	"1/2/2006 15:04:05",
}

// guid normalizes a GUID for matching: lower case, no braces.
func guid(s string) string {
	return strings.ToLower(strings.Trim(strings.TrimSpace(s), "{}"))
}

func (r *Reader) parseDynamics(rec []string, row *Row) {
	d := &r.dyn
	w := consentd.ConsentWrite{ContactPoint: d.value.get(rec), Reason: d.reason.get(rec)}
	if w.ContactPoint == "" {
		reject(row, consentd.EINVALIDCONTACTPOINT, d.value.name, "%s is empty", d.value.name)
		return
	}
	switch v := d.status.get(rec); key(v) {
	case "534120001", "optedin":
		w.Status = consentd.OptedIn
	case "534120002", "optedout":
		w.Status = consentd.OptedOut
	case "534120000", "notset", "":
		row.Skip = "status not set (msdynmkt_value 534120000): the record states no consent"
		return
	default:
		reject(row, consentd.EINVALIDSTATUS, d.status.name, "%s %q is not 534120000 (not set), 534120001 (opted in) or 534120002 (opted out)", d.status.name, v)
		return
	}
	switch v := d.typ.get(rec); key(v) {
	case "534120000", "email":
		w.Channel = consentd.ChannelEmail
	case "534120001", "textmessage", "sms":
		w.Channel = consentd.ChannelSMS
	case "534120003", "voice":
		w.Channel = consentd.ChannelVoice
	case "534120002", "custom":
		if r.opt.Channel == "" {
			reject(row, consentd.EINVALID, d.typ.name, "a custom contact point (534120002) does not say its channel: import these rows with a channel named on the command line")
			return
		}
		w.Channel = r.opt.Channel
	default:
		reject(row, consentd.EINVALID, d.typ.name, "%s %q is not 534120000 (email), 534120001 (text message), 534120002 (custom) or 534120003 (voice)", d.typ.name, v)
		return
	}
	topicID := d.topicID.get(rec)
	isTopic := topicID != ""
	if d.consentType.i >= 0 {
		switch v := d.consentType.get(rec); key(v) {
		case "534120000", "purpose":
			isTopic = false
		case "534120001", "topic":
			isTopic = true
		default:
			reject(row, consentd.EINVALID, d.consentType.name, "%s %q is not 534120000 (purpose) or 534120001 (topic)", d.consentType.name, v)
			return
		}
	}
	if isTopic {
		if topicID == "" {
			reject(row, consentd.EUNKNOWNTOPIC, d.topicID.name, "a topic consent without %s", d.topicID.name)
			return
		}
		t := d.topics[guid(topicID)]
		if t == nil {
			reject(row, consentd.EUNKNOWNTOPIC, d.topicID.name, "no topic has external_ids.dynamics %s", topicID)
			return
		}
		w.Purpose, w.Topic = t.Purpose, t.ID
	} else {
		pid := d.purposeID.get(rec)
		if pid == "" {
			reject(row, consentd.EUNKNOWNPURPOSE, d.purposeID.name, "%s is empty", d.purposeID.name)
			return
		}
		p, ok := d.purposes[guid(pid)]
		if !ok {
			reject(row, consentd.EUNKNOWNPURPOSE, d.purposeID.name, "no purpose has external_ids.dynamics %s", pid)
			return
		}
		w.Purpose = p
	}
	var ok bool
	if w.CapturedAt, ok = firstTime(rec, row, r.opt.Location, dynamicsTimes, d.modifiedOn, d.createdOn); !ok {
		return
	}
	w.Source = consentd.Source{Type: consentd.SourceImport, Name: r.source,
		Details: details("msdynmkt_source", d.source.get(rec), "msdynmkt_logicalreason", d.logicalReason.get(rec))}
	row.Writes = []consentd.ConsentWrite{w}
}
