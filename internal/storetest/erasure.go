package storetest

import (
	"bytes"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/automation"
	"github.com/consentd/consentd/internal/ledger"
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
// plaintext and keeps the proof (docs/decisions.md): the export and the
// suppression list no longer show it, the decision still denies it by its
// hash, and its consent history is still there. Other suppressions keep the
// plaintext.
func testErasedPlaintext(t *testing.T, s Store) {
	e := newEnv(t, s, "erased-plaintext")
	var writes []consentd.ConsentWrite
	for _, cp := range []string{"gone@example.com", "kept@example.com", "other@example.com"} {
		writes = append(writes, consentd.ConsentWrite{ContactPoint: cp, Channel: "email", Purpose: "newsletter", Status: consentd.OptedIn,
			CapturedAt: e.t0, Source: consentd.Source{Type: "form", Name: "signup"}, Reason: "asked at the fair", PartyID: "p-" + cp[:4],
			Proof: &consentd.Proof{IP: "203.0.113.77", UserAgent: "FairKiosk/1.0"}})
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
	if c, err := s.Consent(e.ctx, e.ws, "gone@example.com#newsletter:email", time.Time{}); err != nil || c.Proof != nil || c.Reason != "" {
		t.Errorf("Consent(erased) = %+v, %v; want the hashed consent kept as proof, without the person's proof and reason", c, err)
	}
	// The log keeps the erased address's leaves and drops their evidence;
	// the others keep theirs, and the whole log still verifies.
	for _, id := range []string{"gone@example.com#newsletter:email", "kept@example.com#newsletter:email"} {
		hist, err := s.ConsentHistory(e.ctx, e.ws, id)
		if err != nil || len(hist) == 0 {
			t.Fatalf("ConsentHistory(%s) = %d, %v", id, len(hist), err)
		}
		erased := strings.HasPrefix(id, "gone")
		for _, r := range hist {
			personal := strings.Contains(string(r.Entry), "203.0.113.77") || strings.Contains(string(r.Evidence), "FairKiosk")
			if personal == erased || strings.Contains(string(r.Entry), `"evidence":"erased"`) != erased || len(r.Leaf) == 0 {
				t.Errorf("%s entry %d after erasure = %s (evidence %q); want its evidence erased: %v", id, r.Seq, r.Entry, r.Evidence, erased)
			}
			if bytes.Contains(r.Leaf, []byte("203.0.113.77")) || bytes.Contains(r.Leaf, []byte("asked at")) {
				t.Errorf("%s entry %d: the leaf holds evidence", id, r.Seq)
			}
			if !erased {
				if err := consentd.CheckEvidence(r.Leaf, r.Evidence, r.Opening); err != nil {
					t.Errorf("%s entry %d: CheckEvidence = %v", id, r.Seq, err)
				}
			}
		}
	}
	if rep, err := ledger.VerifyLog(e.ctx, s, newSigner(t).PublicKey(), e.ws); err != nil || !rep.OK {
		t.Errorf("VerifyLog after erasure = %+v, %v; want whole", rep, err)
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
