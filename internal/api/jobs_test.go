package api_test

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/mail"
	"github.com/consentd/consentd/internal/mail/mailtest"
	"github.com/consentd/consentd/internal/smsout"
)

// lettersPurpose needs double opt-in everywhere, by mail and by SMS.
const lettersPurpose = `{"id":"letters","name":"Letters","type":"commercial","double_opt_in":"always",
	"channels":{"email":{"enforcement":"restrictive"},"sms":{"enforcement":"restrictive"}}}`

// jobOf waits for the job of kind on ref in w to succeed or fail.
func (e *env) jobOf(w workspace, kind, ref string) jobJSON {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		js, _, err := e.store.Jobs(e.t.Context(), w.id, consentd.JobFilter{Limit: 1000})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, j := range js {
			if j.Kind == kind && j.Ref == ref {
				return e.waitJob(w.key(consentd.RoleRead), j.ID)
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no %s job on %s", kind, ref)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// optInLetters opts cp in to letters on channel and returns the nonce of
// the confirmation it issued.
func (e *env) optInLetters(cp, channel string) string {
	e.t.Helper()
	var a struct {
		Status string `json:"status"`
	}
	e.must("POST", "/v1/consents", e.a.key(consentd.RoleWrite), write(cp, "letters", "", channel, "opted_in", time.Now().Add(-time.Minute)), 201).decode(e.t, &a)
	if a.Status != "pending" {
		e.t.Fatalf("opt-in to letters = %s; want pending", a.Status)
	}
	js, _, err := e.store.Jobs(e.t.Context(), e.a.id, consentd.JobFilter{Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, j := range js {
		if j.Kind == consentd.JobKindConfirmationMail || j.Kind == consentd.JobKindConfirmationSMS {
			if f, err := e.store.Confirmation(e.t.Context(), e.a.id, j.Ref); err == nil && f.ContactPoint == cp {
				return j.Ref
			}
		}
	}
	e.t.Fatalf("no confirmation job for %s", cp)
	return ""
}

var linkRE = regexp.MustCompile(`/c/[A-Za-z0-9_.~-]+`)

// TestConfirmationMailJob: the confirmation mail goes out as a job. A relay
// that refuses twice (451) and then accepts gets it once, on the third
// attempt; the confirmation records the attempts. A relay that refuses the
// address (550) fails the job at once: GET /v1/jobs lists it, and
// POST /v1/jobs/{id}:retry sends it. The link in the mail confirms.
func TestConfirmationMailJob(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		admin, read, write := e.a.key(consentd.RoleAdmin), e.a.key(consentd.RoleRead), e.a.key(consentd.RoleWrite)
		e.must("POST", "/v1/purposes", admin, lettersPurpose, 201)
		relay := mailtest.Start(t, "", "")
		sender, err := mail.Open(relay.URL(), "")
		if err != nil {
			t.Fatal(err)
		}
		relay.Fail(2, 451)
		e.startRunnerWith(sender, nil)

		nonce := e.optInLetters("jane@example.com", "email")
		j := e.jobOf(e.a, consentd.JobKindConfirmationMail, nonce)
		if j.State != "succeeded" || j.Attempts != 3 || j.Result != "sent" {
			t.Errorf("mail job = %+v; want succeeded on the third attempt", j)
		}
		msgs := relay.Wait(t, 1, 10*time.Second)
		time.Sleep(50 * time.Millisecond) // a second copy would be here by now
		if msgs = relay.Messages(); len(msgs) != 1 || msgs[0].To[0] != "jane@example.com" {
			t.Fatalf("the relay got %d messages; want one to jane", len(msgs))
		}
		f, err := e.store.Confirmation(t.Context(), e.a.id, nonce)
		if err != nil || f.SentAt == nil || f.SendAttempts != 3 || f.SendError != "" {
			t.Errorf("confirmation = %+v, %v; want sent after 3 attempts", f, err)
		}
		if !linkRE.Match(msgs[0].Data) {
			t.Errorf("the mail has no confirmation link:\n%s", msgs[0].Data)
		}
		if res, err := e.store.ConfirmConsent(t.Context(), e.a.id, nonce, consentd.ConfirmRequest{IP: "127.0.0.1"}, "link:confirm"); err != nil || res.Outcome != consentd.ConfirmConfirmed {
			t.Fatalf("confirming = %+v, %v", res, err)
		}
		e.wantDecision(e.a.key(consentd.RoleCheck), "jane@example.com", "email", "letters", "", true, "opted_in")

		// Refused for good: failed, listed, retried through the API.
		relay.Fail(1, 550)
		nonce = e.optInLetters("joe@example.com", "email")
		j = e.jobOf(e.a, consentd.JobKindConfirmationMail, nonce)
		if j.State != "failed" || j.Attempts != 1 || !strings.Contains(j.LastError, "550") || strings.Contains(j.LastError, "joe@example.com") {
			t.Fatalf("mail job refused by the relay = %+v; want failed at once, the address masked", j)
		}
		var list struct {
			Jobs []struct {
				ID   string `json:"id"`
				Kind string `json:"kind"`
				Ref  string `json:"ref"`
			} `json:"jobs"`
		}
		e.must("GET", "/v1/jobs", read, nil, 200).decode(t, &list)
		if len(list.Jobs) != 1 || list.Jobs[0].ID != j.ID || list.Jobs[0].Kind != "confirmation_mail" || list.Jobs[0].Ref != nonce {
			t.Fatalf("GET /v1/jobs = %+v; want the failed mail job", list.Jobs)
		}
		e.must("POST", "/v1/jobs/"+j.ID+":retry", write, nil, 200)
		if j = e.waitJob(read, j.ID); j.State != "succeeded" || j.Attempts != 1 {
			t.Errorf("mail job after a retry = %+v; want succeeded", j)
		}
		if msgs := relay.Wait(t, 2, 10*time.Second); len(msgs) != 2 || msgs[1].To[0] != "joe@example.com" {
			t.Errorf("the relay got %d messages; want joe's second", len(msgs))
		}
	})
}

// TestRequestJob: filing a data-subject request queues its job, which
// carries it out.
func TestRequestJob(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		w, read := e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleRead)
		e.must("POST", "/v1/consents", w, write("jane@example.com", "newsletter", "", "email", "opted_in", time.Now().Add(-time.Hour)), 201)
		e.startRunner()
		var req requestJSON
		e.must("POST", "/v1/requests", w, map[string]any{"type": "withdraw", "contact_point": "jane@example.com", "regulation": "gdpr"}, 201).decode(t, &req)
		j := e.jobOf(e.a, consentd.JobKindRequest, req.ID)
		if j.State != "succeeded" || j.Result != "request withdraw completed" {
			t.Fatalf("request job = %+v; want succeeded", j)
		}
		e.must("GET", "/v1/requests/"+req.ID, read, nil, 200).decode(t, &req)
		if req.State != "completed" || req.Result == nil || req.Result.Changed == 0 {
			t.Errorf("request after its job = %+v; want completed, opted out", req)
		}
		e.wantDecision(e.a.key(consentd.RoleCheck), "jane@example.com", "email", "newsletter", "", false, "suppressed")
	})
}

// fakeSMS is an SMS provider in the test: each number gets the outcomes
// listed for it, in turn (Sent once they run out).
type fakeSMS struct {
	mu       sync.Mutex
	outcomes map[string][]smsout.Outcome
	sent     []smsout.Message
}

func (f *fakeSMS) Send(ctx context.Context, m smsout.Message) smsout.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := smsout.Sent
	if q := f.outcomes[m.To]; len(q) > 0 {
		o, f.outcomes[m.To] = q[0], q[1:]
	}
	switch o {
	case smsout.Sent:
		f.sent = append(f.sent, m)
		return smsout.Result{Outcome: o, ProviderID: "SM" + m.To[len(m.To)-4:]}
	case smsout.OptedOut:
		return smsout.Result{Outcome: o, Code: "21610"}
	case smsout.Retry:
		return smsout.Result{Outcome: o, Code: "429", Err: context.DeadlineExceeded}
	}
	return smsout.Result{Outcome: o, Code: "21211"}
}

func (f *fakeSMS) messages() []smsout.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]smsout.Message(nil), f.sent...)
}

// TestConfirmationSMSJob: the confirmation SMS goes out as a job through
// the SMS sender. Sent finishes it; OptedOut records an sms_stop
// suppression of the number; Retry is retried; Failed fails it.
func TestConfirmationSMSJob(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		e.must("POST", "/v1/purposes", e.a.key(consentd.RoleAdmin), lettersPurpose, 201)
		sms := &fakeSMS{outcomes: map[string][]smsout.Outcome{
			"+4915100000002": {smsout.OptedOut},
			"+4915100000003": {smsout.Retry, smsout.Retry},
			"+4915100000004": {smsout.Failed},
		}}
		e.startRunnerWith(nil, sms)

		sent := e.jobOf(e.a, consentd.JobKindConfirmationSMS, e.optInLetters("+4915100000001", "sms"))
		if sent.State != "succeeded" || sent.Result != "sent SM0001" || sent.Attempts != 1 {
			t.Errorf("sent SMS job = %+v", sent)
		}
		stop := e.jobOf(e.a, consentd.JobKindConfirmationSMS, e.optInLetters("+4915100000002", "sms"))
		if stop.State != "succeeded" || !strings.Contains(stop.Result, "sms_stop") {
			t.Errorf("opted-out SMS job = %+v", stop)
		}
		retried := e.jobOf(e.a, consentd.JobKindConfirmationSMS, e.optInLetters("+4915100000003", "sms"))
		if retried.State != "succeeded" || retried.Attempts != 3 {
			t.Errorf("retried SMS job = %+v; want succeeded on the third attempt", retried)
		}
		failed := e.jobOf(e.a, consentd.JobKindConfirmationSMS, e.optInLetters("+4915100000004", "sms"))
		if failed.State != "failed" || failed.Attempts != 1 || !strings.Contains(failed.LastError, "21211") {
			t.Errorf("failed SMS job = %+v; want failed at once with the provider's code", failed)
		}
		var to []string
		for _, m := range sms.messages() {
			to = append(to, m.To)
			if !linkRE.MatchString(m.Body) || !strings.Contains(m.Body, "Letters") {
				t.Errorf("SMS body %q; want the subscription and the link", m.Body)
			}
		}
		if strings.Join(to, " ") != "+4915100000001 +4915100000003" {
			t.Errorf("SMS sent to %v; want the first and third number, once each", to)
		}
		sups, err := e.store.Suppressions(t.Context(), e.a.id)
		if err != nil {
			t.Fatal(err)
		}
		if len(sups) != 1 || sups[0].ContactPoint != "+4915100000002" || sups[0].Reason != consentd.SuppressSMSStop || sups[0].Channel != "sms" {
			t.Errorf("suppressions = %+v; want sms_stop of the second number", sups)
		}
		e.wantDecision(e.a.key(consentd.RoleCheck), "+4915100000002", "sms", "newsletter", "", false, "suppressed")
	})
}
