package web_test

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/consentd/consentd/internal/ratelimit"
	"golang.org/x/time/rate"
)

// respellings returns spellings of token that a lenient base64 decoder
// reads as the same bytes: the MAC's last character changed in its unused
// low bits, and a line break (%0A in the path) inside the MAC. Each used to
// verify; none may.
func respellings(t *testing.T, token string) []string {
	t.Helper()
	i := strings.LastIndex(token, ".")
	head, sig := token[:i+1], token[i+1:]
	want, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		v := sig[:len(sig)-1] + string(c)
		if b, err := base64.RawURLEncoding.DecodeString(v); v != sig && err == nil && bytes.Equal(b, want) {
			out = append(out, head+v)
		}
	}
	if len(out) != 3 {
		t.Fatalf("%d respellings of the MAC's last character; want 3 (two unused bits)", len(out))
	}
	return append(out, head+sig[:5]+"%0A"+sig[5:])
}

// TestRespelledTokensAreRefused sends the respellings of a valid
// unsubscribe and preferences token to their pages: each answers the one
// invalid-link page and writes nothing, as any other changed token.
func TestRespelledTokensAreRefused(t *testing.T) {
	e := newEnv(t)
	e.pages.SetLimits(ratelimit.Limits{PerIP: rate.Inf, IPBurst: 1000, PerBadToken: rate.Inf, BadTokenBurst: 1000, Entries: 1000})
	invalid := e.do("GET", e.srv.URL+"/u/not-a-token", "", "")
	if invalid.status != 404 || !strings.Contains(invalid.body, "This link does not work") {
		t.Fatalf("GET /u/not-a-token = %d\n%s", invalid.status, invalid.body)
	}
	n := e.logSize()
	for _, kind := range []string{"unsubscribe", "preferences"} {
		l := e.link(kind, "jane@example.com", "newsletter:email")
		base := strings.TrimSuffix(l.URL, l.Token)
		for _, tok := range respellings(t, l.Token) {
			for _, m := range []string{"GET", "POST"} {
				p := e.do(m, base+tok, form, "List-Unsubscribe=One-Click", "Sec-GPC", "1")
				if p.status != 404 || p.body != invalid.body {
					t.Errorf("%s %s%s = %d; want the invalid-link page", m, base, tok, p.status)
				}
			}
		}
		// The token as signed still works.
		if p := e.do("GET", l.URL, "", ""); p.status != 200 {
			t.Errorf("GET the valid %s link = %d", kind, p.status)
		}
	}
	if got := e.logSize(); got != n {
		t.Errorf("respelled tokens changed the log: %d -> %d entries", n, got)
	}
	if c := e.consent("jane@example.com", "newsletter:email"); c != nil {
		t.Errorf("respelled tokens wrote a consent: %+v", c)
	}
}
