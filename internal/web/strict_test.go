package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// TestBadTextRefused: a path, query or form field holding NUL, invalid
// UTF-8 or a control character gets the 400 invalid-link page and changes
// nothing; a User-Agent header that is not valid UTF-8 does not stop an
// unsubscribe, and is stored as valid text.
func TestBadTextRefused(t *testing.T) {
	e := newEnv(t)
	e.write("jane@example.com", "newsletter:email", consentd.OptedIn, time.Now().Add(-time.Hour))
	l := e.link("unsubscribe", "jane@example.com", "newsletter:email")
	p := e.link("preferences", "jane@example.com", "")
	size := e.logSize()
	base := e.srv.URL
	for _, c := range []struct{ method, url, body string }{
		{"GET", base + "/u/a%00b", ""},
		{"GET", base + "/u/a%FFb", ""},
		{"GET", base + "/p/a%07b", ""},
		{"POST", base + "/u/a%00b", "List-Unsubscribe=One-Click"},
		{"GET", l.URL + "?x=%FF", ""},
		{"GET", l.URL + "?x%00=1", ""},
		{"POST", l.URL + "?x=%00", "List-Unsubscribe=One-Click"},
		{"POST", l.URL, "List-Unsubscribe=One-Click&x=a%00b"},
		{"POST", l.URL, "List-Unsubscribe=One-Click&x=a%FFb"},
		{"POST", l.URL, "List-Unsubscribe=One-Click&a%FF=b"},
		{"POST", p.URL, "on=newsletter%3Aemail%00"},
	} {
		h := crossSite // a mail provider's one-click POST
		if strings.HasPrefix(c.url, p.URL) {
			h = nil // the preference form posts from its own page
		}
		pg := e.do(c.method, c.url, form, c.body, h...)
		if pg.status != 400 || !strings.Contains(pg.body, "This link does not work") {
			t.Errorf("%s %s %q = %d; want 400 with the invalid-link page\n%.300s", c.method, c.url, c.body, pg.status, pg.body)
		}
	}
	if n := e.logSize(); n != size {
		t.Fatalf("log size %d after the refused requests; want %d", n, size)
	}
	if c := e.consent("jane@example.com", "newsletter:email"); c.Status != consentd.OptedIn {
		t.Fatalf("consent %s after the refused requests; want opted_in", c.Status)
	}
	ua := "Kiosk/1.0 \xff\xfe" + strings.Repeat("é", 400)
	if pg := e.do("POST", l.URL, form, "List-Unsubscribe=One-Click", append(crossSite, "User-Agent", ua)...); pg.status != 200 {
		t.Fatalf("one-click POST with a User-Agent that is not UTF-8 = %d; want 200\n%.300s", pg.status, pg.body)
	}
	c := e.consent("jane@example.com", "newsletter:email")
	if c.Status != consentd.OptedOut || c.Proof == nil || consentd.TextProblem(c.Proof.UserAgent) != "" ||
		len(c.Proof.UserAgent) > consentd.MaxUserAgentLen || !strings.HasPrefix(c.Proof.UserAgent, "Kiosk/1.0 \uFFFD") {
		t.Errorf("consent after the unsubscribe: %s, proof %+v; want opted_out with a valid, bounded user agent", c.Status, c.Proof)
	}
}
