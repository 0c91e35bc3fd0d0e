package doi_test

import (
	"github.com/consentd/consentd/internal/ratelimit"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"golang.org/x/time/rate"
)

// answer is a response of the confirmation page.
type answer struct {
	status int
	header http.Header
	body   string
}

// from sends method to link as a browser at client address ip would (the
// handler's ClientIP reads X-Test-Client).
func (e *env) from(ip, method, link string) answer {
	e.t.Helper()
	var body io.Reader
	if method == "POST" {
		body = strings.NewReader("")
	}
	req, _ := http.NewRequest(method, link, body)
	req.Header.Set("User-Agent", "PhoneBrowser/9.1")
	req.Header.Set("X-Test-Client", ip)
	if method == "POST" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, res.Header, string(b)}
}

// limitedBy sets tight limits and a ClientIP that reads X-Test-Client. Call
// it before the first request to /c/.
func (e *env) limitedBy(l ratelimit.Limits) {
	e.page.SetLimits(l)
	e.page.ClientIP = func(r *http.Request) string {
		if ip := r.Header.Get("X-Test-Client"); ip != "" {
			return ip
		}
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		return host
	}
}

// isLimited reports whether a is the plain 429 page.
func isLimited(a answer) bool {
	return a.status == http.StatusTooManyRequests && a.header.Get("Retry-After") == "60" &&
		strings.Contains(a.body, "Too many requests") && !strings.Contains(a.body, "<form") &&
		a.header.Get("Content-Type") == "text/html; charset=utf-8" && a.header.Get("Cache-Control") == "no-store"
}

func TestRateLimits(t *testing.T) {
	e := newEnv(t, "")
	e.limitedBy(ratelimit.Limits{PerIP: rate.Every(time.Hour), IPBurst: 3, PerBadToken: rate.Every(time.Hour), BadTokenBurst: 2, Entries: 100})
	e.optIn("jane@example.com", "email", "DE", time.Now().Add(-time.Minute))
	if n, err := e.sendDue(); n != 1 || err != nil {
		t.Fatalf("SendDue() = %d, %v", n, err)
	}
	_, _, link := parseMail(t, e.smtp.Messages()[0].Data)
	base := link[:strings.LastIndex(link, "/")+1]
	const attacker, victim = "198.51.100.66", "203.0.113.50"

	// A burst of invalid tokens from one address, each different: the
	// address has 3 requests to give, then gets 429.
	for i, want := range []int{404, 404, 404, 429, 429} {
		a := e.from(attacker, "GET", base+"guess"+strings.Repeat("x", i))
		if a.status != want {
			t.Errorf("invalid token %d from one address = %d; want %d", i+1, a.status, want)
		}
		if want == 429 && !isLimited(a) {
			t.Errorf("over the address's limit: %d %v; want 429 with Retry-After and a plain page\n%s", a.status, a.header, a.body)
		}
	}
	// Invalid POSTs are limited alike, and so is the catch-all.
	if a := e.from(attacker, "POST", base+"guess-post"); !isLimited(a) {
		t.Errorf("invalid POST over the limit = %d; want 429", a.status)
	}
	if a := e.from(attacker, "GET", base+"x/y"); !isLimited(a) {
		t.Errorf("GET /c/x/y over the limit = %d; want 429", a.status)
	}
	// The address is out of requests: even the valid link's page is 429...
	if a := e.from(attacker, "GET", link); !isLimited(a) {
		t.Errorf("GET the valid link over the address's limit = %d; want 429", a.status)
	}
	if r := e.decide("jane@example.com"); r != consentd.ReasonPendingConfirmation {
		t.Fatalf("after the burst: Decide = %s; want pending_confirmation", r)
	}
	// ... but a valid confirmation POST from it is never refused.
	a := e.from(attacker, "POST", link)
	if a.status != 200 || !strings.Contains(a.body, "your subscription is confirmed") {
		t.Fatalf("valid POST over the address's limit = %d; want 200 confirmed\n%s", a.status, a.body)
	}
	if r := e.decide("jane@example.com"); r != consentd.ReasonOptedIn {
		t.Errorf("after the valid POST: Decide = %s; want opted_in", r)
	}
	if c := e.consent("jane@example.com"); !strings.Contains(string(c.Source.Details), attacker) {
		t.Errorf("source details %s; want the confirming address %s", c.Source.Details, attacker)
	}
	for i := range 3 { // replays are not limited either, and change nothing
		if a := e.from(attacker, "POST", link); a.status != 200 || !strings.Contains(a.body, "Already confirmed") {
			t.Errorf("valid POST %d again = %d; want 200 already confirmed", i+1, a.status)
		}
	}

	// One invalid token tried from many addresses: 2 tries, then 429.
	bad := link[:len(link)-3] + "AAA"
	for i, want := range []int{404, 404, 429, 429} {
		ip := "192.0.2." + string(rune('1'+i))
		if a := e.from(ip, "GET", bad); a.status != want || (want == 429 && !isLimited(a)) {
			t.Errorf("the invalid token from address %d = %d; want %d", i+1, a.status, want)
		}
	}
	// Another address is not held back by the attacker's limit.
	if a := e.from(victim, "GET", link); a.status != 200 || !strings.Contains(a.body, "Already confirmed") {
		t.Errorf("GET the link from another address = %d; want 200", a.status)
	}
}

func TestDefaultLimitsLetPeopleThrough(t *testing.T) {
	e := newEnv(t, "")
	e.optIn("jane@example.com", "email", "DE", time.Now().Add(-time.Minute))
	e.sendDue()
	_, _, link := parseMail(t, e.smtp.Messages()[0].Data)
	// A page opened a few dozen times (a link scanner, reloads) still
	// works, and the button after it.
	for i := range 30 {
		if status, _ := e.visit("GET", link); status != 200 {
			t.Fatalf("GET %d with the default limits = %d", i+1, status)
		}
	}
	if status, _ := e.visit("POST", link); status != 200 || e.decide("jane@example.com") != consentd.ReasonOptedIn {
		t.Errorf("POST with the default limits = %d; decision %s", status, e.decide("jane@example.com"))
	}
	// An invalid token has its 5 tries.
	bad := link[:len(link)-3] + "AAA"
	for i, want := range []int{404, 404, 404, 404, 404, 429} {
		if status, _ := e.visit("GET", bad); status != want {
			t.Errorf("invalid token try %d = %d; want %d", i+1, status, want)
		}
	}
}
