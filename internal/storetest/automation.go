package storetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// testAutomation covers rules, records and jobs. The subtests
// share the store and run in order: jobs are claimed across workspaces.
func testAutomation(t *testing.T, s Store) {
	t.Run("Rules", func(t *testing.T) { testRules(t, s) })
	t.Run("Records", func(t *testing.T) { testRecords(t, s) })
	t.Run("JobLifecycle", func(t *testing.T) { testJobLifecycle(t, s) })
	t.Run("ConcurrentClaims", func(t *testing.T) { testConcurrentClaims(t, s) })
}

func ruleFor(id, record string) *consentd.Rule {
	return &consentd.Rule{ID: id, On: consentd.RuleTrigger{Record: record}, ContactPoint: "record.Email",
		Consents: []consentd.RuleConsent{{ChannelType: "newsletter:email", Status: `"opted_in"`}}}
}

func testRules(t *testing.T, s Store) {
	e := newEnv(t, s, "rules")
	other := newEnv(t, s, "rules-other")
	size := e.logSize()
	r := ruleFor("contact-email", "contact")
	if err := s.PutRule(e.ctx, e.ws, r, "test"); err != nil {
		t.Fatalf("PutRule() = %v", err)
	}
	if err := s.PutRule(e.ctx, e.ws, ruleFor("contact-email", "contact"), "test"); err != nil { // the same: no entry
		t.Fatalf("PutRule(same) = %v", err)
	}
	r2 := ruleFor("contact-email", "contact")
	r2.When = `record.LeadSource != "Marketing Cloud Form"`
	if err := s.PutRule(e.ctx, e.ws, r2, "test"); err != nil { // replace by id
		t.Fatalf("PutRule(replace) = %v", err)
	}
	if err := s.PutRule(e.ctx, e.ws, ruleFor("a-lead", "lead"), "test"); err != nil {
		t.Fatalf("PutRule(a-lead) = %v", err)
	}
	bad := ruleFor("bad", "contact")
	bad.When = `record.x ==`
	wantCode(t, "PutRule(bad)", s.PutRule(e.ctx, e.ws, bad, "test"), consentd.EINVALIDRULE)
	got, err := s.Rule(e.ctx, e.ws, "contact-email")
	if err != nil || got.When != r2.When {
		t.Fatalf("Rule() = %+v, %v; want the replaced rule", got, err)
	}
	// Stored with its defaults.
	if got.Source.Type != consentd.SourceAutomation || got.Source.Name != "contact-email" ||
		!slices.Equal(got.On.Change, []consentd.RecordChange{consentd.RecordCreated, consentd.RecordUpdated}) {
		t.Errorf("Rule() = %+v; want source {automation, contact-email} and change [created updated]", got)
	}
	rs, err := s.Rules(e.ctx, e.ws)
	if err != nil || len(rs) != 2 || rs[0].ID != "a-lead" || rs[1].ID != "contact-email" {
		t.Fatalf("Rules() = %v, %v; want a-lead, contact-email", rs, err)
	}
	_, err = s.Rule(e.ctx, other.ws, "contact-email")
	wantCode(t, "Rule(other workspace)", err, consentd.ENOTFOUND)
	if rs, err := s.Rules(e.ctx, other.ws); err != nil || len(rs) != 0 {
		t.Errorf("Rules(other workspace) = %v, %v; want none", rs, err)
	}
	wantCode(t, "DeleteRule(other workspace)", s.DeleteRule(e.ctx, other.ws, "contact-email", "test"), consentd.ENOTFOUND)
	if err := s.DeleteRule(e.ctx, e.ws, "contact-email", "test"); err != nil {
		t.Fatalf("DeleteRule() = %v", err)
	}
	wantCode(t, "DeleteRule(again)", s.DeleteRule(e.ctx, e.ws, "contact-email", "test"), consentd.ENOTFOUND)
	_, err = s.Rule(e.ctx, e.ws, "contact-email")
	wantCode(t, "Rule(deleted)", err, consentd.ENOTFOUND)
	log, err := s.SubjectLog(e.ctx, e.ws, "contact-email")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := types(t, log), []string{consentd.LogRuleChanged, consentd.LogRuleChanged, consentd.LogRuleDeleted}; !slices.Equal(got, want) {
		t.Errorf("rule log = %v; want %v", got, want)
	}
	if n := e.logSize(); n != size+4 {
		t.Errorf("log grew by %d; want 4 (3 changes, 1 delete)", n-size)
	}
}

func triggers() []consentd.JobTrigger {
	return []consentd.JobTrigger{
		{RuleID: "on-create", Change: []consentd.RecordChange{consentd.RecordCreated}, MaxAttempts: 3},
		{RuleID: "on-update", Change: []consentd.RecordChange{consentd.RecordUpdated}},
		{RuleID: "later", Change: []consentd.RecordChange{consentd.RecordCreated, consentd.RecordUpdated}, Delay: time.Hour},
	}
}

func ruleIDs(js []*consentd.Job) []string {
	var out []string
	for _, j := range js {
		out = append(out, j.RuleID)
	}
	slices.Sort(out)
	return out
}

func testRecords(t *testing.T, s Store) {
	e := newEnv(t, s, "records")
	other := newEnv(t, s, "records-other")
	fields := map[string]any{"Email": "jane@example.com", "donotemail": false, "n": 1.5, "nested": map[string]any{"b": 1.0, "a": "x"}}
	rec := consentd.Record{Type: "contact", ID: "c1", Fields: fields, Origin: "crm"}
	before := time.Now()
	change, jobs, err := s.PutRecord(e.ctx, e.ws, rec, triggers())
	if err != nil || change != consentd.RecordCreated {
		t.Fatalf("PutRecord(new) = %s, %v; want created", change, err)
	}
	if got := ruleIDs(jobs); !slices.Equal(got, []string{"later", "on-create"}) {
		t.Fatalf("PutRecord(new) jobs = %v; want later, on-create", got)
	}
	for _, j := range jobs {
		if j.State != consentd.JobQueued || j.Kind != consentd.JobKindRule || j.WorkspaceID != e.ws || j.Input == nil || j.Input.Origin != "crm" {
			t.Errorf("job %+v", j)
		}
		got, err := s.Job(e.ctx, e.ws, j.ID)
		if err != nil || got.Input == nil || got.Input.Fields["Email"] != "jane@example.com" || got.Input.Change != consentd.RecordCreated ||
			got.Input.Type != "contact" || got.Input.ID != "c1" || got.Input.ReceivedAt.Before(before.Add(-time.Second)) || got.State != consentd.JobQueued {
			t.Errorf("Job(%s) = %+v, %v", j.ID, got, err)
		}
		if j.RuleID == "later" && got.RunAt.Sub(got.Input.ReceivedAt) != time.Hour {
			t.Errorf("delayed job run_at %v, received %v; want an hour later", got.RunAt, got.Input.ReceivedAt)
		}
		if j.RuleID == "on-create" && got.MaxAttempts != 3 {
			t.Errorf("max_attempts = %d; want 3", got.MaxAttempts)
		}
		if j.RuleID == "later" && got.MaxAttempts != consentd.DefaultJobMaxAttempts {
			t.Errorf("max_attempts = %d; want the default", got.MaxAttempts)
		}
		_, err = s.Job(e.ctx, other.ws, j.ID)
		wantCode(t, "Job(other workspace)", err, consentd.ENOTFOUND)
	}
	// The same fields, in another order: unchanged, no job.
	same := map[string]any{"nested": map[string]any{"a": "x", "b": 1.0}, "n": 1.5, "donotemail": false, "Email": "jane@example.com"}
	change, jobs, err = s.PutRecord(e.ctx, e.ws, consentd.Record{Type: "contact", ID: "c1", Fields: same}, triggers())
	if err != nil || change != consentd.RecordUnchanged || len(jobs) != 0 {
		t.Fatalf("PutRecord(same) = %s, %d jobs, %v; want unchanged, none", change, len(jobs), err)
	}
	fields["donotemail"] = true
	change, jobs, err = s.PutRecord(e.ctx, e.ws, rec, triggers())
	if err != nil || change != consentd.RecordUpdated || !slices.Equal(ruleIDs(jobs), []string{"later", "on-update"}) {
		t.Fatalf("PutRecord(changed) = %s, %v, %v; want updated with later, on-update", change, ruleIDs(jobs), err)
	}
	// Another type, another workspace: records are apart.
	if change, _, err := s.PutRecord(e.ctx, e.ws, consentd.Record{Type: "lead", ID: "c1", Fields: fields}, nil); err != nil || change != consentd.RecordCreated {
		t.Errorf("PutRecord(other type) = %s, %v; want created", change, err)
	}
	if change, _, err := s.PutRecord(e.ctx, other.ws, rec, nil); err != nil || change != consentd.RecordCreated {
		t.Errorf("PutRecord(other workspace) = %s, %v; want created", change, err)
	}
	all, next, err := s.Jobs(e.ctx, e.ws, consentd.JobFilter{})
	if err != nil || len(all) != 4 || next != "" {
		t.Fatalf("Jobs() = %d, %q, %v; want 4", len(all), next, err)
	}
	if js, _, err := s.Jobs(e.ctx, other.ws, consentd.JobFilter{}); err != nil || len(js) != 0 {
		t.Errorf("Jobs(other workspace) = %d, %v; want none", len(js), err)
	}
	// Paging.
	var paged []string
	f := consentd.JobFilter{Limit: 3}
	for {
		js, next, err := s.Jobs(e.ctx, e.ws, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range js {
			paged = append(paged, j.ID)
		}
		if next == "" {
			break
		}
		f.PageToken = next
	}
	var ids []string
	for _, j := range all {
		ids = append(ids, j.ID)
	}
	if !slices.Equal(paged, ids) {
		t.Errorf("paged jobs %v; want %v", paged, ids)
	}
	_, _, err = s.Jobs(e.ctx, e.ws, consentd.JobFilter{State: "lost"})
	wantCode(t, "Jobs(bad state)", err, consentd.EINVALID)
	_, _, err = s.Jobs(e.ctx, e.ws, consentd.JobFilter{PageToken: "!!"})
	wantCode(t, "Jobs(bad token)", err, consentd.EINVALID)
	// Leave nothing due for the next subtests.
	finishAll(t, s)
}

// finishAll claims and finishes every due job of the store.
func finishAll(t *testing.T, s Store) {
	t.Helper()
	ctx := t.Context()
	for {
		js, err := s.ClaimJobs(ctx, time.Minute, 100)
		if err != nil {
			t.Fatalf("ClaimJobs() = %v", err)
		}
		if len(js) == 0 {
			return
		}
		for _, j := range js {
			if err := s.FinishJob(ctx, j.WorkspaceID, j.ID, "done"); err != nil {
				t.Fatalf("FinishJob() = %v", err)
			}
		}
	}
}

func claimed(js []*consentd.Job, id string) *consentd.Job {
	for _, j := range js {
		if j.ID == id {
			return j
		}
	}
	return nil
}

func testJobLifecycle(t *testing.T, s Store) {
	e := newEnv(t, s, "jobs")
	finishAll(t, s)
	_, jobs, err := s.PutRecord(e.ctx, e.ws, consentd.Record{Type: "lead", ID: "l1", Fields: map[string]any{"Email": "a@example.com"}},
		[]consentd.JobTrigger{{RuleID: "now", Change: []consentd.RecordChange{consentd.RecordCreated}, MaxAttempts: 2},
			{RuleID: "later", Change: []consentd.RecordChange{consentd.RecordCreated}, Delay: time.Hour}})
	if err != nil || len(jobs) != 2 {
		t.Fatalf("PutRecord() = %d jobs, %v", len(jobs), err)
	}
	now, later := jobs[0], jobs[1]
	if now.RuleID != "now" {
		now, later = later, now
	}
	if next, err := s.NextJobAt(e.ctx); err != nil || next.After(time.Now()) {
		t.Errorf("NextJobAt() = %v, %v; want a due time", next, err)
	}
	js, err := s.ClaimJobs(e.ctx, time.Minute, 10)
	if err != nil || len(js) != 1 || js[0].ID != now.ID || js[0].State != consentd.JobRunning || js[0].Attempts != 1 || js[0].Input == nil {
		t.Fatalf("ClaimJobs() = %+v, %v; want the due job, running, attempt 1", js, err)
	}
	if claimed(js, later.ID) != nil {
		t.Fatal("ClaimJobs() took a job not due")
	}
	// Leased: not claimed again; the delayed job is not due.
	if js, err := s.ClaimJobs(e.ctx, time.Minute, 10); err != nil || len(js) != 0 {
		t.Fatalf("ClaimJobs(again) = %d, %v; want none", len(js), err)
	}
	if next, err := s.NextJobAt(e.ctx); err != nil || next.Before(time.Now().Add(50*time.Second)) {
		t.Errorf("NextJobAt() = %v, %v; want the lease's end", next, err)
	}
	wantCode(t, "FinishJob(other workspace)", s.FinishJob(e.ctx, "nope", now.ID, "x"), consentd.ECONFLICT)
	// Retry later, then claim again (retry time already passed).
	if err := s.FailJob(e.ctx, e.ws, now.ID, "boom", time.Now().Add(-time.Second)); err != nil {
		t.Fatalf("FailJob(retry) = %v", err)
	}
	j, err := s.Job(e.ctx, e.ws, now.ID)
	if err != nil || j.State != consentd.JobQueued || j.LastError != "boom" || j.Attempts != 1 {
		t.Fatalf("Job() after a retryable failure = %+v, %v", j, err)
	}
	wantCode(t, "FailJob(queued)", s.FailJob(e.ctx, e.ws, now.ID, "x", time.Time{}), consentd.ECONFLICT)
	// A lease that expires at once: the job is claimed again, as after a crash.
	js, err = s.ClaimJobs(e.ctx, -time.Second, 10)
	if err != nil || claimed(js, now.ID) == nil || claimed(js, now.ID).Attempts != 2 {
		t.Fatalf("ClaimJobs() = %+v, %v; want the job, attempt 2", js, err)
	}
	js, err = s.ClaimJobs(e.ctx, time.Minute, 10)
	if err != nil || claimed(js, now.ID) == nil || claimed(js, now.ID).Attempts != 3 {
		t.Fatalf("ClaimJobs(expired lease) = %+v, %v; want the job again, attempt 3", js, err)
	}
	// Out of attempts: failed for good, input kept.
	if err := s.FailJob(e.ctx, e.ws, now.ID, "rule \"now\": contact_point: no such key: Email", time.Time{}); err != nil {
		t.Fatalf("FailJob(final) = %v", err)
	}
	failed, _, err := s.Jobs(e.ctx, e.ws, consentd.JobFilter{State: consentd.JobFailed})
	if err != nil || len(failed) != 1 || failed[0].ID != now.ID || failed[0].Input == nil || failed[0].Input.Fields["Email"] != "a@example.com" ||
		failed[0].LastError == "" {
		t.Fatalf("Jobs(failed) = %+v, %v; want the job with input and error", failed, err)
	}
	if js, _, err := s.Jobs(e.ctx, e.ws, consentd.JobFilter{State: consentd.JobQueued}); err != nil || len(js) != 1 || js[0].ID != later.ID {
		t.Errorf("Jobs(queued) = %v, %v; want the delayed job", js, err)
	}
	// Retry: only a failed job; attempts reset; due now.
	_, err = s.RetryJob(e.ctx, e.ws, later.ID)
	wantCode(t, "RetryJob(queued)", err, consentd.ECONFLICT)
	_, err = s.RetryJob(e.ctx, e.ws, "job_nope")
	wantCode(t, "RetryJob(missing)", err, consentd.ENOTFOUND)
	j, err = s.RetryJob(e.ctx, e.ws, now.ID)
	if err != nil || j.State != consentd.JobQueued || j.Attempts != 0 || j.RunAt.After(time.Now().Add(time.Second)) {
		t.Fatalf("RetryJob() = %+v, %v", j, err)
	}
	js, err = s.ClaimJobs(e.ctx, time.Minute, 10)
	if err != nil || claimed(js, now.ID) == nil || claimed(js, now.ID).Attempts != 1 {
		t.Fatalf("ClaimJobs(after retry) = %+v, %v", js, err)
	}
	if err := s.FinishJob(e.ctx, e.ws, now.ID, "wrote 1 created"); err != nil {
		t.Fatalf("FinishJob() = %v", err)
	}
	j, err = s.Job(e.ctx, e.ws, now.ID)
	if err != nil || j.State != consentd.JobSucceeded || j.Input != nil || j.Result != "wrote 1 created" || j.LastError != "" {
		t.Fatalf("Job() after success = %+v, %v; want succeeded, input cleared", j, err)
	}
	wantCode(t, "FinishJob(twice)", s.FinishJob(e.ctx, e.ws, now.ID, "x"), consentd.ECONFLICT)
	_, err = s.RetryJob(e.ctx, e.ws, now.ID)
	wantCode(t, "RetryJob(succeeded)", err, consentd.ECONFLICT)
	// RetryFailedJobs: every failed job of the workspace, none elsewhere.
	o := newEnv(t, s, "jobs-other")
	var ids []string
	for i, env := range []*env{e, e, o} {
		_, js, err := s.PutRecord(e.ctx, env.ws, consentd.Record{Type: "lead", ID: "r" + string(rune('a'+i)), Fields: map[string]any{}},
			[]consentd.JobTrigger{{RuleID: "x", Change: []consentd.RecordChange{consentd.RecordCreated}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, js[0].ID)
	}
	js, err = s.ClaimJobs(e.ctx, time.Minute, 10)
	if err != nil || len(js) != 3 {
		t.Fatalf("ClaimJobs() = %d, %v; want 3", len(js), err)
	}
	for _, j := range js {
		if err := s.FailJob(e.ctx, j.WorkspaceID, j.ID, "x", time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.RetryFailedJobs(e.ctx, e.ws); err != nil || n != 2 {
		t.Fatalf("RetryFailedJobs() = %d, %v; want 2", n, err)
	}
	if j, err := s.Job(e.ctx, o.ws, ids[2]); err != nil || j.State != consentd.JobFailed {
		t.Errorf("the other workspace's job = %+v, %v; want still failed", j, err)
	}
	if n, err := s.RetryFailedJobs(e.ctx, o.ws); err != nil || n != 1 {
		t.Fatalf("RetryFailedJobs(other) = %d, %v; want 1", n, err)
	}
	finishAll(t, s)
}

// testConcurrentClaims: concurrent claimers never take one job twice.
func testConcurrentClaims(t *testing.T, s Store) {
	e := newEnv(t, s, "claims")
	finishAll(t, s)
	const n = 40
	for i := range n {
		if _, _, err := s.PutRecord(e.ctx, e.ws, consentd.Record{Type: "lead", ID: string(rune('A' + i)), Fields: map[string]any{"i": float64(i)}},
			[]consentd.JobTrigger{{RuleID: "x", Change: []consentd.RecordChange{consentd.RecordCreated}}}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				js, err := s.ClaimJobs(e.ctx, time.Minute, 3)
				if err != nil {
					t.Errorf("ClaimJobs() = %v", err)
					return
				}
				if len(js) == 0 {
					return
				}
				mu.Lock()
				for _, j := range js {
					seen[j.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("claimed %d jobs; want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("job %s claimed %d times", id, c)
		}
	}
}
