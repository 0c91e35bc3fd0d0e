package index_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/index"
	"github.com/consentd/consentd/internal/sqlite"
)

func setup(t testing.TB) (*sqlite.DB, *index.Index, string) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "consentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	idx := index.New(db, slog.New(slog.DiscardHandler))
	db.OnCommit = func(m map[string][]consentd.LogRecord) { idx.Apply(ctx, m) }
	ws, err := db.CreateWorkspace(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*consentd.Purpose{
		{ID: "news", Name: "N", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"email": {Enforcement: consentd.NonRestrictive}, "sms": {}}},
		{ID: "orders", Name: "O", Type: consentd.Transactional, Channels: map[string]consentd.ChannelSetting{"email": {Enforcement: consentd.Disabled}}},
		{ID: "track", Name: "T", Type: consentd.Tracking, Channels: map[string]consentd.ChannelSetting{"email": {}}},
	} {
		if err := db.PutPurpose(ctx, ws.ID, p, true, "t"); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.PutTopic(ctx, ws.ID, &consentd.Topic{ID: "weekly", Purpose: "news", Name: "W"}, true, "t"); err != nil {
		t.Fatal(err)
	}
	return db, idx, ws.ID
}

// TestIndexAgreesWithStore writes random consents and suppressions, some
// before the index is warmed and some after, and compares every decision
// the index gives with the store's.
func TestIndexAgreesWithStore(t *testing.T) {
	ctx := context.Background()
	db, idx, ws := setup(t)
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Now().Add(-time.Hour)
	addrs := make([]string, 40)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("user%d@example.com", i)
	}
	statuses := []consentd.Status{consentd.OptedIn, consentd.OptedOut, consentd.Pending}
	reqs := []consentd.DecisionRequest{
		{Channel: "email", Purpose: "news"}, {Channel: "email", Purpose: "news", Topic: "weekly"},
		{Channel: "email", Purpose: "orders"}, {Channel: "email", Purpose: "track"}, {Channel: "push", Purpose: "news"},
	}
	randomWrites := func(n int) {
		for i := 0; i < n; i++ {
			a := addrs[rng.IntN(len(addrs))]
			if rng.IntN(10) == 0 {
				reasons := []consentd.SuppressionReason{consentd.SuppressErased, consentd.SuppressDoNotContact, consentd.SuppressHardBounce}
				if _, err := db.AddSuppression(ctx, ws, consentd.SuppressionInput{ContactPoint: a, Reason: reasons[rng.IntN(3)]}, "t"); err != nil {
					t.Fatal(err)
				}
				continue
			}
			w := consentd.ConsentWrite{ContactPoint: a, Channel: "email", Purpose: []string{"news", "orders", "track"}[rng.IntN(3)],
				Status: statuses[rng.IntN(3)], CapturedAt: t0.Add(time.Duration(rng.IntN(3600)) * time.Second), Source: consentd.Source{Type: "api"}}
			if w.Purpose == "news" && rng.IntN(2) == 0 {
				w.Topic = "weekly"
			}
			if _, err := db.WriteConsents(ctx, ws, []consentd.ConsentWrite{w}, "t"); err != nil {
				t.Fatal(err)
			}
		}
	}
	compare := func(stage string) {
		for _, a := range addrs {
			for _, r := range reqs {
				r.ContactPoint = a
				want, err := db.Decide(ctx, ws, &r)
				if err != nil {
					t.Fatal(err)
				}
				got, err := idx.Decide(ctx, ws, &r)
				if err != nil {
					t.Fatal(err)
				}
				if *got != *want {
					t.Fatalf("%s: index Decide(%+v) = %+v; want the store's %+v", stage, r, got, want)
				}
				var parts consentd.DecisionResult
				sub, err := idx.DecideParts(ctx, ws, &r, &parts)
				if err != nil {
					t.Fatal(err)
				}
				if parts.ConsentID != "" {
					t.Fatalf("DecideParts built the consent id %q", parts.ConsentID)
				}
				parts.ConsentID = parts.ContactPoint + "#" + consentd.ChannelTypeID(sub, r.Channel)
				if parts != *want {
					t.Fatalf("%s: index DecideParts(%+v) = %+v and %q; want the store's %+v", stage, r, parts, sub, want)
				}
			}
		}
	}
	// A Prepared lookup made before any consent on the news purpose's sms
	// channel type exists finds the ones written later (channel types are
	// interned as they come).
	prepSMS, err := idx.Prepare(ctx, ws, "news", "", "sms")
	if err != nil {
		t.Fatal(err)
	}
	randomWrites(300)
	compare("after warm-up")
	randomWrites(300)
	compare("after writes fed by commits")
	secret, err := db.WorkspaceSecret(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	prepEmail, err := idx.Prepare(ctx, ws, "news", "", "email")
	if err != nil {
		t.Fatal(err)
	}
	phone := func(i int) string { return fmt.Sprintf("+4915112%06d", i) }
	for i := range 10 {
		res, err := db.WriteConsents(ctx, ws, []consentd.ConsentWrite{{ContactPoint: phone(i),
			Channel: "sms", Purpose: "news", Status: consentd.OptedIn, CapturedAt: t0, Source: consentd.Source{Type: "api"}}}, "t")
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
	}
	found := 0
	for i, a := range addrs {
		for _, c := range []struct {
			p    *index.Prepared
			kind consentd.ContactPointKind
			cp   string
			ct   string
		}{
			{prepEmail, consentd.KindEmail, a, "news:email"},
			{prepSMS, consentd.KindPhone, phone(i), "news:sms"},
		} {
			cp, err := consentd.NormalizeStored(c.kind, c.cp, "")
			if err != nil {
				t.Fatal(err)
			}
			h := consentd.ContactPointHash(secret, c.kind, cp)
			got, want := c.p.Lookup(h), idx.Lookup(ws, h, c.ct)
			if got != want {
				t.Fatalf("Prepared.Lookup(%s, %s) = %q; Index.Lookup says %q", c.cp, c.ct, got, want)
			}
			if c.ct == "news:sms" && got == consentd.OptedIn {
				found++
			}
		}
	}
	if found != 10 {
		t.Fatalf("the sms Prepared lookup found %d of the 10 sms consents written after it was made", found)
	}
	if err := db.PutPurpose(ctx, ws, &consentd.Purpose{ID: "news", Name: "N", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"email": {Enforcement: consentd.Restrictive}}}, false, "t"); err != nil {
		t.Fatal(err)
	}
	compare("after a catalog change")
}

// TestIndexFollowsOtherProcess writes through a second handle on the same
// file (another process, as far as the index knows) and checks the index
// sees the change after CatchUp.
func TestIndexFollowsOtherProcess(t *testing.T) {
	ctx := context.Background()
	db, idx, ws := setup(t)
	other, err := sqlite.Open(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	req := consentd.DecisionRequest{ContactPoint: "a@b.de", Channel: "email", Purpose: "news"}
	if d, err := idx.Decide(ctx, ws, &req); err != nil || !d.Allowed {
		t.Fatalf("Decide before = %+v, %v; want allowed", d, err)
	}
	if _, err := other.WriteConsents(ctx, ws, []consentd.ConsentWrite{{ContactPoint: "a@b.de", Channel: "email", Purpose: "news",
		Status: consentd.OptedOut, CapturedAt: time.Now().Add(-time.Minute), Source: consentd.Source{Type: "api"}}}, "t"); err != nil {
		t.Fatal(err)
	}
	if err := idx.CatchUp(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if d, err := idx.Decide(ctx, ws, &req); err != nil || d.Allowed || d.Reason != consentd.ReasonOptedOut {
		t.Fatalf("Decide after the other process's opt-out = %+v, %v; want opted_out", d, err)
	}
	// A local write after a foreign one: the commit hook finds the gap and
	// reads it first.
	if _, err := other.WriteConsents(ctx, ws, []consentd.ConsentWrite{{ContactPoint: "c@b.de", Channel: "email", Purpose: "news",
		Status: consentd.OptedOut, CapturedAt: time.Now().Add(-time.Minute), Source: consentd.Source{Type: "api"}}}, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.WriteConsents(ctx, ws, []consentd.ConsentWrite{{ContactPoint: "d@b.de", Channel: "email", Purpose: "news",
		Status: consentd.OptedOut, CapturedAt: time.Now().Add(-time.Minute), Source: consentd.Source{Type: "api"}}}, "t"); err != nil {
		t.Fatal(err)
	}
	for _, cp := range []string{"c@b.de", "d@b.de"} {
		req.ContactPoint = cp
		if d, err := idx.Decide(ctx, ws, &req); err != nil || d.Reason != consentd.ReasonOptedOut {
			t.Errorf("Decide(%q) after a gap = %+v, %v; want opted_out", cp, d, err)
		}
	}
}

// TestNoReadSeesOlderThanAcknowledged runs writers that flip consents and,
// after each acknowledged write, read the decision: it must reflect that
// write or a newer one, never older state.
func TestNoReadSeesOlderThanAcknowledged(t *testing.T) {
	ctx := context.Background()
	db, idx, ws := setup(t)
	if _, err := idx.Decide(ctx, ws, &consentd.DecisionRequest{ContactPoint: "x@y.de", Channel: "email", Purpose: "news"}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Hour)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			cp := fmt.Sprintf("writer%d@example.com", g)
			for i := 0; i < 40; i++ {
				status := consentd.OptedIn
				if i%2 == 1 {
					status = consentd.OptedOut
				}
				res, err := db.WriteConsents(ctx, ws, []consentd.ConsentWrite{{ContactPoint: cp, Channel: "email", Purpose: "news",
					Status: status, CapturedAt: t0.Add(time.Duration(i) * time.Second), Source: consentd.Source{Type: "api"}}}, "t")
				if err != nil || res[0].Err != nil {
					t.Error(err, res[0].Err)
					return
				}
				d, err := idx.Decide(ctx, ws, &consentd.DecisionRequest{ContactPoint: cp, Channel: "email", Purpose: "news"})
				if err != nil {
					t.Error(err)
					return
				}
				if d.Status != status || d.Seq < res[0].Consent.Seq {
					t.Errorf("writer %d write %d: decision = %s at seq %d after acknowledged %s at seq %d", g, i, d.Status, d.Seq, status, res[0].Consent.Seq)
					return
				}
			}
		}(g)
	}
	// Readers hammer the index at the same time.
	stop := make(chan struct{})
	var rg sync.WaitGroup
	for r := 0; r < 4; r++ {
		rg.Add(1)
		go func() {
			defer rg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				idx.Decide(ctx, ws, &consentd.DecisionRequest{ContactPoint: "writer0@example.com", Channel: "email", Purpose: "news"})
			}
		}()
	}
	wg.Wait()
	close(stop)
	rg.Wait()
}
