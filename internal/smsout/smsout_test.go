package smsout_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/consentd/consentd/internal/smsout"
)

const (
	sid   = "AC0123456789abcdef0123456789abcdef"
	token = "tok-very-secret-0123456789"
	to    = "+14155550123"
	body  = "Acme: your code is 123456"
)

// fakeProvider is an SMS provider on 127.0.0.1: it records the requests
// and answers with the status and body set for the next one.
type fakeProvider struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []*http.Request
	bodies []string
	status int
	answer string
}

func newFake(t *testing.T) *fakeProvider {
	f := &fakeProvider{status: 201}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.reqs, f.bodies = append(f.reqs, r), append(f.bodies, string(b))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		io.WriteString(w, f.answer)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeProvider) set(status int, answer string) {
	f.mu.Lock()
	f.status, f.answer = status, answer
	f.mu.Unlock()
}

func (f *fakeProvider) last(t *testing.T) (*http.Request, string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		t.Fatal("the provider got no request")
	}
	return f.reqs[len(f.reqs)-1], f.bodies[len(f.bodies)-1]
}

// noSecrets fails when a result's error quotes the token, the number or
// the text.
func noSecrets(t *testing.T, r smsout.Result, secrets ...string) {
	t.Helper()
	if r.Err == nil {
		return
	}
	for _, s := range append(secrets, token, to, body) {
		if strings.Contains(r.Err.Error(), s) {
			t.Errorf("error %q quotes %q", r.Err, s)
		}
	}
}

func TestTwilio(t *testing.T) {
	f := newFake(t)
	tw := &smsout.Twilio{AccountSID: sid, AuthToken: token, BaseURL: f.URL, From: "+15005550006"}
	ctx := context.Background()

	f.set(201, `{"sid": "SM0001", "status": "queued"}`)
	r := tw.Send(ctx, smsout.Message{To: to, Body: body})
	if r.Outcome != smsout.Sent || r.ProviderID != "SM0001" || r.Err != nil {
		t.Fatalf("Send = %+v; want sent SM0001", r)
	}
	req, got := f.last(t)
	if req.Method != "POST" || req.URL.Path != "/2010-04-01/Accounts/"+sid+"/Messages.json" {
		t.Errorf("request %s %s; want POST to the account's Messages.json", req.Method, req.URL.Path)
	}
	if u, p, ok := req.BasicAuth(); !ok || u != sid || p != token {
		t.Errorf("basic auth = %q, %v; want the account sid and token", u, ok)
	}
	form, err := url.ParseQuery(got)
	if err != nil || form.Get("To") != to || form.Get("From") != "+15005550006" || form.Get("Body") != body || form.Has("MessagingServiceSid") {
		t.Errorf("form = %v, %v; want To, From (the default) and Body", form, err)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", ct)
	}

	// A Messaging Service SID as the sender goes as MessagingServiceSid.
	mg := "MG" + strings.Repeat("a", 32)
	tw.Send(ctx, smsout.Message{To: to, From: mg, Body: body})
	_, got = f.last(t)
	if form, _ := url.ParseQuery(got); form.Get("MessagingServiceSid") != mg || form.Has("From") {
		t.Errorf("form = %v; want MessagingServiceSid and no From", form)
	}

	for _, c := range []struct {
		name   string
		status int
		answer string
		want   smsout.Outcome
		code   string
	}{
		{"opted out", 400, `{"code": 21610, "message": "Attempt to send to unsubscribed recipient ` + to + `", "status": 400}`, smsout.OptedOut, "21610"},
		{"server error", 500, `{"code": 20500, "message": "Internal Server Error"}`, smsout.Retry, "20500"},
		{"gateway down, no JSON", 503, `<html>down</html>`, smsout.Retry, ""},
		{"too many requests", 429, `{"code": 20429, "message": "Too Many Requests"}`, smsout.Retry, "20429"},
		{"invalid number", 400, `{"code": 21211, "message": "The 'To' number ` + to + ` is not a valid phone number."}`, smsout.Failed, "21211"},
		{"bad credentials", 401, `{"code": 20003, "message": "Authenticate"}`, smsout.Failed, "20003"},
	} {
		f.set(c.status, c.answer)
		r := tw.Send(ctx, smsout.Message{To: to, Body: body})
		if r.Outcome != c.want || r.Code != c.code || r.Err == nil || r.ProviderID != "" {
			t.Errorf("%s: Send = %v %q %v; want %v %q with an error", c.name, r.Outcome, r.Code, r.Err, c.want, c.code)
		}
		noSecrets(t, r)
	}

	// A provider that cannot be reached: try again later, and the error
	// does not quote the URL (it names the account).
	f.Close()
	r = tw.Send(ctx, smsout.Message{To: to, Body: body})
	if r.Outcome != smsout.Retry || r.Err == nil {
		t.Errorf("Send to a closed server = %+v; want retry", r)
	}
	noSecrets(t, r, sid)

	// No sender at all is a configuration error, not a retry.
	if r := (&smsout.Twilio{AccountSID: sid, AuthToken: token, BaseURL: f.URL}).Send(ctx, smsout.Message{To: to, Body: body}); r.Outcome != smsout.Failed {
		t.Errorf("Send without From = %v; want failed", r.Outcome)
	}
}

func TestHTTPSenderJSON(t *testing.T) {
	f := newFake(t)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "sms.yaml")
	os.WriteFile(cfgFile, []byte(`url: `+f.URL+`/v1/messages?key=query-secret
format: json
body: '{"to": "{{.To}}", "from": "{{.From}}", "text": "{{.Body}}"}'
from: Acme
headers: {X-Tenant: acme}
auth: {type: bearer, secret_env: SMS_TOKEN}
response:
  id_path: message.id
  code_path: error.code
  opted_out_codes: ["opted_out", "21610"]
  retry_codes: ["throttled"]
  opted_out_statuses: [410]
`), 0o600)
	cfg, err := smsout.LoadHTTPConfig(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SMS_TOKEN": token}
	s, err := smsout.NewHTTPSender(cfg, func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tricky := "He said \"hi\"\n\\ <b> & ünïcödé {{.To}}"
	f.set(200, `{"message": {"id": "m-42"}}`)
	r := s.Send(ctx, smsout.Message{To: to, Body: tricky})
	if r.Outcome != smsout.Sent || r.ProviderID != "m-42" {
		t.Fatalf("Send = %+v; want sent m-42", r)
	}
	req, got := f.last(t)
	var sent map[string]string
	if err := json.Unmarshal([]byte(got), &sent); err != nil || sent["to"] != to || sent["from"] != "Acme" || sent["text"] != tricky {
		t.Errorf("body %s (%v); want to, the default from, and the text escaped as it is", got, err)
	}
	if req.Header.Get("Authorization") != "Bearer "+token || req.Header.Get("X-Tenant") != "acme" || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers = %v; want the bearer token, X-Tenant and JSON", req.Header)
	}

	for _, c := range []struct {
		name   string
		status int
		answer string
		want   smsout.Outcome
		code   string
	}{
		{"opted-out code", 400, `{"error": {"code": "opted_out", "message": "` + to + ` unsubscribed"}}`, smsout.OptedOut, "opted_out"},
		{"numeric opted-out code", 400, `{"error": {"code": 21610}}`, smsout.OptedOut, "21610"},
		{"opted-out status", 410, `gone`, smsout.OptedOut, ""},
		{"server error", 500, `{}`, smsout.Retry, ""},
		{"too many requests", 429, ``, smsout.Retry, ""},
		{"retry code on a 400", 400, `{"error": {"code": "throttled"}}`, smsout.Retry, "throttled"},
		{"bad number", 422, `{"error": {"code": "invalid_number"}}`, smsout.Failed, "invalid_number"},
		{"bad credentials", 401, `{"error": {"code": "unauthorized"}}`, smsout.Failed, "unauthorized"},
	} {
		f.set(c.status, c.answer)
		r := s.Send(ctx, smsout.Message{To: to, Body: body})
		if r.Outcome != c.want || r.Code != c.code || r.Err == nil {
			t.Errorf("%s: Send = %v %q %v; want %v %q with an error", c.name, r.Outcome, r.Code, r.Err, c.want, c.code)
		}
		noSecrets(t, r, "query-secret")
	}
	f.Close()
	r = s.Send(ctx, smsout.Message{To: to, Body: body})
	if r.Outcome != smsout.Retry {
		t.Errorf("Send to a closed server = %v; want retry", r.Outcome)
	}
	noSecrets(t, r, "query-secret")
}

func TestHTTPSenderForm(t *testing.T) {
	f := newFake(t)
	cfg := smsout.HTTPConfig{URL: f.URL + "/sms/json", Format: "form", Body: "to={{.To}}&from={{.From}}&text={{.Body}}",
		Auth:     smsout.HTTPAuth{Type: "basic", Username: "key", Secret: token},
		Response: smsout.HTTPResponse{IDPath: "messages.0.message-id", CodePath: "messages.0.status", SuccessCodes: []string{"0"}, RetryCodes: []string{"1"}}}
	s, err := smsout.NewHTTPSender(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f.set(200, `{"messages": [{"status": "0", "message-id": "v-1"}]}`)
	if r := s.Send(ctx, smsout.Message{To: to, From: "Shop", Body: "a&b=c d"}); r.Outcome != smsout.Sent || r.ProviderID != "v-1" {
		t.Fatalf("Send = %+v; want sent v-1", r)
	}
	req, got := f.last(t)
	form, err := url.ParseQuery(got)
	if err != nil || form.Get("to") != to || form.Get("from") != "Shop" || form.Get("text") != "a&b=c d" {
		t.Errorf("form %q = %v, %v; want each value URL-encoded", got, form, err)
	}
	if u, p, _ := req.BasicAuth(); u != "key" || p != token {
		t.Errorf("basic auth = %q; want key and the secret", u)
	}
	// 200 with a status that is not success: failed, or retry when the
	// code says so.
	f.set(200, `{"messages": [{"status": "3"}]}`)
	if r := s.Send(ctx, smsout.Message{To: to, Body: body}); r.Outcome != smsout.Failed || r.Code != "3" {
		t.Errorf("Send with status 3 = %v %q; want failed 3", r.Outcome, r.Code)
	}
	f.set(200, `{"messages": [{"status": "1"}]}`)
	if r := s.Send(ctx, smsout.Message{To: to, Body: body}); r.Outcome != smsout.Retry {
		t.Errorf("Send with status 1 = %v; want retry", r.Outcome)
	}
}

func TestHTTPConfigErrors(t *testing.T) {
	env := func(string) string { return "" }
	for _, c := range []struct {
		name string
		cfg  smsout.HTTPConfig
	}{
		{"no url", smsout.HTTPConfig{Format: "json", Body: "{}"}},
		{"bad format", smsout.HTTPConfig{URL: "http://127.0.0.1/", Format: "xml", Body: "{}"}},
		{"template that does not parse", smsout.HTTPConfig{URL: "http://127.0.0.1/", Format: "json", Body: "{{.To"}},
		{"unknown field", smsout.HTTPConfig{URL: "http://127.0.0.1/", Format: "json", Body: `{"to": "{{.Number}}"}`}},
		{"unquoted JSON value", smsout.HTTPConfig{URL: "http://127.0.0.1/", Format: "json", Body: `{"to": {{.To}}}`}},
		{"secret env empty", smsout.HTTPConfig{URL: "http://127.0.0.1/", Format: "json", Body: `{}`, Auth: smsout.HTTPAuth{Type: "bearer", SecretEnv: "NONE"}}},
		{"bad auth type", smsout.HTTPConfig{URL: "http://127.0.0.1/", Format: "json", Body: `{}`, Auth: smsout.HTTPAuth{Type: "digest", Secret: token}}},
	} {
		if _, err := smsout.NewHTTPSender(c.cfg, env, nil); err == nil {
			t.Errorf("%s: NewHTTPSender = nil error", c.name)
		} else if strings.Contains(err.Error(), token) {
			t.Errorf("%s: error %q quotes the secret", c.name, err)
		}
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.json")
	os.WriteFile(p, []byte(`{"url": "http://127.0.0.1/", "format": "json", "body": "{}", "bogus": 1}`), 0o600)
	if _, err := smsout.LoadHTTPConfig(p); err == nil {
		t.Error("LoadHTTPConfig with an unknown field = nil error")
	}
}

func TestConfirmText(t *testing.T) {
	typical := smsout.ConfirmText(smsout.Confirmation{Sender: "Acme Shop", Purpose: "Newsletter"})
	if smsout.Segments(typical) != 1 {
		t.Errorf("ConfirmText(typical) = %q: %d segments; want 1", typical, smsout.Segments(typical))
	}
	for _, want := range []string{"Acme Shop", "Newsletter", "YES", "STOP"} {
		if !strings.Contains(typical, want) {
			t.Errorf("ConfirmText(typical) = %q; want it to name %q", typical, want)
		}
	}
	if n, gsm := smsout.GSMLength(typical); !gsm || n > smsout.GSMSingle {
		t.Errorf("GSMLength(%q) = %d, %v", typical, n, gsm)
	}
	link := "https://consent.example.com/c/Xy7kQ2pL9mN4vR8sT1wZ"
	withLink := smsout.ConfirmText(smsout.Confirmation{Sender: "Acme Shop", Purpose: "Weekly deals and offers", Link: link})
	if smsout.Segments(withLink) != 1 || !strings.Contains(withLink, link) || !strings.Contains(withLink, "STOP") {
		t.Errorf("ConfirmText(link) = %q (%d segments); want one segment with the link and STOP", withLink, smsout.Segments(withLink))
	}
	// A name too long for one segment: the short wording, in parts.
	long := smsout.ConfirmText(smsout.Confirmation{Sender: "Acme Shop", Purpose: strings.Repeat("Very long purpose name ", 6)})
	if smsout.Segments(long) < 2 || !strings.Contains(long, "STOP") || !strings.Contains(long, "YES") {
		t.Errorf("ConfirmText(long) = %q: %d segments", long, smsout.Segments(long))
	}
	for _, c := range []struct {
		text string
		want int
	}{
		{strings.Repeat("a", 160), 1}, {strings.Repeat("a", 161), 2}, {strings.Repeat("€", 80), 1}, {strings.Repeat("€", 81), 2},
		{strings.Repeat("ü", 70) + "ł", 2}, {strings.Repeat("ł", 70), 1}, {strings.Repeat("😀", 35), 1}, {strings.Repeat("😀", 36), 2},
	} {
		if got := smsout.Segments(c.text); got != c.want {
			t.Errorf("Segments(%d × %q) = %d; want %d", len([]rune(c.text)), []rune(c.text)[0], got, c.want)
		}
	}
}
