package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/automation"
	"github.com/consentd/consentd/internal/mail"
	"github.com/consentd/consentd/internal/mail/mailtest"
	"github.com/consentd/consentd/internal/signedlink"
)

// suppressions reads the workspace's suppressions through the API.
func (e *env) suppressions() []consentd.Suppression {
	e.t.Helper()
	st, b := e.api("GET", "/v1/suppressions", "")
	var l struct {
		Suppressions []consentd.Suppression `json:"suppressions"`
	}
	if st != 200 || json.Unmarshal(b, &l) != nil {
		e.t.Fatalf("GET /v1/suppressions = %d %s", st, b)
	}
	return l.Suppressions
}

// requests reads the workspace's data-subject requests through the API.
func (e *env) requests() []consentd.Request {
	e.t.Helper()
	st, b := e.api("GET", "/v1/requests", "")
	var l struct {
		Requests []consentd.Request `json:"requests"`
	}
	if st != 200 || json.Unmarshal(b, &l) != nil {
		e.t.Fatalf("GET /v1/requests = %d %s", st, b)
	}
	return l.Requests
}

// jobs reads every job of the workspace through the API.
func (e *env) jobs() []consentd.Job {
	e.t.Helper()
	st, b := e.api("GET", "/v1/jobs?state=all&limit=1000", "")
	var l struct {
		Jobs []consentd.Job `json:"jobs"`
	}
	if st != 200 || json.Unmarshal(b, &l) != nil {
		e.t.Fatalf("GET /v1/jobs = %d %s", st, b)
	}
	return l.Jobs
}

// TestPersonHistory: under each consent, its log entries as
// GET /v1/consents/{id}/history answers them: entry number, status,
// source and actor, the console's own opt-out among them.
func TestPersonHistory(t *testing.T) {
	e := newEnv(t)
	const id = "jane@example.com#newsletter:email"
	agent := e.operator()
	agent.signIn(consentd.RoleAgent)
	agent.do("POST", "/admin/opt-out", url.Values{"csrf": {agent.csrf()}, "consent": {id}, "q": {"jane@example.com"}})

	st, b := e.api("GET", "/v1/consents/"+url.PathEscape(id)+"/history", "")
	var h struct {
		Entries []struct {
			Seq   int64           `json:"seq"`
			Entry json.RawMessage `json:"entry"`
		} `json:"entries"`
	}
	if st != 200 || json.Unmarshal(b, &h) != nil || len(h.Entries) != 2 {
		t.Fatalf("the API's history = %d %s", st, b)
	}
	p := agent.do("GET", "/admin/person?q=jane%40example.com", nil)
	if !strings.Contains(p.body, "<details><summary>History of Newsletter by email: 2 log entries</summary>") {
		t.Fatalf("no history of the newsletter:\n%s", p.body)
	}
	// Each entry by its number, and its actor: a key by its name and role.
	st, b = e.api("GET", "/v1/keys", "")
	var kl struct {
		Keys []consentd.APIKey `json:"keys"`
	}
	if st != 200 || json.Unmarshal(b, &kl) != nil {
		t.Fatalf("GET /v1/keys = %d %s", st, b)
	}
	keys := kl.Keys
	for _, en := range h.Entries {
		var x struct {
			Actor string `json:"actor"`
		}
		json.Unmarshal(en.Entry, &x)
		for _, k := range keys {
			if x.Actor == "key:"+k.ID {
				x.Actor = "key " + k.Name + " (" + string(k.Role) + ")"
			}
		}
		row := fmt.Sprintf(`<td data-label="Log entry">%d</td>`, en.Seq)
		if !strings.Contains(p.body, row) || !strings.Contains(p.body, `<td data-label="Actor">`+x.Actor+`</td>`) {
			t.Errorf("the page lacks entry %d by %s", en.Seq, x.Actor)
		}
	}
	if !strings.Contains(p.body, `<td data-label="Actor">key agent (agent)</td>`) {
		t.Errorf("the console's opt-out is not shown as the agent key's")
	}
	for _, want := range []string{`<td data-label="Source">agent (console)</td>`, `<td data-label="Source">form (signup)</td>`, `<td data-label="What">changed</td>`,
		"History of Partner offers by email: 1 log entry</summary>"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the history lacks %q", want)
		}
	}
}

// TestSuppressAndLift: an agent suppresses from the person page, as
// POST /v1/suppressions would; an admin lifts it, as
// DELETE /v1/suppressions/{id} would. Bad input answers 400 and changes
// nothing; a role the API refuses is refused.
func TestSuppressAndLift(t *testing.T) {
	e := newEnv(t)
	agent, reader, admin := e.operator(), e.operator(), e.operator()
	agent.signIn(consentd.RoleAgent)
	reader.signIn(consentd.RoleRead)
	admin.signIn(consentd.RoleAdmin)
	form := func(o *operator, change func(url.Values)) url.Values {
		f := url.Values{"csrf": {o.csrf()}, "q": {"jane@example.com"}, "contact_point": {"jane@example.com"}, "kind": {"email"},
			"reason": {"complaint"}, "channel": {"email"}, "note": {"called the help desk"}}
		if change != nil {
			change(f)
		}
		return f
	}
	before := len(e.suppressions())
	for _, c := range []struct {
		name   string
		o      *operator
		change func(url.Values)
		want   int
	}{
		{"no CSRF token", agent, func(f url.Values) { f.Del("csrf") }, http.StatusForbidden},
		{"a read key", reader, nil, http.StatusForbidden},
		{"an unknown reason", agent, func(f url.Values) { f.Set("reason", "bored") }, http.StatusBadRequest},
		{"erasure", agent, func(f url.Values) { f.Set("reason", "erased") }, http.StatusBadRequest},
		{"no reason", agent, func(f url.Values) { f.Del("reason") }, http.StatusBadRequest},
		{"a bad channel", agent, func(f url.Values) { f.Set("channel", "E Mail!") }, http.StatusBadRequest},
		{"no contact point", agent, func(f url.Values) { f.Del("contact_point") }, http.StatusBadRequest},
		{"a bad contact point", agent, func(f url.Values) { f.Set("contact_point", "jane-at-example") }, http.StatusBadRequest},
		{"a note too long", agent, func(f url.Values) { f.Set("note", strings.Repeat("x", 2001)) }, http.StatusBadRequest},
	} {
		if p := c.o.do("POST", "/admin/suppress", form(c.o, c.change)); p.status != c.want {
			t.Errorf("%s: %d; want %d\n%s", c.name, p.status, c.want, p.body)
		}
	}
	if n := len(e.suppressions()); n != before {
		t.Fatalf("refused suppressions added %d", n-before)
	}

	p := agent.do("POST", "/admin/suppress", form(agent, nil))
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/admin/person?done=suppressed&q=jane%40example.com" {
		t.Fatalf("suppress = %d %q\n%s", p.status, p.header.Get("Location"), p.body)
	}
	var sup consentd.Suppression
	for _, s := range e.suppressions() {
		if s.ContactPoint == "jane@example.com" {
			sup = s
		}
	}
	if sup.Reason != consentd.SuppressComplaint || sup.Channel != "email" || sup.Note != "called the help desk" {
		t.Fatalf("the API reads %+v; want jane's complaint on email", sup)
	}
	pg := agent.do("GET", p.header.Get("Location"), nil)
	for _, want := range []string{"Suppressed. The decisions below", `<td data-label="Reason">complaint</td>`, "will not send, because the contact point is suppressed"} {
		if !strings.Contains(pg.body, want) {
			t.Errorf("the page after suppressing lacks %q", want)
		}
	}
	if strings.Contains(pg.body, "/admin/lift-suppression") || !strings.Contains(pg.body, "Lifting a suppression needs an admin key.") {
		t.Errorf("an agent is offered to lift a suppression, or not told who may")
	}

	lift := func(o *operator, id string) page {
		return o.do("POST", "/admin/lift-suppression", url.Values{"csrf": {o.csrf()}, "q": {"jane@example.com"}, "suppression": {id}})
	}
	if p := lift(agent, sup.ID); p.status != http.StatusForbidden {
		t.Errorf("an agent lifts: %d; want 403", p.status)
	}
	if p := lift(admin, ""); p.status != http.StatusBadRequest {
		t.Errorf("lift nothing: %d; want 400", p.status)
	}
	if p := lift(admin, "sup_nope"); p.status != http.StatusNotFound {
		t.Errorf("lift an unknown suppression: %d; want 404", p.status)
	}
	if n := len(e.suppressions()); n != before+1 {
		t.Fatalf("refused lifts changed the suppressions: %d", n-before)
	}
	if !strings.Contains(admin.do("GET", "/admin/person?q=jane%40example.com", nil).body, `name="suppression" value="`+sup.ID+`"`) {
		t.Errorf("an admin is not offered to lift the suppression")
	}
	p = lift(admin, sup.ID)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/admin/person?done=lifted&q=jane%40example.com" {
		t.Fatalf("lift = %d %q", p.status, p.header.Get("Location"))
	}
	if n := len(e.suppressions()); n != before {
		t.Errorf("after the lift the API lists %d suppressions; want %d", n, before)
	}
	pg = admin.do("GET", p.header.Get("Location"), nil)
	if !strings.Contains(pg.body, "Suppression lifted.") || !strings.Contains(pg.body, "will send, because they opted in") {
		t.Errorf("the page after the lift:\n%s", pg.body)
	}
}

// TestFileRequest: a writer starts a data-subject request for a contact
// point or a party, as POST /v1/requests would: due by its regulation,
// shown after, with the queues screen a link away. Bad input answers 400
// and files nothing; an agent or read key is refused.
func TestFileRequest(t *testing.T) {
	e := newEnv(t)
	writer, agent := e.operator(), e.operator()
	writer.signIn(consentd.RoleWrite)
	agent.signIn(consentd.RoleAgent)
	form := func(o *operator, change func(url.Values)) url.Values {
		f := url.Values{"csrf": {o.csrf()}, "q": {"jane@example.com"}, "contact_point": {"jane@example.com"}, "kind": {"email"},
			"type": {"access"}, "regulation": {"ccpa"}, "reference": {"T-42"}, "received_on": {"2026-11-30"}}
		if change != nil {
			change(f)
		}
		return f
	}
	for _, c := range []struct {
		name   string
		o      *operator
		change func(url.Values)
		want   int
	}{
		{"an agent", agent, nil, http.StatusForbidden},
		{"an unknown type", writer, func(f url.Values) { f.Set("type", "forget") }, http.StatusBadRequest},
		{"no regulation", writer, func(f url.Values) { f.Del("regulation") }, http.StatusBadRequest},
		{"an unknown regulation", writer, func(f url.Values) { f.Set("regulation", "lgpd") }, http.StatusBadRequest},
		{"no subject", writer, func(f url.Values) { f.Del("contact_point"); f.Del("kind") }, http.StatusBadRequest},
		{"an unknown party", writer, func(f url.Values) { f.Del("contact_point"); f.Del("kind"); f.Set("party_id", "p-9") }, http.StatusBadRequest},
		{"a bad day", writer, func(f url.Values) { f.Set("received_on", "30/11/2026") }, http.StatusBadRequest},
		{"a day to come", writer, func(f url.Values) { f.Set("received_on", time.Now().AddDate(0, 0, 3).Format(time.DateOnly)) }, http.StatusBadRequest},
	} {
		if p := c.o.do("POST", "/admin/request", form(c.o, c.change)); p.status != c.want {
			t.Errorf("%s: %d; want %d\n%s", c.name, p.status, c.want, p.body)
		}
	}
	if rs := e.requests(); len(rs) != 0 {
		t.Fatalf("refused requests filed %d", len(rs))
	}

	p := writer.do("POST", "/admin/request", form(writer, nil))
	loc, _ := url.Parse(p.header.Get("Location"))
	if p.status != http.StatusSeeOther || loc == nil || loc.Query().Get("done") != "request" {
		t.Fatalf("file = %d %q\n%s", p.status, p.header.Get("Location"), p.body)
	}
	rs := e.requests()
	if len(rs) != 1 {
		t.Fatalf("the API lists %d requests; want 1", len(rs))
	}
	r := rs[0]
	received := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	if r.Type != "access" || r.Regulation != "ccpa" || r.Reference != "T-42" || !r.ReceivedAt.Equal(received) || !r.DueAt.Equal(consentd.DueDate("ccpa", received)) {
		t.Errorf("the API reads %+v; want an access request under CCPA received on 30 November", r)
	}
	page := writer.do("GET", loc.String(), nil)
	for _, want := range []string{"Data-subject request <strong>" + r.ID + "</strong> filed: access under CCPA, due 2027-01-14", `<a href="/admin/queues">The queues screen</a>`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the page after filing lacks %q:\n%s", want, page.body)
		}
	}
	if q := writer.do("GET", "/admin/queues", nil); !strings.Contains(q.body, r.ID) {
		t.Errorf("the queues screen does not list %s", r.ID)
	}

	// A party's request, from the party's page.
	if !strings.Contains(writer.do("GET", "/admin/person?q=p-1", nil).body, `name="party_id" value="p-1"`) {
		t.Errorf("the party page has no request form for the party")
	}
	p = writer.do("POST", "/admin/request", url.Values{"csrf": {writer.csrf()}, "q": {"p-1"}, "party_id": {"p-1"}, "type": {"access"}, "regulation": {"gdpr"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("file for a party = %d\n%s", p.status, p.body)
	}
	if rs := e.requests(); len(rs) != 2 || (rs[0].PartyID != "p-1" && rs[1].PartyID != "p-1") {
		t.Errorf("the API reads %+v; want a request for p-1", rs)
	}
}

var prefLink = regexp.MustCompile(`/p/([A-Za-z0-9_.~-]+)`)

// linkMail gives the API server signed links and link mail through a
// real SMTP server started here, and runs link_mail and request jobs as
// serve does; it returns the keyring and the SMTP server.
func (e *env) linkMail() (*signedlink.Keyring, *mailtest.Server) {
	t := e.t
	t.Helper()
	keys, err := signedlink.LoadOrCreate(filepath.Join(t.TempDir(), "links.keys"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.a.EnableLinks(keys, e.srv.URL); err != nil {
		t.Fatal(err)
	}
	relay := mailtest.Start(t, "", "")
	sender, err := mail.Open(relay.URL(), "")
	if err != nil {
		t.Fatal(err)
	}
	e.a.EnableLinkMail(sender, "")
	runner := automation.New(e.db, e.a, slog.New(slog.DiscardHandler))
	runner.Poll = 10 * time.Millisecond
	runner.Handlers = map[string]automation.Handler{
		consentd.JobKindLinkMail: automation.HandlerFunc(e.a.RunLinkMailJob),
		consentd.JobKindRequest:  automation.HandlerFunc(e.a.RunRequestJob),
	}
	counted := e.a.JobsNudge // the env counts the runner's wake-ups
	e.a.JobsNudge = func() { counted(); runner.Nudge() }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); runner.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return keys, relay
}

// TestSendLink: a writer mails the person a signed preference link, as
// POST /v1/links:send would: a link_mail job sends it through a real SMTP
// server. Bad input answers 400 and queues nothing; an agent is refused.
func TestSendLink(t *testing.T) {
	e := newEnv(t)
	keys, relay := e.linkMail()

	writer, agent := e.operator(), e.operator()
	writer.signIn(consentd.RoleWrite)
	agent.signIn(consentd.RoleAgent)
	send := func(o *operator, cp string) page {
		return o.do("POST", "/admin/send-link", url.Values{"csrf": {o.csrf()}, "q": {"p-1"}, "contact_point": {cp}})
	}
	for _, c := range []struct {
		name string
		o    *operator
		cp   string
		want int
	}{
		{"an agent", agent, "jane@example.com", http.StatusForbidden},
		{"no address", writer, "", http.StatusBadRequest},
		{"a phone number", writer, "+14155550123", http.StatusBadRequest},
	} {
		if p := send(c.o, c.cp); p.status != c.want {
			t.Errorf("%s: %d; want %d\n%s", c.name, p.status, c.want, p.body)
		}
	}
	if js := e.jobs(); len(js) != 0 {
		t.Fatalf("refused sends queued %d jobs", len(js))
	}
	page := writer.do("GET", "/admin/person?q=p-1", nil)
	if strings.Count(page.body, `action="/admin/send-link"`) != 1 {
		t.Errorf("want one send-link form, for the e-mail address only")
	}

	p := send(writer, "jane@example.com")
	loc, _ := url.Parse(p.header.Get("Location"))
	if p.status != http.StatusSeeOther || loc == nil || loc.Query().Get("done") != "link-sent" {
		t.Fatalf("send = %d %q\n%s", p.status, p.header.Get("Location"), p.body)
	}
	msgs := relay.Wait(t, 1, 10*time.Second)
	if len(msgs) != 1 || msgs[0].To[0] != "jane@example.com" {
		t.Fatalf("the relay got %+v; want one mail to jane", msgs)
	}
	m := prefLink.FindStringSubmatch(strings.ReplaceAll(string(msgs[0].Data), "=\r\n", ""))
	if m == nil {
		t.Fatalf("no preference link in the mail:\n%s", msgs[0].Data)
	}
	if c, err := keys.Verify(m[1], time.Now()); err != nil || c.Kind != signedlink.Preferences || c.Workspace != e.ws {
		t.Errorf("the link's claims = %+v, %v", c, err)
	}
	st, b := e.api("GET", "/v1/jobs?state=all", "")
	if st != 200 || !strings.Contains(string(b), `"id":"`+loc.Query().Get("job")+`"`) || !strings.Contains(string(b), `"kind":"link_mail"`) {
		t.Errorf("the API's jobs = %d %s; want the link_mail job", st, b)
	}
	page = writer.do("GET", loc.String(), nil)
	if !strings.Contains(page.body, "A preference link is on its way by mail") {
		t.Errorf("the page after sending lacks the notice")
	}

	// An address suppressed on e-mail gets no mail: 409, no job.
	if st, b := e.api("POST", "/v1/suppressions", `{"contact_point":"jane@example.com","channel":"email","reason":"complaint"}`); st != 201 {
		t.Fatalf("suppress = %d %s", st, b)
	}
	jobs := e.jobs()
	if p := send(writer, "jane@example.com"); p.status != http.StatusConflict || !strings.Contains(p.body, "the address is suppressed (complaint, email)") {
		t.Errorf("a link to a suppressed address = %d\n%s", p.status, p.body)
	}
	if after := e.jobs(); len(after) != len(jobs) {
		t.Errorf("a refused send queued a job: %d jobs, %d before", len(after), len(jobs))
	}
	if strings.Contains(e.logs.String(), "jane@") {
		t.Errorf("the log names the address:\n%s", e.logs.String())
	}
}

// TestPersonActionsRefuseForgedForms: each action of the person page,
// posted without the session's CSRF token, or from another site, is
// refused with 403 and changes nothing the API reads.
func TestPersonActionsRefuseForgedForms(t *testing.T) {
	e := newEnv(t)
	e.linkMail()
	admin := e.operator()
	admin.signIn(consentd.RoleAdmin)
	supID := e.suppressions()[0].ID
	forms := map[string]url.Values{
		"/admin/suppress":         {"q": {"jane@example.com"}, "contact_point": {"jane@example.com"}, "kind": {"email"}, "reason": {"complaint"}},
		"/admin/lift-suppression": {"q": {"p-1"}, "suppression": {supID}},
		"/admin/request":          {"q": {"jane@example.com"}, "contact_point": {"jane@example.com"}, "type": {"withdraw"}, "regulation": {"gdpr"}},
		"/admin/send-link":        {"q": {"jane@example.com"}, "contact_point": {"jane@example.com"}},
	}
	token := admin.csrf()
	for path, f := range forms {
		if p := admin.do("POST", path, f); p.status != http.StatusForbidden {
			t.Errorf("%s without a token = %d; want 403", path, p.status)
		}
		f.Set("csrf", token)
		if p := admin.do("POST", path, f, "Sec-Fetch-Site", "cross-site"); p.status != http.StatusForbidden {
			t.Errorf("%s from another site = %d; want 403", path, p.status)
		}
	}
	if s := e.suppressions(); len(s) != 1 || s[0].ID != supID {
		t.Errorf("the suppressions changed: %+v", s)
	}
	if rs := e.requests(); len(rs) != 0 {
		t.Errorf("a request was filed: %+v", rs)
	}
	if js := e.jobs(); len(js) != 0 {
		t.Errorf("a job was queued: %d", len(js))
	}
}
