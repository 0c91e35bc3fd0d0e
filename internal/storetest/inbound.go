package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// testInbound covers SMS replies and data-subject requests.
func testInbound(t *testing.T, s Store) {
	t.Run("SMSStop", func(t *testing.T) { testSMSStop(t, s) })
	t.Run("SMSReview", func(t *testing.T) { testSMSReview(t, s) })
	t.Run("SMSStart", func(t *testing.T) { testSMSStart(t, s) })
	t.Run("SMSHelp", func(t *testing.T) { testSMSHelp(t, s) })
	t.Run("SMSBadInput", func(t *testing.T) { testSMSBadInput(t, s) })
	t.Run("SMSConcurrentRedelivery", func(t *testing.T) { testSMSConcurrentRedelivery(t, s) })
	t.Run("WithdrawParty", func(t *testing.T) { testWithdrawParty(t, s) })
	t.Run("WithdrawContactPoint", func(t *testing.T) { testWithdrawContactPoint(t, s) })
	t.Run("Erase", func(t *testing.T) { testErase(t, s) })
	t.Run("Access", func(t *testing.T) { testAccess(t, s) })
	t.Run("RequestErrors", func(t *testing.T) { testRequestErrors(t, s) })
}

const phone = "+4915112345678"

// decide returns the store's decision, failing the test on an error.
func (e *env) decide(cp, channel, purpose, topic string) consentd.Decision {
	e.t.Helper()
	d, err := e.s.Decide(e.ctx, e.ws, &consentd.DecisionRequest{ContactPoint: cp, Channel: channel, Purpose: purpose, Topic: topic})
	if err != nil {
		e.t.Fatalf("Decide(%s, %s, %s, %s) = %v", cp, channel, purpose, topic, err)
	}
	return d.Decision
}

func (e *env) wantDecision(cp, channel, purpose, topic string, allowed bool, reason consentd.Reason) {
	e.t.Helper()
	if d := e.decide(cp, channel, purpose, topic); d.Allowed != allowed || d.Reason != reason {
		e.t.Errorf("Decide(%s, %s, %s, %q) = %v %s; want %v %s", cp, channel, purpose, topic, d.Allowed, d.Reason, allowed, reason)
	}
}

// loggedSource returns the source of a consent log entry's after state.
func loggedSource(t *testing.T, en logEntry) consentd.Source {
	t.Helper()
	var after struct {
		Source consentd.Source `json:"source"`
		Status consentd.Status `json:"status"`
	}
	if err := json.Unmarshal(en.After, &after); err != nil {
		t.Fatalf("log entry %d: after %s: %v", en.Seq, en.After, err)
	}
	return after.Source
}

func testSMSStop(t *testing.T, s Store) {
	e := newEnv(t, s, "stop")
	e.mustWrite(on(cw(phone, "newsletter", "opted_in", e.t0), "sms"), on(topic(cw(phone, "newsletter", "opted_in", e.t0), "weekly"), "sms"),
		on(cw(phone, "newsletter", "opted_in", e.t0), "whatsapp"), on(cw("+4915112345679", "newsletter", "opted_in", e.t0), "sms"))
	e.wantDecision(phone, "sms", "newsletter", "", true, consentd.ReasonOptedIn)
	size := e.logSize()

	received := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	res, err := s.InboundSMS(e.ctx, e.ws, consentd.InboundSMS{From: "+49 151 12345678", To: "12345", Text: " Stop! ", ReceivedAt: received, Provider: "twilio", MessageID: "SM1"}, "test")
	if err != nil {
		t.Fatalf("InboundSMS(STOP) = %v", err)
	}
	m := res.Message
	if res.Action != consentd.InboundOptedOut || res.Duplicate || m == nil || m.ID == "" || m.From != phone || m.Keyword != "STOP" ||
		m.State != consentd.InboundOptedOut || m.Text != " Stop! " || m.To != "12345" || !m.ReceivedAt.Equal(received) || m.RecordedAt.IsZero() {
		t.Fatalf("InboundSMS(STOP) = %+v, message %+v; want opted_out, keyword STOP, the number normalized", res, m)
	}
	sup := res.Suppression
	if sup == nil || sup.Reason != consentd.SuppressSMSStop || sup.Channel != "sms" || sup.Kind != consentd.KindPhone || sup.ContactPoint != phone || m.SuppressionID != sup.ID {
		t.Errorf("InboundSMS(STOP) suppression = %+v; want sms_stop on sms for %s, named by the message", sup, phone)
	}
	var ids []string
	for _, c := range res.Consents {
		ids = append(ids, c.ID)
		if c.Status != consentd.OptedOut || !c.Applied || c.Outcome != consentd.Changed || !c.CapturedAt.Equal(received) ||
			c.Source.Type != consentd.SourceSMSKeyword || c.Source.Name != "sms_stop" || c.Reason != "sms_stop" {
			t.Errorf("InboundSMS(STOP) consent %+v; want opted_out, changed, captured at the reply, source api/sms_stop", c)
		}
	}
	if want := []string{phone + "#newsletter:sms", phone + "#weekly:sms"}; !slices.Equal(ids, want) {
		t.Errorf("InboundSMS(STOP) consents = %v; want %v (the number's SMS consents only)", ids, want)
	}
	if c := e.consent(phone + "#newsletter:whatsapp"); c.Status != consentd.OptedIn {
		t.Errorf("after STOP, WhatsApp consent = %s; want opted_in: STOP is for SMS", c.Status)
	}
	log := e.entries()[size:]
	if got, want := types(t, log), []string{consentd.LogSuppressionAdded, consentd.LogConsentChanged, consentd.LogConsentChanged}; !slices.Equal(got, want) {
		t.Errorf("log after STOP = %v; want %v", got, want)
	}
	for _, r := range log[1:] {
		if en := decode(t, r); strings.Contains(string(r.Entry), phone) || loggedSource(t, en).Name != "sms_stop" {
			t.Errorf("log entry %s: want source sms_stop and no plaintext number", r.Entry)
		}
	}

	// Denied on SMS for existing purposes and topics, and for a purpose
	// created later, whatever its consent; not on other channels or other
	// numbers. Transactional SMS is denied too, even with enforcement
	// disabled: carriers block every text from the sender after a STOP.
	e.wantDecision(phone, "sms", "newsletter", "", false, consentd.ReasonSuppressed)
	e.wantDecision(phone, "sms", "newsletter", "weekly", false, consentd.ReasonSuppressed)
	e.wantDecision(phone, "whatsapp", "newsletter", "", true, consentd.ReasonOptedIn)
	e.wantDecision("+4915112345679", "sms", "newsletter", "", true, consentd.ReasonOptedIn)
	e.wantDecision(phone, "sms", "orders", "", false, consentd.ReasonSuppressed)
	e.wantDecision("+4915112345679", "sms", "orders", "", true, consentd.ReasonDisabled)
	if res.Reply == "" || !strings.Contains(res.Reply, "START") {
		t.Errorf("InboundSMS(STOP).Reply = %q; want a confirmation naming START", res.Reply)
	}
	if err := s.PutPurpose(e.ctx, e.ws, &consentd.Purpose{ID: "flash", Name: "Flash sales", Type: consentd.Commercial,
		Channels: map[string]consentd.ChannelSetting{"sms": {}}}, true, "test"); err != nil {
		t.Fatal(err)
	}
	e.mustWrite(on(cw(phone, "flash", "opted_in", time.Now().Add(-time.Second)), "sms"))
	e.wantDecision(phone, "sms", "flash", "", false, consentd.ReasonSuppressed)

	// The same message again: the stored reply, nothing done again.
	size = e.logSize()
	again, err := s.InboundSMS(e.ctx, e.ws, consentd.InboundSMS{From: phone, Text: "STOP", Provider: "twilio", MessageID: "SM1"}, "test")
	if err != nil || !again.Duplicate || again.Action != consentd.InboundOptedOut || again.Message.ID != m.ID || again.Message.From != phone ||
		again.Suppression != nil || len(again.Consents) != 0 {
		t.Errorf("InboundSMS(same message id) = %+v, %v; want the stored reply %s, duplicate, nothing done", again, err, m.ID)
	}
	if n := e.logSize(); n != size {
		t.Errorf("InboundSMS(same message id): the log grew from %d to %d", size, n)
	}
	// Another STOP keeps the one suppression; the same id from another
	// provider is another message.
	other, err := s.InboundSMS(e.ctx, e.ws, consentd.InboundSMS{From: phone, Text: "QUIT", Provider: "vonage", MessageID: "SM1"}, "test")
	if err != nil || other.Duplicate || other.Message.ID == m.ID || other.Suppression == nil || other.Suppression.ID != sup.ID || other.Message.Keyword != "QUIT" {
		t.Errorf("InboundSMS(QUIT, other provider) = %+v, %v; want a new message under the same suppression %s", other, err, sup.ID)
	}
	sups, err := s.Suppressions(e.ctx, e.ws)
	if err != nil || len(sups) != 1 {
		t.Errorf("Suppressions() = %v, %v; want the one sms_stop", sups, err)
	}
	list, _, err := s.InboundMessages(e.ctx, e.ws, consentd.InboundFilter{State: consentd.InboundOptedOut})
	if err != nil || len(list) != 2 || list[0].ID != m.ID || list[1].ID != other.Message.ID {
		t.Errorf("InboundMessages(opted_out) = %v, %v; want the two, in arrival order", list, err)
	}
	if list, _, err := s.InboundMessages(e.ctx, e.ws, consentd.InboundFilter{}); err != nil || len(list) != 0 {
		t.Errorf("InboundMessages(review) = %v, %v; want none", list, err)
	}
	// A STOP with no SMS consents still suppresses.
	res, err = s.InboundSMS(e.ctx, e.ws, consentd.InboundSMS{From: "+4915112345670", Text: "opt-out"}, "test")
	if err != nil || res.Action != consentd.InboundOptedOut || res.Suppression == nil || len(res.Consents) != 0 || res.Message.Keyword != "OPT OUT" {
		t.Errorf("InboundSMS(opt-out, no consents) = %+v, %v; want opted_out by suppression", res, err)
	}
	e.wantDecision("+4915112345670", "sms", "newsletter", "", false, consentd.ReasonSuppressed)
}

func testSMSReview(t *testing.T, s Store) {
	e := newEnv(t, s, "review")
	other := newEnv(t, s, "review-other")
	e.mustWrite(on(cw(phone, "newsletter", "opted_in", e.t0), "sms"))
	size := e.logSize()
	var msgs []*consentd.InboundMessage
	for i, text := range []string{"please stop", "stop please", "Who is this?", "STOP 2"} {
		res, err := s.InboundSMS(e.ctx, e.ws, consentd.InboundSMS{From: phone, Text: text, MessageID: fmt.Sprintf("r%d", i)}, "test")
		if err != nil || res.Action != consentd.InboundReview || res.Suppression != nil || len(res.Consents) != 0 ||
			res.Message.State != consentd.InboundReview || res.Message.Text != text || res.Message.Keyword != "" {
			t.Fatalf("InboundSMS(%q) = %+v, %v; want review, nothing done", text, res, err)
		}
		msgs = append(msgs, res.Message)
	}
	if n := e.logSize(); n != size {
		t.Errorf("replies for review: the log grew from %d to %d; want nothing logged", size, n)
	}
	e.wantDecision(phone, "sms", "newsletter", "", true, consentd.ReasonOptedIn)

	// The review list, paged in arrival order, with the number.
	var all []string
	tok := ""
	for pages := 0; ; pages++ {
		page, next, err := s.InboundMessages(e.ctx, e.ws, consentd.InboundFilter{State: consentd.InboundReview, Limit: 3, PageToken: tok})
		if err != nil || pages > 2 {
			t.Fatalf("InboundMessages(page %d) = %v", pages, err)
		}
		for _, m := range page {
			if m.From != phone {
				t.Errorf("InboundMessages: from %q; want %s", m.From, phone)
			}
			all = append(all, m.ID)
		}
		if tok = next; tok == "" {
			break
		}
	}
	if want := []string{msgs[0].ID, msgs[1].ID, msgs[2].ID, msgs[3].ID}; !slices.Equal(all, want) {
		t.Errorf("InboundMessages(review) pages = %v; want %v", all, want)
	}
	if l, _, err := other.s.InboundMessages(other.ctx, other.ws, consentd.InboundFilter{State: "all"}); err != nil || len(l) != 0 {
		t.Errorf("InboundMessages(other workspace) = %v, %v; want none", l, err)
	}

	// Dismiss one; it cannot be resolved twice, nor from another workspace.
	_, err := s.ResolveInboundMessage(other.ctx, other.ws, msgs[2].ID, consentd.InboundResolution{}, "test")
	wantCode(t, "ResolveInboundMessage(other workspace)", err, consentd.ENOTFOUND)
	res, err := s.ResolveInboundMessage(e.ctx, e.ws, msgs[2].ID, consentd.InboundResolution{Note: "a question"}, "key:reviewer")
	if err != nil || res.Message.State != consentd.InboundResolved || res.Message.Resolution != consentd.ResolveDismiss ||
		res.Message.ResolvedBy != "key:reviewer" || res.Message.ResolvedAt == nil || res.Message.Note != "a question" || res.Suppression != nil {
		t.Errorf("ResolveInboundMessage(dismiss) = %+v, %v", res, err)
	}
	_, err = s.ResolveInboundMessage(e.ctx, e.ws, msgs[2].ID, consentd.InboundResolution{}, "test")
	wantCode(t, "ResolveInboundMessage(again)", err, consentd.ECONFLICT)
	_, err = s.ResolveInboundMessage(e.ctx, e.ws, "msg_nothere", consentd.InboundResolution{}, "test")
	wantCode(t, "ResolveInboundMessage(unknown)", err, consentd.ENOTFOUND)
	_, err = s.ResolveInboundMessage(e.ctx, e.ws, msgs[0].ID, consentd.InboundResolution{Action: "delete"}, "test")
	wantCode(t, "ResolveInboundMessage(bad action)", err, consentd.EINVALID)
	if n := e.logSize(); n != size {
		t.Errorf("dismissing a reply: the log grew from %d to %d", size, n)
	}

	// "please stop", read by a person, opts the number out.
	res, err = s.ResolveInboundMessage(e.ctx, e.ws, msgs[0].ID, consentd.InboundResolution{Action: consentd.ResolveOptOut}, "key:reviewer")
	if err != nil || res.Action != consentd.InboundOptedOut || res.Suppression == nil || res.Suppression.Reason != consentd.SuppressSMSStop ||
		len(res.Consents) != 1 || res.Consents[0].Status != consentd.OptedOut || !res.Consents[0].CapturedAt.Equal(msgs[0].ReceivedAt) ||
		res.Message.State != consentd.InboundResolved || res.Message.SuppressionID != res.Suppression.ID {
		t.Fatalf("ResolveInboundMessage(opt_out) = %+v, %v; want opted out as of the reply", res, err)
	}
	e.wantDecision(phone, "sms", "newsletter", "", false, consentd.ReasonSuppressed)
	left, _, _ := s.InboundMessages(e.ctx, e.ws, consentd.InboundFilter{})
	resolved, _, _ := s.InboundMessages(e.ctx, e.ws, consentd.InboundFilter{State: consentd.InboundResolved})
	if len(left) != 2 || len(resolved) != 2 || resolved[0].SuppressionID == "" && resolved[1].SuppressionID == "" {
		t.Errorf("after resolving two: review %v, resolved %v", left, resolved)
	}
	_, _, err = s.InboundMessages(e.ctx, e.ws, consentd.InboundFilter{State: "spam"})
	wantCode(t, "InboundMessages(bad state)", err, consentd.EINVALID)
	_, _, err = s.InboundMessages(e.ctx, e.ws, consentd.InboundFilter{PageToken: "!!"})
	wantCode(t, "InboundMessages(bad token)", err, consentd.EINVALID)
}

func testSMSBadInput(t *testing.T, s Store) {
	e := newEnv(t, s, "smsbad")
	size := e.logSize()
	for _, c := range []struct {
		what string
		in   consentd.InboundSMS
		code string
	}{
		{"no sender", consentd.InboundSMS{Text: "STOP"}, consentd.EINVALIDCONTACTPOINT},
		{"sender not a number", consentd.InboundSMS{From: "jane@example.com", Text: "STOP"}, consentd.EINVALIDCONTACTPOINT},
		{"national number, no default region", consentd.InboundSMS{From: "0151 12345678", Text: "STOP"}, consentd.EINVALIDCONTACTPOINT},
		{"future", consentd.InboundSMS{From: phone, Text: "STOP", ReceivedAt: time.Now().Add(time.Hour)}, consentd.EFUTURECAPTUREDAT},
		{"long text", consentd.InboundSMS{From: phone, Text: strings.Repeat("x", consentd.MaxSMSText+1)}, consentd.EINVALID},
	} {
		_, err := s.InboundSMS(e.ctx, e.ws, c.in, "test")
		wantCode(t, "InboundSMS("+c.what+")", err, c.code)
	}
	if n := e.logSize(); n != size {
		t.Errorf("refused replies: the log grew from %d to %d", size, n)
	}
	if l, _, err := s.InboundMessages(e.ctx, e.ws, consentd.InboundFilter{State: "all"}); err != nil || len(l) != 0 {
		t.Errorf("refused replies: InboundMessages() = %v, %v; want none stored", l, err)
	}
}

// testSMSConcurrentRedelivery delivers the same STOP many times at once, as
// a provider retrying a webhook does: it is handled once.
func testSMSConcurrentRedelivery(t *testing.T, s Store) {
	e := newEnv(t, s, "redelivery")
	e.mustWrite(on(cw(phone, "newsletter", "opted_in", e.t0), "sms"))
	size := e.logSize()
	const n = 8
	results := make([]*consentd.InboundResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = s.InboundSMS(e.ctx, e.ws, consentd.InboundSMS{From: phone, Text: "STOP", Provider: "p", MessageID: "m-1"}, "test")
		})
	}
	wg.Wait()
	fresh := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("InboundSMS(delivery %d) = %v", i, errs[i])
		}
		if !results[i].Duplicate {
			fresh++
		}
		if results[i].Message.ID != results[0].Message.ID || results[i].Action != consentd.InboundOptedOut {
			t.Errorf("InboundSMS(delivery %d) = %+v; want the one message, opted_out", i, results[i])
		}
	}
	if fresh != 1 {
		t.Errorf("%d deliveries at once: %d handled as new; want 1", n, fresh)
	}
	if got := e.logSize() - size; got != 2 {
		t.Errorf("%d deliveries at once: the log grew by %d; want 2 (a suppression, an opt-out)", n, got)
	}
}

// process runs the worker's part: every pending request due now.
func (e *env) process() []*consentd.Request {
	e.t.Helper()
	refs, err := e.s.PendingRequests(e.ctx, time.Now(), 100)
	if err != nil {
		e.t.Fatalf("PendingRequests() = %v", err)
	}
	var out []*consentd.Request
	for _, ref := range refs {
		if ref.WorkspaceID != e.ws {
			continue
		}
		r, err := e.s.ProcessRequest(e.ctx, ref.WorkspaceID, ref.ID)
		if err != nil {
			e.t.Fatalf("ProcessRequest(%s) = %v", ref.ID, err)
		}
		out = append(out, r)
	}
	return out
}

func testWithdrawParty(t *testing.T, s Store) {
	e := newEnv(t, s, "withdraw")
	e.mustWrite(cw("jane@example.com", "newsletter", "opted_in", e.t0), cw("jane@example.com", "promo", "opted_in", e.t0),
		on(cw(phone, "newsletter", "opted_in", e.t0), "sms"), cw("other@example.com", "newsletter", "opted_in", e.t0))
	if err := s.PutParty(e.ctx, e.ws, &consentd.Party{ID: "crm-1", ContactPoints: []consentd.PartyContactPoint{
		{Kind: consentd.KindEmail, Value: "Jane@Example.com"}, {Kind: consentd.KindPhone, Value: phone}}}, "test"); err != nil {
		t.Fatal(err)
	}
	size := e.logSize()
	received := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	r, err := s.CreateRequest(e.ctx, e.ws, consentd.RequestInput{Type: "withdraw", PartyID: "crm-1", Regulation: "gdpr", Reference: "T-1", ReceivedAt: received}, "key:filer")
	if err != nil {
		t.Fatalf("CreateRequest() = %v", err)
	}
	if r.ID == "" || r.State != consentd.RequestPending || !r.ReceivedAt.Equal(received) || !r.DueAt.Equal(consentd.DueDate("gdpr", received)) ||
		r.PartyID != "crm-1" || r.Reference != "T-1" || r.CreatedBy != "key:filer" || r.WorkspaceID != e.ws || r.Result != nil {
		t.Errorf("CreateRequest() = %+v; want pending, due a month after it was received", r)
	}
	if got := types(t, e.entries()[size:]); !slices.Equal(got, []string{consentd.LogRequestReceived}) {
		t.Errorf("log after CreateRequest = %v; want one %s", got, consentd.LogRequestReceived)
	}
	// Nothing happens until the worker runs; the request survives in the
	// store until then.
	e.wantDecision("jane@example.com", "email", "newsletter", "", true, consentd.ReasonOptedIn)
	if got, err := s.Request(e.ctx, e.ws, r.ID); err != nil || got.State != consentd.RequestPending || !got.DueAt.Equal(r.DueAt) {
		t.Errorf("Request() = %+v, %v; want it pending", got, err)
	}
	size = e.logSize()
	done := e.process()
	if len(done) != 1 {
		t.Fatalf("the worker processed %d requests; want 1", len(done))
	}
	got := done[0]
	res := got.Result
	// jane: 6 email channel types (newsletter, weekly, promo, deals, orders,
	// analytics); the phone: newsletter, weekly on sms and whatsapp, orders sms.
	if got.State != consentd.RequestCompleted || got.CompletedAt == nil || got.Attempts != 1 || res == nil ||
		res.ContactPoints != 2 || res.Consents != 11 || res.Changed != 11 || res.Unchanged != 0 || res.Superseded != 0 ||
		len(res.ConsentIDs) != 11 || len(res.SuppressionIDs) != 2 || len(got.Errors) != 0 {
		t.Fatalf("ProcessRequest() = %+v, result %+v; want completed, 11 opt-outs, 2 suppressions", got, res)
	}
	sups, err := s.Suppressions(e.ctx, e.ws)
	if err != nil || len(sups) != 2 {
		t.Fatalf("Suppressions() = %v, %v; want the request's two", sups, err)
	}
	for _, sup := range sups {
		if sup.Reason != consentd.SuppressDoNotContact || sup.Channel != "" || !slices.Contains(res.SuppressionIDs, sup.ID) || !strings.Contains(sup.Note, r.ID) ||
			(sup.ContactPoint != "jane@example.com" && sup.ContactPoint != phone) {
			t.Errorf("suppression %+v; want do_not_contact on every channel, named in the result, noting %s", sup, r.ID)
		}
	}
	if !slices.Contains(res.ConsentIDs, "jane@example.com#newsletter:email") || !slices.Contains(res.ConsentIDs, phone+"#orders:sms") {
		t.Errorf("result consent ids = %v; want the public ids", res.ConsentIDs)
	}
	for _, id := range res.ConsentIDs {
		if c := e.consent(id); c.Status != consentd.OptedOut || c.Source.Type != consentd.SourceDSR || c.Source.Name != r.ID ||
			!c.CapturedAt.Equal(received) || c.PartyID != "crm-1" {
			t.Errorf("Consent(%s) = %+v; want opted_out by the request, captured when it was received", id, c)
		}
	}
	// Every change logged: the opt-outs with source dsr, the suppressions,
	// the completion; no plaintext.
	log := e.entries()[size:]
	want := append(slices.Repeat([]string{consentd.LogConsentChanged}, 11), consentd.LogSuppressionAdded, consentd.LogSuppressionAdded, consentd.LogRequestCompleted)
	if got := types(t, log); !slices.Equal(got, want) {
		t.Errorf("log after processing = %v; want %v", got, want)
	}
	for _, rec := range log {
		en := decode(t, rec)
		if strings.Contains(string(rec.Entry), "jane@") || strings.Contains(string(rec.Entry), phone) || en.Actor != "key:filer" {
			t.Errorf("log entry %s: want actor key:filer and no plaintext", rec.Entry)
		}
		if en.Type == consentd.LogConsentChanged {
			if src := loggedSource(t, en); src.Type != consentd.SourceDSR || src.Name != r.ID {
				t.Errorf("log entry %d: source %+v; want dsr %s", en.Seq, src, r.ID)
			}
		}
	}
	// Denied afterwards, also for a purpose created later; others untouched.
	e.wantDecision("jane@example.com", "email", "newsletter", "", false, consentd.ReasonSuppressed)
	e.wantDecision("jane@example.com", "email", "promo", "deals", false, consentd.ReasonSuppressed)
	e.wantDecision("jane@example.com", "email", "orders", "", false, consentd.ReasonOptedOut)
	e.wantDecision(phone, "sms", "newsletter", "", false, consentd.ReasonSuppressed)
	e.wantDecision(phone, "whatsapp", "newsletter", "weekly", false, consentd.ReasonSuppressed)
	e.wantDecision("other@example.com", "email", "newsletter", "", true, consentd.ReasonOptedIn)
	if err := s.PutPurpose(e.ctx, e.ws, &consentd.Purpose{ID: "later", Name: "Later", Type: consentd.Commercial,
		Channels: map[string]consentd.ChannelSetting{"email": {Enforcement: consentd.NonRestrictive}}}, true, "test"); err != nil {
		t.Fatal(err)
	}
	e.wantDecision("jane@example.com", "email", "later", "", false, consentd.ReasonSuppressed)

	// Done once: no longer pending, processing again changes nothing.
	size = e.logSize()
	if refs, _ := s.PendingRequests(e.ctx, time.Now(), 100); slices.ContainsFunc(refs, func(ref consentd.RequestRef) bool { return ref.ID == r.ID }) {
		t.Errorf("PendingRequests() after completion = %v; want without %s", refs, r.ID)
	}
	again, err := s.ProcessRequest(e.ctx, e.ws, r.ID)
	if err != nil || again.State != consentd.RequestCompleted || again.Attempts != 1 {
		t.Errorf("ProcessRequest(again) = %+v, %v; want it completed as it was", again, err)
	}
	if n := e.logSize(); n != size {
		t.Errorf("ProcessRequest(again): the log grew from %d to %d", size, n)
	}
	l, next, err := s.Requests(e.ctx, e.ws, consentd.RequestFilter{State: consentd.RequestCompleted})
	if err != nil || len(l) != 1 || l[0].ID != r.ID || next != "" || l[0].Result == nil || !slices.Contains(l[0].Result.ConsentIDs, "jane@example.com#newsletter:email") {
		t.Errorf("Requests(completed) = %v, %q, %v; want the one", l, next, err)
	}
	if l, _, err := s.Requests(e.ctx, e.ws, consentd.RequestFilter{State: consentd.RequestPending}); err != nil || len(l) != 0 {
		t.Errorf("Requests(pending) = %v, %v; want none", l, err)
	}
}

func testWithdrawContactPoint(t *testing.T, s Store) {
	e := newEnv(t, s, "withdraw-cp")
	// late@ opted in after the request was received: that stands, but the
	// suppression still blocks commercial mail.
	e.mustWrite(cw("late@example.com", "newsletter", "opted_in", e.t0), cw("late@example.com", "orders", "opted_out", e.t0))
	received := e.t0.Add(-10 * time.Minute)
	r, err := s.CreateRequest(e.ctx, e.ws, consentd.RequestInput{Type: "withdraw", ContactPoint: " Late@Example.com", Regulation: "ccpa", ReceivedAt: received}, "test")
	if err != nil {
		t.Fatalf("CreateRequest(contact point) = %v", err)
	}
	if r.ContactPoint != "late@example.com" || r.Kind != consentd.KindEmail || !r.DueAt.Equal(received.AddDate(0, 0, 45)) {
		t.Errorf("CreateRequest(contact point) = %+v; want normalized, kind email, due 45 days after", r)
	}
	done := e.process()
	if len(done) != 1 {
		t.Fatalf("the worker processed %d requests; want 1", len(done))
	}
	res := done[0].Result
	if res == nil || res.ContactPoints != 1 || res.Consents != 6 || res.Superseded != 2 || res.Changed != 4 || len(res.SuppressionIDs) != 1 {
		t.Errorf("ProcessRequest(contact point) result = %+v; want 6 email opt-outs, 2 of them superseded by later records", res)
	}
	if c := e.consent("late@example.com#newsletter:email"); c.Status != consentd.OptedIn {
		t.Errorf("newsletter after the request = %s; want opted_in: captured after the request", c.Status)
	}
	e.wantDecision("late@example.com", "email", "newsletter", "", false, consentd.ReasonSuppressed)
	if got, err := s.Request(e.ctx, e.ws, r.ID); err != nil || got.ContactPoint != "late@example.com" || got.State != consentd.RequestCompleted {
		t.Errorf("Request() = %+v, %v", got, err)
	}
}

// testErase: an erase request withdraws like a withdraw request, then
// erases every contact point it covers: an `erased` suppression (all
// purposes, transactional too) and the plaintext deleted; the hashed
// consents and the log stay as proof.
func testErase(t *testing.T, s Store) {
	e := newEnv(t, s, "erase")
	e.mustWrite(cw("jane@example.com", "newsletter", "opted_in", e.t0), cw("jane@example.com", "orders", "opted_in", e.t0),
		on(cw(phone, "newsletter", "opted_in", e.t0), "sms"), cw("other@example.com", "newsletter", "opted_in", e.t0),
		cw("solo@example.com", "orders", "opted_in", e.t0))
	if err := s.PutParty(e.ctx, e.ws, &consentd.Party{ID: "crm-1", ContactPoints: []consentd.PartyContactPoint{
		{Kind: consentd.KindEmail, Value: "jane@example.com"}, {Kind: consentd.KindPhone, Value: phone}}}, "test"); err != nil {
		t.Fatal(err)
	}
	byParty, err := s.CreateRequest(e.ctx, e.ws, consentd.RequestInput{Type: "erase", PartyID: "crm-1", Regulation: "gdpr"}, "test")
	if err != nil {
		t.Fatalf("CreateRequest(erase party) = %v", err)
	}
	byCP, err := s.CreateRequest(e.ctx, e.ws, consentd.RequestInput{Type: "erase", ContactPoint: "Solo@Example.com", Regulation: "ccpa"}, "test")
	if err != nil {
		t.Fatalf("CreateRequest(erase contact point) = %v", err)
	}
	size := e.logSize()
	done := e.process()
	if len(done) != 2 {
		t.Fatalf("the worker processed %d requests; want 2", len(done))
	}
	for _, r := range done {
		if r.State != consentd.RequestCompleted || r.Result == nil || len(r.Result.SuppressionIDs) != r.Result.ContactPoints || r.ContactPoint != "" {
			t.Errorf("erase request %s = %+v, result %+v; want completed, one suppression per contact point, no plaintext", r.ID, r, r.Result)
		}
	}
	for _, rec := range e.entries()[size:] {
		if strings.Contains(string(rec.Entry), "@example.com") || strings.Contains(string(rec.Entry), phone) {
			t.Errorf("log entry %s holds plaintext", rec.Entry)
		}
	}
	sups, err := s.Suppressions(e.ctx, e.ws)
	if err != nil || len(sups) != 3 {
		t.Fatalf("Suppressions() = %v, %v; want 3", sups, err)
	}
	for _, sup := range sups {
		if sup.Reason != consentd.SuppressErased || sup.ContactPoint != "" || sup.Channel != "" {
			t.Errorf("suppression %+v; want erased on every channel, without plaintext", sup)
		}
	}
	exported := e.exported()
	if !slices.Equal(exported, []string{"other@example.com"}) {
		t.Errorf("export after erasure = %v; want only other@example.com", exported)
	}
	// Denied everywhere, transactional too; the hashed consents remain as
	// proof, opted out by the request.
	e.wantDecision("jane@example.com", "email", "orders", "", false, consentd.ReasonSuppressed)
	e.wantDecision("solo@example.com", "email", "orders", "", false, consentd.ReasonSuppressed)
	e.wantDecision(phone, "sms", "newsletter", "", false, consentd.ReasonSuppressed)
	e.wantDecision("other@example.com", "email", "newsletter", "", true, consentd.ReasonOptedIn)
	if c := e.consent("jane@example.com#newsletter:email"); c.Status != consentd.OptedOut || c.Source.Name != byParty.ID {
		t.Errorf("jane's newsletter consent = %+v; want opted out by %s", c, byParty.ID)
	}
	if c := e.consent("solo@example.com#orders:email"); c.Status != consentd.OptedOut || c.Source.Name != byCP.ID {
		t.Errorf("solo's orders consent = %+v; want opted out by %s", c, byCP.ID)
	}
}

// testAccess: an access request changes nothing; its result names the
// consents and suppressions held on the party's contact points.
func testAccess(t *testing.T, s Store) {
	e := newEnv(t, s, "access")
	e.mustWrite(cw("jane@example.com", "newsletter", "opted_in", e.t0), cw("jane@example.com", "orders", "opted_out", e.t0),
		on(cw(phone, "newsletter", "opted_in", e.t0), "sms"), cw("other@example.com", "newsletter", "opted_in", e.t0))
	if err := s.PutParty(e.ctx, e.ws, &consentd.Party{ID: "crm-1", ContactPoints: []consentd.PartyContactPoint{
		{Kind: consentd.KindEmail, Value: "jane@example.com"}, {Kind: consentd.KindPhone, Value: phone}}}, "test"); err != nil {
		t.Fatal(err)
	}
	sup, err := s.AddSuppression(e.ctx, e.ws, consentd.SuppressionInput{ContactPoint: phone, Channel: "sms", Reason: consentd.SuppressSMSStop}, "test")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.CreateRequest(e.ctx, e.ws, consentd.RequestInput{Type: "access", PartyID: "crm-1", Regulation: "gdpr"}, "test")
	if err != nil {
		t.Fatalf("CreateRequest(access) = %v", err)
	}
	size := e.logSize()
	done := e.process()
	if len(done) != 1 || done[0].ID != r.ID {
		t.Fatalf("the worker processed %v; want the access request", done)
	}
	res := done[0].Result
	slices.Sort(res.ConsentIDs)
	if done[0].State != consentd.RequestCompleted || res.ContactPoints != 2 || res.Consents != 0 || res.Changed != 0 ||
		!slices.Equal(res.ConsentIDs, []string{phone + "#newsletter:sms", "jane@example.com#newsletter:email", "jane@example.com#orders:email"}) ||
		!slices.Equal(res.SuppressionIDs, []string{sup.ID}) {
		t.Errorf("ProcessRequest(access) = %+v, result %+v; want completed, naming jane's 2 consents, the phone's consent and its suppression", done[0], res)
	}
	if got := types(t, e.entries()[size:]); !slices.Equal(got, []string{consentd.LogRequestCompleted}) {
		t.Errorf("log after an access request = %v; want only %s", got, consentd.LogRequestCompleted)
	}
	e.wantDecision("jane@example.com", "email", "newsletter", "", true, consentd.ReasonOptedIn)
}

func testRequestErrors(t *testing.T, s Store) {
	e := newEnv(t, s, "requests")
	other := newEnv(t, s, "requests-other")
	if err := s.PutParty(e.ctx, e.ws, &consentd.Party{ID: "crm-1"}, "test"); err != nil {
		t.Fatal(err)
	}
	size := e.logSize()
	for _, c := range []struct {
		what string
		in   consentd.RequestInput
		code string
	}{
		{"unknown type", consentd.RequestInput{Type: "forget", PartyID: "crm-1", Regulation: "gdpr"}, consentd.EINVALID},
		{"unknown party", consentd.RequestInput{Type: "withdraw", PartyID: "crm-2", Regulation: "gdpr"}, consentd.EINVALID},
		{"no regulation", consentd.RequestInput{Type: "withdraw", PartyID: "crm-1"}, consentd.EINVALID},
		{"bad contact point", consentd.RequestInput{Type: "withdraw", ContactPoint: "jane@", Kind: consentd.KindEmail, Regulation: "gdpr"}, consentd.EINVALIDCONTACTPOINT},
		{"future", consentd.RequestInput{Type: "withdraw", PartyID: "crm-1", Regulation: "gdpr", ReceivedAt: time.Now().Add(time.Hour)}, consentd.EFUTURECAPTUREDAT},
	} {
		_, err := s.CreateRequest(e.ctx, e.ws, c.in, "test")
		wantCode(t, "CreateRequest("+c.what+")", err, c.code)
	}
	if n := e.logSize(); n != size {
		t.Errorf("refused requests: the log grew from %d to %d", size, n)
	}
	if l, _, err := s.Requests(e.ctx, e.ws, consentd.RequestFilter{}); err != nil || len(l) != 0 {
		t.Errorf("refused requests: Requests() = %v, %v; want none stored", l, err)
	}
	_, err := s.Request(e.ctx, e.ws, "req_nothere")
	wantCode(t, "Request(unknown)", err, consentd.ENOTFOUND)
	_, err = s.ProcessRequest(e.ctx, e.ws, "req_nothere")
	wantCode(t, "ProcessRequest(unknown)", err, consentd.ENOTFOUND)
	_, _, err = s.Requests(e.ctx, e.ws, consentd.RequestFilter{State: "lost"})
	wantCode(t, "Requests(bad state)", err, consentd.EINVALID)

	// A party without contact points: completed with nothing to do. Paging
	// and isolation.
	var ids []string
	for range 3 {
		r, err := s.CreateRequest(e.ctx, e.ws, consentd.RequestInput{Type: "withdraw", PartyID: "crm-1", Regulation: "gdpr"}, "test")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	_, err = s.Request(other.ctx, other.ws, ids[0])
	wantCode(t, "Request(other workspace)", err, consentd.ENOTFOUND)
	_, err = s.ProcessRequest(other.ctx, other.ws, ids[0])
	wantCode(t, "ProcessRequest(other workspace)", err, consentd.ENOTFOUND)
	var listed []string
	tok := ""
	for pages := 0; ; pages++ {
		page, next, err := s.Requests(e.ctx, e.ws, consentd.RequestFilter{Limit: 2, PageToken: tok})
		if err != nil || pages > 2 {
			t.Fatalf("Requests(page %d) = %v", pages, err)
		}
		for _, r := range page {
			listed = append(listed, r.ID)
		}
		if tok = next; tok == "" {
			break
		}
	}
	if !slices.Equal(listed, ids) {
		t.Errorf("Requests() pages = %v; want %v", listed, ids)
	}
	for _, r := range e.process() {
		if r.State != consentd.RequestCompleted || r.Result == nil || r.Result.ContactPoints != 0 || r.Result.Consents != 0 {
			t.Errorf("ProcessRequest(party without contact points) = %+v; want completed, nothing to do", r)
		}
	}
	if l, _, _ := s.Requests(other.ctx, other.ws, consentd.RequestFilter{}); len(l) != 0 {
		t.Errorf("Requests(other workspace) = %v; want none", l)
	}
}
