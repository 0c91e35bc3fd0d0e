package storetest

import (
	"sort"
	"strings"
	"testing"
	"time"

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

// testErasedPlaintext: an `erased` suppression deletes the address's
// plaintext and keeps the proof (DESIGN.md section 3): the export and the
// suppression list no longer show it, the decision still denies it by its
// hash, and its consent history is still there. Other suppressions keep the
// plaintext.
func testErasedPlaintext(t *testing.T, s Store) {
	e := newEnv(t, s, "erased-plaintext")
	var writes []consentd.ConsentWrite
	for _, cp := range []string{"gone@example.com", "kept@example.com", "other@example.com"} {
		writes = append(writes, consentd.ConsentWrite{ContactPoint: cp, Channel: "email", Purpose: "newsletter", Status: consentd.OptedIn,
			CapturedAt: e.t0, Source: consentd.Source{Type: "api"}})
	}
	if _, err := s.WriteConsents(e.ctx, e.ws, writes, "test"); err != nil {
		t.Fatal(err)
	}
	// An import's rejected rows keep the row's fields; one names the
	// address to be erased.
	im, _, err := s.CreateImport(e.ctx, e.ws, consentd.ImportSpec{Format: "native", SHA256: strings.Repeat("cd", 32), Name: "f.csv"})
	if err != nil {
		t.Fatal(err)
	}
	rejects := []consentd.ImportReject{
		{Line: 2, Code: consentd.EUNKNOWNPURPOSE, Reason: "unknown purpose", Raw: []string{"GONE@example.com", "email", "nope"}},
		{Line: 3, Code: consentd.EUNKNOWNPURPOSE, Reason: "unknown purpose", Raw: []string{"kept@example.com", "email", "nope"}},
	}
	if _, err := s.ImportBatch(e.ctx, e.ws, im.ID, nil, nil, rejects, consentd.ImportProgress{Counts: consentd.ImportCounts{Rows: 2}, Committed: 2}, "test"); err != nil {
		t.Fatal(err)
	}
	for _, in := range []consentd.SuppressionInput{
		{ContactPoint: " Gone@Example.com ", Reason: consentd.SuppressErased},
		{ContactPoint: "kept@example.com", Reason: consentd.SuppressDoNotContact},
		{ContactPoint: "never-written@example.com", Reason: consentd.SuppressErased},
	} {
		if _, err := s.AddSuppression(e.ctx, e.ws, in, "test"); err != nil {
			t.Fatalf("AddSuppression(%s) = %v", in.ContactPoint, err)
		}
	}
	exported := e.exported()
	sort.Strings(exported)
	if strings.Join(exported, " ") != "kept@example.com other@example.com" {
		t.Errorf("export after erasure = %v; want kept@ and other@, not the erased address", exported)
	}
	sups, err := s.Suppressions(e.ctx, e.ws)
	if err != nil {
		t.Fatal(err)
	}
	for _, sup := range sups {
		if (sup.Reason == consentd.SuppressErased) != (sup.ContactPoint == "") {
			t.Errorf("suppression %s %q: the plaintext must be gone exactly when erased", sup.Reason, sup.ContactPoint)
		}
	}
	res, err := s.Decide(e.ctx, e.ws, &consentd.DecisionRequest{ContactPoint: "gone@example.com", Channel: "email", Purpose: "newsletter"})
	if err != nil || res.Allowed || res.Reason != consentd.ReasonSuppressed {
		t.Errorf("Decide(erased) = %+v, %v; want denied, suppressed", res, err)
	}
	if _, err := s.Consent(e.ctx, e.ws, "gone@example.com#newsletter:email", time.Time{}); err != nil {
		t.Errorf("Consent(erased) = %v; want the hashed consent kept as proof", err)
	}
	var raws []string
	if err := s.ImportRejects(e.ctx, e.ws, im.ID, func(r *consentd.ImportReject) error {
		raws = append(raws, strings.Join(r.Raw, ","))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(raws, " | ") != " | kept@example.com,email,nope" {
		t.Errorf("rejects after erasure = %q; want the erased address's row without its fields, the other kept", raws)
	}
}

// exported returns the contact points of the workspace's export, in its
// order.
func (e *env) exported() []string {
	e.t.Helper()
	var out []string
	if err := e.s.ExportConsents(e.ctx, e.ws, consentd.Times{}, func(c *consentd.Consent) error {
		out = append(out, c.ContactPoint)
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return out
}
