package doitest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// smsNumber is the number of the SMS double opt-in cases.
const smsNumber = "+4915112345678"

// pendingSMS stores a pending consent of cp on news:sms, as pending does
// on email.
func (e *env) pendingSMS(cp string, at time.Time) *consentd.Consent {
	e.t.Helper()
	return e.write(consentd.ConsentWrite{ContactPoint: cp, Channel: "sms", Purpose: "news", Status: consentd.Pending, CapturedAt: at,
		Source: consentd.Source{Type: consentd.SourceForm, Name: "signup"}, Jurisdiction: "DE", PartyID: "p-1", Proof: requestProof()})
}

func (e *env) reply(from, text, id string, at time.Time) *consentd.InboundResult {
	e.t.Helper()
	res, err := e.s.InboundSMS(e.ctx, e.ws, consentd.InboundSMS{From: from, Text: text, ReceivedAt: at, Provider: "twilio", MessageID: id}, "feed:tw")
	if err != nil {
		e.t.Fatalf("InboundSMS(%q, %s) = %v", text, id, err)
	}
	return res
}

// testSMSConfirm: YES from a number with an SMS double opt-in waiting
// confirms the most recent one, with the reply as the proof, once; YES
// without one is read as START (kept for review when there is nothing to
// lift).
func testSMSConfirm(t *testing.T, e *env) {
	older := e.pendingSMS(smsNumber, e.t0)
	e.issue(older, "sms-old", time.Time{})
	weekly := e.write(consentd.ConsentWrite{ContactPoint: smsNumber, Channel: "sms", Purpose: "news", Topic: "weekly", Status: consentd.Pending,
		CapturedAt: e.t0.Add(time.Second), Source: consentd.Source{Type: consentd.SourceForm, Name: "signup"}, Jurisdiction: "DE", Proof: requestProof()})
	time.Sleep(2 * time.Millisecond) // issued after sms-old
	e.issue(weekly, "sms-new", time.Time{})
	// An email confirmation of another address is not the number's.
	e.issue(e.pending("jane@example.com", e.t0), "mail-1", time.Time{})

	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	size := e.logSize()
	res := e.reply("+49 151 12345678", "Yes!", "SM-yes-1", at)
	m := res.Message
	if res.Action != consentd.InboundConfirmed || m.State != consentd.InboundConfirmed || m.Keyword != "YES" || len(res.Consents) != 1 || res.Lifted != nil {
		t.Fatalf("InboundSMS(YES) = %+v, message %+v; want confirmed, one consent", res, m)
	}
	if res.Reply == "" {
		t.Errorf("InboundSMS(YES).Reply is empty; want an acknowledgement")
	}
	got := e.consent(weekly.ID)
	var d map[string]any
	switch {
	case res.Consents[0].ID != weekly.ID:
		t.Errorf("confirmed %s; want the most recent request, %s", res.Consents[0].ID, weekly.ID)
	case got.Status != consentd.OptedIn || got.Source.Type != consentd.SourceDoubleOptIn || got.Source.Name != "sms reply":
		t.Errorf("consent after YES: %s source %s/%s; want opted_in double_opt_in/sms reply", got.Status, got.Source.Type, got.Source.Name)
	case !got.CapturedAt.Equal(at) || got.Proof == nil || got.Proof.ConfirmedAt == nil || !got.Proof.ConfirmedAt.Equal(at) || got.Proof.FormVersion != "signup-v3":
		t.Errorf("captured %v proof %+v; want the reply's time %v and the request's proof", got.CapturedAt, got.Proof, at)
	case json.Unmarshal(got.Source.Details, &d) != nil || d["provider"] != "twilio" || d["message_id"] != "SM-yes-1" || d["inbound_id"] != m.ID ||
		d["confirmation"] != "sms-new" || d["received_at"] != at.Format(time.RFC3339Nano):
		t.Errorf("source details %s; want the reply's provider, message id, id and time, and the confirmation", got.Source.Details)
	}
	if f, err := e.s.Confirmation(e.ctx, e.ws, "sms-new"); err != nil || f.UsedAt == nil {
		t.Errorf("Confirmation(sms-new) = %+v, %v; want used", f, err)
	}
	if f, err := e.s.Confirmation(e.ctx, e.ws, "sms-old"); err != nil || f.UsedAt != nil {
		t.Errorf("Confirmation(sms-old) = %+v, %v; want unused: one YES confirms one request", f, err)
	}
	if n := e.logSize(); n != size+1 {
		t.Errorf("log grew by %d; want 1, the opt-in", n-size)
	}

	// The same message again acts once.
	size = e.logSize()
	if again := e.reply(smsNumber, "Yes!", "SM-yes-1", at); !again.Duplicate || again.Action != consentd.InboundConfirmed {
		t.Errorf("InboundSMS(YES again) = %+v; want the duplicate, confirmed", again)
	}
	if f, _ := e.s.Confirmation(e.ctx, e.ws, "sms-old"); f.UsedAt != nil || e.logSize() != size {
		t.Errorf("a replayed YES confirmed another request")
	}

	// A second YES confirms the older request.
	if res := e.reply(smsNumber, "YES", "SM-yes-2", at.Add(time.Second)); res.Action != consentd.InboundConfirmed || res.Consents[0].ID != older.ID {
		t.Errorf("InboundSMS(second YES) = %+v; want %s confirmed", res, older.ID)
	}
	// Then there is none: YES is START, which has nothing to lift.
	size = e.logSize()
	if res := e.reply(smsNumber, "YES", "SM-yes-3", at.Add(2*time.Second)); res.Action != consentd.InboundReview || len(res.Consents) != 0 {
		t.Errorf("InboundSMS(YES, nothing waiting) = %+v; want review", res)
	}
	// START never confirms.
	c3 := e.pendingSMS("+4915112345679", e.t0)
	e.issue(c3, "sms-3", time.Time{})
	size = e.logSize()
	if res := e.reply("+4915112345679", "START", "SM-start", at); res.Action != consentd.InboundReview {
		t.Errorf("InboundSMS(START, a confirmation waiting) = %+v; want review", res)
	}
	if e.consent(c3.ID).Status != consentd.Pending || e.logSize() != size {
		t.Errorf("START confirmed a double opt-in")
	}
	// An expired request is not confirmed; YES after a STOP is START.
	c4 := e.pendingSMS("+4915112345670", e.t0)
	e.issue(c4, "sms-4", time.Now().Add(-time.Second))
	e.reply("+4915112345670", "STOP", "SM-stop-4", at)
	if res := e.reply("+4915112345670", "YES", "SM-yes-4", at.Add(time.Second)); res.Action != consentd.InboundOptedIn || len(res.Lifted) != 1 {
		t.Errorf("InboundSMS(YES after STOP, the request expired) = %+v; want opted_in, the STOP lifted", res)
	}
	if c := e.consent(c4.ID); c.Source.Type == consentd.SourceDoubleOptIn {
		t.Errorf("the expired request was confirmed: %+v", c)
	}
	if f, err := e.s.Confirmation(e.ctx, e.ws, "sms-4"); err != nil || f.UsedAt != nil {
		t.Errorf("Confirmation(sms-4, expired) = %+v, %v; want unused", f, err)
	}
}

// testSMSReplyLanguage: the reply to a keyword is in the number's recorded
// language: its party's (German), then the newest of its consents whose
// proof records one (French); the workspace's default, else English,
// without either.
func testSMSReplyLanguage(t *testing.T, e *env) {
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	if res := e.reply("+4915199999999", "STOP", "SM-en-1", at); !strings.Contains(res.Reply, "you are unsubscribed") {
		t.Errorf("STOP from an unknown number: reply %q; want English", res.Reply)
	}
	if err := e.s.PutParty(e.ctx, e.ws, &consentd.Party{ID: "p-1", Language: "de"}, "test"); err != nil {
		t.Fatalf("PutParty() = %v", err)
	}
	e.pendingSMS(smsNumber, e.t0) // of party p-1
	res := e.reply(smsNumber, "STOP", "SM-de-1", at)
	if want := "alpha: Sie sind abgemeldet und erhalten keine SMS mehr von uns. Antworten Sie START, um sich wieder anzumelden."; res.Reply != want {
		t.Errorf("STOP from a party whose language is de: reply %q; want %q", res.Reply, want)
	}
	if dup := e.reply(smsNumber, "STOP", "SM-de-1", at); dup.Reply != res.Reply {
		t.Errorf("the same STOP again: reply %q; want %q", dup.Reply, res.Reply)
	}
	proof := requestProof()
	proof.Language = "fr"
	e.write(consentd.ConsentWrite{ContactPoint: smsNumber, Channel: "sms", Purpose: "news", Topic: "weekly", Status: consentd.OptedIn,
		CapturedAt: at.Add(time.Minute), Source: consentd.Source{Type: consentd.SourceForm, Name: "signup"}, Proof: proof})
	if res := e.reply(smsNumber, "HELP", "SM-fr-1", at.Add(2*time.Minute)); !strings.HasPrefix(res.Reply, "SMS de alpha :") {
		t.Errorf("HELP after a French signup: reply %q; want French", res.Reply)
	}
}
