package storetest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// testSMSStart covers START after STOP: the block lifted and logged as a
// lifted suppression, the consents STOP opted out opted in again with the
// message as proof, a consent opted out another way left alone, and a
// replayed message id acting once.
func testSMSStart(t *testing.T, s Store) {
	e := newEnv(t, s, "start")
	e.mustWrite(on(cw(phone, "newsletter", "opted_in", e.t0), "sms"), on(topic(cw(phone, "newsletter", "opted_in", e.t0), "weekly"), "sms"))
	stopAt := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	stop, err := s.InboundSMS(e.ctx, e.ws, consentd.InboundSMS{From: phone, Text: "STOP", ReceivedAt: stopAt, Provider: "twilio", MessageID: "SM-stop"}, "test")
	if err != nil || stop.Suppression == nil || len(stop.Consents) != 2 {
		t.Fatalf("InboundSMS(STOP) = %+v, %v", stop, err)
	}
	// After the STOP the person opts out of the topic on a web page: START
	// must not undo that choice.
	e.mustWrite(on(topic(cw(phone, "newsletter", "opted_out", stopAt.Add(time.Minute)), "weekly"), "sms"))
	e.wantDecision(phone, "sms", "orders", "", false, consentd.ReasonSuppressed)
	size := e.logSize()

	startAt := stopAt.Add(30 * time.Minute)
	res, err := s.InboundSMS(e.ctx, e.ws, consentd.InboundSMS{From: "+49 151 12345678", Text: "Start", ReceivedAt: startAt, Provider: "twilio", MessageID: "SM-start"}, "key:feed")
	if err != nil {
		t.Fatalf("InboundSMS(START) = %v", err)
	}
	m := res.Message
	if res.Action != consentd.InboundOptedIn || res.Duplicate || m.Keyword != "START" || m.State != consentd.InboundOptedIn ||
		!slices.Equal(res.Lifted, []string{stop.Suppression.ID}) || m.SuppressionID != stop.Suppression.ID || res.Suppression != nil {
		t.Fatalf("InboundSMS(START) = %+v, message %+v; want opted_in, the STOP's suppression %s lifted", res, m, stop.Suppression.ID)
	}
	if len(res.Consents) != 1 {
		t.Fatalf("InboundSMS(START) consents = %+v; want only the newsletter, which STOP opted out", res.Consents)
	}
	c := res.Consents[0]
	var proof map[string]string
	if c.ID != phone+"#newsletter:sms" || c.Status != consentd.OptedIn || !c.Applied || !c.CapturedAt.Equal(startAt) ||
		c.Source.Type != consentd.SourceSMSKeyword || c.Source.Name != "sms_start" || json.Unmarshal(c.Source.Details, &proof) != nil ||
		proof["provider"] != "twilio" || proof["message_id"] != "SM-start" || proof["inbound_id"] != m.ID || proof["keyword"] != "START" ||
		proof["received_at"] != startAt.Format(time.RFC3339Nano) {
		t.Errorf("InboundSMS(START) consent = %+v, details %s; want opted_in at the reply, source api/sms_start with the message", c, c.Source.Details)
	}
	if res.Reply == "" || !strings.Contains(res.Reply, "STOP") {
		t.Errorf("InboundSMS(START).Reply = %q; want a confirmation naming STOP", res.Reply)
	}
	log := e.entries()[size:]
	if got, want := types(t, log), []string{consentd.LogSuppressionLifted, consentd.LogConsentChanged}; !slices.Equal(got, want) {
		t.Errorf("log after START = %v; want %v", got, want)
	}
	for _, r := range log {
		if en := decode(t, r); strings.Contains(string(r.Entry), phone) || en.Actor != "key:feed" {
			t.Errorf("log entry %s: want actor key:feed and no plaintext number", r.Entry)
		}
	}
	if sups, err := s.Suppressions(e.ctx, e.ws); err != nil || len(sups) != 0 {
		t.Errorf("Suppressions() after START = %v, %v; want none", sups, err)
	}
	e.wantDecision(phone, "sms", "newsletter", "", true, consentd.ReasonOptedIn)
	e.wantDecision(phone, "sms", "newsletter", "weekly", false, consentd.ReasonTopicOptedOut)
	e.wantDecision(phone, "sms", "orders", "", true, consentd.ReasonDisabled)

	// The same message again acts once, even after a new STOP.
	if _, err := s.InboundSMS(e.ctx, e.ws, consentd.InboundSMS{From: phone, Text: "STOP", Provider: "twilio", MessageID: "SM-stop2"}, "test"); err != nil {
		t.Fatal(err)
	}
	size = e.logSize()
	again, err := s.InboundSMS(e.ctx, e.ws, consentd.InboundSMS{From: phone, Text: "Start", ReceivedAt: startAt, Provider: "twilio", MessageID: "SM-start"}, "key:feed")
	if err != nil || !again.Duplicate || again.Action != consentd.InboundOptedIn || again.Message.ID != m.ID || len(again.Consents) != 0 || len(again.Lifted) != 0 ||
		again.Reply != res.Reply {
		t.Errorf("InboundSMS(START again) = %+v, %v; want the stored reply, duplicate, the same reply text, nothing done", again, err)
	}
	if n := e.logSize(); n != size {
		t.Errorf("InboundSMS(START again): the log grew from %d to %d", size, n)
	}
	e.wantDecision(phone, "sms", "newsletter", "", false, consentd.ReasonSuppressed)

	// UNSTOP lifts the new STOP; YES from a number that never sent STOP
	// is kept for review (it may answer a person's question).
	un, err := s.InboundSMS(e.ctx, e.ws, consentd.InboundSMS{From: phone, Text: "unstop"}, "test")
	if err != nil || un.Action != consentd.InboundOptedIn || len(un.Lifted) != 1 || un.Message.Keyword != "UNSTOP" {
		t.Errorf("InboundSMS(UNSTOP) = %+v, %v; want opted_in, one suppression lifted", un, err)
	}
	size = e.logSize()
	yes, err := s.InboundSMS(e.ctx, e.ws, consentd.InboundSMS{From: "+4915112345670", Text: "Yes!"}, "test")
	if err != nil || yes.Action != consentd.InboundReview || yes.Message.State != consentd.InboundReview || yes.Message.Keyword != "YES" ||
		yes.Reply != "" || len(yes.Consents) != 0 {
		t.Errorf("InboundSMS(YES, never stopped) = %+v, %v; want review, no reply", yes, err)
	}
	if n := e.logSize(); n != size {
		t.Errorf("InboundSMS(YES, never stopped): the log grew from %d to %d", size, n)
	}
	if l, _, err := s.InboundMessages(e.ctx, e.ws, consentd.InboundFilter{State: consentd.InboundOptedIn}); err != nil || len(l) != 2 {
		t.Errorf("InboundMessages(opted_in) = %v, %v; want START and UNSTOP", l, err)
	}
}

// testSMSHelp covers HELP and INFO: nothing changes, the reply is the
// workspace's help text, or the default naming the sender and STOP.
func testSMSHelp(t *testing.T, s Store) {
	e := newEnv(t, s, "help")
	e.mustWrite(on(cw(phone, "newsletter", "opted_in", e.t0), "sms"))
	size := e.logSize()
	res, err := s.InboundSMS(e.ctx, e.ws, consentd.InboundSMS{From: phone, Text: "HELP", Provider: "twilio", MessageID: "SM-h1"}, "test")
	if err != nil || res.Action != consentd.InboundHelp || res.Message.State != consentd.InboundHelp || res.Message.Keyword != "HELP" ||
		res.Suppression != nil || len(res.Consents) != 0 || !strings.HasPrefix(res.Reply, "help texts:") || !strings.Contains(res.Reply, "STOP") {
		t.Fatalf("InboundSMS(HELP) = %+v, %v; want help, the default reply naming the workspace and STOP", res, err)
	}
	if n := e.logSize(); n != size {
		t.Errorf("InboundSMS(HELP): the log grew from %d to %d", size, n)
	}
	e.wantDecision(phone, "sms", "newsletter", "", true, consentd.ReasonOptedIn)

	name, text := "Acme Shop", "Acme Shop alerts: call +1 800 555 0100 for help. Reply STOP to end."
	ws, err := s.UpdateWorkspace(e.ctx, e.ws, consentd.WorkspaceUpdate{SMSSenderName: &name, SMSHelpText: &text}, "admin")
	if err != nil || ws.SMSSenderName != name || ws.SMSHelpText != text {
		t.Fatalf("UpdateWorkspace(sms settings) = %+v, %v", ws, err)
	}
	if got, err := s.Workspace(e.ctx, e.ws); err != nil || got.SMSSenderName != name || got.SMSHelpText != text {
		t.Errorf("Workspace() = %+v, %v; want the SMS settings", got, err)
	}
	info, err := s.InboundSMS(e.ctx, e.ws, consentd.InboundSMS{From: phone, Text: "info", Provider: "twilio", MessageID: "SM-h2"}, "test")
	if err != nil || info.Action != consentd.InboundHelp || info.Reply != text {
		t.Errorf("InboundSMS(INFO) = %+v, %v; want the workspace's help text", info, err)
	}
	stop, err := s.InboundSMS(e.ctx, e.ws, consentd.InboundSMS{From: "+4915112345679", Text: "stop"}, "test")
	if err != nil || !strings.HasPrefix(stop.Reply, name+":") {
		t.Errorf("InboundSMS(STOP).Reply = %q, %v; want it to start with the sender name", stop.Reply, err)
	}
	long := strings.Repeat("x", consentd.MaxSMSHelpText+1)
	_, err = s.UpdateWorkspace(e.ctx, e.ws, consentd.WorkspaceUpdate{SMSHelpText: &long}, "admin")
	wantCode(t, "UpdateWorkspace(long help text)", err, consentd.EINVALID)
	if n := e.logSize(); n != size+2 { // the workspace change and the STOP's suppression: no consent on the other number
		t.Errorf("log size %d; want %d", n, size+2)
	}
}
