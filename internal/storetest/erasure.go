package storetest

import (
	"testing"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/automation"
)

// testErasedJobInputs: erasing an address deletes the inputs of the jobs
// whose records name it, in any field and any spelling, and fails those
// that had not run; other jobs and workspaces keep theirs.
func testErasedJobInputs(t *testing.T, s Store) {
	e := newEnv(t, s, "erasure")
	other := newEnv(t, s, "erasure-other")
	jane := map[string]any{"Email": "other@example.com", "Contact": map[string]any{"Emails": []any{" Jane@Example.com "}}}
	bob := map[string]any{"Email": "bob@example.com", "Mobile": "+1 415 555 2671"}
	put := func(env *env, id string, fields map[string]any) []*consentd.Job {
		_, jobs, err := s.PutRecord(env.ctx, env.ws, consentd.Record{Type: "contact", ID: id, Fields: fields}, triggers())
		if err != nil || len(jobs) != 2 {
			t.Fatalf("PutRecord(%s) = %d jobs, %v", id, len(jobs), err)
		}
		return jobs
	}
	janeJobs, bobJobs, otherJobs := put(e, "jane", jane), put(e, "bob", bob), put(other, "jane", jane)

	if n, err := automation.PurgeErased(e.ctx, s, e.ws); err != nil || n != 0 {
		t.Fatalf("PurgeErased() with nothing erased = %d, %v", n, err)
	}
	for _, in := range []consentd.SuppressionInput{
		{ContactPoint: "jane@example.com", Reason: consentd.SuppressErased},
		{ContactPoint: "+14155552671", Reason: consentd.SuppressDoNotContact}, // suppressed, not erased
	} {
		if _, err := s.AddSuppression(e.ctx, e.ws, in, "test"); err != nil {
			t.Fatalf("AddSuppression(%s) = %v", in.Reason, err)
		}
	}
	if n, err := automation.PurgeErased(e.ctx, s, e.ws); err != nil || n != len(janeJobs) {
		t.Fatalf("PurgeErased() = %d, %v; want %d", n, err, len(janeJobs))
	}
	for _, j := range janeJobs {
		got, err := s.Job(e.ctx, e.ws, j.ID)
		if err != nil || got.Input != nil || got.State != consentd.JobFailed || got.LastError != automation.ErasedInput {
			t.Errorf("jane's job %s = %+v, %v; want failed without input", j.RuleID, got, err)
		}
	}
	for _, j := range bobJobs {
		if got, err := s.Job(e.ctx, e.ws, j.ID); err != nil || got.Input == nil || got.State != consentd.JobQueued {
			t.Errorf("bob's job %s = %+v, %v; want queued with its input", j.RuleID, got, err)
		}
	}
	for _, j := range otherJobs {
		if got, err := s.Job(other.ctx, other.ws, j.ID); err != nil || got.Input == nil {
			t.Errorf("the other workspace's job = %+v, %v; want its input kept", got, err)
		}
	}
	if n, err := automation.PurgeErased(e.ctx, s, e.ws); err != nil || n != 0 {
		t.Errorf("PurgeErased() again = %d, %v; want 0", n, err)
	}
	if err := s.PurgeJobInput(e.ctx, e.ws, "no-such-job", "x"); consentd.ErrorCode(err) != consentd.ENOTFOUND {
		t.Errorf("PurgeJobInput(unknown) = %v; want not_found", err)
	}
	if err := s.PurgeJobInput(other.ctx, other.ws, bobJobs[0].ID, "x"); consentd.ErrorCode(err) != consentd.ENOTFOUND {
		t.Errorf("PurgeJobInput(another workspace's job) = %v; want not_found", err)
	}
}
