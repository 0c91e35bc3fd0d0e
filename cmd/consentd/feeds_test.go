package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// feedsFile declares a feed of each provider; the secrets come from the
// environment.
const feedsFile = `feeds:
  - id: mg
    provider: mailgun
    secret_env: MAILGUN_SIGNING_KEY
  - id: pm
    provider: postmark
    username: consentd-feed
    secret_env: POSTMARK_FEED_PASSWORD
    soft_bounce: {limit: 2, window: 24h}
  - id: sg
    provider: sendgrid
    public_key: MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==
  - id: ses
    provider: ses
    settings:
      topic_arns: arn:aws:sns:eu-west-1:123456789012:ses-feedback
  - id: mx
    provider: rfc822
    secret_env: MX_REPORTS_PASSWORD
`

// TestApplyFeeds: feeds are declared in catalog files with their secrets
// by reference, exported without them, and served by consentd serve.
func TestApplyFeeds(t *testing.T) {
	dir := t.TempDir()
	srv := startInProcessServer(t, dir)
	file := filepath.Join(dir, "feeds.yaml")
	if err := os.WriteFile(file, []byte(feedsFile), 0o600); err != nil {
		t.Fatal(err)
	}
	const signingKey = "key-mailgun-signing-key-for-test"
	env := map[string]string{"MAILGUN_SIGNING_KEY": signingKey, "POSTMARK_FEED_PASSWORD": "a-long-postmark-password", "MX_REPORTS_PASSWORD": "a-long-rfc822-password"}
	if code, out, errOut := runCLI(t, env, "apply", "--data", dir, "-f", file); code != 0 || !strings.Contains(out, "Plan: 5 to create") {
		t.Fatalf("apply = %d\n%s%s", code, out, errOut)
	}
	var list struct {
		Feeds []map[string]any `json:"feeds"`
	}
	if st, raw := apiCall(t, srv.base, "GET", "/v1/feeds", nil, &list); st != 200 || len(list.Feeds) != 5 || bytes.Contains(raw, []byte(signingKey)) {
		t.Fatalf("GET /v1/feeds = %d %s", st, raw)
	}
	if code, out, errOut := runCLI(t, env, "apply", "--data", dir, "-f", file); code != 0 || !strings.Contains(out, "Plan: 0 to create, 0 to update, 5 unchanged.") {
		t.Errorf("second apply = %d\n%s%s", code, out, errOut)
	}
	code, exported, errOut := runCLI(t, env, "export-catalog", "--data", dir)
	if code != 0 || !strings.Contains(exported, "secret_env: MAILGUN_SIGNING_KEY") || !strings.Contains(exported, "provider: sendgrid") ||
		!strings.Contains(exported, "topic_arns: arn:aws:sns:eu-west-1:123456789012:ses-feedback") ||
		strings.Contains(exported, signingKey) || strings.Contains(exported, "sha256:") {
		t.Errorf("export-catalog = %d %s\n%s", code, errOut, exported)
	}
	// Without its secret a new postmark feed is refused: a file cannot
	// show a generated password.
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("feeds:\n  - {id: pm2, provider: postmark}\n"), 0o600)
	if code, _, errOut := runCLI(t, env, "apply", "--data", dir, "-f", bad); code == 0 || !strings.Contains(errOut, "secret_env") {
		t.Errorf("apply of a postmark feed without secret_env = %d %s", code, errOut)
	}

	// The server takes the provider's events at the feed's URL; the
	// decision API then refuses even transactional mail to the address.
	if st, raw := apiCall(t, srv.base, "POST", "/v1/purposes", map[string]any{"id": "orders", "name": "Orders", "type": "transactional",
		"channels": map[string]any{"email": map[string]any{"enforcement": "non_restrictive"}}}, nil); st != 201 {
		t.Fatalf("POST /v1/purposes = %d %s", st, raw)
	}
	decide := func() (d struct {
		Allowed bool   `json:"allowed"`
		Reason  string `json:"reason"`
	}) {
		t.Helper()
		if st, raw := apiCall(t, srv.base, "POST", "/v1/decisions", map[string]any{"contact_point": "gone@example.com", "channel": "email", "purpose": "orders"}, &d); st != 200 {
			t.Fatalf("POST /v1/decisions = %d %s", st, raw)
		}
		return d
	}
	if d := decide(); !d.Allowed {
		t.Fatalf("decision before the bounce = %+v; want allowed", d)
	}
	var ws struct {
		ID string `json:"id"`
	}
	apiCall(t, srv.base, "GET", "/v1/workspace", nil, &ws)
	stamp, token := strconv.FormatInt(time.Now().Unix(), 10), "0123456789abcdef0123456789abcdef0123456789abcdef01"
	m := hmac.New(sha256.New, []byte(signingKey))
	m.Write([]byte(stamp + token))
	body := `{"signature":{"timestamp":"` + stamp + `","token":"` + token + `","signature":"` + hex.EncodeToString(m.Sum(nil)) + `"},` +
		`"event-data":{"event":"failed","severity":"permanent","id":"ev1","timestamp":1764750000,"recipient":"gone@example.com"}}`
	resp, err := http.Post(srv.base+"/feeds/"+ws.ID+"/mailgun/mg", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST to the feed = %d", resp.StatusCode)
	}
	if d := decide(); d.Allowed || d.Reason != "suppressed" {
		t.Errorf("decision after the hard bounce = %+v; want suppressed", d)
	}
	var sups struct {
		Suppressions []struct {
			Reason string `json:"reason"`
		} `json:"suppressions"`
	}
	if st, raw := apiCall(t, srv.base, "GET", "/v1/suppressions", nil, &sups); st != 200 || len(sups.Suppressions) != 1 || sups.Suppressions[0].Reason != "hard_bounce" {
		t.Errorf("GET /v1/suppressions = %d %s; want one hard_bounce", st, raw)
	}
}
