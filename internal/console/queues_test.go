package console_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/webhook"
)

// queueFixture fills env's workspace with four pending requests (early,
// half-way, late and overdue), a failed and a retrying job, and two
// webhooks behind the log, one of them disabled. It returns the failed
// job's id and the enabled webhook's lag.
func queueFixture(t *testing.T, e *env) (failedJob string, lag int64) {
	t.Helper()
	ctx := t.Context()
	for _, wh := range []*consentd.Webhook{
		{ID: "wh-crm", URL: "http://127.0.0.1:9/crm", Secret: webhook.NewSecret()},
		{ID: "wh-old", URL: "http://127.0.0.1:9/old", Secret: webhook.NewSecret(), Disabled: true, DisabledReason: "the endpoint answered 410 Gone"},
	} {
		if err := e.db.PutWebhook(ctx, e.ws, wh, true); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	for _, in := range []consentd.RequestInput{
		{Type: consentd.RequestWithdraw, Regulation: consentd.RegulationCCPA, PartyID: "p-1", ReceivedAt: now.Add(-2*24*time.Hour + time.Hour)},  // 43 days and an hour of 45 left
		{Type: consentd.RequestAccess, Regulation: consentd.RegulationCCPA, PartyID: "p-1", ReceivedAt: now.Add(-20*24*time.Hour + time.Hour)},   // 25 of 45
		{Type: consentd.RequestErase, Regulation: consentd.RegulationCCPA, PartyID: "p-1", ReceivedAt: now.Add(-40*24*time.Hour + time.Hour)},    // 5 of 45
		{Type: consentd.RequestWithdraw, Regulation: consentd.RegulationCCPA, PartyID: "p-1", ReceivedAt: now.Add(-50*24*time.Hour + time.Hour)}, // overdue by 5 days less an hour: 5 days, rounded up
	} {
		if _, err := e.db.CreateRequest(ctx, e.ws, in, "test"); err != nil {
			t.Fatal(err)
		}
	}
	// Each request queued its job: run two of them and make one fail for
	// good and the other fail once, to run again later.
	jobs, err := e.db.ClaimJobs(ctx, time.Minute, 2)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("claim jobs = %d, %v", len(jobs), err)
	}
	if err := e.db.FailJob(ctx, e.ws, jobs[0].ID, "mail server refused the connection", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.FailJob(ctx, e.ws, jobs[1].ID, "timed out", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	size, err := e.db.LogSize(ctx, e.ws)
	if err != nil {
		t.Fatal(err)
	}
	wh, err := e.db.Webhook(ctx, e.ws, "wh-crm")
	if err != nil {
		t.Fatal(err)
	}
	if lag = size - wh.Position; lag <= 0 {
		t.Fatalf("the webhook is not behind the log: size %d, position %d", size, wh.Position)
	}
	return jobs[0].ID, lag
}

var styleElement = regexp.MustCompile(`(?s)<style>(.*?)</style>`)

func TestQueues(t *testing.T) {
	e := newEnv(t)
	failed, lag := queueFixture(t, e)

	if p := e.operator().do("GET", "/admin/queues", nil); p.status != http.StatusUnauthorized || strings.Contains(p.body, failed) {
		t.Errorf("signed out, the queues = %d", p.status)
	}

	o := e.operator()
	o.signIn(consentd.RoleRead)
	p := o.do("GET", "/admin/queues", nil)
	if p.status != 200 {
		t.Fatalf("queues = %d:\n%s", p.status, p.body)
	}
	for _, want := range []string{
		`<a href="/admin/queues">Queues</a>`,
		"<strong>4</strong> pending", `class="overdue"><strong>1</strong> overdue`,
		`class="due-early">43 days left`,
		`class="due-half">25 days left`,
		`class="due-late">5 days left`,
		`class="overdue">overdue by 5 days`,
		"withdraw", "erase", "access", "CCPA",
		// the jobs: one failed, with its button (disabled for a read key),
		// one retrying by itself
		failed, "mail server refused the connection", `class="no">failed`, "1 of 20 attempts",
		"timed out", "retrying", "retries by itself",
		`aria-label="Retry job ` + failed + `"`,
		// the webhooks
		"wh-crm", "http://127.0.0.1:9/crm", "active", strconv.FormatInt(lag, 10) + " behind",
		"wh-old", "disabled: the endpoint answered 410 Gone", "none kept",
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the queues page lacks %q", want)
		}
	}
	if !regexp.MustCompile(`<button type="submit" disabled aria-label="Retry job `).MatchString(p.body) {
		t.Errorf("a read key's Retry button is not disabled")
	}
	// The overdue request sorts first: it is due soonest.
	if i, j := strings.Index(p.body, "overdue by 5 days"), strings.Index(p.body, "43 days left"); i < 0 || j < i {
		t.Errorf("the requests are not by due date")
	}
	// Every style element on the page is allowed by its hash, and no
	// script is.
	csp := p.header.Get("Content-Security-Policy")
	styles := styleElement.FindAllStringSubmatch(p.body, -1)
	if len(styles) != 2 || strings.Contains(csp, "script-src") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("%d style elements; CSP %q", len(styles), csp)
	}
	for _, m := range styles {
		sum := sha256.Sum256([]byte(m[1]))
		if !strings.Contains(csp, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") {
			t.Errorf("the CSP %q does not allow a style element of the page", csp)
		}
	}
	// The other pages keep the console's CSP.
	if home := o.do("GET", "/admin/", nil); strings.Count(home.header.Get("Content-Security-Policy"), "sha256-") != 1 {
		t.Errorf("the home page's CSP = %q", home.header.Get("Content-Security-Policy"))
	}
}

// jobState reads a job's state and attempts through the API.
func (e *env) jobState(id string) (consentd.JobState, int) {
	e.t.Helper()
	st, b := e.api("GET", "/v1/jobs/"+url.PathEscape(id), "")
	var j consentd.Job
	if st != 200 || json.Unmarshal(b, &j) != nil {
		e.t.Fatalf("GET job = %d %s", st, b)
	}
	return j.State, j.Attempts
}

func TestRetryJob(t *testing.T) {
	e := newEnv(t)
	failed, _ := queueFixture(t, e)
	form := func(token string) url.Values { return url.Values{"csrf": {token}, "job": {failed}} }

	// A read key and an agent key may not retry (the API's writers may).
	for _, role := range []consentd.Role{consentd.RoleRead, consentd.RoleAgent} {
		o := e.operator()
		o.signIn(role)
		if p := o.do("POST", "/admin/retry-job", form(o.csrf())); p.status != http.StatusForbidden {
			t.Errorf("retry with a %s key = %d; want 403", role, p.status)
		}
	}
	if st, _ := e.jobState(failed); st != consentd.JobFailed {
		t.Fatalf("a refused retry changed the job: %s", st)
	}

	o := e.operator()
	o.signIn(consentd.RoleWrite)
	if page := o.do("GET", "/admin/queues", nil); strings.Contains(page.body, `disabled aria-label="Retry job`) || !strings.Contains(page.body, `aria-label="Retry job`) {
		t.Errorf("a write key's Retry button is disabled")
	}
	if p := o.do("POST", "/admin/retry-job", url.Values{"job": {failed}}); p.status != http.StatusForbidden {
		t.Errorf("retry without a CSRF token = %d; want 403", p.status)
	}
	if p := o.do("POST", "/admin/retry-job", form(o.csrf()), "Sec-Fetch-Site", "cross-site"); p.status != http.StatusForbidden {
		t.Errorf("a cross-site retry = %d; want 403", p.status)
	}
	if st, _ := e.jobState(failed); st != consentd.JobFailed {
		t.Fatalf("a refused retry changed the job: %s", st)
	}

	nudges := e.nudges.Load()
	p := o.do("POST", "/admin/retry-job", form(o.csrf()))
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/admin/queues?done=retried" {
		t.Fatalf("retry = %d %q %s", p.status, p.header.Get("Location"), p.body)
	}
	if st, attempts := e.jobState(failed); st != consentd.JobQueued || attempts != 0 {
		t.Errorf("after the console's retry the API reads %s with %d attempts; want queued with 0", st, attempts)
	}
	// The job runner is woken, as the API's retry wakes it, to run the job now.
	if n := e.nudges.Load(); n != nudges+1 {
		t.Errorf("the console's retry woke the job runner %d times; want once", n-nudges)
	}
	page := o.do("GET", p.header.Get("Location"), nil)
	if !strings.Contains(page.body, "queued again by a retry") {
		t.Errorf("the retried job is not shown queued again by a retry")
	}
	if !strings.Contains(page.body, "The job is queued again") || strings.Contains(page.body, `aria-label="Retry job `+failed+`"`) {
		t.Errorf("the page after the retry:\n%s", page.body)
	}
	// Pressing again: the job is no longer failed.
	if p := o.do("POST", "/admin/retry-job", form(o.csrf())); p.status != http.StatusConflict {
		t.Errorf("a second retry = %d; want 409", p.status)
	}
	if p := o.do("POST", "/admin/retry-job", url.Values{"csrf": {o.csrf()}, "job": {"job_nope"}}); p.status != http.StatusNotFound {
		t.Errorf("retry of no job = %d; want 404", p.status)
	}
	if p := o.do("POST", "/admin/retry-job", url.Values{"csrf": {o.csrf()}}); p.status != http.StatusBadRequest {
		t.Errorf("retry without a job = %d; want 400", p.status)
	}
}
