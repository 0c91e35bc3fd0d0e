package importfmt

import (
	"strings"
	"time"

	"github.com/consentd/consentd"
)

// The mailchimp format is one of the three files of a Mailchimp audience
// export (subscribed_members_export_*.csv, unsubscribed_..., cleaned_...):
//
//	"Email Address",<merge fields>,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,
//	LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,LAST_CHANGED,
//	[UNSUB_TIME,UNSUB_CAMPAIGN_TITLE,UNSUB_CAMPAIGN_ID,UNSUB_REASON,UNSUB_REASON_OTHER,]
//	[CLEAN_TIME,CLEAN_CAMPAIGN_TITLE,CLEAN_CAMPAIGN_ID,]
//	LEID,EUID,NOTES,TAGS
//
// The file is told by its columns: UNSUB_TIME makes it the unsubscribed
// file, CLEAN_TIME the cleaned file, neither the subscribed file. All go
// into Options.Purpose (required) [and Options.Topic] on Options.Channel
// (default email).
//
//	subscribed   -> opted_in; captured_at CONFIRM_TIME, else OPTIN_TIME, else LAST_CHANGED;
//	                proof: the confirm (else opt-in) IP and CONFIRM_TIME as confirmed_at
//	unsubscribed -> opted_out; captured_at UNSUB_TIME, else LAST_CHANGED; reason UNSUB_REASON
//	                (and UNSUB_REASON_OTHER); the campaign in source.details
//	cleaned      -> a hard_bounce suppression of the address on Options.Channel, no consent
//	                write: Mailchimp cleans an address that bounced hard (or kept bouncing);
//	                that is deliverability, not the person's consent, and opting it out
//	                would invent a decision, but mailing it again would bounce again
//
// Times are Mailchimp's "2024-03-14 09:30:00", in UTC, or RFC 3339.
var mailchimpFormat = format{
	required: [][]string{req("Email Address")},
	setup: func(r *Reader, c columns) error {
		if err := needPurpose(r); err != nil {
			return err
		}
		m := &r.mc
		m.email = r.bind(c, "Email Address")
		m.optinTime = r.bind(c, "OPTIN_TIME")
		m.optinIP = r.bind(c, "OPTIN_IP")
		m.confirmTime = r.bind(c, "CONFIRM_TIME")
		m.confirmIP = r.bind(c, "CONFIRM_IP")
		m.lastChanged = r.bind(c, "LAST_CHANGED")
		m.unsubTime = r.bind(c, "UNSUB_TIME")
		m.unsubCampaignTitle = r.bind(c, "UNSUB_CAMPAIGN_TITLE")
		m.unsubCampaignID = r.bind(c, "UNSUB_CAMPAIGN_ID")
		m.unsubReason = r.bind(c, "UNSUB_REASON")
		m.unsubReasonOther = r.bind(c, "UNSUB_REASON_OTHER")
		m.leid = r.bind(c, "LEID")
		m.euid = r.bind(c, "EUID")
		switch {
		case m.unsubTime.i >= 0:
			m.kind = "unsubscribed"
		case c.idx("CLEAN_TIME") >= 0:
			m.kind = "cleaned"
		default:
			m.kind = "subscribed"
			if c.idx("CONFIRM_TIME", "OPTIN_TIME", "LAST_CHANGED") < 0 {
				return missingColumns(r.format, []string{"CONFIRM_TIME", "OPTIN_TIME", "LAST_CHANGED"})
			}
		}
		return nil
	},
}

type mailchimpCols struct {
	kind string // subscribed, unsubscribed or cleaned
	email, optinTime, optinIP, confirmTime, confirmIP, lastChanged, unsubTime,
	unsubCampaignTitle, unsubCampaignID, unsubReason, unsubReasonOther, leid, euid col
}

var mailchimpTimes = []string{"2006-01-02 15:04:05", time.RFC3339Nano}

// MailchimpFile returns which file of a Mailchimp audience export r reads:
// subscribed, unsubscribed or cleaned; "" for other formats.
func (r *Reader) MailchimpFile() string { return r.mc.kind }

func (r *Reader) parseMailchimp(rec []string, row *Row) {
	m := &r.mc
	w := consentd.ConsentWrite{ContactPoint: m.email.get(rec), Channel: r.opt.Channel, Purpose: r.opt.Purpose, Topic: r.opt.Topic}
	if w.ContactPoint == "" {
		reject(row, consentd.EINVALIDCONTACTPOINT, m.email.name, "%s is empty", m.email.name)
		return
	}
	var ok bool
	switch m.kind {
	case "cleaned":
		row.Suppressions = []consentd.SuppressionInput{{ContactPoint: w.ContactPoint, Kind: consentd.KindOf(w.Channel), Channel: w.Channel,
			Reason: consentd.SuppressHardBounce, Note: "import " + r.source + ": cleaned in mailchimp (the address bounced)", OnlyIfNone: true}}
		return
	case "unsubscribed":
		w.Status = consentd.OptedOut
		if w.CapturedAt, ok = firstTime(rec, row, time.UTC, mailchimpTimes, m.unsubTime, m.lastChanged); !ok {
			return
		}
		w.Reason = m.unsubReason.get(rec)
		if o := m.unsubReasonOther.get(rec); o != "" {
			w.Reason = strings.TrimPrefix(w.Reason+": "+o, ": ")
		}
		w.Source = consentd.Source{Type: consentd.SourceImport, Name: r.source, Details: details(
			"file", m.kind, "UNSUB_CAMPAIGN_TITLE", m.unsubCampaignTitle.get(rec), "UNSUB_CAMPAIGN_ID", m.unsubCampaignID.get(rec),
			"LEID", m.leid.get(rec), "EUID", m.euid.get(rec))}
	default:
		w.Status = consentd.OptedIn
		if w.CapturedAt, ok = firstTime(rec, row, time.UTC, mailchimpTimes, m.confirmTime, m.optinTime, m.lastChanged); !ok {
			return
		}
		ip := m.confirmIP.get(rec)
		if ip == "" {
			ip = m.optinIP.get(rec)
		}
		var confirmed *time.Time
		if s := m.confirmTime.get(rec); s != "" {
			t := w.CapturedAt // CONFIRM_TIME is the first choice, so it is captured_at
			confirmed = &t
		}
		if ip != "" || confirmed != nil {
			w.Proof = &consentd.Proof{IP: ip, ConfirmedAt: confirmed}
		}
		w.Source = consentd.Source{Type: consentd.SourceImport, Name: r.source, Details: details(
			"file", m.kind, "LEID", m.leid.get(rec), "EUID", m.euid.get(rec))}
	}
	row.Writes = []consentd.ConsentWrite{w}
}
