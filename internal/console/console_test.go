package console_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/console"
)

func TestSignIn(t *testing.T) {
	e := newEnv(t)
	o := e.operator()

	p := o.do("GET", "/admin/", nil)
	if p.status != 200 || !strings.Contains(p.body, `name="key" type="password"`) {
		t.Fatalf("GET /admin/ = %d, want the sign-in form:\n%s", p.status, p.body)
	}
	for h, want := range map[string]string{"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"} {
		if got := p.header.Get(h); got != want {
			t.Errorf("%s = %q; want %q", h, got, want)
		}
	}
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "script-src") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP = %q", csp)
	}
	if p := o.do("GET", "/admin", nil); (p.status != http.StatusMovedPermanently && p.status != http.StatusTemporaryRedirect) || p.header.Get("Location") != "/admin/" {
		t.Errorf("GET /admin = %d %q; want a redirect to /admin/", p.status, p.header.Get("Location"))
	}

	if p := o.do("POST", "/admin/sign-in", url.Values{"key": {"not-a-key"}}); p.status != http.StatusUnauthorized || !strings.Contains(p.body, "not valid") || p.header.Get("Set-Cookie") != "" {
		t.Errorf("a bad key: %d %q", p.status, p.header.Get("Set-Cookie"))
	}
	if p := o.do("POST", "/admin/sign-in", url.Values{"key": {e.keys[consentd.RoleCheck]}}); p.status != http.StatusForbidden || p.header.Get("Set-Cookie") != "" {
		t.Errorf("a check key: %d %q", p.status, p.header.Get("Set-Cookie"))
	}
	// A form posted from another site is refused before the key is read.
	if p := o.do("POST", "/admin/sign-in", url.Values{"key": {e.keys[consentd.RoleAdmin]}}, "Sec-Fetch-Site", "cross-site"); p.status != http.StatusForbidden || p.header.Get("Set-Cookie") != "" {
		t.Errorf("a cross-site sign-in: %d", p.status)
	}

	p = o.signIn(consentd.RoleRead)
	resp := http.Response{Header: p.header}
	cs := resp.Cookies()
	if len(cs) != 1 {
		t.Fatalf("cookies = %v", cs)
	}
	c := cs[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/admin/" || c.Secure || c.MaxAge != 8*3600 || c.Expires.IsZero() || len(c.Value) < 40 {
		t.Errorf("cookie = %+v; want HttpOnly, SameSite=Strict, Path=/admin/, not Secure over http, 8 h", c)
	}
	if strings.Contains(p.header.Get("Set-Cookie"), e.keys[consentd.RoleRead]) {
		t.Errorf("the cookie holds the key")
	}
	// Signed in, the console's address leads to the overview, and the
	// person search is a screen of its own.
	if p := o.do("GET", "/admin/", nil); p.status != http.StatusSeeOther || p.header.Get("Location") != "/admin/overview" {
		t.Errorf("signed in, GET /admin/ = %d %q; want a redirect to the overview", p.status, p.header.Get("Location"))
	}
	p = o.do("GET", "/admin/overview", nil)
	if p.status != 200 || !strings.Contains(p.body, "Workspace <span class=\"ws\">alpha</span>") || !strings.Contains(p.body, `<a href="/admin/person">A person</a>`) {
		t.Errorf("signed in, GET /admin/overview = %d:\n%s", p.status, p.body)
	}
	p = o.do("GET", "/admin/person", nil)
	if p.status != 200 || !strings.Contains(p.body, `action="/admin/person"`) {
		t.Errorf("signed in, GET /admin/person = %d:\n%s", p.status, p.body)
	}
}

func TestSignOutAndCSRF(t *testing.T) {
	e := newEnv(t)
	o := e.operator()
	o.signIn(consentd.RoleAdmin)
	token := o.csrf()

	for name, form := range map[string]url.Values{"no token": {}, "a wrong token": {"csrf": {token + "x"}}} {
		if p := o.do("POST", "/admin/sign-out", form); p.status != http.StatusForbidden {
			t.Errorf("sign-out with %s = %d; want 403", name, p.status)
		}
	}
	if p := o.do("POST", "/admin/opt-out", url.Values{"consent": {"jane@example.com#newsletter:email"}}); p.status != http.StatusForbidden {
		t.Errorf("opt-out without a token = %d; want 403", p.status)
	}
	if c := e.consent("jane@example.com#newsletter:email"); c.Status != consentd.OptedIn {
		t.Errorf("a refused opt-out changed the consent: %s", c.Status)
	}
	// Another operator's token is not this session's.
	other := e.operator()
	other.signIn(consentd.RoleAdmin)
	if p := o.do("POST", "/admin/sign-out", url.Values{"csrf": {other.csrf()}}); p.status != http.StatusForbidden {
		t.Errorf("sign-out with another session's token = %d; want 403", p.status)
	}

	if p := o.do("GET", "/admin/person?q=jane%40example.com", nil); p.status != 200 {
		t.Fatalf("still signed in: %d", p.status)
	}
	p := o.do("POST", "/admin/sign-out", url.Values{"csrf": {token}})
	if p.status != http.StatusSeeOther || !strings.Contains(p.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("sign-out = %d %q", p.status, p.header.Get("Set-Cookie"))
	}
	if p := o.do("GET", "/admin/person?q=jane%40example.com", nil); p.status != http.StatusUnauthorized || strings.Contains(p.body, "jane@") {
		t.Errorf("after sign-out, the person page = %d", p.status)
	}
	// The old cookie, replayed, is dead too.
	req, _ := http.NewRequest("GET", e.srv.URL+"/admin/person?q=jane%40example.com", nil)
	for _, c := range o.client.Jar.Cookies(req.URL) {
		t.Errorf("the jar still holds %s", c.Name)
	}
	if p := other.do("GET", "/admin/person?q=jane%40example.com", nil); p.status != 200 {
		t.Errorf("signing one session out ended another: %d", p.status)
	}
}

func TestPerson(t *testing.T) {
	e := newEnv(t)
	o := e.operator()
	o.signIn(consentd.RoleRead)

	// By contact point, written as a person might type it.
	p := o.do("GET", "/admin/person?q="+url.QueryEscape(" Jane@EXAMPLE.com "), nil)
	if p.status != 200 {
		t.Fatalf("person = %d:\n%s", p.status, p.body)
	}
	for _, want := range []string{
		"Workspace <span class=\"ws\">alpha</span>",
		"<h2>jane@example.com",
		"opted_in", "2026-01-02T03:04:05Z", "form (signup)",
		"will send, because they opted in",
		"will not send, because they opted out",
		`/admin/receipt?consent=jane%40example.com%23newsletter%3aemail`,
		`href="/admin/person?q=p-2"`,
		"disabled", // a read key's buttons
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the person page lacks %q", want)
		}
	}
	if strings.Contains(p.body, e.keys[consentd.RoleRead]) {
		t.Errorf("the page shows the key")
	}

	// By party: both contact points, the phone's suppression and its
	// decision.
	p = o.do("GET", "/admin/person?q=p-1", nil)
	for _, want := range []string{"Party <strong>p-1</strong>: 2 contact points", "14155550123 <span class=\"note\">(phone)", "sms_stop",
		"will not send, because the contact point is suppressed", "<h2>jane@example.com"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the party page lacks %q", want)
		}
	}

	// A contact point with no consents still shows its decisions.
	p = o.do("GET", "/admin/person?q=max%40example.com", nil)
	if p.status != 200 || !strings.Contains(p.body, "No consents recorded") || !strings.Contains(p.body, "will not send, because there is no opt-in, and one is needed") {
		t.Errorf("an unknown address = %d", p.status)
	}
	if p := o.do("GET", "/admin/person?q=nobody", nil); p.status != http.StatusNotFound || !strings.Contains(p.body, "Nothing found") {
		t.Errorf("a custom nobody = %d", p.status)
	}

	// The receipt, through the console.
	p = o.do("GET", "/admin/receipt?consent="+url.QueryEscape("jane@example.com#newsletter:email"), nil)
	var rc struct {
		Seq        int64  `json:"seq"`
		Checkpoint string `json:"checkpoint"`
	}
	if p.status != 200 || !strings.HasPrefix(p.header.Get("Content-Disposition"), "attachment;") || json.Unmarshal([]byte(p.body), &rc) != nil || rc.Seq == 0 || rc.Checkpoint == "" {
		t.Errorf("receipt = %d %q %s", p.status, p.header.Get("Content-Disposition"), p.body)
	}
	st, apiBody := e.api("GET", "/v1/consents/"+url.PathEscape("jane@example.com#newsletter:email")+"/receipt", "")
	var apiRC struct {
		Seq int64 `json:"seq"`
	}
	if st != 200 || json.Unmarshal(apiBody, &apiRC) != nil || apiRC.Seq != rc.Seq {
		t.Errorf("the API's receipt = %d seq %d; the console's seq %d", st, apiRC.Seq, rc.Seq)
	}
	if p := o.do("GET", "/admin/receipt?consent=nope", nil); p.status != http.StatusNotFound {
		t.Errorf("receipt of nothing = %d", p.status)
	}
	if p := e.operator().do("GET", "/admin/receipt?consent="+url.QueryEscape("jane@example.com#newsletter:email"), nil); p.status != http.StatusUnauthorized {
		t.Errorf("receipt signed out = %d", p.status)
	}
	// Contact points stay out of the log.
	if strings.Contains(e.logs.String(), "jane@") {
		t.Errorf("the log names a contact point:\n%s", e.logs.String())
	}
}

func TestOptOut(t *testing.T) {
	e := newEnv(t)
	const id = "jane@example.com#newsletter:email"
	form := func(token string) url.Values {
		return url.Values{"csrf": {token}, "consent": {id}, "q": {"jane@example.com"}}
	}

	// A read key sees the button and may not press it.
	reader := e.operator()
	reader.signIn(consentd.RoleRead)
	if p := reader.do("POST", "/admin/opt-out", form(reader.csrf())); p.status != http.StatusForbidden {
		t.Errorf("opt-out with a read key = %d; want 403", p.status)
	}
	if c := e.consent(id); c.Status != consentd.OptedIn {
		t.Fatalf("a read key's opt-out changed the consent: %s", c.Status)
	}

	agent := e.operator()
	agent.signIn(consentd.RoleAgent)
	page := agent.do("GET", "/admin/person?q=jane%40example.com", nil)
	if strings.Contains(page.body, " disabled") {
		t.Errorf("an agent's buttons are disabled")
	}
	p := agent.do("POST", "/admin/opt-out", form(agent.csrf()))
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/admin/person?done=opted-out&q=jane%40example.com" {
		t.Fatalf("opt-out = %d %q %s", p.status, p.header.Get("Location"), p.body)
	}
	c := e.consent(id)
	if c.Status != consentd.OptedOut || c.Source.Type != consentd.SourceAgent {
		t.Errorf("after the console's opt-out the API reads %s from %s; want opted_out from agent", c.Status, c.Source.Type)
	}
	st, b := e.api("GET", "/v1/consents/"+url.PathEscape(id)+"/history", "")
	if st != 200 || !strings.Contains(string(b), `"actor":"key:`) {
		t.Errorf("history = %d %s", st, b)
	}
	page = agent.do("GET", p.header.Get("Location"), nil)
	if !strings.Contains(page.body, "Opted out.") || strings.Contains(page.body, "will send, because they opted in") {
		t.Errorf("the page after the opt-out:\n%s", page.body)
	}

	// Pressing again changes nothing and logs nothing.
	before, _ := e.db.LogSize(t.Context(), e.ws)
	agent.do("POST", "/admin/opt-out", form(agent.csrf()))
	if after, _ := e.db.LogSize(t.Context(), e.ws); after != before {
		t.Errorf("a repeated opt-out logged %d entries", after-before)
	}
}

// TestExpiredAndTamperedSessions: a session past its time, and a cookie
// changed by one character, answer the sign-in page and read nothing.
func TestExpiredAndTamperedSessions(t *testing.T) {
	e := newEnv(t)
	o := e.operator()
	o.signIn(consentd.RoleAdmin)
	u, _ := url.Parse(e.srv.URL + "/admin/")
	cookies := o.client.Jar.Cookies(u)
	if len(cookies) != 1 {
		t.Fatalf("cookies = %v", cookies)
	}
	value := cookies[0].Value

	tampered := e.operator()
	last := value[len(value)-1]
	swap := byte('A')
	if last == 'A' {
		swap = 'B'
	}
	tampered.client.Jar.SetCookies(u, []*http.Cookie{{Name: cookies[0].Name, Value: value[:len(value)-1] + string(swap), Path: "/admin/"}})
	if p := tampered.do("GET", "/admin/person?q=jane%40example.com", nil); p.status != http.StatusUnauthorized || strings.Contains(p.body, "jane@") || !strings.Contains(p.body, `name="key"`) {
		t.Errorf("a tampered cookie: %d; want 401 and the sign-in form", p.status)
	}
	csrf := o.csrf()
	if p := tampered.do("POST", "/admin/opt-out", url.Values{"csrf": {csrf}, "consent": {"jane@example.com#newsletter:email"}}); p.status < 400 {
		t.Errorf("an opt-out with a tampered cookie = %d", p.status)
	}

	e.con.Now = func() time.Time { return time.Now().Add(console.SessionTTL + time.Minute) }
	if p := o.do("GET", "/admin/person?q=jane%40example.com", nil); p.status != http.StatusUnauthorized || strings.Contains(p.body, "jane@") || !strings.Contains(p.body, `name="key"`) {
		t.Errorf("an expired session: %d; want 401 and the sign-in form", p.status)
	}
	if p := o.do("POST", "/admin/opt-out", url.Values{"csrf": {csrf}, "consent": {"jane@example.com#newsletter:email"}}); p.status < 400 {
		t.Errorf("an opt-out in an expired session = %d", p.status)
	}
	if c := e.consent("jane@example.com#newsletter:email"); c.Status != consentd.OptedIn {
		t.Errorf("a refused opt-out changed the consent: %s", c.Status)
	}
}

// TestSignInRateLimit: after ten wrong keys from one address, even a good
// key waits (429 with Retry-After); good keys before that never counted.
func TestSignInRateLimit(t *testing.T) {
	e := newEnv(t)
	o := e.operator()
	for i := 0; i < 12; i++ {
		o.signIn(consentd.RoleRead) // good keys use no attempts
	}
	for i := 0; i < 10; i++ {
		if p := o.do("POST", "/admin/sign-in", url.Values{"key": {"cdk_wrong"}}); p.status != http.StatusUnauthorized {
			t.Fatalf("wrong key %d = %d; want 401", i+1, p.status)
		}
	}
	p := o.do("POST", "/admin/sign-in", url.Values{"key": {e.keys[consentd.RoleAdmin]}})
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" || !strings.Contains(p.body, "Too many failed sign-ins") || p.header.Get("Set-Cookie") != "" {
		t.Errorf("after ten wrong keys, a good one = %d %q; want 429 with Retry-After and no session", p.status, p.header.Get("Retry-After"))
	}
	e.con.Now = func() time.Time { return time.Now().Add(7 * time.Second) }
	o.signIn(consentd.RoleAdmin) // one attempt back after 6 s
}
