package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/postgres"
	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"
)

// importWrites is two batches of writes that reach every case of the
// import's write path: new and stored consents and contact points, one
// consent written several times in a batch (created, unchanged,
// superseded, changed), party links, topics, proofs and refused writes.
func importWrites(t0 time.Time) [][]consentd.ConsentWrite {
	w := func(cp, purpose, status string, at time.Time, party string) consentd.ConsentWrite {
		return consentd.ConsentWrite{ContactPoint: cp, Channel: "email", Purpose: purpose, Status: consentd.Status(status), CapturedAt: at,
			PartyID: party, Source: consentd.Source{Type: consentd.SourceImport, Name: "f.csv"}}
	}
	proof := w("p@x.test", "newsletter", "opted_in", t0, "")
	proof.Proof = &consentd.Proof{IP: "192.0.2.1", FormVersion: "v2"}
	weekly := w("a@x.test", "newsletter", "opted_in", t0, "")
	weekly.Topic = "weekly"
	first := []consentd.ConsentWrite{
		w("A@x.test", "newsletter", "opted_in", t0, "party-1"),
		w("a@x.test", "newsletter", "opted_in", t0, ""),                   // unchanged
		w("a@x.test", "newsletter", "opted_in", t0.Add(-time.Hour), ""),   // superseded
		w("a@x.test", "newsletter", "opted_out", t0.Add(time.Minute), ""), // changed, keeps party-1
		w("a@x.test", "promo", "opted_in", t0, ""),                        // a second consent of a@
		w("b@x.test", "newsletter", "opted_out", t0, "party-1"),           // a second contact point of party-1
		w("not an address", "newsletter", "opted_in", t0, ""),             // refused
		w("c@x.test", "nope", "opted_in", t0, ""),                         // refused
		w("c@x.test", "newsletter", "opted_in", t0.Add(24*time.Hour), ""), // refused: in the future
		proof,
		weekly,
	}
	second := []consentd.ConsentWrite{
		w("a@x.test", "newsletter", "opted_in", t0.Add(time.Hour), ""),    // stored: changed
		w("b@x.test", "newsletter", "opted_out", t0, ""),                  // stored: unchanged
		w("b@x.test", "promo", "opted_in", t0, "party-2"),                 // known contact point, new consent
		w("p@x.test", "newsletter", "opted_out", t0.Add(-time.Hour), ""),  // stored: superseded
		w("d@x.test", "newsletter", "opted_in", t0, "party-2"),            // new
		w("d@x.test", "newsletter", "opted_out", t0.Add(time.Second), ""), // new, changed in the batch
	}
	return [][]consentd.ConsentWrite{first, second}
}

// TestImportBatchAsWriteConsents checks that ImportBatch, which copies what
// it creates and appends, stores what WriteConsents stores for the same
// writes: the outcomes, the consents, the party links and the log entries
// (but for the subjects, which hash with each workspace's secret, and the
// actor), with a log whose Merkle tree its hashes match.
func TestImportBatchAsWriteConsents(t *testing.T) {
	ctx := context.Background()
	db := open(t, freshDB(t))
	defer db.Close()
	now := time.Now().UTC().Truncate(time.Second)
	db.Now = func() time.Time { return now }
	var wss [2]string
	for i := range wss {
		ws, err := db.CreateWorkspace(ctx, fmt.Sprintf("ws-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"newsletter", "promo"} {
			if err := db.PutPurpose(ctx, ws.ID, &consentd.Purpose{ID: p, Name: p, Type: consentd.Commercial,
				Channels: map[string]consentd.ChannelSetting{"email": {}}}, true, "test"); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.PutTopic(ctx, ws.ID, &consentd.Topic{ID: "weekly", Purpose: "newsletter", Name: "Weekly"}, true, "test"); err != nil {
			t.Fatal(err)
		}
		wss[i] = ws.ID
	}
	imp, written := wss[0], wss[1]
	im, _, err := db.CreateImport(ctx, imp, consentd.ImportSpec{Format: "native", SHA256: fmt.Sprintf("%064d", 1)})
	if err != nil {
		t.Fatal(err)
	}
	var line, rejected int64
	for _, batch := range importWrites(now.Add(-time.Hour)) {
		lines := make([]int64, len(batch))
		for i := range lines {
			line++
			lines[i] = line
		}
		progress := consentd.ImportProgress{Counts: consentd.ImportCounts{Rows: int64(len(batch))}, Committed: line}
		got, err := db.ImportBatch(ctx, imp, im.ID, batch, lines, nil, progress, "import")
		if err != nil {
			t.Fatalf("ImportBatch() = %v", err)
		}
		want, err := db.WriteConsents(ctx, written, batch, "import")
		if err != nil {
			t.Fatalf("WriteConsents() = %v", err)
		}
		for i := range batch {
			g, w := got[i], want[i]
			if g.Applied != w.Applied || g.Outcome != w.Outcome || consentd.ErrorCode(g.Err) != consentd.ErrorCode(w.Err) {
				t.Errorf("write %d: ImportBatch = %v %s %v; WriteConsents = %v %s %v", lines[i], g.Applied, g.Outcome, g.Err, w.Applied, w.Outcome, w.Err)
			}
			if w.Err != nil {
				rejected++
			}
		}
	}
	if rejected != 3 {
		t.Errorf("%d writes refused; want 3", rejected)
	}
	var rejects []int64
	if err := db.ImportRejects(ctx, imp, im.ID, func(r *consentd.ImportReject) error { rejects = append(rejects, r.Line); return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rejects, []int64{7, 8, 9}) {
		t.Errorf("rejects at lines %v; want 7, 8, 9", rejects)
	}

	consents := func(ws string) map[string]consentd.Consent {
		out := map[string]consentd.Consent{}
		if err := db.ExportConsents(ctx, ws, consentd.Times{}, func(c *consentd.Consent) error { out[c.ID] = *c; return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got, want := consents(imp), consents(written); !reflect.DeepEqual(got, want) {
		t.Errorf("imported consents:\n%+v\nwritten:\n%+v", got, want)
	}
	for _, id := range []string{"party-1", "party-2"} {
		got, err := db.Party(ctx, imp, id)
		if err != nil {
			t.Fatal(err)
		}
		want, err := db.Party(ctx, written, id)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.ContactPoints, want.ContactPoints) || len(got.ContactPoints) == 0 {
			t.Errorf("party %s: imported %v, written %v", id, got.ContactPoints, want.ContactPoints)
		}
	}

	entries := func(ws string) []map[string]any {
		recs, err := db.Log(ctx, ws, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var out []map[string]any
		for _, r := range recs {
			var e map[string]any
			if err := json.Unmarshal(r.Entry, &e); err != nil {
				t.Fatal(err)
			}
			delete(e, "subject")
			delete(e, "actor")
			out = append(out, e)
		}
		return out
	}
	got, want := entries(imp), entries(written)
	if len(got) < 10 || !reflect.DeepEqual(got, want) {
		t.Errorf("imported log:\n%v\nwritten:\n%v", got, want)
	}
	checkTree(t, db, imp)
}

// checkTree recomputes the workspace's Merkle tree from its entries and
// compares its root with the stored hashes'.
func checkTree(t *testing.T, db *postgres.DB, ws string) {
	t.Helper()
	ctx := context.Background()
	n, err := db.LogSize(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := db.Log(ctx, ws, 0, int(n))
	if err != nil {
		t.Fatal(err)
	}
	var hashes memHashes
	for i, r := range recs {
		if r.Seq != int64(i+1) {
			t.Fatalf("entry %d has seq %d", i+1, r.Seq)
		}
		h, err := tlog.StoredHashes(int64(i), r.Leaf, hashes)
		if err != nil {
			t.Fatal(err)
		}
		if tlog.Hash(r.LeafHash) != h[0] {
			t.Fatalf("entry %d: stored leaf hash is not its data's", r.Seq)
		}
		hashes = append(hashes, h...)
	}
	want, err := tlog.TreeHash(n, hashes)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := db.TreeHash(ctx, ws, n); err != nil || got != want {
		t.Errorf("TreeHash(%d) = %v, %v; want %v, recomputed from the entries", n, got, err, want)
	}
}

type memHashes []tlog.Hash

func (m memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		out[i] = m[idx]
	}
	return out, nil
}

// TestImportBatchCopyFails checks that a batch whose copy fails half way
// (here a constraint the test adds, on the 3000th entry of the log and
// then on a consent) stores nothing of the batch, and that the import goes
// on from there.
func TestImportBatchCopyFails(t *testing.T) {
	ctx := context.Background()
	u := freshDB(t)
	db := open(t, u)
	defer db.Close()
	ws, err := db.CreateWorkspace(ctx, "copy")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PutPurpose(ctx, ws.ID, &consentd.Purpose{ID: "newsletter", Name: "Newsletter", Type: consentd.Commercial,
		Channels: map[string]consentd.ChannelSetting{"email": {}}}, true, "test"); err != nil {
		t.Fatal(err)
	}
	im, _, err := db.CreateImport(ctx, ws.ID, consentd.ImportSpec{Format: "native", SHA256: fmt.Sprintf("%064d", 2)})
	if err != nil {
		t.Fatal(err)
	}
	size, err := db.LogSize(ctx, ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	exec := func(sql string) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Now().Add(-time.Hour)
	batch := make([]consentd.ConsentWrite, 5000)
	lines := make([]int64, len(batch))
	for i := range batch {
		batch[i] = write(fmt.Sprintf("user-%d@example.com", i), at)
		lines[i] = int64(i + 2)
	}
	progress := consentd.ImportProgress{Counts: consentd.ImportCounts{Rows: int64(len(batch))}, Committed: int64(len(batch))}
	for _, check := range []string{
		fmt.Sprintf(`ALTER TABLE log_entries ADD CONSTRAINT test_fail CHECK (seq <> %d)`, size+3000),
		fmt.Sprintf(`ALTER TABLE consents ADD CONSTRAINT test_fail CHECK (seq <> %d)`, size+4000),
		`ALTER TABLE contact_points ADD CONSTRAINT test_fail CHECK (value <> 'user-4000@example.com')`,
		`ALTER TABLE import_rejects ADD CONSTRAINT test_fail CHECK (line <> 1)`,
	} {
		exec(check)
		rejects := []consentd.ImportReject{{Line: 1, Code: "invalid", Reason: "a reader's reject"}}
		if _, err := db.ImportBatch(ctx, ws.ID, im.ID, batch, lines, rejects, progress, "import"); err == nil {
			t.Errorf("ImportBatch() with %q = nil; want an error", check)
		}
		for _, table := range []string{"log_entries", "consents", "contact_points", "import_rejects"} {
			exec(`ALTER TABLE ` + table + ` DROP CONSTRAINT IF EXISTS test_fail`)
		}
		if n, _ := db.LogSize(ctx, ws.ID); n != size {
			t.Errorf("log size %d after a failed batch; want %d", n, size)
		}
		got, err := db.Import(ctx, ws.ID, im.ID)
		if err != nil || got.Committed != 0 || got.Created != 0 {
			t.Errorf("Import() = %+v, %v after a failed batch; want nothing committed", got, err)
		}
	}
	res, err := db.ImportBatch(ctx, ws.ID, im.ID, batch, lines, nil, progress, "import")
	if err != nil {
		t.Fatalf("ImportBatch() after the failures = %v", err)
	}
	for i, r := range res {
		if r.Outcome != consentd.Created {
			t.Fatalf("write %d: %s, %v; want created", i, r.Outcome, r.Err)
		}
	}
	if n, _ := db.LogSize(ctx, ws.ID); n != size+int64(len(batch)) {
		t.Errorf("log size %d; want %d", n, size+int64(len(batch)))
	}
	checkTree(t, db, ws.ID)
}
