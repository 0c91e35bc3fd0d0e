package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"golang.org/x/mod/sumdb/tlog"
)

// TestImportBatchSameAsWriteConsents checks that the set-based write path
// of ImportBatch stores what WriteConsents stores for the same writes: the
// same outcomes, the same log entries (but for the subject, whose hash is
// keyed by the workspace's secret) in the same order, a log whose stored
// hashes are those of its entries, and the same consents, with writes that
// meet stored consents and earlier writes of the same batch.
func TestImportBatchSameAsWriteConsents(t *testing.T) {
	ctx := context.Background()
	db, wsA := open(t)
	db.Now = func() time.Time { return time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC) }
	wsB, err := db.CreateWorkspace(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	p := &consentd.Purpose{ID: "newsletter", Name: "Newsletter", Type: consentd.Commercial,
		Channels: map[string]consentd.ChannelSetting{"email": {}, "sms": {}}}
	if err := db.PutPurpose(ctx, wsB.ID, p, true, "test"); err != nil {
		t.Fatal(err)
	}
	if err := db.PutTopic(ctx, wsB.ID, &consentd.Topic{ID: "weekly", Purpose: "newsletter", Name: "Weekly"}, true, "test"); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.FixedZone("CET", 3600))
	w := func(cp, status string, at time.Duration, mod func(*consentd.ConsentWrite)) consentd.ConsentWrite {
		x := write(cp, status, t0.Add(at))
		if mod != nil {
			mod(&x)
		}
		return x
	}
	party := func(id string) func(*consentd.ConsentWrite) { return func(x *consentd.ConsentWrite) { x.PartyID = id } }
	confirmed := t0.Add(time.Minute)
	withProof := func(x *consentd.ConsentWrite) {
		x.Proof = &consentd.Proof{IP: "192.0.2.1", ConfirmedAt: &confirmed}
		x.Source.Details = json.RawMessage(`{ "form":  "a" }`)
	}
	topic := func(x *consentd.ConsentWrite) { x.Topic = "weekly" }
	// Stored before the batch.
	before := []consentd.ConsentWrite{
		w("old@example.com", "opted_in", 0, withProof),
		w("party@example.com", "opted_in", 0, party("p1")),
		w("sms@example.com", "opted_out", 0, nil),
	}
	batch := []consentd.ConsentWrite{
		w("old@example.com", "opted_out", time.Hour, nil),            // changes a stored consent
		w("old@example.com", "opted_in", 30*time.Minute, nil),        // superseded by the write before it
		w("OLD@example.com", "opted_out", time.Hour, withProof),      // unchanged against the batch's state
		w("old@example.com", "opted_in", 2*time.Hour, withProof),     // changes it again
		w("party@example.com", "opted_out", time.Hour, nil),          // keeps the stored party
		w("party@example.com", "opted_out", -time.Hour, party("p2")), // superseded
		w("new@example.com", "opted_in", 0, topic),                   // created
		w("new@example.com", "opted_in", 0, withProof),               // another channel type
		w("new@example.com", "opted_in", 0, topic),                   // unchanged in the batch
		w("new@example.com", "opted_out", time.Second, topic),        // changed in the batch
		w("sms@example.com", "opted_out", 0, nil),                    // unchanged against the database
		w("fresh@example.com", "pending", 0, party("p3")),            // created with a party
		w("fresh@example.com", "opted_in", time.Minute, withProof),   // keeps the party of the batch
	}
	var bad consentd.ConsentWrite = w("not an address", "opted_in", 0, nil)
	batch = append(batch, bad)
	for _, ws := range []string{wsA, wsB.ID} {
		if _, err := db.WriteConsents(ctx, ws, before, "setup"); err != nil {
			t.Fatal(err)
		}
	}
	want, err := db.WriteConsents(ctx, wsA, batch, "bench")
	if err != nil {
		t.Fatal(err)
	}
	im, _, err := db.CreateImport(ctx, wsB.ID, consentd.ImportSpec{Format: "native", SHA256: strings.Repeat("a", 64)})
	if err != nil {
		t.Fatal(err)
	}
	lines := make([]int64, len(batch))
	for i := range lines {
		lines[i] = int64(i + 2)
	}
	got, err := db.ImportBatch(ctx, wsB.ID, im.ID, batch, lines, nil, consentd.ImportProgress{Committed: int64(len(batch))}, "bench")
	if err != nil {
		t.Fatal(err)
	}
	for i := range batch {
		if consentd.ErrorCode(got[i].Err) != consentd.ErrorCode(want[i].Err) || got[i].Applied != want[i].Applied || got[i].Outcome != want[i].Outcome ||
			!reflect.DeepEqual(got[i].Consent, want[i].Consent) {
			t.Errorf("write %d: import %+v %+v, WriteConsents %+v %+v", i, got[i], got[i].Consent, want[i], want[i].Consent)
		}
	}
	logA, logB := logOf(t, db, wsA), logOf(t, db, wsB.ID)
	if !reflect.DeepEqual(logA, logB) {
		t.Errorf("logs differ:\nimport        %s\nWriteConsents %s", strings.Join(logB, "\n"), strings.Join(logA, "\n"))
	}
	if a, b := exportOf(t, db, wsA), exportOf(t, db, wsB.ID); !reflect.DeepEqual(a, b) {
		t.Errorf("consents differ:\nimport        %s\nWriteConsents %s", strings.Join(b, "\n"), strings.Join(a, "\n"))
	}
}

// logOf returns the workspace's log entries without their subjects, after
// checking that the stored tree hashes are those of the entries.
func logOf(t *testing.T, db interface {
	Log(context.Context, string, int64, int) ([]consentd.LogRecord, error)
	TreeHash(context.Context, string, int64) (tlog.Hash, error)
}, ws string) []string {
	t.Helper()
	ctx := context.Background()
	recs, err := db.Log(ctx, ws, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var hashes []tlog.Hash
	for i, r := range recs {
		h, err := tlog.StoredHashes(int64(i), r.Leaf, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			o := make([]tlog.Hash, len(idx))
			for j, x := range idx {
				o[j] = hashes[x]
			}
			return o, nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h...)
		var m map[string]any
		if err := json.Unmarshal(r.Entry, &m); err != nil {
			t.Fatal(err)
		}
		if m["actor"] == "test" {
			continue // the catalog, made at different times
		}
		delete(m, "subject")
		b, _ := json.Marshal(m)
		out = append(out, fmt.Sprintf("%d %s", r.Seq, b))
	}
	want, err := tlog.TreeHash(int64(len(recs)), tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		o := make([]tlog.Hash, len(idx))
		for j, x := range idx {
			o[j] = hashes[x]
		}
		return o, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := db.TreeHash(ctx, ws, int64(len(recs))); err != nil || got != want {
		t.Errorf("tree hash %v (%v), from the entries %v", got, err, want)
	}
	return out
}

func exportOf(t *testing.T, db interface {
	ExportConsents(context.Context, string, consentd.Times, func(*consentd.Consent) error) error
}, ws string) []string {
	t.Helper()
	var out []string
	err := db.ExportConsents(context.Background(), ws, consentd.Times{}, func(c *consentd.Consent) error {
		b, _ := json.Marshal(c)
		out = append(out, string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Key order is hash order, which differs between workspaces.
	slices.Sort(out)
	return out
}

// TestImportBatchAmongWrites runs import batches, each in a transaction of
// its own, while other writes are committed in groups: every write lands
// once, a refused batch leaves nothing, and the log stays whole.
func TestImportBatchAmongWrites(t *testing.T) {
	ctx := context.Background()
	db, ws := open(t)
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	im, _, err := db.CreateImport(ctx, ws, consentd.ImportSpec{Format: "native", SHA256: strings.Repeat("b", 64)})
	if err != nil {
		t.Fatal(err)
	}
	const writers, perWriter, batches, perBatch = 8, 20, 10, 50
	errs := make(chan error, writers+1)
	for g := range writers {
		go func() {
			for i := range perWriter {
				if _, err := db.WriteConsents(ctx, ws, []consentd.ConsentWrite{write(fmt.Sprintf("w%d-%d@example.com", g, i), "opted_in", t0)}, "test"); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	go func() {
		for b := range batches {
			batch, lines := make([]consentd.ConsentWrite, perBatch), make([]int64, perBatch)
			for i := range batch {
				batch[i], lines[i] = write(fmt.Sprintf("i%d-%d@example.com", b, i), "opted_out", t0), int64(b*perBatch+i+2)
			}
			committed := int64((b + 1) * perBatch)
			if _, err := db.ImportBatch(ctx, ws, im.ID, batch, lines, nil, consentd.ImportProgress{Committed: committed}, "import"); err != nil {
				errs <- err
				return
			}
			// The same batch again is refused and changes nothing.
			if _, err := db.ImportBatch(ctx, ws, im.ID, batch, lines, nil, consentd.ImportProgress{Committed: committed}, "import"); consentd.ErrorCode(err) != consentd.ECONFLICT {
				errs <- fmt.Errorf("batch %d again: %v, want %s", b, err, consentd.ECONFLICT)
				return
			}
		}
		errs <- nil
	}()
	for range writers + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := db.ExportConsents(ctx, ws, consentd.Times{}, func(*consentd.Consent) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if want := writers*perWriter + batches*perBatch; n != want {
		t.Errorf("%d consents, want %d", n, want)
	}
	got, err := db.Import(ctx, ws, im.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Committed != batches*perBatch || got.Created != batches*perBatch {
		t.Errorf("import committed %d, created %d; want %d", got.Committed, got.Created, batches*perBatch)
	}
	logOf(t, db, ws) // checks the tree hashes
}
