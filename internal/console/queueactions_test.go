package console_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/webhook"
)

// rejectsCSV is an import of five rows, three of them bad: a contact point
// that is not one, an unknown purpose and an unknown status.
const rejectsCSV = `contact_point,channel,purpose,topic,status,captured_at,source_type,source_name,source_details,party_id,jurisdiction,reason
ann@example.com,email,newsletter,,opted_in,2024-03-14T09:30:00Z,form,signup,,,,
not an address,email,newsletter,,opted_in,2024-03-14T09:30:00Z,,,,,,
bob@example.com,email,nope,,opted_in,2024-03-14T09:30:00Z,,,,,,
bob@example.com,email,newsletter,,opted_out,2024-03-15T09:30:00Z,,,,,,
carl@example.com,email,newsletter,,maybe,2024-03-15T09:30:00Z,,,,,,
`

// moreQueues fills env's workspace with what the queues show beyond
// requests and jobs: two webhooks whose endpoints (httptest servers) fail,
// one with 500 (failing, retried later) and one with 410 Gone (disabled),
// delivered to by the real deliverer; an import with rejects, run by the
// API; and two SMS replies kept for review. It returns the import's id and
// the replies' ids.
func moreQueues(t *testing.T, e *env) (importID string, replies []string) {
	t.Helper()
	ctx := t.Context()
	for _, c := range []struct {
		id     string
		status int
	}{{"wh-fail", http.StatusInternalServerError}, {"wh-gone", http.StatusGone}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(c.status) }))
		t.Cleanup(srv.Close)
		if err := e.db.PutWebhook(ctx, e.ws, &consentd.Webhook{ID: c.id, URL: srv.URL + "/hook", Secret: webhook.NewSecret()}, false); err != nil {
			t.Fatal(err)
		}
	}
	// A webhook receives what is logged after it was made: a consent.
	if st, b := e.api("POST", "/v1/consents", `{"contact_point":"dana@example.com","channel_type":"newsletter:email","status":"opted_in","captured_at":"2026-01-03T03:04:05Z","source":{"type":"form"}}`); st >= 300 {
		t.Fatalf("POST consent = %d %s", st, b)
	}
	// The deliverer tries that event once for each webhook, and waits an
	// hour before the next try.
	d := webhook.New(e.db, true, slog.New(slog.DiscardHandler))
	d.Backoff = []time.Duration{time.Hour}
	dctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { d.Run(dctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		fail, err1 := e.db.Webhook(ctx, e.ws, "wh-fail")
		gone, err2 := e.db.Webhook(ctx, e.ws, "wh-gone")
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if fail.Failures > 0 && gone.Disabled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deliverer did not fail: %+v, %+v", fail, gone)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done

	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/imports?format=native&name=crm.csv", strings.NewReader(rejectsCSV))
	req.Header.Set("Authorization", "Bearer "+e.keys[consentd.RoleAdmin])
	req.Header.Set("Content-Type", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var im consentd.Import
	err = json.NewDecoder(resp.Body).Decode(&im)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /v1/imports = %d, %v", resp.StatusCode, err)
	}
	if n, err := e.a.ProcessImports(ctx); n != 1 || err != nil {
		t.Fatalf("ProcessImports() = %d, %v", n, err)
	}

	for i, text := range []string{"Who is this? Please call me tomorrow", "no more of these please"} {
		st, b := e.api("POST", "/v1/inbound/sms", `{"from":"+1415555019`+strconv.Itoa(i)+`","text":"`+text+`","provider":"twilio","message_id":"SM-`+strconv.Itoa(i)+`"}`)
		var res consentd.InboundResult
		if st != 200 || json.Unmarshal(b, &res) != nil || res.Action != consentd.InboundReview {
			t.Fatalf("POST /v1/inbound/sms = %d %s", st, b)
		}
		replies = append(replies, res.Message.ID)
	}
	return im.ID, replies
}

// webhookState reads a webhook through the API.
func (e *env) webhookState(id string) consentd.Webhook {
	e.t.Helper()
	st, b := e.api("GET", "/v1/webhooks/"+url.PathEscape(id), "")
	var w consentd.Webhook
	if st != 200 || json.Unmarshal(b, &w) != nil {
		e.t.Fatalf("GET webhook = %d %s", st, b)
	}
	return w
}

// reply reads an SMS reply through the API's list of every reply.
func (e *env) reply(id string) consentd.InboundMessage {
	e.t.Helper()
	st, b := e.api("GET", "/v1/inbound/sms?state=all", "")
	var l struct{ Messages []consentd.InboundMessage }
	if st != 200 || json.Unmarshal(b, &l) != nil {
		e.t.Fatalf("GET /v1/inbound/sms = %d %s", st, b)
	}
	for _, m := range l.Messages {
		if m.ID == id {
			return m
		}
	}
	e.t.Fatalf("the API lists no reply %s", id)
	return consentd.InboundMessage{}
}

func TestQueuesWebhooksImportsReplies(t *testing.T) {
	e := newEnv(t)
	importID, replies := moreQueues(t, e)
	size, err := e.db.LogSize(t.Context(), e.ws)
	if err != nil {
		t.Fatal(err)
	}
	o := e.operator()
	o.signIn(consentd.RoleRead)
	p := o.do("GET", "/admin/queues", nil)
	if p.status != 200 {
		t.Fatalf("queues = %d:\n%s", p.status, p.body)
	}
	for _, want := range []string{
		// webhooks: the failing one, with its lag (the whole log) and error
		"wh-fail", `class="no">failing <span class="note">(1 failed attempt at the next event; next try `, "the endpoint answered 500 Internal Server Error",
		// the disabled one, with its Resume button, disabled for a read key
		"wh-gone", `class="no">disabled: the endpoint answered 410 Gone`, "the endpoint answered 410 Gone <span",
		`disabled aria-label="Resume webhook wh-gone"`, "sign in with an admin key to resume one",
		// the import: state, progress, counts and the rejects file
		importID, "crm.csv", "succeeded", "all 5 rows done", "2 created", "3 rejected",
		`href="/admin/import-rejects?import=` + importID + `"`, "Download 3 rejected rows (CSV)",
		// the replies waiting for review
		"&#43;14155550190", "Who is this? Please call me tomorrow", "&#43;14155550191", "no more of these please",
		`value="dismiss" disabled`, `value="opt_out" class="secondary" disabled`, `<label for="note-` + replies[0] + `">`,
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the queues page lacks %q", want)
		}
	}
	// The lag is the gauge's: the log size less the webhook's position.
	if w := e.webhookState("wh-fail"); w.Lag(size) < 1 || !strings.Contains(p.body, `<td data-label="Lag">`+strconv.FormatInt(w.Lag(size), 10)+" behind") {
		t.Errorf("wh-fail: position %d of %d, not shown %d behind", w.Position, size, w.Lag(size))
	}
}

func TestResumeWebhook(t *testing.T) {
	e := newEnv(t)
	moreQueues(t, e)
	form := func(token, id string) url.Values { return url.Values{"csrf": {token}, "webhook": {id}} }

	// Signed out, no action is taken: the sign-in page answers.
	for _, path := range []string{"/admin/resume-webhook", "/admin/resolve-sms", "/admin/retry-job"} {
		if p := e.operator().do("POST", path, url.Values{"webhook": {"wh-gone"}}); p.status != http.StatusUnauthorized {
			t.Errorf("signed out, POST %s = %d; want 401", path, p.status)
		}
	}
	// Changing a webhook is an admin's act, as PATCH /v1/webhooks/{id} is.
	for _, role := range []consentd.Role{consentd.RoleRead, consentd.RoleAgent, consentd.RoleWrite} {
		o := e.operator()
		o.signIn(role)
		if p := o.do("POST", "/admin/resume-webhook", form(o.csrf(), "wh-gone")); p.status != http.StatusForbidden {
			t.Errorf("resume with a %s key = %d; want 403", role, p.status)
		}
	}
	o := e.operator()
	o.signIn(consentd.RoleAdmin)
	for _, c := range []struct {
		name string
		form url.Values
		want int
	}{
		{"no CSRF token", url.Values{"webhook": {"wh-gone"}}, http.StatusForbidden},
		{"no webhook", form(o.csrf(), ""), http.StatusBadRequest},
		{"no such webhook", form(o.csrf(), "wh-nope"), http.StatusNotFound},
	} {
		if p := o.do("POST", "/admin/resume-webhook", c.form); p.status != c.want {
			t.Errorf("%s: resume = %d; want %d", c.name, p.status, c.want)
		}
	}
	if p := o.do("POST", "/admin/resume-webhook", form(o.csrf(), "wh-gone"), "Sec-Fetch-Site", "cross-site"); p.status != http.StatusForbidden {
		t.Errorf("a cross-site resume = %d; want 403", p.status)
	}
	if w := e.webhookState("wh-gone"); !w.Disabled {
		t.Fatalf("a refused resume enabled the webhook")
	}

	before := e.webhookState("wh-gone")
	p := o.do("POST", "/admin/resume-webhook", form(o.csrf(), "wh-gone"))
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/admin/queues?done=resumed" {
		t.Fatalf("resume = %d %q %s", p.status, p.header.Get("Location"), p.body)
	}
	if w := e.webhookState("wh-gone"); w.Disabled || w.DisabledReason != "" || w.Position != before.Position {
		t.Errorf("after the console's resume the API reads disabled %v (%q) at %d; want enabled at %d", w.Disabled, w.DisabledReason, w.Position, before.Position)
	}
	page := o.do("GET", p.header.Get("Location"), nil)
	if !strings.Contains(page.body, "The webhook is enabled again") || strings.Contains(page.body, `aria-label="Resume webhook wh-gone"`) {
		t.Errorf("the page after the resume:\n%s", page.body)
	}
}

func TestResolveSMS(t *testing.T) {
	e := newEnv(t)
	_, replies := moreQueues(t, e)
	form := func(token, id, action string) url.Values {
		return url.Values{"csrf": {token}, "reply": {id}, "action": {action}, "note": {"called back"}}
	}
	// Resolving is for writers, as POST /v1/inbound/sms/{id}:resolve is.
	for _, role := range []consentd.Role{consentd.RoleRead, consentd.RoleAgent} {
		o := e.operator()
		o.signIn(role)
		if p := o.do("POST", "/admin/resolve-sms", form(o.csrf(), replies[0], "dismiss")); p.status != http.StatusForbidden {
			t.Errorf("resolve with a %s key = %d; want 403", role, p.status)
		}
	}
	o := e.operator()
	o.signIn(consentd.RoleWrite)
	for _, c := range []struct {
		name string
		form url.Values
		want int
	}{
		{"no CSRF token", url.Values{"reply": {replies[0]}, "action": {"dismiss"}}, http.StatusForbidden},
		{"no reply", form(o.csrf(), "", "dismiss"), http.StatusBadRequest},
		{"no action", form(o.csrf(), replies[0], ""), http.StatusBadRequest},
		{"a bad action", form(o.csrf(), replies[0], "delete"), http.StatusBadRequest},
		{"a note too long", url.Values{"csrf": {o.csrf()}, "reply": {replies[0]}, "action": {"dismiss"}, "note": {strings.Repeat("x", 1001)}}, http.StatusBadRequest},
		{"no such reply", form(o.csrf(), "sms_nope", "dismiss"), http.StatusNotFound},
	} {
		if p := o.do("POST", "/admin/resolve-sms", c.form); p.status != c.want {
			t.Errorf("%s: resolve = %d; want %d", c.name, p.status, c.want)
		}
	}
	if m := e.reply(replies[0]); m.State != consentd.InboundReview {
		t.Fatalf("a refused resolution changed the reply: %s", m.State)
	}

	for i, c := range []struct{ action, done, notice string }{
		{"dismiss", "dismissed", "marked reviewed; nothing else"},
		{"opt_out", "sms-opted-out", "opted out of texts"},
	} {
		p := o.do("POST", "/admin/resolve-sms", form(o.csrf(), replies[i], c.action))
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/admin/queues?done="+c.done {
			t.Fatalf("%s = %d %q %s", c.action, p.status, p.header.Get("Location"), p.body)
		}
		m := e.reply(replies[i])
		if m.State != consentd.InboundResolved || m.Resolution != c.action || m.Note != "called back" || !strings.HasPrefix(m.ResolvedBy, "key:") {
			t.Errorf("after %s the API reads %+v", c.action, m)
		}
		if c.action == "opt_out" && m.SuppressionID == "" {
			t.Errorf("opt_out left the number without its sms_stop suppression: %+v", m)
		}
		page := o.do("GET", p.header.Get("Location"), nil)
		if !strings.Contains(page.body, c.notice) || strings.Contains(page.body, `name="reply" value="`+replies[i]+`"`) {
			t.Errorf("the page after %s:\n%s", c.action, page.body)
		}
		// Pressing again: the reply is no longer waiting.
		if p := o.do("POST", "/admin/resolve-sms", form(o.csrf(), replies[i], c.action)); p.status != http.StatusConflict {
			t.Errorf("a second %s = %d; want 409", c.action, p.status)
		}
	}
}

func TestImportRejects(t *testing.T) {
	e := newEnv(t)
	importID, _ := moreQueues(t, e)
	st, want := e.api("GET", "/v1/imports/"+importID+"/rejects", "")
	if st != 200 || strings.Count(string(want), "\n") != 4 {
		t.Fatalf("the API's rejects = %d:\n%s", st, want)
	}
	if p := e.operator().do("GET", "/admin/import-rejects?import="+importID, nil); p.status != http.StatusUnauthorized || strings.Contains(p.body, "unknown") {
		t.Errorf("signed out, the rejects = %d", p.status)
	}
	// Every role that reads, as GET /v1/imports/{id}/rejects.
	for _, role := range []consentd.Role{consentd.RoleRead, consentd.RoleAgent, consentd.RoleWrite, consentd.RoleAdmin} {
		o := e.operator()
		o.signIn(role)
		p := o.do("GET", "/admin/import-rejects?import="+url.QueryEscape(importID), nil)
		if p.status != 200 || p.body != string(want) || p.header.Get("Content-Type") != "text/csv; charset=utf-8" ||
			p.header.Get("Content-Disposition") != `attachment; filename="`+importID+`-rejects.csv"` {
			t.Errorf("%s: rejects = %d %q %q:\n%s", role, p.status, p.header.Get("Content-Type"), p.header.Get("Content-Disposition"), p.body)
		}
	}
	o := e.operator()
	o.signIn(consentd.RoleRead)
	for q, want := range map[string]int{"": http.StatusBadRequest, "?import=": http.StatusBadRequest, "?import=imp_nope": http.StatusNotFound} {
		if p := o.do("GET", "/admin/import-rejects"+q, nil); p.status != want || p.header.Get("Content-Disposition") != "" {
			t.Errorf("rejects%s = %d (%q); want %d, no download", q, p.status, p.header.Get("Content-Disposition"), want)
		}
	}
	// The API's list has the import, as the screen shows it.
	st, b := e.api("GET", "/v1/imports", "")
	var l struct{ Imports []consentd.Import }
	if st != 200 || json.Unmarshal(b, &l) != nil || len(l.Imports) != 1 || l.Imports[0].ID != importID || l.Imports[0].Rejected != 3 {
		t.Errorf("GET /v1/imports = %d %s", st, b)
	}
}
