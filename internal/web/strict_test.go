package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// TestBadTextRefused: a query or form field holding NUL, invalid UTF-8 or
// a control character gets the invalid-link page with 400, a token (the
// path) holding one the 404 of every invalid link, and neither changes
// anything; a User-Agent header that is not valid UTF-8 does not stop an
// unsubscribe, and is stored as valid text.
func TestBadTextRefused(t *testing.T) {
	e := newEnv(t)
	e.write("jane@example.com", "newsletter:email", consentd.OptedIn, time.Now().Add(-time.Hour))
	l := e.link("unsubscribe", "jane@example.com", "newsletter:email")
	p := e.link("preferences", "jane@example.com", "")
	size := e.logSize()
	base := e.srv.URL
	for _, c := range []struct {
		method, url, body string
		want              int // 404: a bad token, the one answer to every invalid link
	}{
		{"GET", base + "/u/a%00b", "", 404},
		{"GET", base + "/u/a%FFb", "", 404},
		{"GET", base + "/p/a%07b", "", 404},
		{"POST", base + "/u/a%00b", "List-Unsubscribe=One-Click", 404},
		{"GET", l.URL + "?x=%FF", "", 400},
		{"GET", l.URL + "?x%00=1", "", 400},
		{"POST", l.URL + "?x=%00", "List-Unsubscribe=One-Click", 400},
		{"POST", l.URL, "List-Unsubscribe=One-Click&x=a%00b", 400},
		{"POST", l.URL, "List-Unsubscribe=One-Click&x=a%FFb", 400},
		{"POST", l.URL, "List-Unsubscribe=One-Click&a%FF=b", 400},
		{"POST", p.URL, "on=newsletter%3Aemail%00", 400},
	} {
		h := crossSite // a mail provider's one-click POST
		if strings.HasPrefix(c.url, p.URL) {
			h = nil // the preference form posts from its own page
		}
		pg := e.do(c.method, c.url, form, c.body, h...)
		if pg.status != c.want || !strings.Contains(pg.body, "This link does not work") {
			t.Errorf("%s %s %q = %d; want %d with the invalid-link page\n%.300s", c.method, c.url, c.body, pg.status, c.want, pg.body)
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
