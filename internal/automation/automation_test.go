package automation_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/automation"
	"github.com/consentd/consentd/internal/sqlite"
)

func TestBackoff(t *testing.T) {
	r := &automation.Runner{Base: 10 * time.Second, Cap: time.Hour}
	tests := []struct {
		n     int
		bound time.Duration
	}{
		{1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second}, {7, 640 * time.Second},
		{9, 2560 * time.Second}, {10, time.Hour}, {30, time.Hour}, {1000, time.Hour},
	}
	for _, tt := range tests {
		var top time.Duration
		for range 2000 {
			d := r.Backoff(tt.n)
			if d < 0 || d > tt.bound {
				t.Fatalf("Backoff(%d) = %v; want within [0, %v]", tt.n, d, tt.bound)
			}
			top = max(top, d)
		}
		// Full jitter: the draws spread over the whole range.
		if top < tt.bound/2 {
			t.Errorf("Backoff(%d): largest of 2000 draws %v; want the range up to %v used", tt.n, top, tt.bound)
		}
	}
}

// TestGiveUpOnJobsThatNeverFinish: a job claimed again and again without
// an outcome (the process died while running it) is failed, not run again.
func TestGiveUpOnJobsThatNeverFinish(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "consentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ws, err := db.CreateWorkspace(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	_, jobs, err := db.PutRecord(ctx, ws.ID, consentd.Record{Type: "contact", ID: "1", Fields: map[string]any{"Email": "a@example.com"}},
		[]consentd.JobTrigger{{RuleID: "r", Change: []consentd.RecordChange{consentd.RecordCreated}, MaxAttempts: 2}})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // two runs that "crashed": their leases expire at once
		if js, err := db.ClaimJobs(ctx, -time.Second, 10); err != nil || len(js) != 1 {
			t.Fatalf("ClaimJobs() = %v, %v", js, err)
		}
	}
	if n, err := automation.New(db, db, nil).RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce() = %d, %v", n, err)
	}
	j, err := db.Job(ctx, ws.ID, jobs[0].ID)
	if err != nil || j.State != consentd.JobFailed || !strings.Contains(j.LastError, "gave up") || j.Input == nil {
		t.Fatalf("Job() = %+v, %v; want failed, gave up, input kept", j, err)
	}
}

// TestRunnersShareJobs: two runners on one database run every job once.
func TestRunnersShareJobs(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "consentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ws, err := db.CreateWorkspace(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PutPurpose(ctx, ws.ID, &consentd.Purpose{ID: "newsletter", Name: "N", Type: consentd.Commercial,
		Channels: map[string]consentd.ChannelSetting{"email": {}}}, true, "test"); err != nil {
		t.Fatal(err)
	}
	rule := &consentd.Rule{ID: "r", On: consentd.RuleTrigger{Record: "contact"}, ContactPoint: "record.Email",
		Consents: []consentd.RuleConsent{{ChannelType: "newsletter:email", Status: `"opted_in"`}}}
	if err := db.PutRule(ctx, ws.ID, rule, "test"); err != nil {
		t.Fatal(err)
	}
	const n = 60
	var ids []string
	for i := range n {
		_, jobs, err := db.PutRecord(ctx, ws.ID, consentd.Record{Type: "contact", ID: fmt.Sprint(i), Fields: map[string]any{"Email": fmt.Sprintf("p%d@example.com", i)}},
			[]consentd.JobTrigger{{RuleID: "r", Change: []consentd.RecordChange{consentd.RecordCreated}}})
		if err != nil || len(jobs) != 1 {
			t.Fatalf("PutRecord() = %v, %v", jobs, err)
		}
		ids = append(ids, jobs[0].ID)
	}
	size, err := db.LogSize(ctx, ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 2 {
		r := automation.New(db, db, nil) // the store's own write path: no double opt-in in this catalog
		r.Batch = 4
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k, err := r.RunOnce(ctx)
				if err != nil {
					t.Errorf("RunOnce() = %v", err)
					return
				}
				if k == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		j, err := db.Job(ctx, ws.ID, id)
		if err != nil || j.State != consentd.JobSucceeded || j.Attempts != 1 || j.Input != nil {
			t.Fatalf("Job(%s) = %+v, %v; want succeeded on the first attempt", id, j, err)
		}
	}
	if after, _ := db.LogSize(ctx, ws.ID); after != size+n {
		t.Errorf("log grew by %d; want %d (one consent.changed per job)", after-size, n)
	}
}

// BenchmarkRunJobs measures jobs run per second by one runner on SQLite
// (each job: its consent write and its finish, two durable commits).
func BenchmarkRunJobs(b *testing.B) {
	ctx := b.Context()
	db, err := sqlite.Open(filepath.Join(b.TempDir(), "consentd.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ws, _ := db.CreateWorkspace(ctx, "w")
	if err := db.PutPurpose(ctx, ws.ID, &consentd.Purpose{ID: "newsletter", Name: "N", Type: consentd.Commercial,
		Channels: map[string]consentd.ChannelSetting{"email": {}}}, true, "test"); err != nil {
		b.Fatal(err)
	}
	rule := &consentd.Rule{ID: "r", On: consentd.RuleTrigger{Record: "contact"}, ContactPoint: "record.Email",
		Consents: []consentd.RuleConsent{{ChannelType: "newsletter:email", Status: `!record.donotemail ? "opted_in" : "opted_out"`}}}
	if err := db.PutRule(ctx, ws.ID, rule, "test"); err != nil {
		b.Fatal(err)
	}
	for i := range b.N {
		if _, _, err := db.PutRecord(ctx, ws.ID, consentd.Record{Type: "contact", ID: fmt.Sprint(i), Fields: map[string]any{"Email": fmt.Sprintf("p%d@example.com", i), "donotemail": false}},
			[]consentd.JobTrigger{{RuleID: "r", Change: []consentd.RecordChange{consentd.RecordCreated}}}); err != nil {
			b.Fatal(err)
		}
	}
	r := automation.New(db, db, nil)
	b.ResetTimer()
	done := 0
	for done < b.N {
		n, err := r.RunOnce(ctx)
		if err != nil || n == 0 {
			b.Fatalf("RunOnce() = %d, %v after %d jobs", n, err, done)
		}
		done += n
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}
