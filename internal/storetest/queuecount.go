package storetest

import (
	"time"

	"testing"

	"github.com/consentd/consentd"
)

// testQueueCounts checks the monitoring counts of jobs and data-subject
// requests: queued, due and failed jobs by workspace and kind; pending and
// overdue requests by workspace.
func testQueueCounts(t *testing.T, s Store) {
	e := newEnv(t, s, "counts")
	other := newEnv(t, s, "counts-other")
	if qc, err := s.QueueCounts(e.ctx, time.Now()); err != nil || len(qc.Jobs) != 0 || len(qc.Requests) != 0 {
		t.Fatalf("QueueCounts(empty) = %+v, %v; want nothing", qc, err)
	}
	_, jobs, err := s.PutRecord(e.ctx, e.ws, consentd.Record{Type: "lead", ID: "l1", Fields: map[string]any{"Email": "a@example.com"}},
		[]consentd.JobTrigger{{RuleID: "now", Change: []consentd.RecordChange{consentd.RecordCreated}, MaxAttempts: 1},
			{RuleID: "later", Change: []consentd.RecordChange{consentd.RecordCreated}, Delay: time.Hour}})
	if err != nil || len(jobs) != 2 {
		t.Fatalf("PutRecord() = %d jobs, %v", len(jobs), err)
	}
	// A second due job in the same workspace, left queued.
	if _, _, err := s.PutRecord(e.ctx, e.ws, consentd.Record{Type: "lead", ID: "l2", Fields: map[string]any{"Email": "b@example.com"}},
		[]consentd.JobTrigger{{RuleID: "now", Change: []consentd.RecordChange{consentd.RecordCreated}, MaxAttempts: 1}}); err != nil {
		t.Fatalf("PutRecord(l2) = %v", err)
	}
	// Fail the first due job for good: claim it (the two due jobs are
	// claimed in run_at order; fail whichever is l1's and put the other
	// back by failing it with a retry time).
	claimedJobs, err := s.ClaimJobs(e.ctx, time.Minute, 10)
	if err != nil || len(claimedJobs) != 2 {
		t.Fatalf("ClaimJobs() = %d, %v; want the two due jobs", len(claimedJobs), err)
	}
	for _, j := range claimedJobs {
		retry := time.Time{}
		if j.Input.ID == "l2" {
			retry = time.Now().Add(-time.Second) // queued again, due
		}
		if err := s.FailJob(e.ctx, e.ws, j.ID, "boom", retry); err != nil {
			t.Fatalf("FailJob(%s) = %v", j.Input.ID, err)
		}
	}
	// Requests: one received two months ago (overdue under GDPR), one now;
	// each enqueues its request job, due at once.
	received := time.Now().AddDate(0, -2, 0).UTC()
	if _, err := s.CreateRequest(e.ctx, e.ws, consentd.RequestInput{Type: "withdraw", ContactPoint: "old@example.com", Regulation: "gdpr", ReceivedAt: received}, "key:t"); err != nil {
		t.Fatalf("CreateRequest(old) = %v", err)
	}
	if _, err := s.CreateRequest(e.ctx, other.ws, consentd.RequestInput{Type: "withdraw", ContactPoint: "new@example.com", Regulation: "ccpa"}, "key:t"); err != nil {
		t.Fatalf("CreateRequest(new) = %v", err)
	}
	qc, err := s.QueueCounts(e.ctx, time.Now())
	if err != nil {
		t.Fatalf("QueueCounts() = %v", err)
	}
	wantJobs := map[consentd.JobCount]bool{
		{WorkspaceID: e.ws, Kind: consentd.JobKindRule, Queued: 2, Due: 1, Failed: 1}:        true,
		{WorkspaceID: e.ws, Kind: consentd.JobKindRequest, Queued: 1, Due: 1, Failed: 0}:     true,
		{WorkspaceID: other.ws, Kind: consentd.JobKindRequest, Queued: 1, Due: 1, Failed: 0}: true,
	}
	if len(qc.Jobs) != len(wantJobs) {
		t.Errorf("QueueCounts() jobs = %+v; want %v", qc.Jobs, wantJobs)
	}
	for _, c := range qc.Jobs {
		if !wantJobs[c] {
			t.Errorf("QueueCounts() job count %+v not expected; want %v", c, wantJobs)
		}
	}
	wantReqs := map[consentd.RequestCount]bool{
		{WorkspaceID: e.ws, Pending: 1, Overdue: 1}:     true,
		{WorkspaceID: other.ws, Pending: 1, Overdue: 0}: true,
	}
	if len(qc.Requests) != len(wantReqs) {
		t.Errorf("QueueCounts() requests = %+v; want %v", qc.Requests, wantReqs)
	}
	for _, c := range qc.Requests {
		if !wantReqs[c] {
			t.Errorf("QueueCounts() request count %+v not expected; want %v", c, wantReqs)
		}
	}
	// Nothing is due an hour ago.
	if qc, err := s.QueueCounts(e.ctx, time.Now().Add(-2*time.Hour)); err != nil {
		t.Fatalf("QueueCounts(earlier) = %v", err)
	} else {
		for _, c := range qc.Jobs {
			if c.Due != 0 {
				t.Errorf("QueueCounts(2h ago) = %+v; want nothing due", c)
			}
		}
	}
}
