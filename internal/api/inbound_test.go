package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/api"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/sqlite"
)

// decision asks POST /v1/decisions.
func (e *env) decision(key, cp, channel, purpose, topic string) (allowed bool, reason string) {
	e.t.Helper()
	var d struct {
		Allowed bool   `json:"allowed"`
		Reason  string `json:"reason"`
	}
	e.must("POST", "/v1/decisions", key, map[string]string{"contact_point": cp, "channel": channel, "purpose": purpose, "topic": topic}, 200).decode(e.t, &d)
	return d.Allowed, d.Reason
}

func (e *env) wantDecision(key, cp, channel, purpose, topic string, allowed bool, reason string) {
	e.t.Helper()
	if a, r := e.decision(key, cp, channel, purpose, topic); a != allowed || r != reason {
		e.t.Errorf("decision(%s, %s, %s, %q) = %v %s; want %v %s", cp, channel, purpose, topic, a, r, allowed, reason)
	}
}

// logEntries reads the whole log through GET /v1/log.
func (e *env) logEntries(key string) []map[string]any {
	e.t.Helper()
	var out []map[string]any
	after := 0
	for {
		var page struct {
			Entries []struct {
				Seq   int             `json:"seq"`
				Entry json.RawMessage `json:"entry"`
			} `json:"entries"`
			Next int `json:"next"`
		}
		e.must("GET", fmt.Sprintf("/v1/log?after=%d&limit=1000", after), key, nil, 200).decode(e.t, &page)
		for _, en := range page.Entries {
			var m map[string]any
			if err := json.Unmarshal(en.Entry, &m); err != nil {
				e.t.Fatal(err)
			}
			out = append(out, m)
			after = en.Seq
		}
		if page.Next == 0 {
			return out
		}
	}
}

// source returns the source of a consent log entry's new state, or of the
// write that did not change it.
func source(en map[string]any) (typ, name string) {
	after, ok := en["after"].(map[string]any)
	if !ok {
		after, _ = en["write"].(map[string]any)
	}
	src, _ := after["source"].(map[string]any)
	typ, _ = src["type"].(string)
	name, _ = src["name"].(string)
	return typ, name
}

type inboundAnswer struct {
	Action    string `json:"action"`
	Duplicate bool   `json:"duplicate"`
	Message   struct {
		ID      string `json:"id"`
		From    string `json:"from"`
		Text    string `json:"text"`
		Keyword string `json:"keyword"`
		State   string `json:"state"`
	} `json:"message"`
	Suppression *struct {
		ID     string `json:"id"`
		Reason string `json:"reason"`
		Chan   string `json:"channel"`
	} `json:"suppression"`
	Consents []consentJSON `json:"consents"`
	Lifted   []string      `json:"lifted"`
	Reply    string        `json:"reply"`
}

// TestSMSKeywordsOverHTTP: STOP blocks transactional texts too, START
// lifts it and opts in again, HELP answers with the workspace's text and
// changes nothing, and each answer carries the reply to send.
func TestSMSKeywordsOverHTTP(t *testing.T) {
	e := newEnv(t)
	w, admin, read, check := e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleAdmin), e.a.key(consentd.RoleRead), e.a.key(consentd.RoleCheck)
	const number = "+4915123456789"
	e.must("POST", "/v1/purposes", admin, `{"id":"otp","name":"Login codes","type":"transactional","channels":{"sms":{}}}`, 201)
	e.must("POST", "/v1/consents", w, write(number, "newsletter", "", "sms", "opted_in", time.Now().Add(-time.Hour)), 201)
	e.wantDecision(check, number, "sms", "otp", "", true, "not_opted_out")

	var a inboundAnswer
	e.must("POST", "/v1/inbound/sms", w, map[string]string{"from": number, "text": "STOP", "provider": "twilio", "message_id": "SM-1"}, 200).decode(t, &a)
	if a.Action != "opted_out" || !strings.Contains(a.Reply, "START") {
		t.Fatalf("POST /v1/inbound/sms STOP = %+v; want opted_out with a reply", a)
	}
	e.wantDecision(check, number, "sms", "otp", "", false, "suppressed")

	e.must("PATCH", "/v1/workspace", admin, `{"sms_sender_name":"Acme","sms_help_text":"Acme alerts. Reply STOP to end."}`, 200)
	size := e.logSize(read)
	a = inboundAnswer{}
	e.must("POST", "/v1/inbound/sms", w, map[string]string{"from": number, "text": "help", "provider": "twilio", "message_id": "SM-2"}, 200).decode(t, &a)
	if a.Action != "help" || a.Message.State != "help" || a.Reply != "Acme alerts. Reply STOP to end." || len(a.Consents) != 0 {
		t.Errorf("POST /v1/inbound/sms HELP = %+v; want help with the workspace's text", a)
	}
	if n := e.logSize(read); n != size {
		t.Errorf("HELP: the log grew from %d to %d", size, n)
	}

	a = inboundAnswer{}
	e.must("POST", "/v1/inbound/sms", w, map[string]string{"from": number, "text": "Start", "provider": "twilio", "message_id": "SM-3"}, 200).decode(t, &a)
	if a.Action != "opted_in" || len(a.Lifted) != 1 || len(a.Consents) != 1 || a.Consents[0].Status != "opted_in" || !strings.HasPrefix(a.Reply, "Acme:") {
		t.Fatalf("POST /v1/inbound/sms START = %+v; want opted_in, the suppression lifted, the newsletter opted in", a)
	}
	e.wantDecision(check, number, "sms", "otp", "", true, "not_opted_out")
	e.wantDecision(check, number, "sms", "newsletter", "", true, "opted_in")
	size = e.logSize(read)
	var again inboundAnswer
	e.must("POST", "/v1/inbound/sms", w, map[string]string{"from": number, "text": "Start", "provider": "twilio", "message_id": "SM-3"}, 200).decode(t, &again)
	if !again.Duplicate || again.Reply != a.Reply || e.logSize(read) != size {
		t.Errorf("POST /v1/inbound/sms START again = %+v; want the stored answer, nothing logged", again)
	}
	var list struct {
		Messages []struct {
			State string `json:"state"`
		} `json:"messages"`
	}
	e.must("GET", "/v1/inbound/sms?state=help", read, nil, 200).decode(t, &list)
	if len(list.Messages) != 1 {
		t.Errorf("GET /v1/inbound/sms?state=help = %+v; want the HELP", list.Messages)
	}
}

func TestInboundSMSOverHTTP(t *testing.T) {
	e := newEnv(t)
	w, admin, read, check := e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleAdmin), e.a.key(consentd.RoleRead), e.a.key(consentd.RoleCheck)
	const number = "+4915123456789"
	t0 := time.Now().Add(-time.Hour)
	e.must("POST", "/v1/consents", w, write("+49 151 23456789", "newsletter", "", "sms", "opted_in", t0), 201)
	e.must("POST", "/v1/consents", w, write("+49 151 23456789", "newsletter", "weekly", "sms", "opted_in", t0), 201)
	e.wantDecision(check, number, "sms", "newsletter", "", true, "opted_in")

	// Every keyword, in some case and with some punctuation, opts out; the
	// others go to review. Each from a number of its own.
	texts := []struct {
		text, keyword string
	}{
		{"STOP", "STOP"}, {"stop", "STOP"}, {"Stop.", "STOP"}, {" stop!! ", "STOP"}, {"🛑 STOP 🛑", "STOP"}, {"Stopall", "STOPALL"},
		{"quit", "QUIT"}, {"End.", "END"}, {"REVOKE!", "REVOKE"}, {"opt out", "OPT OUT"}, {"OPT-OUT", "OPT OUT"}, {"Cancel", "CANCEL"},
		{"unsubscribe.", "UNSUBSCRIBE"}, {"ＳＴＯＰ", "STOP"},
		{"please stop", ""}, {"stop please", ""}, {"opt out please", ""}, {"STOP 2", ""}, {"Who is this?", ""}, {"", ""},
	}
	for i, tt := range texts {
		from := fmt.Sprintf("+49151234567%02d", i)
		var a inboundAnswer
		e.must("POST", "/v1/inbound/sms", w, map[string]string{"from": from, "text": tt.text}, 200).decode(t, &a)
		want := "review"
		if tt.keyword != "" {
			want = "opted_out"
		}
		if a.Action != want || a.Message.Keyword != tt.keyword || a.Message.From != from || a.Message.Text != tt.text || (a.Suppression != nil) != (want == "opted_out") {
			t.Errorf("POST /v1/inbound/sms %q = %+v; want %s, keyword %q", tt.text, a, want, tt.keyword)
		}
		if want == "opted_out" {
			e.wantDecision(check, from, "sms", "newsletter", "", false, "suppressed")
		}
	}

	// STOP from the number with consents: both opted out, denied after,
	// also for a purpose created later.
	size := e.logSize(read)
	stop := map[string]any{"from": "+49 151 23456789", "to": "54321", "text": "Stop.", "provider": "twilio", "message_id": "SM-42"}
	var a inboundAnswer
	e.must("POST", "/v1/inbound/sms", w, stop, 200).decode(t, &a)
	if a.Action != "opted_out" || a.Duplicate || a.Suppression == nil || a.Suppression.Reason != "sms_stop" || a.Suppression.Chan != "sms" || len(a.Consents) != 2 {
		t.Fatalf("POST /v1/inbound/sms STOP = %+v; want opted_out with an sms_stop suppression and both SMS consents", a)
	}
	for _, c := range a.Consents {
		if c.Status != "opted_out" || c.Outcome != "changed" {
			t.Errorf("POST /v1/inbound/sms STOP: consent %+v; want opted_out, changed", c)
		}
	}
	if n := e.logSize(read); n != size+3 {
		t.Errorf("POST /v1/inbound/sms STOP: the log grew from %d to %d; want a suppression and two opt-outs", size, n)
	}
	e.wantDecision(check, number, "sms", "newsletter", "", false, "suppressed")
	e.wantDecision(check, number, "sms", "newsletter", "weekly", false, "suppressed")
	e.must("POST", "/v1/purposes", admin, `{"id":"flash","name":"Flash sales","type":"commercial","channels":{"sms":{}}}`, 201)
	e.must("POST", "/v1/consents", w, write(number, "flash", "", "sms", "opted_in", time.Now().Add(-time.Second)), 201)
	e.wantDecision(check, number, "sms", "flash", "", false, "suppressed")

	// Delivered again: the same answer, nothing done.
	size = e.logSize(read)
	var again inboundAnswer
	e.must("POST", "/v1/inbound/sms", w, stop, 200).decode(t, &again)
	if !again.Duplicate || again.Message.ID != a.Message.ID || again.Action != "opted_out" {
		t.Errorf("POST /v1/inbound/sms STOP again = %+v; want the stored reply %s, duplicate", again, a.Message.ID)
	}
	if n := e.logSize(read); n != size {
		t.Errorf("POST /v1/inbound/sms STOP again: the log grew from %d to %d", size, n)
	}

	// The review list holds the number (personal data, for the reviewer);
	// readers may read it; a write key resolves.
	var list struct {
		Messages []struct {
			ID    string `json:"id"`
			From  string `json:"from"`
			Text  string `json:"text"`
			State string `json:"state"`
		} `json:"messages"`
	}
	e.must("GET", "/v1/inbound/sms?state=review", read, nil, 200).decode(t, &list)
	if len(list.Messages) != 6 || list.Messages[0].Text != "please stop" || list.Messages[0].From != "+4915123456714" || list.Messages[0].State != "review" {
		t.Fatalf("GET /v1/inbound/sms?state=review = %+v; want the 6 replies that are no keyword, oldest first", list.Messages)
	}
	var res inboundAnswer
	e.must("POST", "/v1/inbound/sms/"+list.Messages[0].ID+":resolve", w, `{"action":"opt_out","note":"meant stop"}`, 200).decode(t, &res)
	if res.Action != "opted_out" || res.Message.State != "resolved" || res.Suppression == nil {
		t.Errorf("POST :resolve opt_out = %+v; want the number opted out, the reply resolved", res)
	}
	e.wantDecision(check, "+4915123456714", "sms", "newsletter", "", false, "suppressed")
	e.must("POST", "/v1/inbound/sms/"+list.Messages[1].ID+":resolve", w, nil, 200)
	if r := e.do("POST", "/v1/inbound/sms/"+list.Messages[1].ID+":resolve", w, nil); r.status != 409 || r.problem(t).Code != consentd.ECONFLICT {
		t.Errorf("POST :resolve twice = %s; want 409 %s", r, consentd.ECONFLICT)
	}
	e.must("GET", "/v1/inbound/sms", read, nil, 200).decode(t, &list)
	if len(list.Messages) != 4 {
		t.Errorf("GET /v1/inbound/sms after resolving two = %d replies; want 4", len(list.Messages))
	}
	// Nothing of the other workspace.
	e.must("GET", "/v1/inbound/sms?state=all", e.b.key(consentd.RoleRead), nil, 200).decode(t, &list)
	if len(list.Messages) != 0 {
		t.Errorf("GET /v1/inbound/sms in workspace b = %v; want none", list.Messages)
	}
	if r := e.do("POST", "/v1/inbound/sms/"+a.Message.ID+":resolve", e.b.key(consentd.RoleWrite), nil); r.status != 404 {
		t.Errorf("POST :resolve from workspace b = %s; want 404", r)
	}
}

func TestOptOutAllOverHTTP(t *testing.T) {
	e := newEnv(t)
	w, agent, read, check := e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleAgent), e.a.key(consentd.RoleRead), e.a.key(consentd.RoleCheck)
	t0 := time.Now().Add(-time.Hour)
	e.must("PUT", "/v1/parties/p1", w, `{"contact_points":[{"kind":"email","value":"Jane@Example.com"},{"kind":"phone","value":"+49 151 23456789"}]}`, 200)
	e.must("POST", "/v1/consents", w, write("jane@example.com", "newsletter", "", "email", "opted_in", t0), 201)
	e.must("POST", "/v1/consents", w, write("jane@example.com", "newsletter", "weekly", "email", "opted_in", t0), 201)
	e.must("POST", "/v1/consents", w, write("+4915123456789", "newsletter", "", "sms", "opted_in", t0), 201)
	e.must("POST", "/v1/consents", w, write("john@example.com", "newsletter", "", "email", "opted_in", t0), 201)

	// The route is in the document with its colon suffix.
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	e.must("GET", "/openapi.json", "", nil, 200).decode(t, &doc)
	if _, ok := doc.Paths["/v1/parties/{id}:opt-out-all"]["post"]; !ok {
		t.Errorf("GET /openapi.json has no POST /v1/parties/{id}:opt-out-all")
	}

	size := e.logSize(read)
	var ans struct {
		PartyID  string `json:"party_id"`
		Consents []struct {
			consentJSON
			Source struct {
				Type string `json:"type"`
				Name string `json:"name"`
			} `json:"source"`
			Error *api.Problem `json:"error"`
		} `json:"consents"`
	}
	e.must("POST", "/v1/parties/p1:opt-out-all", agent, `{"reason":"asked on the phone"}`, 200).decode(t, &ans)
	var ids []string
	for _, c := range ans.Consents {
		ids = append(ids, c.ID)
		if c.Error != nil || c.Status != "opted_out" || c.Source.Type != "agent" || c.Source.Name != e.a.keyIDs[consentd.RoleAgent] {
			t.Errorf("POST :opt-out-all consent %+v; want opted_out by the agent key", c)
		}
	}
	slices.Sort(ids)
	want := []string{"+4915123456789#newsletter:sms", "+4915123456789#weekly:sms", "jane@example.com#newsletter:email", "jane@example.com#orders:email", "jane@example.com#weekly:email"}
	if ans.PartyID != "p1" || !slices.Equal(ids, want) {
		t.Fatalf("POST /v1/parties/p1:opt-out-all = %s %v; want every channel type of both contact points %v", ans.PartyID, ids, want)
	}
	if n := e.logSize(read); n != size+int64(len(want)) {
		t.Errorf("POST :opt-out-all: the log grew from %d to %d; want one entry per consent", size, n)
	}
	for _, en := range e.logEntries(read)[size:] {
		if typ, name := source(en); en["type"] != consentd.LogConsentChanged || typ != "agent" || name != e.a.keyIDs[consentd.RoleAgent] ||
			en["actor"] != "key:"+e.a.keyIDs[consentd.RoleAgent] {
			t.Errorf("log entry %v; want consent.changed with source agent and the agent key as actor", en)
		}
	}
	// Every channel type is denied afterwards, except where the purpose's
	// enforcement is disabled (transactional, no check by design).
	e.wantDecision(check, "jane@example.com", "email", "newsletter", "", false, "opted_out")
	e.wantDecision(check, "jane@example.com", "email", "newsletter", "weekly", false, "purpose_opted_out")
	e.wantDecision(check, "+4915123456789", "sms", "newsletter", "", false, "opted_out")
	e.wantDecision(check, "+4915123456789", "sms", "newsletter", "weekly", false, "purpose_opted_out")
	e.wantDecision(check, "jane@example.com", "email", "orders", "", true, "disabled")
	e.wantDecision(check, "john@example.com", "email", "newsletter", "", true, "opted_in")

	// Again: nothing is left to change, but it is logged and answered.
	e.must("POST", "/v1/parties/p1:opt-out-all", e.a.key(consentd.RoleAdmin), nil, 200)

	// Bad input: a problem, nothing stored.
	size = e.logSize(read)
	for _, c := range []struct {
		name, method, path, key string
		body                    any
		status                  int
		code                    string
	}{
		{"unknown party", "POST", "/v1/parties/nobody:opt-out-all", agent, nil, 404, consentd.ENOTFOUND},
		{"no suffix", "POST", "/v1/parties/p1", agent, nil, 404, consentd.ENOTFOUND},
		{"other suffix", "POST", "/v1/parties/p1:opt-in-all", agent, nil, 404, consentd.ENOTFOUND},
		{"malformed body", "POST", "/v1/parties/p1:opt-out-all", agent, `{"reason":`, 400, consentd.EMALFORMED},
		{"unknown field", "POST", "/v1/parties/p1:opt-out-all", agent, `{"everything":true}`, 400, consentd.EMALFORMED},
		{"read key", "POST", "/v1/parties/p1:opt-out-all", read, nil, 403, consentd.EFORBIDDEN},
		{"check key", "POST", "/v1/parties/p1:opt-out-all", check, nil, 403, consentd.EFORBIDDEN},
		{"other workspace", "POST", "/v1/parties/p1:opt-out-all", e.b.key(consentd.RoleAgent), nil, 404, consentd.ENOTFOUND},
	} {
		r := e.do(c.method, c.path, c.key, c.body)
		if p := r.problem(t); r.status != c.status || p.Code != c.code || p.Detail == "" {
			t.Errorf("%s %s (%s) = %s; want %d %s", c.method, c.path, c.name, r, c.status, c.code)
		}
	}
	if n := e.logSize(read); n != size {
		t.Errorf("refused opt-outs: the log grew from %d to %d", size, n)
	}
}

type requestJSON struct {
	ID           string    `json:"id"`
	Type         string    `json:"type"`
	PartyID      string    `json:"party_id"`
	ContactPoint string    `json:"contact_point"`
	Regulation   string    `json:"regulation"`
	State        string    `json:"state"`
	ReceivedAt   time.Time `json:"received_at"`
	DueAt        time.Time `json:"due_at"`
	Attempts     int       `json:"attempts"`
	Result       *struct {
		ContactPoints  int      `json:"contact_points"`
		Consents       int      `json:"consents"`
		Changed        int      `json:"changed"`
		Superseded     int      `json:"superseded"`
		ConsentIDs     []string `json:"consent_ids"`
		SuppressionIDs []string `json:"suppression_ids"`
	} `json:"result"`
	Errors []any `json:"errors"`
}

func TestRequestsOverHTTP(t *testing.T) {
	e := newEnv(t)
	w, agent, read, check := e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleAgent), e.a.key(consentd.RoleRead), e.a.key(consentd.RoleCheck)
	t0 := time.Now().Add(-time.Hour)
	e.must("PUT", "/v1/parties/p2", w, `{"contact_points":[{"kind":"email","value":"jane@example.com"},{"kind":"phone","value":"+4915123456789"}]}`, 200)
	e.must("POST", "/v1/consents", w, write("jane@example.com", "newsletter", "", "email", "opted_in", t0), 201)
	e.must("POST", "/v1/consents", w, write("+4915123456789", "newsletter", "", "sms", "opted_in", t0), 201)
	e.must("POST", "/v1/consents", w, write("carol@example.com", "newsletter", "", "email", "opted_in", t0), 201)

	received := time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC) // GDPR: due on the last day of February
	var gdpr, ccpa requestJSON
	r := e.must("POST", "/v1/requests", w, map[string]any{"type": "withdraw", "party_id": "p2", "regulation": "gdpr", "reference": "CASE-7",
		"received_at": received.Format(time.RFC3339)}, 201)
	r.decode(t, &gdpr)
	if gdpr.ID == "" || gdpr.State != "pending" || !gdpr.DueAt.Equal(time.Date(2026, 2, 28, 9, 0, 0, 0, time.UTC)) || r.header.Get("Location") != "/v1/requests/"+gdpr.ID {
		t.Errorf("POST /v1/requests gdpr = %s; want pending, due 2026-02-28T09:00:00Z, a Location", r)
	}
	e.must("POST", "/v1/requests", w, `{"type":"withdraw","contact_point":"Carol@Example.com","regulation":"ccpa"}`, 201).decode(t, &ccpa)
	if ccpa.ContactPoint != "carol@example.com" || ccpa.DueAt.Sub(ccpa.ReceivedAt) != 45*24*time.Hour || time.Since(ccpa.ReceivedAt) > time.Minute {
		t.Errorf("POST /v1/requests ccpa = %+v; want received now, due 45 days later", ccpa)
	}
	var got requestJSON
	e.must("GET", "/v1/requests/"+gdpr.ID, read, nil, 200).decode(t, &got)
	if got.State != "pending" || got.Result != nil {
		t.Errorf("GET /v1/requests/{id} before the worker = %+v; want pending", got)
	}
	e.wantDecision(check, "jane@example.com", "email", "newsletter", "", true, "opted_in")

	// The worker loop, as serve runs it: it carries both out and stops
	// when its context is done.
	size := e.logSize(read)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); e.api.RunRequests(ctx, 10*time.Millisecond) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		e.must("GET", "/v1/requests/"+ccpa.ID, read, nil, 200).decode(t, &got)
		if got.State == "completed" || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("RunRequests did not return after its context was done")
	}
	e.must("GET", "/v1/requests/"+gdpr.ID, read, nil, 200).decode(t, &got)
	// jane: newsletter, weekly, orders on email; the phone: newsletter, weekly on sms.
	// The request was received before the opt-ins of newsletter: those
	// stand (superseded), the suppressions deny anyway.
	if got.State != "completed" || got.Attempts != 1 || got.Result == nil || got.Result.ContactPoints != 2 || got.Result.Consents != 5 ||
		got.Result.Changed != 3 || got.Result.Superseded != 2 ||
		len(got.Result.SuppressionIDs) != 2 || !slices.Contains(got.Result.ConsentIDs, "jane@example.com#newsletter:email") {
		t.Fatalf("GET /v1/requests/{id} after the worker = %+v, result %+v; want completed, 5 opt-outs, 2 suppressions", got, got.Result)
	}
	e.wantDecision(check, "jane@example.com", "email", "newsletter", "", false, "suppressed")
	e.wantDecision(check, "+4915123456789", "sms", "newsletter", "", false, "suppressed")
	e.wantDecision(check, "carol@example.com", "email", "newsletter", "", false, "suppressed")
	e.wantDecision(check, "jane@example.com", "email", "orders", "", true, "disabled")
	var dsr int
	for _, en := range e.logEntries(read)[size:] {
		if en["type"] != consentd.LogConsentChanged && en["type"] != consentd.LogConsentSuperseded {
			continue
		}
		dsr++
		if typ, name := source(en); typ != "dsr" || (name != gdpr.ID && name != ccpa.ID) {
			t.Errorf("log entry %v: want source dsr named by the request", en)
		}
	}
	if dsr != 5+3 {
		t.Errorf("log after the worker: %d opt-outs; want 8 logged (5 for the party, 3 for carol's email)", dsr)
	}
	var list struct {
		Requests []requestJSON `json:"requests"`
	}
	e.must("GET", "/v1/requests?state=completed", agent, nil, 200).decode(t, &list)
	if len(list.Requests) != 2 {
		t.Errorf("GET /v1/requests?state=completed = %d; want 2", len(list.Requests))
	}

	// Bad input: a problem naming the field, nothing stored.
	snap := func() string {
		return fmt.Sprint(e.logSize(read), string(e.must("GET", "/v1/requests", read, nil, 200).body))
	}
	before := snap()
	for _, c := range []struct {
		name   string
		body   any
		status int
		code   string
		field  string
	}{
		{"unknown type", `{"type":"delete","party_id":"p2","regulation":"gdpr"}`, 422, consentd.EINVALID, "type"},
		{"unknown regulation", `{"type":"withdraw","party_id":"p2","regulation":"pipeda"}`, 422, consentd.EINVALID, "regulation"},
		{"no subject", `{"type":"withdraw","regulation":"gdpr"}`, 422, consentd.EINVALID, "party_id"},
		{"both subjects", `{"type":"withdraw","party_id":"p2","contact_point":"jane@example.com","regulation":"gdpr"}`, 422, consentd.EINVALID, "contact_point"},
		{"unknown party", `{"type":"withdraw","party_id":"p9","regulation":"gdpr"}`, 422, consentd.EINVALID, "party_id"},
		{"bad address", `{"type":"withdraw","contact_point":"jane@","kind":"email","regulation":"gdpr"}`, 422, consentd.EINVALIDCONTACTPOINT, "contact_point"},
		{"future", map[string]any{"type": "withdraw", "party_id": "p2", "regulation": "gdpr", "received_at": time.Now().Add(time.Hour).Format(time.RFC3339)}, 422, consentd.EFUTURECAPTUREDAT, "received_at"},
		{"bad time", `{"type":"withdraw","party_id":"p2","regulation":"gdpr","received_at":"yesterday"}`, 422, consentd.EINVALIDTIME, "received_at"},
		{"malformed", `{"type":`, 400, consentd.EMALFORMED, ""},
		{"unknown field", `{"type":"withdraw","party_id":"p2","regulation":"gdpr","urgent":true}`, 400, consentd.EMALFORMED, ""},
		{"empty", "", 400, consentd.EMALFORMED, ""},
	} {
		r := e.do("POST", "/v1/requests", w, c.body)
		p := r.problem(t)
		if r.status != c.status || p.Code != c.code || p.Detail == "" || (c.field != "" && !slices.ContainsFunc(p.Fields, func(f consentd.FieldError) bool { return f.Field == c.field })) {
			t.Errorf("POST /v1/requests %s = %s; want %d %s naming %q", c.name, r, c.status, c.code, c.field)
		}
		if strings.Contains(p.Detail, "jane@") {
			t.Errorf("POST /v1/requests %s: the problem repeats the contact point: %s", c.name, r)
		}
	}
	for _, c := range []struct{ path, code string }{
		{"/v1/requests/req_nothere", consentd.ENOTFOUND},
		{"/v1/requests?state=lost", consentd.EINVALID},
		{"/v1/requests?limit=0", consentd.EINVALID},
		{"/v1/requests?page_token=!!", consentd.EINVALID},
		{"/v1/inbound/sms?state=spam", consentd.EINVALID},
	} {
		if r := e.do("GET", c.path, read, nil); r.problem(t).Code != c.code {
			t.Errorf("GET %s = %s; want %s", c.path, r, c.code)
		}
	}
	if r := e.do("GET", "/v1/requests/"+gdpr.ID, e.b.key(consentd.RoleRead), nil); r.status != 404 {
		t.Errorf("GET /v1/requests/{id} from workspace b = %s; want 404", r)
	}
	if after := snap(); after != before {
		t.Errorf("refused requests changed the workspace:\nbefore %s\nafter  %s", before, after)
	}
}

func TestInboundBadInputChangesNothing(t *testing.T) {
	e := newEnv(t)
	w, read := e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleRead)
	var a inboundAnswer
	e.must("POST", "/v1/inbound/sms", w, `{"from":"+4915123456789","text":"who?"}`, 200).decode(t, &a)
	snap := func() string {
		return fmt.Sprint(e.logSize(read), string(e.must("GET", "/v1/inbound/sms?state=all", read, nil, 200).body),
			string(e.must("GET", "/v1/suppressions", read, nil, 200).body))
	}
	before := snap()
	for _, c := range []struct {
		name, path string
		body       any
		status     int
		code       string
		field      string
	}{
		{"no from", "/v1/inbound/sms", `{"text":"STOP"}`, 422, consentd.EINVALIDCONTACTPOINT, "from"},
		{"from not a number", "/v1/inbound/sms", `{"from":"jane@example.com","text":"STOP"}`, 422, consentd.EINVALIDCONTACTPOINT, "from"},
		{"national number without a default region", "/v1/inbound/sms", `{"from":"0151 23456789","text":"STOP"}`, 422, consentd.EINVALIDCONTACTPOINT, "from"},
		{"received in the future", "/v1/inbound/sms", map[string]any{"from": "+4915123456789", "text": "STOP", "received_at": time.Now().Add(time.Hour).Format(time.RFC3339)}, 422, consentd.EFUTURECAPTUREDAT, "received_at"},
		{"bad received_at", "/v1/inbound/sms", `{"from":"+4915123456789","text":"STOP","received_at":"now"}`, 422, consentd.EINVALIDTIME, "received_at"},
		{"text too long", "/v1/inbound/sms", map[string]any{"from": "+4915123456789", "text": strings.Repeat("x", consentd.MaxSMSText+1)}, 422, consentd.EINVALID, "text"},
		{"text not a string", "/v1/inbound/sms", `{"from":"+4915123456789","text":5}`, 400, consentd.EMALFORMED, "text"},
		{"unknown field", "/v1/inbound/sms", `{"from":"+4915123456789","text":"STOP","keyword":"STOP"}`, 400, consentd.EMALFORMED, ""},
		{"malformed", "/v1/inbound/sms", `{"from":`, 400, consentd.EMALFORMED, ""},
		{"form-encoded", "/v1/inbound/sms", `From=%2B4915123456789&Body=STOP`, 400, consentd.EMALFORMED, ""},
		{"resolve: bad action", "/v1/inbound/sms/" + url.PathEscape(a.Message.ID) + ":resolve", `{"action":"delete"}`, 422, consentd.EINVALID, "action"},
		{"resolve: unknown field", "/v1/inbound/sms/" + url.PathEscape(a.Message.ID) + ":resolve", `{"why":"x"}`, 400, consentd.EMALFORMED, ""},
		{"resolve: unknown id", "/v1/inbound/sms/msg_nothere:resolve", nil, 404, consentd.ENOTFOUND, ""},
		{"resolve: no suffix", "/v1/inbound/sms/" + url.PathEscape(a.Message.ID), nil, 404, consentd.ENOTFOUND, ""},
	} {
		r := e.do("POST", c.path, w, c.body)
		p := r.problem(t)
		if r.status != c.status || p.Code != c.code || p.Detail == "" || (c.field != "" && !slices.ContainsFunc(p.Fields, func(f consentd.FieldError) bool { return f.Field == c.field })) {
			t.Errorf("POST %s %s = %s; want %d %s naming %q", c.path, c.name, r, c.status, c.code, c.field)
		}
		if strings.Contains(p.Detail, "4915123456789") || strings.Contains(p.Detail, "jane@") {
			t.Errorf("POST %s %s: the problem repeats the number: %s", c.path, c.name, r)
		}
		if after := snap(); after != before {
			t.Errorf("POST %s %s changed the workspace:\nbefore %s\nafter  %s", c.path, c.name, before, after)
			before = after
		}
	}
}

// TestRequestSurvivesRestart files a request, stops the server and the
// database before the worker ran, and opens them again: the worker of the
// new process carries it out.
func TestRequestSurvivesRestart(t *testing.T) {
	if backend != "sqlite" {
		t.Skip("a restart of the SQLite file; the PostgreSQL pass adds nothing")
	}
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "consentd.db")
	signer, err := ledger.LoadOrCreateKey(filepath.Join(dir, "checkpoint.key"), "consentd")
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := db.CreateWorkspace(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := db.CreateKey(ctx, ws.ID, consentd.RoleWrite, "w", "")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, store: db, api: api.New(db, signer, logger)}
	e.srv = httptest.NewServer(e.api)
	e.must("POST", "/v1/purposes", mustAdmin(t, db, ws.ID), `{"id":"newsletter","name":"Newsletter","type":"commercial","channels":{"email":{}}}`, 201)
	e.must("POST", "/v1/consents", key, write("jane@example.com", "newsletter", "", "email", "opted_in", time.Now().Add(-time.Hour)), 201)
	var req requestJSON
	e.must("POST", "/v1/requests", key, `{"type":"withdraw","contact_point":"jane@example.com","regulation":"gdpr"}`, 201).decode(t, &req)
	e.srv.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e = &env{t: t, db: db, store: db, api: api.New(db, signer, logger)}
	e.srv = httptest.NewServer(e.api)
	defer e.srv.Close()
	if n, err := e.api.ProcessRequests(ctx); err != nil || n != 1 {
		t.Fatalf("ProcessRequests() after a restart = %d, %v; want 1", n, err)
	}
	var got requestJSON
	e.must("GET", "/v1/requests/"+req.ID, key, nil, 200).decode(t, &got)
	if got.State != "completed" || got.Result == nil || got.Result.Consents != 1 {
		t.Errorf("GET /v1/requests/{id} after a restart = %+v; want completed", got)
	}
	if n, err := e.api.ProcessRequests(ctx); err != nil || n != 0 {
		t.Errorf("ProcessRequests() again = %d, %v; want nothing left", n, err)
	}
	e.wantDecision(key, "jane@example.com", "email", "newsletter", "", false, "suppressed")
}

func mustAdmin(t *testing.T, db *sqlite.DB, wsID string) string {
	t.Helper()
	_, key, err := db.CreateKey(context.Background(), wsID, consentd.RoleAdmin, "admin", "")
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// TestAccessReportOverHTTP: an access request changes nothing; once the
// worker completed it, its report shows the party, each consent with its
// history and the suppressions, and leaves out an address erased since.
func TestAccessReportOverHTTP(t *testing.T) {
	e := newEnv(t)
	w, read, admin := e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleRead), e.a.key(consentd.RoleAdmin)
	t0 := time.Now().Add(-time.Hour)
	e.must("PUT", "/v1/parties/p3", w, `{"contact_points":[{"kind":"email","value":"jane@example.com"},{"kind":"email","value":"old@example.com"}]}`, 200)
	e.must("POST", "/v1/consents", w, write("jane@example.com", "newsletter", "", "email", "opted_in", t0), 201)
	e.must("POST", "/v1/consents", w, write("jane@example.com", "newsletter", "", "email", "opted_out", t0.Add(time.Minute)), 200)
	e.must("POST", "/v1/consents", w, write("old@example.com", "newsletter", "", "email", "opted_in", t0), 201)
	var req requestJSON
	e.must("POST", "/v1/requests", w, `{"type":"access","party_id":"p3","regulation":"gdpr"}`, 201).decode(t, &req)
	if res := e.do("GET", "/v1/requests/"+req.ID+"/report", read, nil); res.status != 409 || res.problem(t).Code != consentd.ECONFLICT {
		t.Errorf("GET report of a pending request = %s; want 409 conflict", res)
	}
	size := e.logSize(read)
	if n, err := e.api.ProcessRequests(context.Background()); err != nil || n != 1 {
		t.Fatalf("ProcessRequests() = %d, %v", n, err)
	}
	if n := e.logSize(read); n != size+1 {
		t.Errorf("an access request logged %d entries; want only its completion", n-size)
	}
	e.must("POST", "/v1/suppressions", admin, `{"contact_point":"old@example.com","reason":"erased"}`, 201)

	var rep struct {
		Request  requestJSON         `json:"request"`
		Party    struct{ ID string } `json:"party"`
		Consents []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"consents"`
		History      map[string][]json.RawMessage `json:"history"`
		Suppressions []json.RawMessage            `json:"suppressions"`
	}
	e.must("GET", "/v1/requests/"+req.ID+"/report", read, nil, 200).decode(t, &rep)
	if rep.Request.ID != req.ID || rep.Party.ID != "p3" || len(rep.Consents) != 1 || rep.Consents[0].ID != "jane@example.com#newsletter:email" ||
		rep.Consents[0].Status != "opted_out" || len(rep.History["jane@example.com#newsletter:email"]) != 2 || len(rep.Suppressions) != 0 {
		t.Errorf("access report = %+v; want p3, jane's consent (opted out, 2 log entries), not the address erased since", rep)
	}
	if res := e.do("GET", "/v1/requests/"+req.ID+"/report", e.b.key(consentd.RoleAdmin), nil); res.status != 404 {
		t.Errorf("GET report from another workspace = %s; want 404", res)
	}
}
