package web_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ratelimit"
	"golang.org/x/time/rate"
)

// post sends a form to a public page from any goroutine (no t.Fatal) and
// returns its status and body.
func post(t *testing.T, rawURL, body string, header ...string) (int, string) {
	req, err := http.NewRequest("POST", rawURL, strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	req.Header.Set("Content-Type", form)
	req.Header.Set("User-Agent", "consentd-test/1")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var csrfValue = regexp.MustCompile(`name="csrf" value="[^"]*"`)

// together sends n copies of a POST at once and checks that each is
// answered status with the same page.
func together(t *testing.T, n int, rawURL, body string, status int, header ...string) {
	t.Helper()
	var wg sync.WaitGroup
	codes, pages := make([]int, n), make([]string, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			codes[i], pages[i] = post(t, rawURL, body, header...)
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		// The preference center's CSRF token carries the second it was
		// issued: the rest of the page must be the same.
		pages[i] = csrfValue.ReplaceAllString(pages[i], "")
	}
	for i := range n {
		if codes[i] != status || pages[i] != pages[0] {
			t.Errorf("POST %d of %d = %d; want %d with the same page as the first\n%s", i, n, codes[i], status, pages[i])
			return
		}
	}
}

// A person's act on a public page changes the log only when it changes a
// status: replays, and concurrent duplicates, write nothing after the
// first, and are answered as the first was.
func TestPublicActsChangeTheLogOnce(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		// Every request comes from 127.0.0.1: no per-address limit here.
		limits := ratelimit.DefaultLimits()
		limits.PerIP = rate.Inf
		e.pages.SetLimits(limits)
		// One-click unsubscribe: 5,000 replays.
		l := e.link("unsubscribe", "jane@example.com", "newsletter:email")
		n := e.logSize()
		st, first := post(t, l.URL, "List-Unsubscribe=One-Click", crossSite...)
		if st != 200 || e.logSize() != n+1 {
			t.Fatalf("one-click = %d, log %d -> %d; want 200 and one entry", st, n, e.logSize())
		}
		c1 := e.consent("jane@example.com", "newsletter:email")
		for i := range 5000 {
			if st, page := post(t, l.URL, "List-Unsubscribe=One-Click", crossSite...); st != 200 || page != first {
				t.Fatalf("replay %d = %d; want the first answer\n%s", i, st, page)
			}
		}
		if got := e.logSize(); got != n+1 {
			t.Errorf("5,000 replays: log %d -> %d; want %d", n, got, n+1)
		}
		if c2 := e.consent("jane@example.com", "newsletter:email"); c2.Version != c1.Version || !c2.CapturedAt.Equal(c1.CapturedAt) {
			t.Errorf("after replays consent v%d %v; want v%d %v as after the first", c2.Version, c2.CapturedAt, c1.Version, c1.CapturedAt)
		}
		checkOptedOut(t, e, "jane@example.com", "one_click")

		// 32 concurrent one-click POSTs on an opted-in address.
		e.write("max@example.com", "newsletter:email", consentd.OptedIn, time.Now().Add(-time.Hour))
		l = e.link("unsubscribe", "max@example.com", "newsletter:email")
		n = e.logSize()
		together(t, 32, l.URL, "List-Unsubscribe=One-Click", 200, crossSite...)
		if got := e.logSize(); got != n+1 {
			t.Errorf("32 concurrent one-click POSTs: log %d -> %d; want %d", n, got, n+1)
		}

		// The preference center: 32 concurrent saves of one change, then
		// 32 concurrent "unsubscribe from all".
		withParty(t, e)
		l = e.link("preferences", "jane@example.com", "")
		f := parseHTMLForm(t, e.do("GET", l.URL, "", "").body)
		v := f.values("save")
		v.Add("on", "1/newsletter:sms")
		n = e.logSize()
		together(t, 32, l.URL, v.Encode(), 200)
		if got := e.logSize(); got != n+1 {
			t.Errorf("32 concurrent saves: log %d -> %d; want %d", n, got, n+1)
		}
		if c := e.consent("+14155550123", "newsletter:sms"); c == nil || c.Status != consentd.OptedIn {
			t.Errorf("after the saves: %+v; want opted_in", c)
		}
		f = parseHTMLForm(t, e.do("GET", l.URL, "", "").body)
		n = e.logSize()
		together(t, 32, l.URL, f.values("unsubscribe_all").Encode(), 200)
		var sups struct{ Suppressions []consentd.Suppression }
		e.call("GET", "/v1/suppressions", "", &sups)
		if len(sups.Suppressions) != 2 {
			t.Errorf("32 concurrent unsubscribe-all: %d suppressions; want one per contact point (2)", len(sups.Suppressions))
		}
		// The opt-outs of the four rows not opted out yet (weekly and
		// partners on email, newsletter and weekly on SMS) and two
		// suppressions: each once.
		if got, want := e.logSize()-n, int64(4+2); got != want {
			t.Errorf("32 concurrent unsubscribe-all: log grew by %d; want %d", got, want)
		}
	})
}
