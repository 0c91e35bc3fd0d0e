package storetest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
)

// ConcurrentWrites is the workload of the concurrency tests, exported for
// backends that run it through several handles on one database: writes
// writes on keys keys (1 to 26), each of status opted_in or opted_out and
// captured_at t0 plus a distinct number of seconds, in a shuffled order,
// and Latest returns the state each key must end in.
type ConcurrentWrites struct {
	Writes []consentd.ConsentWrite
	Latest map[string]consentd.ConsentWrite // consent id -> the write of the latest captured_at
}

// NewConcurrentWrites returns n writes over keys contact points of the
// newsletter purpose of PutCatalog, captured two hours before now.
func NewConcurrentWrites(n, keys int) ConcurrentWrites {
	t0 := time.Now().Add(-2 * time.Hour).UTC()
	cw := ConcurrentWrites{Latest: map[string]consentd.ConsentWrite{}}
	offsets := rand.Perm(n)
	for i := range n {
		cp := fmt.Sprintf("key-%c@example.com", 'a'+i%keys)
		status := consentd.OptedIn
		if rand.IntN(2) == 1 {
			status = consentd.OptedOut
		}
		w := consentd.ConsentWrite{ContactPoint: cp, Channel: "email", Purpose: "newsletter", Status: status,
			CapturedAt: t0.Add(time.Duration(offsets[i]) * time.Second), Source: consentd.Source{Type: consentd.SourceAPI, Name: fmt.Sprint(i)}}
		cw.Writes = append(cw.Writes, w)
		id := consentd.ConsentID(cp, "newsletter:email")
		if l, ok := cw.Latest[id]; !ok || w.CapturedAt.After(l.CapturedAt) {
			cw.Latest[id] = w
		}
	}
	return cw
}

// PutCatalog puts the newsletter purpose that ConcurrentWrites writes on.
func PutCatalog(t *testing.T, s Store, wsID string) {
	t.Helper()
	p := &consentd.Purpose{ID: "newsletter", Name: "Newsletter", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"email": {}}}
	if err := s.PutPurpose(t.Context(), wsID, p, true, "test"); err != nil {
		t.Fatalf("PutPurpose(newsletter) = %v", err)
	}
}

// Check checks the outcome of cw written to workspace wsID of s, its log
// having been size entries long before: every key in the state of its
// latest write, every write logged once, seqs without gaps, and the log
// verifying against a checkpoint signed now.
func (cw ConcurrentWrites) Check(t *testing.T, s Store, wsID string, size int64) {
	t.Helper()
	ctx := t.Context()
	for id, w := range cw.Latest {
		c, err := s.Consent(ctx, wsID, id, time.Time{})
		if err != nil {
			t.Errorf("Consent(%q) = %v", id, err)
			continue
		}
		if c.Status != w.Status || !c.CapturedAt.Equal(w.CapturedAt) || c.Source.Name != w.Source.Name {
			t.Errorf("Consent(%q) = %s captured %v by write %s; want %s captured %v by write %s, the latest", id, c.Status, c.CapturedAt, c.Source.Name,
				w.Status, w.CapturedAt, w.Source.Name)
		}
		h, err := s.ConsentHistory(ctx, wsID, id)
		if err != nil {
			t.Fatalf("ConsentHistory(%q) = %v", id, err)
		}
		var changed int64
		for _, r := range h {
			if decode(t, r).Type == consentd.LogConsentChanged {
				changed++
			}
		}
		if c.Version != changed {
			t.Errorf("Consent(%q).Version = %d; want %d, its consent.changed entries", id, c.Version, changed)
		}
	}
	n, err := s.LogSize(ctx, wsID)
	if err != nil || n != size+int64(len(cw.Writes)) {
		t.Errorf("LogSize() = %d, %v; want %d: every write logged", n, err, size+int64(len(cw.Writes)))
	}
	sources := map[string]int{}
	var next int64 = 1
	err = ledger.EachEntry(ctx, s, wsID, func(rec consentd.LogRecord) error {
		seq, data := rec.Seq, []byte(rec.Entry)
		if seq != next {
			return fmt.Errorf("entry %d after %d", seq, next-1)
		}
		next++
		if seq > size {
			var e struct {
				After, Write *consentd.LoggedConsent
			}
			if err := json.Unmarshal(data, &e); err != nil {
				return err
			}
			if e.After != nil {
				sources[e.After.Source.Name]++
			} else if e.Write != nil {
				sources[e.Write.Source.Name]++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("EachEntry() = %v", err)
	}
	var wrong []string
	for i := range cw.Writes {
		if k := fmt.Sprint(i); sources[k] != 1 {
			wrong = append(wrong, fmt.Sprintf("write %d %d times", i, sources[k]))
		}
	}
	if len(wrong) > 0 {
		t.Errorf("%d of %d writes are not in the log exactly once: %s", len(wrong), len(cw.Writes), strings.Join(wrong[:min(len(wrong), 5)], ", "))
	}
	signer, err := ledger.LoadOrCreateKey(filepath.Join(t.TempDir(), "checkpoint.key"), "consentd-test")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ledger.SignCheckpoint(ctx, s, signer, wsID); err != nil {
		t.Fatalf("SignCheckpoint() = %v", err)
	}
	r, err := ledger.VerifyLog(ctx, s, signer.PublicKey(), wsID)
	if err != nil || !r.OK || r.Entries != n || r.Checkpoints != 1 {
		t.Errorf("VerifyLog() = %+v, %v; want OK, %d entries, 1 checkpoint", r, err, n)
	}
}

// Run writes cw through the given stores (handles on one database) from
// goroutines goroutines, one write a call, all starting at once.
func (cw ConcurrentWrites) Run(t *testing.T, wsID string, goroutines int, stores ...Store) {
	t.Helper()
	var wg sync.WaitGroup
	var failed atomic.Int64
	start := make(chan struct{})
	for g := range goroutines {
		wg.Go(func() {
			s := stores[g%len(stores)]
			<-start
			for i := g; i < len(cw.Writes); i += goroutines {
				res, err := s.WriteConsents(t.Context(), wsID, cw.Writes[i:i+1], "test")
				if err == nil {
					err = res[0].Err
				}
				if err != nil && failed.Add(1) <= 5 {
					t.Errorf("WriteConsents(write %d) = %v", i, err)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d writes failed", n, len(cw.Writes))
	}
}

func testConcurrentWritersOneKey(t *testing.T, s Store) {
	ws, err := s.CreateWorkspace(t.Context(), "test")
	if err != nil {
		t.Fatal(err)
	}
	PutCatalog(t, s, ws.ID)
	cw := NewConcurrentWrites(60, 1)
	cw.Run(t, ws.ID, 20, s)
	cw.Check(t, s, ws.ID, 1)
}

func testConcurrentWritersManyKeys(t *testing.T, s Store) {
	ws, err := s.CreateWorkspace(t.Context(), "test")
	if err != nil {
		t.Fatal(err)
	}
	PutCatalog(t, s, ws.ID)
	cw := NewConcurrentWrites(200, 5)
	// Batches too: every fourth goroutine writes its share in one call.
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			var mine []consentd.ConsentWrite
			for i := g; i < len(cw.Writes); i += 16 {
				mine = append(mine, cw.Writes[i])
			}
			if g%4 == 0 {
				if _, err := s.WriteConsents(t.Context(), ws.ID, mine, "test"); err != nil {
					t.Errorf("WriteConsents(%d writes) = %v", len(mine), err)
				}
				return
			}
			for i := range mine {
				if _, err := s.WriteConsents(t.Context(), ws.ID, mine[i:i+1], "test"); err != nil {
					t.Errorf("WriteConsents() = %v", err)
				}
			}
		})
	}
	wg.Wait()
	cw.Check(t, s, ws.ID, 1)
}
