package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// RunJobKindsUpgrade checks the migration that moved the confirmations'
// mail and the data-subject requests onto the job queue, as an upgrade
// from the release before it: a store whose confirmations wait in the
// mail outbox (next_send_at) and whose requests wait for the worker, with
// no jobs of those kinds and no jobs.ref column, is opened again; each
// confirmation still to be sent (not used) and each request not done gets
// its job, due when it was. Then retrying a failed request job (RetryJob,
// RetryFailedJobs) makes its failed request pending again, its attempts
// reset. exec runs SQL
// on the same database; open opens it each time.
func RunJobKindsUpgrade(t *testing.T, open func(t *testing.T) Store, exec Exec) {
	s := open(t)
	e := newEnv(t, s, "jobkinds")
	res := e.mustWrite(cw("jane@example.com", "newsletter", "pending", e.t0), on(cw("+4915112345678", "newsletter", "pending", e.t0), "sms"),
		cw("used@example.com", "newsletter", "pending", e.t0))
	var in []consentd.ConfirmationInput
	for i, r := range res {
		in = append(in, consentd.ConfirmationInput{ContactPoint: r.Consent.ContactPoint, ChannelType: r.Consent.ChannelType,
			ConsentVersion: r.Consent.Version, Nonce: fmt.Sprintf("n%d", i)})
	}
	if _, err := s.CreateConfirmations(e.ctx, e.ws, in); err != nil {
		t.Fatalf("CreateConfirmations() = %v", err)
	}
	pending, err := s.CreateRequest(e.ctx, e.ws, consentd.RequestInput{Type: consentd.RequestWithdraw, ContactPoint: "joe@example.com",
		Regulation: consentd.RegulationGDPR}, "test")
	if err != nil {
		t.Fatalf("CreateRequest() = %v", err)
	}
	done, err := s.CreateRequest(e.ctx, e.ws, consentd.RequestInput{Type: consentd.RequestAccess, ContactPoint: "jane@example.com",
		Regulation: consentd.RegulationGDPR}, "test")
	if err != nil {
		t.Fatalf("CreateRequest() = %v", err)
	}
	if _, err := s.ProcessRequest(e.ctx, e.ws, done.ID); err != nil {
		t.Fatalf("ProcessRequest() = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	// The release before: the outbox schedule, no jobs of these kinds.
	for _, q := range []string{
		`DELETE FROM jobs WHERE kind <> 'rule'`,
		`UPDATE confirmations SET used_at = issued_at WHERE nonce = 'n2'`,
		`UPDATE confirmations SET next_send_at = issued_at WHERE used_at IS NULL`,
		`DROP INDEX jobs_ref`,
		`ALTER TABLE jobs DROP COLUMN ref`,
		`DELETE FROM schema_migrations WHERE version = '0011_job_kinds'`,
	} {
		if _, err := exec(e.ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	s = open(t)
	t.Cleanup(func() { s.Close() })
	js, _, err := s.Jobs(e.ctx, e.ws, consentd.JobFilter{Limit: 1000})
	if err != nil {
		t.Fatalf("Jobs() = %v", err)
	}
	var got []string
	for _, j := range js {
		if j.State != consentd.JobQueued || j.Attempts != 0 || j.RunAt.After(time.Now().Add(time.Minute)) {
			t.Errorf("migrated job %+v; want queued, no attempts, due", j)
		}
		got = append(got, j.Kind+" "+j.Ref)
	}
	slices.Sort(got)
	want := []string{"confirmation_mail n0", "confirmation_sms n1", "request " + pending.ID}
	if !slices.Equal(got, want) {
		t.Errorf("jobs after the upgrade = %q; want %q", got, want)
	}
	// Retrying a failed request job makes its failed request pending
	// again, for the job to carry it out.
	if _, err := exec(e.ctx, `UPDATE requests SET state = 'failed', attempts = 20 WHERE id = $1`, pending.ID); err != nil {
		t.Fatal(err)
	}
	var reqJob *consentd.Job
	for _, j := range js {
		if j.Kind == consentd.JobKindRequest {
			reqJob = j
		}
	}
	claimed, err := s.ClaimJobs(e.ctx, time.Minute, 1000)
	if err != nil || !slices.ContainsFunc(claimed, func(j *consentd.Job) bool { return j.ID == reqJob.ID }) {
		t.Fatalf("ClaimJobs() = %v, %v; want the request job among them", claimed, err)
	}
	if err := s.FailJob(e.ctx, e.ws, reqJob.ID, "gave up", time.Time{}); err != nil {
		t.Fatalf("FailJob() = %v", err)
	}
	if j, err := s.RetryJob(e.ctx, e.ws, reqJob.ID); err != nil || j.State != consentd.JobQueued {
		t.Fatalf("RetryJob() = %+v, %v", j, err)
	}
	if r, err := s.Request(e.ctx, e.ws, pending.ID); err != nil || r.State != consentd.RequestPending || r.Attempts != 0 {
		t.Errorf("the request after its job was retried = %+v, %v; want pending, no attempts", r, err)
	}

	// The same through RetryFailedJobs.
	if _, err := exec(e.ctx, `UPDATE requests SET state = 'failed' WHERE id = $1`, pending.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimJobs(e.ctx, time.Minute, 1000); err != nil {
		t.Fatal(err)
	}
	if err := s.FailJob(e.ctx, e.ws, reqJob.ID, "gave up", time.Time{}); err != nil {
		t.Fatalf("FailJob() = %v", err)
	}
	if n, err := s.RetryFailedJobs(e.ctx, e.ws); err != nil || n != 1 {
		t.Fatalf("RetryFailedJobs() = %d, %v; want 1", n, err)
	}
	if r, err := s.Request(e.ctx, e.ws, pending.ID); err != nil || r.State != consentd.RequestPending {
		t.Errorf("the request after RetryFailedJobs = %+v, %v; want pending", r, err)
	}

	// The outbox schedule moved into the jobs: none is left.
	if n, err := exec(e.ctx, `UPDATE confirmations SET send_error = send_error WHERE next_send_at IS NOT NULL`); err != nil || n != 0 {
		t.Errorf("confirmations still scheduled by the outbox after the upgrade: %d, %v; want none", n, err)
	}
}
