package postgres_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/storetest"
)

// TestRequestTwoReplicas runs the request worker of two replicas on one
// database at once: each request is carried out once, and logged once.
func TestRequestTwoReplicas(t *testing.T) {
	ctx := context.Background()
	u := freshDB(t)
	db1, db2 := open(t, u), open(t, u)
	defer db1.Close()
	defer db2.Close()
	ws, err := db1.CreateWorkspace(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	storetest.PutCatalog(t, db1, ws.ID)
	const n = 10
	for i := range n {
		cp := string(rune('a'+i)) + "@example.com"
		w := consentd.ConsentWrite{ContactPoint: cp, Channel: "email", Purpose: "newsletter", Status: consentd.OptedIn,
			CapturedAt: time.Now().Add(-time.Hour), Source: consentd.Source{Type: consentd.SourceForm}}
		if _, err := db1.WriteConsents(ctx, ws.ID, []consentd.ConsentWrite{w}, "t"); err != nil {
			t.Fatal(err)
		}
		if _, err := db1.CreateRequest(ctx, ws.ID, consentd.RequestInput{Type: "withdraw", ContactPoint: cp, Regulation: "gdpr"}, "t"); err != nil {
			t.Fatal(err)
		}
	}
	size, _ := db1.LogSize(ctx, ws.ID)
	var wg sync.WaitGroup
	for _, db := range []storetest.Store{db1, db2} {
		wg.Go(func() {
			refs, err := db.PendingRequests(ctx, time.Now(), 100)
			if err != nil {
				t.Error(err)
				return
			}
			for _, ref := range refs {
				if r, err := db.ProcessRequest(ctx, ref.WorkspaceID, ref.ID); err != nil || r.State != consentd.RequestCompleted {
					t.Errorf("ProcessRequest(%s) = %+v, %v; want completed", ref.ID, r, err)
				}
			}
		})
	}
	wg.Wait()
	after, _ := db1.LogSize(ctx, ws.ID)
	recs, err := db1.Log(ctx, ws.ID, size, 1000)
	if err != nil {
		t.Fatal(err)
	}
	completed := 0
	for _, r := range recs {
		var e struct {
			Type string `json:"type"`
		}
		json.Unmarshal(r.Entry, &e)
		if e.Type == consentd.LogRequestCompleted {
			completed++
		}
	}
	// Each request: one opt-out, one suppression, one completion.
	if completed != n || after-size != 3*n {
		t.Errorf("two workers: %d completions, the log grew by %d; want %d and %d", completed, after-size, n, 3*n)
	}
	l, _, err := db2.Requests(ctx, ws.ID, consentd.RequestFilter{State: consentd.RequestCompleted})
	if err != nil || len(l) != n {
		t.Errorf("Requests(completed) = %d, %v; want %d", len(l), err, n)
	}
	for _, r := range l {
		if r.Attempts != 1 {
			t.Errorf("request %s: %d attempts; want 1", r.ID, r.Attempts)
		}
	}
}
