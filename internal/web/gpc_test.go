package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// TestGPCNeedsCSRF posts the preference form with Sec-GPC: 1 and no, a
// garbled or another link's CSRF token: each is refused (403) and writes
// nothing, GPC included. The same post with the page's CSRF token applies
// GPC.
func TestGPCNeedsCSRF(t *testing.T) {
	e := newEnv(t)
	e.write("jane@example.com", "partners:email", consentd.OptedIn, time.Now().Add(-time.Hour))
	l := e.link("preferences", "jane@example.com", "")
	p := e.do("GET", l.URL, "", "") // no GPC: the page changes nothing
	if p.status != 200 {
		t.Fatalf("GET = %d", p.status)
	}
	f := parseHTMLForm(t, p.body)
	other := parseHTMLForm(t, e.do("GET", e.link("preferences", "max@example.com", "").URL, "", "").body)
	before := e.consent("jane@example.com", "partners:email")
	n := e.logSize()

	for name, csrf := range map[string]string{"no": "", "a garbled": f.csrf[:len(f.csrf)-4] + "AAAA", "another link's": other.csrf, "not a": "x"} {
		v := f.values("save")
		if csrf == "" {
			v.Del("csrf")
		} else {
			v.Set("csrf", csrf)
		}
		p := e.do("POST", l.URL, form, v.Encode(), "Sec-GPC", "1")
		if p.status != 403 {
			t.Errorf("POST with Sec-GPC and %s CSRF token = %d; want 403", name, p.status)
		}
		if strings.Contains(p.body, "Your browser sent a Global Privacy Control signal") {
			t.Errorf("POST with %s CSRF token: the refusal says GPC was applied", name)
		}
		if c := e.consent("jane@example.com", "partners:email"); c.Status != consentd.OptedIn || c.Version != before.Version {
			t.Errorf("POST with Sec-GPC and %s CSRF token wrote partners: %s version %d; want opted_in version %d", name, c.Status, c.Version, before.Version)
		}
		if got := e.logSize(); got != n {
			t.Errorf("POST with Sec-GPC and %s CSRF token: log %d -> %d entries; want unchanged", name, n, got)
		}
	}

	p = e.do("POST", l.URL, form, f.values("save").Encode(), "Sec-GPC", "1")
	if p.status != 200 || !strings.Contains(p.body, "Your browser sent a Global Privacy Control signal") {
		t.Fatalf("POST with Sec-GPC and the page's CSRF token = %d\n%s", p.status, p.body)
	}
	if c := e.consent("jane@example.com", "partners:email"); c.Status != consentd.OptedOut || c.Source.Type != consentd.SourceGPC {
		t.Errorf("partners after a valid POST with GPC = %s by %s; want opted_out by gpc", c.Status, c.Source.Type)
	}
	if e.logSize() == n {
		t.Errorf("a valid POST with GPC logged nothing")
	}
}
