package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// fakeTwilio is a Twilio Messages API on loopback: it records each text,
// answers the first one to flaky with a 500 (an outage), and every one to
// stopped with error 21610 (the number sent STOP to the carrier).
type fakeTwilio struct {
	mu       sync.Mutex
	texts    []url.Values // accepted texts
	tries    map[string]int
	flaky    string
	stopped  string
	badAuth  int
	accounts string
}

func (f *fakeTwilio) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u, p, ok := r.BasicAuth(); !ok || u != f.accounts || p != "test-token" || r.URL.Path != "/2010-04-01/Accounts/"+f.accounts+"/Messages.json" {
		f.badAuth++
		w.WriteHeader(401)
		return
	}
	r.ParseForm()
	to := r.PostForm.Get("To")
	f.tries[to]++
	w.Header().Set("Content-Type", "application/json")
	switch {
	case to == f.flaky && f.tries[to] == 1:
		w.WriteHeader(500)
		w.Write([]byte(`{"code":20500,"message":"Internal Server Error","status":500}`))
	case to == f.stopped:
		w.WriteHeader(400)
		w.Write([]byte(`{"code":21610,"message":"Attempt to send to unsubscribed recipient","status":400}`))
	default:
		f.texts = append(f.texts, r.PostForm)
		w.WriteHeader(201)
		w.Write([]byte(`{"sid":"SM0000000000000000000000000000000` + string(rune('0'+len(f.texts)%10)) + `","status":"queued"}`))
	}
}

func (f *fakeTwilio) sentTo(to string) url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range f.texts {
		if v.Get("To") == to {
			return v
		}
	}
	return nil
}

// An SMS double opt-in end to end through serve: the confirmation text
// goes out through the Twilio adapter (retried by the job queue after an
// outage), a YES reply confirms it, and a number the carrier reports as
// opted out (21610) gets an sms_stop suppression.
func TestSMSDoubleOptInThroughTwilio(t *testing.T) {
	const flaky, stopped = "+14155550101", "+14155550102"
	fake := &fakeTwilio{tries: map[string]int{}, flaky: flaky, stopped: stopped, accounts: "AC00000000000000000000000000000001"}
	provider := httptest.NewServer(fake)
	t.Cleanup(provider.Close)
	srv := startInProcessServer(t, t.TempDir(), "--sms-provider", "twilio", "--sms-twilio-account", fake.accounts,
		"--sms-twilio-token", "test-token", "--sms-twilio-base-url", provider.URL, "--sms-from", "+15005550006",
		"--job-retry-base", "20ms", "--job-retry-cap", "100ms")

	if st, raw := apiCall(t, srv.base, "POST", "/v1/purposes", map[string]any{"id": "alerts", "name": "Store alerts", "type": "commercial",
		"double_opt_in": "always", "channels": map[string]any{"sms": map[string]any{}}}, nil); st != 201 {
		t.Fatalf("POST purpose = %d %s", st, raw)
	}
	optIn := func(phone string) {
		t.Helper()
		var ans struct{ Status consentd.Status }
		if st, raw := apiCall(t, srv.base, "POST", "/v1/consents", map[string]any{"contact_point": phone, "channel": "sms", "purpose": "alerts",
			"status": "opted_in", "captured_at": time.Now().UTC().Format(time.RFC3339), "source": map[string]any{"type": "form", "name": "signup"}}, &ans); st != 201 || ans.Status != consentd.Pending {
			t.Fatalf("POST consent %s = %d %s; want 201 pending", phone, st, raw)
		}
	}
	optIn(flaky)
	optIn(stopped)

	// The text reaches the provider after its outage, once.
	var text url.Values
	for deadline := time.Now().Add(30 * time.Second); text == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		text = fake.sentTo(flaky)
	}
	if text == nil {
		t.Fatalf("no confirmation text reached the provider (tries %v)", fake.tries)
	}
	// Who asks (the workspace), for what, the link, and how to stop.
	if body := text.Get("Body"); !strings.Contains(body, "default") || !strings.Contains(body, "Store alerts") || !strings.Contains(body, "/c/") ||
		!strings.Contains(body, "STOP") || text.Get("From") != "+15005550006" {
		t.Errorf("confirmation text from %q: %q; want who asks, for what, the link and STOP", text.Get("From"), body)
	}
	// A YES reply confirms it, with the reply as the proof.
	if st, raw := apiCall(t, srv.base, "POST", "/v1/inbound/sms", map[string]any{"from": flaky, "to": "+15005550006", "text": "Yes",
		"provider": "twilio", "message_id": "SM-yes-1"}, nil); st != 200 && st != 201 {
		t.Fatalf("POST inbound YES = %d %s", st, raw)
	}
	var c consentd.Consent
	if st, raw := apiCall(t, srv.base, "GET", "/v1/consents/"+url.PathEscape(flaky+"#alerts:sms"), nil, &c); st != 200 || c.Status != consentd.OptedIn {
		t.Errorf("consent after YES = %d %s; want opted_in", st, raw)
	}

	// 21610: the number is recorded as stopped.
	var sups struct{ Suppressions []consentd.Suppression }
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		apiCall(t, srv.base, "GET", "/v1/suppressions", nil, &sups)
		if len(sups.Suppressions) > 0 {
			break
		}
	}
	if len(sups.Suppressions) != 1 || sups.Suppressions[0].Reason != consentd.SuppressSMSStop || sups.Suppressions[0].ContactPoint != stopped {
		t.Errorf("suppressions after a 21610 answer = %+v; want one sms_stop of %s", sups.Suppressions, stopped)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if fake.badAuth != 0 || fake.tries[flaky] != 2 {
		t.Errorf("provider saw %d bad logins and %d tries for the flaky number; want 0 and 2 (the outage, then the text)", fake.badAuth, fake.tries[flaky])
	}
}
