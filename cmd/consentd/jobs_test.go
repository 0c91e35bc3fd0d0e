package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd/internal/mail/mailtest"
)

// runJobs runs `consentd jobs ...` in this process.
func runJobs(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: ledgerTestEnv(nil)}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code = m.Run(ctx, append([]string{"jobs"}, args...))
	return code, out.String(), errb.String()
}

// startJobServer runs `consentd serve` in this process with fast job
// retries (1ms backoff, 2 attempts).
func startJobServer(t *testing.T, dir string, extra ...string) *inProcessServer {
	t.Helper()
	return startInProcessServer(t, dir, append([]string{"--job-retry-base", "1ms", "--job-retry-cap", "2ms", "--job-max-attempts", "2"}, extra...)...)
}

type cliJob struct {
	ID        string          `json:"id"`
	RuleID    string          `json:"rule_id"`
	State     string          `json:"state"`
	Attempts  int             `json:"attempts"`
	LastError string          `json:"last_error"`
	Input     json.RawMessage `json:"input"`
}

// waitJobDone polls a job until it succeeded or failed; the deadline only
// bounds a broken test.
func waitJobDone(t *testing.T, base, id string) cliJob {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var j cliJob
		if st, raw := apiCall(t, base, "GET", "/v1/jobs/"+id, nil, &j); st != 200 {
			t.Fatalf("GET /v1/jobs/%s = %d %s", id, st, raw)
		}
		if j.State == "succeeded" || j.State == "failed" {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s", id, j.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type recordAnswer struct {
	Change string `json:"change"`
	Jobs   []struct {
		ID string `json:"id"`
	} `json:"jobs"`
}

func putRecord(t *testing.T, base, typ, id string, fields map[string]any) recordAnswer {
	t.Helper()
	var a recordAnswer
	if st, raw := apiCall(t, base, "PUT", "/v1/records/"+typ+"/"+url.PathEscape(id), fields, &a); st != 200 {
		t.Fatalf("PUT record = %d %s", st, raw)
	}
	return a
}

func putRule(t *testing.T, base string, rule map[string]any) {
	t.Helper()
	if st, raw := apiCall(t, base, "PUT", "/v1/rules/"+rule["id"].(string), rule, nil); st != 200 {
		t.Fatalf("PUT rule = %d %s", st, raw)
	}
}

func emailRule(contactPoint, delay string) map[string]any {
	r := map[string]any{"id": "contact-email", "on": map[string]any{"record": "contact"}, "contact_point": contactPoint,
		"consents": []any{map[string]any{"channel_type": "newsletter:email", "status": `"opted_in"`}}}
	if delay != "" {
		r["delay"] = delay
	}
	return r
}

// TestJobsCommands: a failed job is listed by `consentd jobs list` and
// resubmitted by `consentd jobs retry --all`, offline, while the server
// runs; the server's runner then runs it. On SQLite and on PostgreSQL.
func TestJobsCommands(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testJobsCommands(t, t.TempDir()) })
	t.Run("postgres", func(t *testing.T) { testJobsCommands(t, t.TempDir(), "--database", testPostgres(t)) })
}

func testJobsCommands(t *testing.T, dir string, db ...string) {
	srv := startJobServer(t, dir, db...)
	if st, raw := apiCall(t, srv.base, "POST", "/v1/purposes", newsletterPurpose, nil); st != 201 {
		t.Fatalf("POST /v1/purposes = %d %s", st, raw)
	}
	putRule(t, srv.base, emailRule("record.Email", ""))
	a := putRecord(t, srv.base, "contact", "C-1", map[string]any{"mail": "jane@example.com"})
	if len(a.Jobs) != 1 {
		t.Fatalf("PUT record = %+v; want one job", a)
	}
	id := a.Jobs[0].ID
	if j := waitJobDone(t, srv.base, id); j.State != "failed" || j.Attempts != 2 {
		t.Fatalf("job = %+v; want failed after 2 attempts", j)
	}

	code, out, errOut := runJobs(t, append([]string{"list", "--data", dir}, db...)...)
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "contact-email") || !strings.Contains(out, "failed") ||
		!strings.Contains(out, "contact_point") || strings.Contains(out, "jane@example.com") {
		t.Fatalf("jobs list = %d\n%s\n%s\nwant the failed job with its error (and no contact point)", code, out, errOut)
	}
	code, out, _ = runJobs(t, append([]string{"list", "--data", dir, "--json", "--state", "all"}, db...)...)
	var j cliJob
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &j); code != 0 || err != nil || j.ID != id || !strings.Contains(string(j.Input), "jane@example.com") {
		t.Fatalf("jobs list --json = %d %s (%v); want the job with its input", code, out, err)
	}
	if code, out, _ := runJobs(t, append([]string{"list", "--data", dir, "--state", "succeeded"}, db...)...); code != 0 || strings.Contains(out, id) {
		t.Errorf("jobs list --state succeeded = %d\n%s\nwant no failed job", code, out)
	}
	for _, args := range [][]string{{"list", "--state", "lost"}, {"retry"}, {"retry", "--all", "job_x"}, {"list", "--workspace", "nope"}} {
		if code, _, _ := runJobs(t, append(append(args, "--data", dir), db...)...); code != exitUsage {
			t.Errorf("jobs %v = exit %d; want %d", args, code, exitUsage)
		}
	}
	if code, _, errOut := runJobs(t, append([]string{"retry", "job_nope", "--data", dir}, db...)...); code != exitFailed || !strings.Contains(errOut, "job_nope") {
		t.Errorf("jobs retry job_nope = %d %s; want exit %d", code, errOut, exitFailed)
	}

	putRule(t, srv.base, emailRule("has(record.Email) ? record.Email : record.mail", ""))
	if code, out, errOut := runJobs(t, append([]string{"retry", "--all", "--data", dir}, db...)...); code != 0 || !strings.Contains(out, "Queued 1 ") {
		t.Fatalf("jobs retry --all = %d %s %s", code, out, errOut)
	}
	if j := waitJobDone(t, srv.base, id); j.State != "succeeded" || j.Input != nil {
		t.Fatalf("retried job = %+v; want succeeded, input cleared", j)
	}
	var c struct {
		Status string `json:"status"`
	}
	if st, raw := apiCall(t, srv.base, "GET", consentPath("jane@example.com"), nil, &c); st != 200 || c.Status != "opted_in" {
		t.Fatalf("consent = %d %s; want opted_in", st, raw)
	}
	if code, _, errOut := runJobs(t, append([]string{"retry", id, "--data", dir}, db...)...); code != exitFailed || !strings.Contains(errOut, "succeeded") {
		t.Errorf("jobs retry of a succeeded job = %d %s; want exit %d", code, errOut, exitFailed)
	}
}

// TestDelayedJobSurvivesKill9: a job enqueued with a delay, the server
// killed with SIGKILL before it is due, started again: the job runs, once.
func TestDelayedJobSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the consentd binary")
	}
	bin := buildConsentd(t)
	dir := t.TempDir()
	srv := startCrashServer(t, bin, dir)
	if st, raw := apiCall(t, srv.base, "POST", "/v1/purposes", newsletterPurpose, nil); st != 201 {
		t.Fatalf("POST /v1/purposes = %d %s", st, raw)
	}
	putRule(t, srv.base, emailRule("record.Email", "3s"))
	a := putRecord(t, srv.base, "contact", "C-1", map[string]any{"Email": "jane@example.com"})
	if len(a.Jobs) != 1 {
		t.Fatalf("PUT record = %+v; want one job", a)
	}
	srv.kill(t)
	// The job is in the database, not yet run.
	code, out, errOut := runJobs(t, "list", "--data", dir, "--state", "all", "--json")
	var j cliJob
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &j); code != 0 || err != nil || j.ID != a.Jobs[0].ID {
		t.Fatalf("jobs list after kill = %d %s %s (%v)", code, out, errOut, err)
	}
	if j.State != "queued" {
		t.Skipf("the job was %s before the kill (a slow machine): nothing to restart", j.State)
	}
	srv = startCrashServer(t, bin, dir)
	if j := waitJobDone(t, srv.base, a.Jobs[0].ID); j.State != "succeeded" {
		t.Fatalf("job after restart = %+v; want succeeded", j)
	}
	var h struct {
		Entries []struct {
			Entry struct {
				Type string `json:"type"`
			} `json:"entry"`
		} `json:"entries"`
	}
	if st, raw := apiCall(t, srv.base, "GET", consentPath("jane@example.com")+"/history", nil, &h); st != 200 {
		t.Fatalf("history = %d %s", st, raw)
	}
	if len(h.Entries) != 1 || h.Entries[0].Entry.Type != "consent.changed" {
		t.Errorf("history = %+v; want one consent.changed entry", h.Entries)
	}
	if code := srv.terminate(t); code != 0 {
		t.Errorf("consentd exited %d after SIGTERM", code)
	}
	code, out, _ = runJobs(t, "list", "--data", dir, "--state", "all")
	if code != 0 || strings.Count(out, "succeeded") != 1 {
		t.Errorf("jobs list = %d\n%s\nwant one succeeded job", code, out)
	}
}

// TestQueuedWorkSurvivesKill9: confirmation mail and data-subject requests
// are jobs in the database from the moment the write that causes them
// commits. The relay refuses every mail, so the mail jobs are waiting for
// their retry when the server is killed with SIGKILL; after a restart, with
// the relay accepting, each confirmation arrives once and every request is
// carried out. On SQLite and on PostgreSQL (where the runner is also woken
// by the enqueuing commits' notifications).
func TestQueuedWorkSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the consentd binary")
	}
	bin := buildConsentd(t)
	t.Run("sqlite", func(t *testing.T) { testQueuedWorkSurvivesKill9(t, bin) })
	t.Run("postgres", func(t *testing.T) { testQueuedWorkSurvivesKill9(t, bin, "--database", testPostgres(t)) })
}

func testQueuedWorkSurvivesKill9(t *testing.T, bin string, db ...string) {
	dir := t.TempDir()
	relay := mailtest.Start(t, "", "")
	relay.Fail(1<<20, 451) // try again later, every time
	flags := append([]string{"--smtp-url", relay.URL(), "--job-retry-base", "100ms", "--job-retry-cap", "500ms", "--job-lease", "1s"}, db...)
	srv := startCrashServer(t, bin, dir, flags...)
	letters := map[string]any{"id": "letters", "name": "Letters", "type": "commercial", "double_opt_in": "always",
		"channels": map[string]any{"email": map[string]any{"enforcement": "restrictive"}}}
	if st, raw := apiCall(t, srv.base, "POST", "/v1/purposes", letters, nil); st != 201 {
		t.Fatalf("POST /v1/purposes = %d %s", st, raw)
	}
	var want []string
	for i := range 5 {
		cp := fmt.Sprintf("user%d@example.com", i)
		want = append(want, cp)
		w := map[string]any{"contact_point": cp, "purpose": "letters", "channel": "email", "status": "opted_in",
			"captured_at": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano), "source": map[string]any{"type": "form"}}
		if st, raw := apiCall(t, srv.base, "POST", "/v1/consents", w, nil); st != 201 {
			t.Fatalf("POST /v1/consents = %d %s", st, raw)
		}
	}
	var reqs []string
	for i := range 3 {
		var r struct {
			ID string `json:"id"`
		}
		body := map[string]any{"type": "withdraw", "contact_point": fmt.Sprintf("gone%d@example.com", i), "regulation": "gdpr"}
		if st, raw := apiCall(t, srv.base, "POST", "/v1/requests", body, &r); st != 201 {
			t.Fatalf("POST /v1/requests = %d %s", st, raw)
		}
		reqs = append(reqs, r.ID)
	}
	time.Sleep(200 * time.Millisecond) // a few refused attempts
	srv.kill(t)
	if n := len(relay.Messages()); n != 0 {
		t.Fatalf("the refusing relay holds %d messages", n)
	}
	// The work is in the database: listed offline.
	code, out, errOut := runJobs(t, append([]string{"list", "--data", dir, "--state", "all", "--json"}, db...)...)
	if code != 0 {
		t.Fatalf("jobs list after kill = %d %s", code, errOut)
	}
	kinds := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var j struct {
			Kind  string `json:"kind"`
			State string `json:"state"`
		}
		if err := json.Unmarshal([]byte(line), &j); err != nil {
			t.Fatalf("jobs list line %q: %v", line, err)
		}
		kinds[j.Kind]++
		if j.Kind == "confirmation_mail" && j.State != "queued" && j.State != "running" {
			t.Errorf("mail job %s after the kill; want waiting", j.State)
		}
	}
	if kinds["confirmation_mail"] != 5 || kinds["request"] != 3 {
		t.Fatalf("jobs after kill by kind = %v; want 5 confirmation_mail, 3 request", kinds)
	}

	relay.Fail(0, 0)
	srv = startCrashServer(t, bin, dir, flags...)
	relay.Wait(t, 5, 30*time.Second)
	time.Sleep(300 * time.Millisecond) // a second copy would be here by now
	var got []string
	for _, m := range relay.Messages() {
		got = append(got, m.To...)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("mail after the restart went to %v; want each of %v once", got, want)
	}
	for _, id := range reqs {
		deadline := time.Now().Add(30 * time.Second)
		for {
			var r struct {
				State string `json:"state"`
			}
			if st, raw := apiCall(t, srv.base, "GET", "/v1/requests/"+id, nil, &r); st != 200 {
				t.Fatalf("GET /v1/requests/%s = %d %s", id, st, raw)
			}
			if r.State == "completed" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("request %s still %s", id, r.State)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if code := srv.terminate(t); code != 0 {
		t.Errorf("consentd exited %d after SIGTERM", code)
	}
}
