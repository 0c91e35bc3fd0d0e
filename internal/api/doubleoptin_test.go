package api_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// TestDoubleOptInWrites: an opt-in that needs double opt-in is stored as
// pending and answered with where the confirmation goes; every other write
// is stored as sent, and its answer keeps its shape.
func TestDoubleOptInWrites(t *testing.T) {
	e := newEnv(t)
	key, admin := e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleAdmin)
	e.must("PATCH", "/v1/purposes/newsletter", admin, `{"double_opt_in":["DE","AT"]}`, 200)
	t0 := time.Now().Add(-time.Hour).UTC()
	from := func(w map[string]any, jurisdiction string) map[string]any {
		w["jurisdiction"] = jurisdiction
		w["proof"] = map[string]any{"ip": "203.0.113.7", "user_agent": "Form/1", "form_version": "v3"}
		return w
	}
	type answer struct {
		Status       string `json:"status"`
		Outcome      string `json:"outcome"`
		Applied      bool   `json:"applied"`
		Confirmation *struct {
			SentTo    string    `json:"sent_to"`
			ExpiresAt time.Time `json:"expires_at"`
		} `json:"confirmation"`
	}
	post := func(w map[string]any, status int) (answer, map[string]json.RawMessage) {
		t.Helper()
		r := e.must("POST", "/v1/consents", key, w, status)
		var a answer
		var raw map[string]json.RawMessage
		r.decode(t, &a)
		r.decode(t, &raw)
		return a, raw
	}

	// From a listed jurisdiction: pending, and a confirmation.
	a, raw := post(from(write("Jane@Example.com", "newsletter", "", "email", "opted_in", t0), "DE"), 201)
	if a.Status != "pending" || a.Outcome != "created" || a.Confirmation == nil || a.Confirmation.SentTo != "j***@e***.com" {
		t.Fatalf("DE opt-in = %+v; want pending with a confirmation to j***@e***.com", a)
	}
	if d := time.Until(a.Confirmation.ExpiresAt); d < consentd.ConfirmationTTL-time.Hour || d > consentd.ConfirmationTTL {
		t.Errorf("expires_at in %v; want 28 days", d)
	}
	if _, ok := raw["confirmation"]; !ok {
		t.Errorf("answer %v has no confirmation", raw)
	}
	// The same write again: unchanged, the same confirmation.
	again, _ := post(from(write("jane@example.com", "newsletter", "", "email", "opted_in", t0), "DE"), 200)
	if again.Status != "pending" || again.Outcome != "unchanged" || again.Confirmation == nil || !again.Confirmation.ExpiresAt.Equal(a.Confirmation.ExpiresAt) {
		t.Errorf("the DE opt-in again = %+v; want unchanged, the same confirmation", again)
	}

	// Not listed, or no jurisdiction: opted in at once, answer as before.
	for _, j := range []string{"US", "FR", ""} {
		a, raw := post(from(write("us-"+j+"@example.com", "newsletter", "", "email", "opted_in", t0), j), 201)
		if a.Status != "opted_in" || a.Confirmation != nil {
			t.Errorf("opt-in from %q = %+v; want opted_in without confirmation", j, a)
		}
		if _, ok := raw["confirmation"]; ok {
			t.Errorf("opt-in from %q: the answer has a confirmation key: %v", j, raw)
		}
		keys := make([]string, 0, len(raw))
		for k := range raw {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := []string{"applied", "captured_at", "channel", "channel_type", "contact_point", "id", "jurisdiction", "outcome", "proof", "purpose", "recorded_at", "seq", "source", "status", "version"}
		if j == "" {
			want = slices.DeleteFunc(want, func(k string) bool { return k == "jurisdiction" })
		}
		if !slices.Equal(keys, want) {
			t.Errorf("opt-in from %q: answer keys %v; want %v", j, keys, want)
		}
	}

	// A subdivision of a listed country, on a topic of the purpose.
	if a, _ := post(from(write("topic@example.com", "newsletter", "weekly", "email", "opted_in", t0), "DE-BY"), 201); a.Status != "pending" || a.Confirmation == nil {
		t.Errorf("DE-BY topic opt-in = %+v; want pending with a confirmation", a)
	}
	// A confirmation itself, and an opt-out, go through as sent.
	src := from(write("confirmed@example.com", "newsletter", "", "email", "opted_in", t0), "DE")
	src["source"] = map[string]any{"type": "double_opt_in", "name": "imported from the old system"}
	if a, _ := post(src, 201); a.Status != "opted_in" || a.Confirmation != nil {
		t.Errorf("DE opt-in with source double_opt_in = %+v; want opted_in", a)
	}
	if a, _ := post(from(write("out@example.com", "newsletter", "", "email", "opted_out", t0), "DE"), 201); a.Status != "opted_out" || a.Confirmation != nil {
		t.Errorf("DE opt-out = %+v; want opted_out", a)
	}
	// An opt-in to a consent that is opted in already stays opted in: a
	// form filled in by someone else cannot demote it to pending.
	post(from(write("sub@example.com", "newsletter", "", "email", "opted_in", t0), "US"), 201)
	if a, _ := post(from(write("sub@example.com", "newsletter", "", "email", "opted_in", t0.Add(time.Minute)), "DE"), 200); a.Status != "opted_in" || a.Confirmation != nil {
		t.Errorf("DE opt-in over an opted-in consent = %+v; want opted_in, no confirmation", a)
	}
	// Superseded by a later opt-out: no confirmation.
	post(from(write("late@example.com", "newsletter", "", "email", "opted_out", t0.Add(time.Minute)), ""), 201)
	if a, _ := post(from(write("late@example.com", "newsletter", "", "email", "opted_in", t0), "DE"), 200); a.Status != "opted_out" || a.Outcome != "superseded" || a.Confirmation != nil {
		t.Errorf("superseded DE opt-in = %+v; want opted_out, superseded, no confirmation", a)
	}

	// Batches: per item.
	var batch struct {
		Results []struct {
			answer
			Error *struct {
				Code string `json:"code"`
			} `json:"error"`
		} `json:"results"`
	}
	e.must("POST", "/v1/consents:batch", key, map[string]any{"consents": []any{
		from(write("b1@example.com", "newsletter", "", "email", "opted_in", t0), "AT"),
		from(write("b2@example.com", "newsletter", "", "email", "opted_in", t0), "US"),
		from(write("not an address", "newsletter", "", "email", "opted_in", t0), "DE"),
		from(write("+43 660 1234567", "newsletter", "", "sms", "opted_in", t0), "AT"),
	}}, 200).decode(t, &batch)
	r := batch.Results
	if len(r) != 4 || r[0].Status != "pending" || r[0].Confirmation == nil || r[0].Confirmation.SentTo != "b***@e***.com" ||
		r[1].Status != "opted_in" || r[1].Confirmation != nil ||
		r[2].Error == nil || r[2].Error.Code != consentd.EINVALIDCONTACTPOINT ||
		r[3].Status != "pending" || r[3].Confirmation == nil || r[3].Confirmation.SentTo != "+43********67" {
		t.Errorf("batch = %+v", r)
	}

	// One confirmation per pending consent version, each with a job that
	// sends it, queued by the write.
	got := e.confirmationJobs(e.a)
	slices.Sort(got)
	want := []string{"+436601234567 newsletter:sms", "b1@example.com newsletter:email", "jane@example.com newsletter:email", "topic@example.com weekly:email"}
	if !slices.Equal(got, want) {
		t.Errorf("confirmations due: %q; want %q", got, want)
	}
	// Workspace b has no double opt-in: the same write opts in.
	if a, _ := post(from(write("jane@example.com", "newsletter", "", "email", "opted_in", t0), "DE"), 200); a.Status != "pending" {
		t.Errorf("still pending in a: %+v", a)
	}
	r2 := e.must("POST", "/v1/consents", e.b.key(consentd.RoleWrite), from(write("jane@example.com", "newsletter", "", "email", "opted_in", t0), "DE"), 201)
	var b answer
	r2.decode(t, &b)
	if b.Status != "opted_in" || b.Confirmation != nil {
		t.Errorf("workspace b without double opt-in: %+v", b)
	}
}

// confirmationJobs returns "<contact point> <channel type>" of each
// confirmation that a confirmation job of w sends (or sent).
func (e *env) confirmationJobs(w workspace) []string {
	e.t.Helper()
	js, _, err := e.store.Jobs(e.t.Context(), w.id, consentd.JobFilter{Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, j := range js {
		if j.Kind != consentd.JobKindConfirmationMail && j.Kind != consentd.JobKindConfirmationSMS {
			continue
		}
		f, err := e.store.Confirmation(e.t.Context(), w.id, j.Ref)
		if err != nil {
			e.t.Fatalf("the confirmation of job %s: %v", j.ID, err)
		}
		if want := consentd.ConfirmationJobKind(f.CPKind); j.Kind != want {
			e.t.Errorf("job %s of %s is %s; want %s", j.ID, f.CPKind, j.Kind, want)
		}
		out = append(out, f.ContactPoint+" "+f.ChannelType)
	}
	return out
}

// TestSMSDoubleOptInByYes: an SMS opt-in that needs double opt-in is
// confirmed by the number's YES to POST /v1/inbound/sms, with the reply as
// the proof; a START does not confirm, and a YES without a request waiting
// is START. Both backends.
func TestSMSDoubleOptInByYes(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		key, admin := e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleAdmin)
		e.must("PATCH", "/v1/purposes/newsletter", admin, `{"double_opt_in":["DE"]}`, 200)
		const number = "+4915112345678"
		w := write(number, "newsletter", "", "sms", "opted_in", time.Now().Add(-time.Hour))
		w["jurisdiction"] = "DE"
		var a struct {
			Status       string          `json:"status"`
			Confirmation json.RawMessage `json:"confirmation"`
		}
		e.must("POST", "/v1/consents", key, w, 201).decode(t, &a)
		if a.Status != "pending" || a.Confirmation == nil {
			t.Fatalf("DE SMS opt-in = %+v; want pending with a confirmation", a)
		}
		type result struct {
			Action   string `json:"action"`
			Consents []struct {
				ID     string          `json:"id"`
				Status string          `json:"status"`
				Source consentd.Source `json:"source"`
			} `json:"consents"`
		}
		var start result
		e.must("POST", "/v1/inbound/sms", key, map[string]any{"from": number, "text": "START", "provider": "twilio", "message_id": "SM-start"}, 200).decode(t, &start)
		if start.Action != "review" {
			t.Errorf("START with a request waiting = %+v; want review, nothing confirmed", start)
		}
		e.wantDecision(key, number, "sms", "newsletter", "", false, "pending_confirmation")
		var yes result
		e.must("POST", "/v1/inbound/sms", key, map[string]any{"from": number, "text": "yes", "provider": "twilio", "message_id": "SM-yes"}, 200).decode(t, &yes)
		if yes.Action != "confirmed" || len(yes.Consents) != 1 || yes.Consents[0].Status != "opted_in" || yes.Consents[0].Source.Type != consentd.SourceDoubleOptIn ||
			!strings.Contains(string(yes.Consents[0].Source.Details), `"message_id":"SM-yes"`) {
			t.Fatalf("YES = %+v; want confirmed, the consent opted_in by double opt-in with the message as proof", yes)
		}
		e.wantDecision(key, number, "sms", "newsletter", "", true, "opted_in")
		var again result
		e.must("POST", "/v1/inbound/sms", key, map[string]any{"from": number, "text": "YES", "provider": "twilio", "message_id": "SM-yes-2"}, 200).decode(t, &again)
		if again.Action != "review" {
			t.Errorf("YES with nothing waiting = %+v; want review (START with nothing to lift)", again)
		}
		var list struct {
			Messages []consentd.InboundMessage `json:"messages"`
		}
		e.must("GET", "/v1/inbound/sms?state=confirmed", key, nil, 200).decode(t, &list)
		if len(list.Messages) != 1 || list.Messages[0].MessageID != "SM-yes" {
			t.Errorf("GET ?state=confirmed = %+v; want the YES", list.Messages)
		}
	})
}
