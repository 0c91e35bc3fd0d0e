package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consentd/consentd/internal/smsout"
)

const smsTestToken = "twilio-token-not-for-logs"

// smsFromFlags parses serve's flags with env and returns the sender they
// configure.
func smsFromFlags(t *testing.T, env map[string]string, args ...string) (smsout.Sender, error) {
	t.Helper()
	m := &Main{Stderr: io.Discard, Getenv: func(k string) string { return env[k] }}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var c config
	m.flags(fs, &c, true)
	if err := parse(fs, args); err != nil {
		t.Fatalf("parse(%v) = %v", args, err)
	}
	return newSMSSender(&c)
}

func TestSMSSenderFlags(t *testing.T) {
	var gotUser, gotPass, gotTo string
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUser, gotPass, _ = r.BasicAuth()
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		gotTo = form.Get("To")
		w.WriteHeader(201)
		io.WriteString(w, `{"sid": "SM1"}`)
	}))
	defer fake.Close()

	// Twilio, the token from the environment.
	env := map[string]string{"CONSENTD_SMS_TWILIO_TOKEN": smsTestToken}
	s, err := smsFromFlags(t, env, "--sms-provider", "twilio", "--sms-twilio-account", "AC1", "--sms-twilio-base-url", fake.URL, "--sms-from", "+15005550006")
	if err != nil || s == nil {
		t.Fatalf("newSMSSender(twilio) = %v, %v", s, err)
	}
	if r := s.Send(context.Background(), smsout.Message{To: "+14155550123", Body: "hi"}); r.Outcome != smsout.Sent || gotUser != "AC1" || gotPass != smsTestToken || gotTo != "+14155550123" {
		t.Errorf("Send = %+v; the fake saw user %q (token given: %v) to %q", r, gotUser, gotPass == smsTestToken, gotTo)
	}

	// None without --sms-provider; usage errors that never quote the token.
	if s, err := smsFromFlags(t, env); s != nil || err != nil {
		t.Errorf("newSMSSender() = %v, %v; want none", s, err)
	}
	for _, args := range [][]string{
		{"--sms-provider", "twilio", "--sms-from", "+15005550006"},
		{"--sms-provider", "twilio", "--sms-twilio-account", "AC1"},
		{"--sms-provider", "http"},
		{"--sms-provider", "pigeon"},
	} {
		if _, err := smsFromFlags(t, env, args...); err == nil {
			t.Errorf("newSMSSender(%v) = nil error", args)
		} else if strings.Contains(err.Error(), smsTestToken) {
			t.Errorf("newSMSSender(%v) error %q quotes the token", args, err)
		}
	}

	// The generic sender from a file, its secret from the environment.
	cfg := filepath.Join(t.TempDir(), "sms.json")
	os.WriteFile(cfg, []byte(`{"url": "`+fake.URL+`/send", "format": "form", "body": "to={{.To}}&text={{.Body}}",
		"auth": {"type": "basic", "username": "u", "secret_env": "SMS_SECRET"}, "response": {"id_path": "sid"}}`), 0o600)
	env["SMS_SECRET"] = "http-secret"
	s, err = smsFromFlags(t, env, "--sms-provider", "http", "--sms-http-config", cfg)
	if err != nil {
		t.Fatalf("newSMSSender(http) = %v", err)
	}
	if r := s.Send(context.Background(), smsout.Message{To: "+14155550123", Body: "hi"}); r.Outcome != smsout.Sent || r.ProviderID != "SM1" || gotPass != "http-secret" {
		t.Errorf("Send(http) = %+v", r)
	}

	// serve -h lists the flags without the token's value.
	var help bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &help, Stderr: &help, Getenv: func(k string) string { return env[k] }}
	m.Run(context.Background(), []string{"serve", "-h"})
	if !strings.Contains(help.String(), "sms-twilio-token") || strings.Contains(help.String(), smsTestToken) {
		t.Errorf("serve -h: want the flag listed and the token not shown:\n%s", help.String())
	}
}
