package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consentd/consentd"

	"github.com/consentd/consentd/internal/apitest"
)

// testPostgres returns a fresh database URL, skipping the test when no
// PostgreSQL answers, except under CI=true, where that is a failure.
func testPostgres(t *testing.T) string {
	t.Helper()
	admin := os.Getenv("CONSENTD_TEST_POSTGRES")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, drop, err := freshPostgres(ctx, admin, "consentd_test_")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI=true: %v", err)
		}
		t.Skipf("PostgreSQL not reachable (%v); skipping this PostgreSQL test", err)
	}
	t.Cleanup(drop)
	return u
}

// TestTwoReplicas runs two `consentd serve` on one PostgreSQL database: a
// write acknowledged by A changes B's decision; concurrent writers on the
// same keys through both end in the latest captured_at, every write is in
// the one log, and `log verify --database` passes.
func TestTwoReplicas(t *testing.T) {
	dbURL := testPostgres(t)
	dir := t.TempDir()
	env := map[string]string{"CONSENTD_ADMIN_KEY": benchAdminKey, "CONSENTD_LOG_KEY": filepath.Join(dir, "log.key")}
	ctx := context.Background()
	var reps []*replica
	var starts sync.WaitGroup
	var mu sync.Mutex
	for i := 0; i < 2; i++ { // start both at once: migrations and bootstrap race
		starts.Add(1)
		go func(i int) {
			defer starts.Done()
			r, err := startReplica(ctx, env, io.Discard, "--database", dbURL, "--data", filepath.Join(dir, fmt.Sprint(i)), "--checkpoint-interval", "100ms")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			reps = append(reps, r)
			mu.Unlock()
		}(i)
	}
	starts.Wait()
	for _, r := range reps {
		t.Cleanup(func() { r.close() })
	}
	if t.Failed() {
		t.FailNow()
	}
	a, b := "http://"+reps[0].addr, "http://"+reps[1].addr
	c := &http.Client{Timeout: 10 * time.Second, Transport: apitest.Transport(t, nil)} // checked against /openapi.json
	if err := httpJSON(ctx, c, "POST", a+"/v1/purposes", map[string]any{"id": "news", "name": "News", "type": "commercial",
		"channels": map[string]any{"email": map[string]any{"enforcement": "non_restrictive"}}}, nil); err != nil {
		t.Fatal(err)
	}

	// A write acknowledged by A reaches B's decisions (bounded wait; the
	// test asserts the change, not the time).
	decideB := func(cp string) consentd.DecisionResult {
		var d consentd.DecisionResult
		if err := httpJSON(ctx, c, "POST", b+"/v1/decisions", map[string]any{"contact_point": cp, "channel": "email", "purpose": "news"}, &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := decideB("jane@example.com"); !d.Allowed {
		t.Fatalf("B's decision before = %+v; want allowed", d)
	}
	t0 := time.Now().Add(-time.Hour).UTC()
	write := func(target, cp, status string, at time.Time) error {
		return httpJSON(ctx, c, "POST", target+"/v1/consents", map[string]any{"contact_point": cp, "channel": "email", "purpose": "news",
			"status": status, "captured_at": at.Format(time.RFC3339Nano), "source": map[string]any{"type": "api"}}, nil)
	}
	if err := write(a, "jane@example.com", "opted_out", t0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for d := decideB("jane@example.com"); d.Allowed; d = decideB("jane@example.com") {
		if time.Now().After(deadline) {
			t.Fatalf("B still answers %+v 10s after A acknowledged the opt-out", d)
		}
		time.Sleep(time.Millisecond)
	}

	// Concurrent writers on the same keys through both replicas.
	const keys, writers, perWriter = 5, 8, 25
	var wg sync.WaitGroup
	latest := make([]struct {
		at     time.Time
		status string
	}, keys)
	var lmu sync.Mutex
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			target := []string{a, b}[g%2]
			for i := 0; i < perWriter; i++ {
				k := (g + i) % keys
				at := t0.Add(time.Duration(i*writers+g) * time.Millisecond)
				status := []string{"opted_in", "opted_out"}[(g+i)%2]
				if err := write(target, fmt.Sprintf("key%d@example.com", k), status, at); err != nil {
					t.Error(err)
					return
				}
				lmu.Lock()
				if at.After(latest[k].at) {
					latest[k].at, latest[k].status = at, status
				}
				lmu.Unlock()
			}
		}(g)
	}
	wg.Wait()
	for k := range latest {
		for _, target := range []string{a, b} {
			var got consentd.Consent
			id := strings.ReplaceAll(fmt.Sprintf("key%d%%40example.com%%23news%%3Aemail", k), "%%", "%")
			if err := httpJSON(ctx, c, "GET", target+"/v1/consents/"+id, nil, &got); err != nil {
				t.Fatal(err)
			}
			if string(got.Status) != latest[k].status || !got.CapturedAt.Equal(latest[k].at) {
				t.Errorf("key%d via %s = %s at %s; want the latest write, %s at %s", k, target, got.Status, got.CapturedAt, latest[k].status, latest[k].at)
			}
		}
	}
	var page struct {
		Entries []consentd.LogRecord `json:"entries"`
	}
	if err := httpJSON(ctx, c, "GET", b+"/v1/log?limit=1000", nil, &page); err != nil {
		t.Fatal(err)
	}
	// purpose + jane + every concurrent write
	if want := 2 + writers*perWriter; len(page.Entries) != want {
		t.Errorf("log has %d entries; want %d (every write logged once)", len(page.Entries), want)
	}
	for i, e := range page.Entries {
		if e.Seq != int64(i+1) {
			t.Fatalf("log entry %d has seq %d; want %d (no gaps, no forks)", i, e.Seq, i+1)
		}
	}
	if err := httpJSON(ctx, c, "POST", a+"/v1/log/checkpoints", nil, nil); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
	if code := m.Run(ctx, []string{"log", "verify", "--database", dbURL, "--data", filepath.Join(dir, "0")}); code != 0 || !strings.Contains(out.String(), "ok") {
		t.Fatalf("log verify --database = %d, %q, %q; want 0 and ok", code, out.String(), errb.String())
	}
}
