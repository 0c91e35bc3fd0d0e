package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/postgres"
	"github.com/consentd/consentd/internal/storetest"
	"github.com/jackc/pgx/v5"
)

// TestGroupCommit sends many requests at once to one workspace, so that
// they are committed in groups, a fifth of them failing in each way a
// request can fail inside a group's transaction: every request that
// succeeds is committed and logged exactly once, every one that fails
// leaves nothing, the log is numbered without gaps and verifies, and
// OnCommit sees every entry once, in order.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	db := open(t, freshDB(t))
	defer db.Close()
	var mu sync.Mutex
	var seqs []int64
	commits := 0
	db.SetOnCommit(func(m map[string][]consentd.LogRecord) {
		mu.Lock()
		defer mu.Unlock()
		commits++
		for _, recs := range m {
			for _, r := range recs {
				seqs = append(seqs, r.Seq)
			}
		}
	})
	ws, err := db.CreateWorkspace(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateWorkspace(ctx, "taken"); err != nil {
		t.Fatal(err)
	}
	storetest.PutCatalog(t, db, ws.ID)

	t0 := time.Now().Add(-time.Hour).UTC()
	consent := func(cp, purpose string) consentd.ConsentWrite {
		return consentd.ConsentWrite{ContactPoint: cp, Channel: "email", Purpose: purpose, Status: consentd.OptedIn, CapturedAt: t0,
			Source: consentd.Source{Type: consentd.SourceAPI, Name: cp}}
	}
	errGo := errors.New("refused in Go")
	taken := "taken"
	const n = 300
	errs := make([]error, n)
	results := make([][]consentd.WriteResult, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range n {
		wg.Go(func() {
			<-start
			subject := fmt.Sprintf("req-%d", g)
			switch g % 5 {
			case 0: // a batch with an invalid item between two valid ones
				results[g], errs[g] = db.WriteConsents(ctx, ws.ID, []consentd.ConsentWrite{
					consent(subject+"-a@example.com", "newsletter"), consent(subject+"-b@example.com", "nonesuch"),
					consent(subject+"-c@example.com", "newsletter")}, "t")
			case 1: // appends, then a statement fails on the server
				errs[g] = postgres.WriteLogForTest(ctx, db, ws.ID, func(tx postgres.TestTx) error {
					tx.Append(subject)
					tx.Append(subject)
					tx.Queue(`SELECT 1/0`)
					return nil
				})
			case 2: // appends and changes a row, then fails in Go
				errs[g] = postgres.WriteLogForTest(ctx, db, ws.ID, func(tx postgres.TestTx) error {
					tx.Append(subject)
					if err := tx.Exec(`UPDATE workspaces SET default_region = 'ZZ' WHERE id = $1`, ws.ID); err != nil {
						return err
					}
					return errGo
				})
			case 3: // a rename to a taken name: a unique violation
				_, errs[g] = db.UpdateWorkspace(ctx, ws.ID, consentd.WorkspaceUpdate{Name: &taken}, "t")
			case 4:
				errs[g] = postgres.WriteLogForTest(ctx, db, ws.ID, func(tx postgres.TestTx) error {
					_, err := tx.Append(subject)
					return err
				})
			}
		})
	}
	close(start)
	wg.Wait()

	want := map[string]int{} // source name or subject -> times it must be logged
	succeeded := 0
	for g := range n {
		subject := fmt.Sprintf("req-%d", g)
		err := errs[g]
		switch g % 5 {
		case 0:
			if err != nil {
				t.Fatalf("request %d: WriteConsents() = %v", g, err)
			}
			for i, r := range results[g] {
				if wantErr := i == 1; (r.Err != nil) != wantErr || !wantErr && r.Outcome != consentd.Created {
					t.Errorf("request %d item %d = %+v; want created, or EUNKNOWNPURPOSE for the middle one", g, i, r)
				}
			}
			want[subject+"-a@example.com"], want[subject+"-c@example.com"] = 1, 1
			want[subject+"-b@example.com"] = 0
		case 1:
			if err == nil || errors.Is(err, errGo) {
				t.Errorf("request %d (division by zero) = %v; want the server's error", g, err)
			}
			want[subject] = 0
		case 2:
			if !errors.Is(err, errGo) {
				t.Errorf("request %d (refused in Go) = %v; want %v", g, err, errGo)
			}
			want[subject] = 0
		case 3:
			if consentd.ErrorCode(err) != consentd.ECONFLICT {
				t.Errorf("request %d (rename to a taken name) = %v; want ECONFLICT", g, err)
			}
		case 4:
			if err != nil {
				t.Errorf("request %d = %v", g, err)
			}
			want[subject] = 1
		}
		if err == nil {
			succeeded++
		}
	}

	logged := map[string]int{}
	var entries int64
	err = ledger.EachEntry(ctx, db, ws.ID, func(rec consentd.LogRecord) error {
		seq, data := rec.Seq, []byte(rec.Entry)
		if entries++; seq != entries {
			return fmt.Errorf("entry %d after %d", seq, entries-1)
		}
		var e struct {
			Type, Subject string
			After         struct{ Source struct{ Name string } }
		}
		if err := json.Unmarshal(data, &e); err != nil {
			return err
		}
		switch e.Type {
		case "test":
			logged[e.Subject]++
		case consentd.LogConsentChanged:
			logged[e.After.Source.Name]++
		case consentd.LogPurposeChanged:
		default:
			t.Errorf("entry %d is a %s; no request that logs one succeeded", seq, e.Type)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("EachEntry() = %v", err)
	}
	for k, w := range want {
		if logged[k] != w {
			t.Errorf("%s logged %d times; want %d", k, logged[k], w)
		}
	}
	if wantN := int64(1 + 2*n/5 + n/5); entries != wantN {
		t.Errorf("%d log entries; want %d", entries, wantN)
	}
	for g := 0; g < n; g += 5 {
		for _, s := range []string{"a", "c"} {
			id := consentd.ConsentID(fmt.Sprintf("req-%d-%s@example.com", g, s), "newsletter:email")
			if c, err := db.Consent(ctx, ws.ID, id, time.Time{}); err != nil || c.Status != consentd.OptedIn {
				t.Errorf("Consent(%s) = %+v, %v; want opted in", id, c, err)
			}
		}
	}
	if got, err := db.Workspace(ctx, ws.ID); err != nil || got.Name != "test" || got.DefaultRegion != "" {
		t.Errorf("Workspace() = %+v, %v; want the name and region of before: every change to them failed", got, err)
	}

	mu.Lock()
	defer mu.Unlock()
	wantSeqs := make([]int64, entries)
	for i := range wantSeqs {
		wantSeqs[i] = int64(i + 1)
	}
	if !slices.Equal(seqs, wantSeqs) {
		t.Errorf("OnCommit saw seqs %v; want 1 to %d, each once, in order", seqs, entries)
	}
	if commits >= 1+succeeded {
		t.Errorf("%d commits for %d requests that succeeded: no group was committed together", commits, 1+succeeded)
	}
	t.Logf("%d requests, %d succeeded, %d commits", n+1, succeeded+1, commits)

	signer, err := ledger.LoadOrCreateKey(filepath.Join(t.TempDir(), "checkpoint.key"), "consentd-test")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ledger.SignCheckpoint(ctx, db, signer, ws.ID); err != nil {
		t.Fatalf("SignCheckpoint() = %v", err)
	}
	if r, err := ledger.VerifyLog(ctx, db, signer.PublicKey(), ws.ID); err != nil || !r.OK || r.Entries != entries {
		t.Errorf("VerifyLog() = %+v, %v; want OK, %d entries", r, err, entries)
	}
}

// TestGroupCommitCancel checks that a request given up while it waits does
// not hold up its caller or the writer: dropped when it is still queued,
// abandoned with its transaction when no request of it is waited for any
// more.
func TestGroupCommitCancel(t *testing.T) {
	ctx := context.Background()
	u := freshDB(t)
	db := open(t, u)
	defer db.Close()
	ws, err := db.CreateWorkspace(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	appendOne := func(subject string) func(postgres.TestTx) error {
		return func(tx postgres.TestTx) error {
			_, err := tx.Append(subject)
			return err
		}
	}

	// A request queued behind a transaction in flight, then cancelled.
	entered, hold, held := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		held <- postgres.WriteLogForTest(ctx, db, ws.ID, func(tx postgres.TestTx) error {
			close(entered)
			<-hold
			return appendOne("held")(tx)
		})
	}()
	<-entered
	cctx, cancel := context.WithCancel(ctx)
	cancelled := make(chan error, 1)
	go func() { cancelled <- postgres.WriteLogForTest(cctx, db, ws.ID, appendOne("cancelled")) }()
	waitQueued(t, db, ws.ID, 1)
	cancel()
	select {
	case err := <-cancelled:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled request = %v; want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled request still waits for the transaction ahead of it")
	}
	close(hold)
	if err := <-held; err != nil {
		t.Fatalf("held request = %v", err)
	}

	// A request whose transaction waits for the log lock, which another
	// session holds, and that times out.
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	lock, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('consentd-log:' || $1::text, 0))`, ws.ID); err != nil {
		t.Fatal(err)
	}
	tctx, tcancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer tcancel()
	began := time.Now()
	if err := postgres.WriteLogForTest(tctx, db, ws.ID, appendOne("timed out")); err == nil {
		t.Error("a request waiting for a log lock held elsewhere succeeded")
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("a request that timed out after 200ms returned after %v", d)
	}
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	// The writer goes on.
	if err := postgres.WriteLogForTest(ctx, db, ws.ID, appendOne("after")); err != nil {
		t.Fatalf("request after = %v", err)
	}
	var subjects []string
	ledger.EachEntry(ctx, db, ws.ID, func(rec consentd.LogRecord) error {
		data := []byte(rec.Entry)
		var e struct{ Subject string }
		json.Unmarshal(data, &e)
		subjects = append(subjects, e.Subject)
		return nil
	})
	if want := []string{"held", "after"}; !slices.Equal(subjects, want) {
		t.Errorf("log subjects = %v; want %v", subjects, want)
	}
}

// waitQueued waits until n requests wait for the workspace's writer.
func waitQueued(t *testing.T, db *postgres.DB, wsID string, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); postgres.QueuedForTest(db, wsID) != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued; want %d", postgres.QueuedForTest(db, wsID), n)
		}
	}
}

// TestGroupCommitCatalogChange commits catalog changes and the consent
// writes that depend on them in one group: each write is validated against
// the catalog as the requests before it in the group left it.
func TestGroupCommitCatalogChange(t *testing.T) {
	ctx := context.Background()
	db := open(t, freshDB(t))
	defer db.Close()
	ws, err := db.CreateWorkspace(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	storetest.PutCatalog(t, db, ws.ID)
	w := consentd.ConsentWrite{ContactPoint: "a@example.com", Channel: "email", Purpose: "surveys", Status: consentd.OptedIn,
		CapturedAt: time.Now().Add(-time.Hour), Source: consentd.Source{Type: consentd.SourceAPI}}
	surveys := &consentd.Purpose{ID: "surveys", Name: "Surveys", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"email": {}}}
	if _, err := db.Catalog(ctx, ws.ID); err != nil { // cached without surveys
		t.Fatal(err)
	}

	// Hold the writer, queue the requests in order, then let them go as
	// one group.
	entered, hold, held := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		held <- postgres.WriteLogForTest(ctx, db, ws.ID, func(postgres.TestTx) error { close(entered); <-hold; return nil })
	}()
	<-entered
	var results [2][]consentd.WriteResult
	errs := make([]error, 4)
	steps := []func(){
		func() { errs[0] = db.PutPurpose(ctx, ws.ID, surveys, true, "t") },
		func() { results[0], errs[1] = db.WriteConsents(ctx, ws.ID, []consentd.ConsentWrite{w}, "t") },
		func() { errs[2] = db.DeletePurpose(ctx, ws.ID, "surveys", "t") },
		func() { results[1], errs[3] = db.WriteConsents(ctx, ws.ID, []consentd.ConsentWrite{w}, "t") },
	}
	var wg sync.WaitGroup
	for i, step := range steps {
		wg.Go(step)
		waitQueued(t, db, ws.ID, i+1)
	}
	close(hold)
	wg.Wait()
	if err := errors.Join(<-held, errors.Join(errs...)); err != nil {
		t.Fatal(err)
	}
	if r := results[0][0]; r.Err != nil || r.Outcome != consentd.Created {
		t.Errorf("write after PutPurpose in the same group = %+v; want created", r)
	}
	if r := results[1][0]; consentd.ErrorCode(r.Err) != consentd.EUNKNOWNPURPOSE {
		t.Errorf("write after DeletePurpose in the same group = %+v; want EUNKNOWNPURPOSE", r)
	}
	if n, err := db.LogSize(ctx, ws.ID); err != nil || n != 4 {
		t.Errorf("LogSize() = %d, %v; want 4", n, err)
	}
	if cat, err := db.Catalog(ctx, ws.ID); err != nil || cat.Purposes["surveys"] != nil {
		t.Errorf("Catalog() = %v; want surveys deleted", err)
	}
}
