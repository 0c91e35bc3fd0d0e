package web_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"github.com/consentd/consentd/internal/ratelimit"
	"mime/multipart"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/signedlink"
	"golang.org/x/time/rate"
)

const form = "application/x-www-form-urlencoded"

// crossSite are the headers of a one-click POST from a mail provider's own
// origin (RFC 8058 section 3.1): no cookie, another site.
var crossSite = []string{"Origin", "https://mail.example", "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "no-cors"}

// checkOptedOut asserts that cp is opted out of newsletter email by an
// unsubscribe link, as the decision API and the stored consent say.
func checkOptedOut(t *testing.T, e *env, cp, sourceName string) {
	t.Helper()
	if d := e.decide(cp, "email", "newsletter", ""); d.Allowed || d.Reason != consentd.ReasonOptedOut {
		t.Errorf("Decide(%q, newsletter email) = %v %s; want denied opted_out", cp, d.Allowed, d.Reason)
	}
	c := e.consent(cp, "newsletter:email")
	if c == nil {
		t.Fatalf("no consent for %s", cp)
	}
	if c.Status != consentd.OptedOut || c.Source.Type != consentd.SourceUnsubscribeLink || c.Source.Name != sourceName {
		t.Errorf("consent = %s source %+v; want opted_out by unsubscribe_link %s", c.Status, c.Source, sourceName)
	}
	if c.Proof == nil || c.Proof.IP != "127.0.0.1" || c.Proof.UserAgent != "consentd-test/1" {
		t.Errorf("consent proof = %+v; want the client's address and user agent", c.Proof)
	}
	if d := time.Since(c.CapturedAt); d < 0 || d > time.Minute {
		t.Errorf("captured_at = %v; want now", c.CapturedAt)
	}
}

func TestOneClickURLEncoded(t *testing.T) {
	e := newEnv(t)
	e.write("jane@example.com", "newsletter:email", consentd.OptedIn, time.Now().Add(-time.Hour))
	l := e.link("unsubscribe", "Jane@Example.com ", "newsletter:email")
	p := e.do("POST", l.URL, form, "List-Unsubscribe=One-Click", crossSite...)
	if p.status != 200 {
		t.Fatalf("one-click POST = %d %s; want 200", p.status, p.body)
	}
	if p.header.Get("Set-Cookie") != "" || p.header.Get("Location") != "" {
		t.Errorf("one-click POST answered with a cookie or a redirect: %v", p.header)
	}
	if !strings.Contains(p.body, "You are unsubscribed") {
		t.Errorf("one-click POST page does not say it is done:\n%s", p.body)
	}
	checkOptedOut(t, e, "jane@example.com", "one_click")
}

func TestOneClickMultipart(t *testing.T) {
	e := newEnv(t)
	l := e.link("unsubscribe", "max@example.com", "newsletter:email")
	if d := e.decide("max@example.com", "email", "newsletter", ""); !d.Allowed {
		t.Fatalf("before: Decide = %v %s; want allowed (non_restrictive)", d.Allowed, d.Reason)
	}
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("List-Unsubscribe", "One-Click")
	mw.Close()
	p := e.do("POST", l.URL, mw.FormDataContentType(), b.String(), crossSite...)
	if p.status != 200 {
		t.Fatalf("multipart one-click POST = %d %s; want 200", p.status, p.body)
	}
	checkOptedOut(t, e, "max@example.com", "one_click")
}

func TestOneClickReplayIsIdempotent(t *testing.T) {
	e := newEnv(t)
	l := e.link("unsubscribe", "jane@example.com", "newsletter:email")
	first := e.do("POST", l.URL, form, "List-Unsubscribe=One-Click", crossSite...)
	c1 := e.consent("jane@example.com", "newsletter:email")
	n := e.logSize()
	second := e.do("POST", l.URL, form, "List-Unsubscribe=One-Click", crossSite...)
	if first.status != 200 || second.status != 200 || first.body != second.body {
		t.Errorf("replay = %d; want the same 200 page as the first POST (%d)\nfirst:\n%s\nsecond:\n%s", second.status, first.status, first.body, second.body)
	}
	if e.logSize() != n {
		t.Errorf("replay logged %s (log %d -> %d); want nothing", e.lastEntry(), n, e.logSize())
	}
	c2 := e.consent("jane@example.com", "newsletter:email")
	if c2.Version != c1.Version || !c2.CapturedAt.Equal(c1.CapturedAt) || c2.Status != consentd.OptedOut {
		t.Errorf("after replay consent v%d %s %v; want v%d as before", c2.Version, c2.Status, c2.CapturedAt, c1.Version)
	}
	// The page's own button after a one-click POST: the same again.
	if p := e.do("POST", l.URL, form, ""); p.status != 200 || e.logSize() != n {
		t.Errorf("page POST after one-click = %d, logged %s; want 200, nothing logged", p.status, e.lastEntry())
	}
}

func TestUnsubscribeGETAndHEADChangeNothing(t *testing.T) {
	e := newEnv(t)
	l := e.link("unsubscribe", "jane@example.com", "weekly:email")
	n := e.logSize()
	for _, m := range []string{"GET", "HEAD", "GET"} {
		p := e.do(m, l.URL, "", "", "Sec-Fetch-Site", "cross-site")
		if p.status != 200 {
			t.Errorf("%s = %d; want 200", m, p.status)
		}
		if m == "GET" && !strings.Contains(p.body, "Unsubscribe j•••@example.com from Weekly digest") {
			t.Errorf("GET page has no button naming the masked address and the topic:\n%s", p.body)
		}
		if m == "HEAD" && p.body != "" {
			t.Errorf("HEAD answered a body")
		}
	}
	if got := e.logSize(); got != n {
		t.Errorf("GET and HEAD changed the log: %d -> %d entries", n, got)
	}
	if c := e.consent("jane@example.com", "weekly:email"); c != nil {
		t.Errorf("GET and HEAD wrote a consent: %+v", c)
	}
}

// The GET page's form posts to the same URL; a POST of that form, and a
// POST without List-Unsubscribe=One-Click at all, unsubscribe too.
func TestUnsubscribePageForm(t *testing.T) {
	e := newEnv(t)
	l := e.link("unsubscribe", "jane@example.com", "newsletter:email")
	p := e.do("GET", l.URL, "", "")
	for _, want := range []string{`<form method="post">`, `<input type="hidden" name="List-Unsubscribe" value="One-Click">`, `<button type="submit">`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("GET page has no %s:\n%s", want, p.body)
		}
	}
	if p := e.do("POST", l.URL, form, "", "Origin", e.srv.URL, "Sec-Fetch-Site", "same-origin"); p.status != 200 {
		t.Fatalf("POST without a body = %d; want 200", p.status)
	}
	checkOptedOut(t, e, "jane@example.com", "unsubscribe_page")
}

func TestInvalidTokensChangeNothing(t *testing.T) {
	e := newEnv(t)
	l := e.link("unsubscribe", "jane@example.com", "newsletter:email")
	good, _ := e.links.Verify(l.Token, time.Now())

	other, err := signedlink.LoadOrCreate(filepath.Join(t.TempDir(), "other-keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	unknownKey, _ := other.Sign(*good)
	expiredClaims := *good
	expiredClaims.ExpiresAt = time.Now().Add(-time.Second).Unix()
	expired, _ := e.links.Sign(expiredClaims)
	prefClaims := *good
	prefClaims.Kind = signedlink.Preferences
	wrongKind, _ := e.links.Sign(prefClaims)
	// Another workspace's claim, well signed: the hash is not there.
	otherWS := *good
	otherWS.Workspace = "ws_nosuchthing"
	foreign, _ := e.links.Sign(otherWS)

	kid, rest, _ := strings.Cut(l.Token, ".")
	payload, sig, _ := strings.Cut(rest, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(payload)
	var claims map[string]any
	json.Unmarshal(raw, &claims)
	claims["ct"] = "partners:email"
	forged, _ := json.Marshal(claims)
	tampered := kid + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + sig
	i, c := len(l.Token)-5, "A" // inside the MAC, not its last character's padding bits
	if l.Token[i] == 'A' {
		c = "B"
	}
	flipped := l.Token[:i] + c + l.Token[i+1:]

	base := strings.TrimSuffix(l.URL, l.Token)
	var pageBody string
	n := e.logSize()
	for name, tok := range map[string]string{"tampered claims": tampered, "flipped mac": flipped, "unknown key": unknownKey,
		"expired": expired, "preferences token": wrongKind, "other workspace": foreign, "garbage": "not-a-token", "empty parts": "x..y"} {
		for _, m := range []string{"GET", "POST"} {
			p := e.do(m, base+tok, form, "List-Unsubscribe=One-Click", crossSite...)
			if p.status != 404 {
				t.Errorf("%s %s = %d; want 404", m, name, p.status)
			}
			if pageBody == "" {
				pageBody = p.body
			} else if p.body != pageBody {
				t.Errorf("%s %s: the page differs from the other invalid tokens'; want one generic page", m, name)
			}
		}
	}
	if !strings.Contains(pageBody, "This link does not work") {
		t.Errorf("invalid-link page:\n%s", pageBody)
	}
	if got := e.logSize(); got != n {
		t.Errorf("invalid tokens changed the log: %d -> %d entries", n, got)
	}
	for _, ct := range []string{"newsletter:email", "partners:email"} {
		if c := e.consent("jane@example.com", ct); c != nil {
			t.Errorf("invalid tokens wrote %s: %+v", ct, c)
		}
	}
	// Not a secret in the logs, whatever happened.
	logs := e.logs.String()
	if strings.Contains(logs, l.Token) || strings.Contains(logs, "jane@") || strings.Contains(logs, payload) {
		t.Errorf("the server log holds a token or an address:\n%s", logs)
	}
}

func TestRateLimits(t *testing.T) {
	e := newEnv(t)
	e.pages.SetLimits(ratelimit.Limits{PerIP: rate.Every(time.Hour), IPBurst: 3, PerBadToken: rate.Every(time.Hour), BadTokenBurst: 2, Entries: 100})
	l := e.link("unsubscribe", "jane@example.com", "newsletter:email")
	bad := strings.TrimSuffix(l.URL, l.Token) + "x" + l.Token

	// A bad token: 2 tries, then 429 (the address has 3 to give).
	for i, want := range []int{404, 404, 429} {
		if p := e.do("GET", bad, "", ""); p.status != want {
			t.Errorf("bad token try %d = %d; want %d", i+1, p.status, want)
		}
	}
	// The address is out of tokens now: pages answer 429 plainly.
	p := e.do("GET", l.URL, "", "")
	if p.status != 429 || p.header.Get("Retry-After") == "" || !strings.Contains(p.body, "Too many requests") {
		t.Errorf("GET over the address's limit = %d %v; want 429 with Retry-After and a plain page", p.status, p.header)
	}
	// A valid one-click POST is never refused.
	for i := 0; i < 5; i++ {
		if p := e.do("POST", l.URL, form, "List-Unsubscribe=One-Click", crossSite...); p.status != 200 {
			t.Fatalf("valid one-click POST %d over the limits = %d; want 200", i+1, p.status)
		}
	}
	checkOptedOut(t, e, "jane@example.com", "one_click")
	// An invalid POST is limited like the rest.
	if p := e.do("POST", bad, form, "List-Unsubscribe=One-Click"); p.status != 429 {
		t.Errorf("invalid POST over the limits = %d; want 429", p.status)
	}
}

// The access log names requests by route pattern: no token, no address.
func TestPatternsHideTokens(t *testing.T) {
	e := newEnv(t)
	u := e.link("unsubscribe", "jane@example.com", "newsletter:email")
	p := e.link("preferences", "jane@example.com", "")
	e.do("GET", u.URL, "", "")
	e.do("POST", u.URL, form, "List-Unsubscribe=One-Click")
	e.do("GET", p.URL, "", "")
	e.do("GET", e.srv.URL+"/u/", "", "")
	seen := map[string]bool{}
	for _, s := range e.patterns.all() {
		seen[s] = true
		if strings.Contains(s, u.Token) || strings.Contains(s, p.Token) || strings.Contains(s, "jane") {
			t.Errorf("pattern %q holds a token or an address", s)
		}
	}
	for _, want := range []string{"GET GET /u/{token}", "POST POST /u/{token}", "GET GET /p/{token}", "GET /u/", "POST POST /v1/links"} {
		if !seen[want] {
			t.Errorf("no request logged as %q; got %q", want, e.patterns.all())
		}
	}
}
