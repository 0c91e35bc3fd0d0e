package importfmt

import (
	"slices"
	"time"

	"github.com/consentd/consentd"
)

// The listmonk format is listmonk's subscriber export (Subscribers ->
// Export, GET /api/subscribers/export, usually filtered to one list):
//
//	uuid,email,name,attributes,status,created_at,updated_at
//
// All go into Options.Purpose (required) [and Options.Topic] on
// Options.Channel (default email). The export states the subscriber's
// status (enabled, disabled, blocklisted) but not the per-list
// subscription status; a file that has a subscription_status column (a
// database or API export with unconfirmed, confirmed, unsubscribed), and
// optionally subscription_created_at, subscription_updated_at and the
// list's optin (single, double), is read per list:
//
//	blocklisted subscriber                 -> opted_out (listmonk unsubscribes a blocklisted
//	                                          subscriber from every list)
//	subscription_status unsubscribed       -> opted_out
//	disabled subscriber                    -> skipped: an administrator's switch, not the
//	                                          person's choice
//	subscription_status confirmed          -> opted_in
//	subscription_status unconfirmed        -> pending (on a double opt-in list it awaits
//	                                          confirmation); opted_in when optin is single
//	enabled, no subscription_status column -> opted_in
//
// captured_at: for opt-outs subscription_updated_at, else updated_at, else
// created_at (the last change, at or after the unsubscribe); for opt-ins and
// pending subscription_created_at, else created_at, else updated_at. Times
// as listmonk writes them: Go's time format ("2024-03-14 09:30:00.123456
// +0000 UTC", the export), PostgreSQL's ("2024-03-14 09:30:00.123456+00")
// or RFC 3339 (the API).
var listmonkFormat = format{
	required: [][]string{req("email"), req("status"), req("created_at", "updated_at", "subscription_created_at", "subscription_updated_at")},
	setup: func(r *Reader, c columns) error {
		if err := needPurpose(r); err != nil {
			return err
		}
		l := &r.lm
		l.email = r.bind(c, "email")
		l.uuid = r.bind(c, "uuid")
		l.status = r.bind(c, "status")
		l.subStatus = r.bind(c, "subscription_status")
		l.optin = r.bind(c, "optin", "list_optin")
		l.created = r.bind(c, "created_at")
		l.updated = r.bind(c, "updated_at")
		l.subCreated = r.bind(c, "subscription_created_at")
		l.subUpdated = r.bind(c, "subscription_updated_at")
		return nil
	},
}

type listmonkCols struct {
	email, uuid, status, subStatus, optin, created, updated, subCreated, subUpdated col
}

var listmonkTimes = []string{
	"2006-01-02 15:04:05.999999999 -0700 MST",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07",
	time.RFC3339Nano,
}

// noTarget refuses the options named (purpose, channel, topic: where
// subscribers go) for a format whose rows say it themselves (native: the
// purpose, channel and topic columns; dynamics, salesforce: the catalog's
// external ids). Ignoring them would import into other purposes than the
// user named; reading them as a filter or an override would be a guess.
func noTarget(r *Reader, names ...string) error {
	for _, o := range []struct{ name, value string }{{"purpose", r.opt.Purpose}, {"channel", r.opt.Channel}, {"topic", r.opt.Topic}} {
		if o.value != "" && slices.Contains(names, o.name) {
			return consentd.FieldErrorf(consentd.EINVALID, o.name, "the %s format takes the %s from each row; %s is for the listmonk and mailchimp formats", r.format, o.name, o.name)
		}
	}
	return nil
}

// needPurpose checks that the options name where subscribers go, and
// defaults the channel to email.
func needPurpose(r *Reader) error {
	if r.opt.Purpose == "" {
		return consentd.FieldErrorf(consentd.EUNKNOWNPURPOSE, "purpose", "the %s format needs the purpose the subscribers go into", r.format)
	}
	if r.opt.Channel == "" {
		r.opt.Channel = consentd.ChannelEmail
	}
	return nil
}

func (r *Reader) parseListmonk(rec []string, row *Row) {
	l := &r.lm
	w := consentd.ConsentWrite{ContactPoint: l.email.get(rec), Channel: r.opt.Channel, Purpose: r.opt.Purpose, Topic: r.opt.Topic}
	if w.ContactPoint == "" {
		reject(row, consentd.EINVALIDCONTACTPOINT, l.email.name, "%s is empty", l.email.name)
		return
	}
	status, sub := l.status.get(rec), l.subStatus.get(rec)
	switch key(status) {
	case "enabled", "disabled", "blocklisted":
	default:
		reject(row, consentd.EINVALIDSTATUS, l.status.name, "%s %q is not enabled, disabled or blocklisted", l.status.name, status)
		return
	}
	switch key(sub) {
	case "", "unconfirmed", "confirmed", "unsubscribed":
	default:
		reject(row, consentd.EINVALIDSTATUS, l.subStatus.name, "%s %q is not unconfirmed, confirmed or unsubscribed", l.subStatus.name, sub)
		return
	}
	switch {
	case key(status) == "blocklisted":
		w.Status, w.Reason = consentd.OptedOut, "blocklisted in listmonk"
	case key(sub) == "unsubscribed":
		w.Status, w.Reason = consentd.OptedOut, "unsubscribed in listmonk"
	case key(status) == "disabled":
		row.Skip = "subscriber disabled in listmonk: an administrator's switch, not the person's choice"
		return
	case key(sub) == "unconfirmed" && key(l.optin.get(rec)) != "single":
		w.Status = consentd.Pending
	default:
		w.Status = consentd.OptedIn
	}
	var ok bool
	if w.Status == consentd.OptedOut {
		w.CapturedAt, ok = firstTime(rec, row, time.UTC, listmonkTimes, l.subUpdated, l.updated, l.created)
	} else {
		w.CapturedAt, ok = firstTime(rec, row, time.UTC, listmonkTimes, l.subCreated, l.created, l.updated)
	}
	if !ok {
		return
	}
	w.Source = consentd.Source{Type: consentd.SourceImport, Name: r.source,
		Details: details("uuid", l.uuid.get(rec), "status", status, "subscription_status", sub)}
	row.Writes = []consentd.ConsentWrite{w}
}
