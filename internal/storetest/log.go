package storetest

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
	"golang.org/x/mod/sumdb/tlog"
)

func newSigner(t *testing.T) *ledger.Signer {
	t.Helper()
	s, err := ledger.LoadOrCreateKey(filepath.Join(t.TempDir(), "checkpoint.key"), "consentd-test")
	if err != nil {
		t.Fatalf("LoadOrCreateKey() = %v", err)
	}
	return s
}

// fill writes a mix of every kind of log entry and returns how many it
// added.
func (e *env) fill() int64 {
	e.t.Helper()
	size := e.logSize()
	e.mustWrite(cw("a@example.com", "newsletter", "opted_in", e.t0), cw("b@example.com", "newsletter", "opted_in", e.t0))
	e.mustWrite(cw("a@example.com", "newsletter", "opted_in", e.t0))                   // unchanged
	e.mustWrite(cw("a@example.com", "newsletter", "opted_out", e.t0.Add(-time.Hour)))  // superseded
	e.mustWrite(cw("a@example.com", "newsletter", "opted_out", e.t0.Add(time.Minute))) // changed
	e.mustWrite(topic(cw("a@example.com", "newsletter", "opted_in", e.t0), "weekly"))  // created
	e.mustWrite(on(cw("+4915112345678", "newsletter", "opted_in", e.t0), "sms"))       // another kind
	if err := e.s.PutParty(e.ctx, e.ws, &consentd.Party{ID: "p-1", ContactPoints: []consentd.PartyContactPoint{{Kind: consentd.KindEmail, Value: "a@example.com"}}}, "test"); err != nil {
		e.t.Fatal(err)
	}
	sup, err := e.s.AddSuppression(e.ctx, e.ws, consentd.SuppressionInput{ContactPoint: "b@example.com", Reason: consentd.SuppressComplaint}, "test")
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.s.DeleteSuppression(e.ctx, e.ws, sup.ID, "test"); err != nil {
		e.t.Fatal(err)
	}
	batch := make([]consentd.ConsentWrite, 40)
	for i := range batch {
		batch[i] = cw("batch"+string(rune('a'+i%26))+string(rune('a'+i/26))+"@example.com", "promo", "opted_in", e.t0)
	}
	e.mustWrite(batch...)
	return e.logSize() - size
}

func testLog(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	if n := e.logSize(); n != catalogEntries {
		t.Fatalf("LogSize() after the catalog = %d; want %d", n, catalogEntries)
	}
	added := e.fill()
	if added != 2+1+1+1+1+1+1+1+1+40 {
		t.Errorf("log entries added = %d; want %d: every write, refused-by-order or not, and every party and suppression change", added, 50)
	}
	n := e.logSize()
	all, err := s.Log(e.ctx, e.ws, 0, 1000)
	if err != nil || int64(len(all)) != n {
		t.Fatalf("Log(0, 1000) = %d entries, %v; want %d", len(all), err, n)
	}
	wantTypes := []string{consentd.LogConsentChanged, consentd.LogConsentChanged, consentd.LogConsentUnchanged, consentd.LogConsentSuperseded,
		consentd.LogConsentChanged, consentd.LogConsentChanged, consentd.LogConsentChanged, consentd.LogPartyChanged, consentd.LogSuppressionAdded,
		consentd.LogSuppressionLifted}
	if got := types(t, all[catalogEntries:catalogEntries+len(wantTypes)]); !slices.Equal(got, wantTypes) {
		t.Errorf("log types = %v; want %v", got, wantTypes)
	}
	var prevAt time.Time
	for i, r := range all {
		le := decode(t, r)
		if r.Seq != int64(i+1) {
			t.Fatalf("Log()[%d].Seq = %d; want %d", i, r.Seq, i+1)
		}
		if lh := ledger.LeafHash(r.Leaf); !bytes.Equal(r.LeafHash, lh[:]) {
			t.Errorf("entry %d: stored leaf hash is not the hash of its data", r.Seq)
		}
		if le.At.Before(prevAt) {
			t.Errorf("entry %d at %v, before entry %d at %v", r.Seq, le.At, r.Seq-1, prevAt)
		}
		prevAt = le.At
		if bytes.Contains(r.Entry, []byte("example.com")) || bytes.Contains(r.Entry, []byte("+4915112345678")) ||
			bytes.Contains(r.Leaf, []byte("example.com")) || bytes.Contains(r.Leaf, []byte("+4915112345678")) ||
			bytes.Contains(r.Leaf, []byte("p-1")) { // a party id is evidence, not leaf
			t.Errorf("entry %d holds a plaintext contact point: %s", r.Seq, r.Entry)
		}
		got, err := s.LogEntry(e.ctx, e.ws, r.Seq)
		if err != nil || !bytes.Equal(got.Entry, r.Entry) || !bytes.Equal(got.LeafHash, r.LeafHash) || !bytes.Equal(got.Leaf, r.Leaf) {
			t.Errorf("LogEntry(%d) = %v; want the entry Log gave", r.Seq, err)
		}
	}
	// Superseded and unchanged entries carry the stored state and the write.
	var sup logEntry
	for _, r := range all {
		if le := decode(t, r); le.Type == consentd.LogConsentSuperseded {
			sup = le
		}
	}
	var before, write consentd.LoggedConsent
	if json.Unmarshal(sup.Before, &before) != nil || json.Unmarshal(sup.Write, &write) != nil || before.Status != consentd.OptedIn || write.Status != consentd.OptedOut || sup.After != nil {
		t.Errorf("superseded entry = %+v; want before opted_in, write opted_out, no after", sup)
	}

	// Paging.
	var paged []consentd.LogRecord
	for after := int64(0); ; {
		page, err := s.Log(e.ctx, e.ws, after, 7)
		if err != nil {
			t.Fatalf("Log(%d, 7) = %v", after, err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 7 {
			t.Fatalf("Log(%d, 7) = %d entries", after, len(page))
		}
		paged = append(paged, page...)
		after = page[len(page)-1].Seq
	}
	if len(paged) != len(all) {
		t.Errorf("paged Log() = %d entries; want %d", len(paged), len(all))
	}
	if l, err := s.Log(e.ctx, e.ws, n, 10); err != nil || len(l) != 0 {
		t.Errorf("Log(after the end) = %d, %v; want none", len(l), err)
	}
	_, err = s.LogEntry(e.ctx, e.ws, n+1)
	wantCode(t, "LogEntry(n+1)", err, consentd.ENOTFOUND)
	_, err = s.LogEntry(e.ctx, e.ws, 0)
	wantCode(t, "LogEntry(0)", err, consentd.ENOTFOUND)

	// The whole log verifies, with no checkpoint yet.
	signer := newSigner(t)
	r, err := ledger.VerifyLog(e.ctx, s, signer.PublicKey(), e.ws)
	if err != nil || !r.OK || r.Entries != n {
		t.Errorf("VerifyLog() = %+v, %v; want OK with %d entries", r, err, n)
	}
	root, err := s.TreeHash(e.ctx, e.ws, n)
	if err != nil || r.Root != root.String() {
		t.Errorf("TreeHash(%d) = %v, %v; want the verifier's root %s", n, root, err, r.Root)
	}
}

// memHashes is an in-memory tlog, the reference the backend's stored hashes
// are compared with.
type memHashes []tlog.Hash

func (m memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		out[i] = m[x]
	}
	return out, nil
}

func testTreeHashesAndProofs(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	e.fill()
	all := e.entries()
	n := int64(len(all))
	var mem memHashes
	for i, r := range all {
		hs, err := tlog.StoredHashes(int64(i), r.Leaf, mem)
		if err != nil {
			t.Fatal(err)
		}
		mem = append(mem, hs...)
	}
	stored := s.HashReader(e.ctx, e.ws)
	for size := int64(1); size <= n; size++ {
		want, _ := tlog.TreeHash(size, mem)
		got, err := s.TreeHash(e.ctx, e.ws, size)
		if err != nil || got != want {
			t.Fatalf("TreeHash(%d) = %v, %v; want %v", size, got, err, want)
		}
		if got, err := tlog.TreeHash(size, stored); err != nil || got != want {
			t.Fatalf("tlog.TreeHash(%d, HashReader()) = %v, %v; want %v", size, got, err, want)
		}
	}
	for _, size := range []int64{1, 7, 8, 9, n / 2, n - 1, n} {
		root, _ := tlog.TreeHash(size, mem)
		for seq := int64(1); seq <= size; seq++ {
			p, err := s.ProveRecord(e.ctx, e.ws, seq, size)
			if err != nil {
				t.Fatalf("ProveRecord(%d, %d) = %v", seq, size, err)
			}
			if err := tlog.CheckRecord(p, size, root, seq-1, ledger.LeafHash(all[seq-1].Leaf)); err != nil {
				t.Errorf("ProveRecord(%d, %d) does not check: %v", seq, size, err)
			}
		}
	}
	if _, err := s.ProveRecord(e.ctx, e.ws, n+1, n); err == nil {
		t.Errorf("ProveRecord(n+1, n) = nil error; want one")
	}
	if _, err := s.TreeHash(e.ctx, e.ws, n+5); err == nil {
		t.Errorf("TreeHash(n+5) = nil error; want one: the tree has %d entries", n)
	}
}

func testReceipts(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	signer := newSigner(t)
	e.fill()
	c := e.consent("a@example.com#newsletter:email")
	rec, err := s.LogEntry(e.ctx, e.ws, c.Seq)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := ledger.ReceiptFor(e.ctx, s, signer, e.ws, c.Seq, rec.Leaf)
	if err != nil {
		t.Fatalf("ReceiptFor(%d) = %v", c.Seq, err)
	}
	if err := ledger.VerifyReceipt(rc, signer.PublicKey()); err != nil {
		t.Errorf("VerifyReceipt() = %v", err)
	}
	if cp, err := ledger.OpenCheckpoint(rc.Checkpoint, signer.PublicKey()); err != nil || cp.Origin != ledger.Origin(e.ws) || cp.Size != e.logSize() {
		t.Errorf("receipt checkpoint = %+v, %v; want origin %s, size %d", cp, err, ledger.Origin(e.ws), e.logSize())
	}
	bad := *rc
	bad.Leaf = bytes.Clone(rc.Leaf)
	bad.Leaf[len(bad.Leaf)-1] ^= 1
	if err := ledger.VerifyReceipt(&bad, signer.PublicKey()); err == nil {
		t.Errorf("VerifyReceipt(altered leaf) = nil; want an error")
	}

	// After more writes a receipt of an old entry proves against a newer
	// tree, and one of the newest entry needs a new checkpoint.
	r := e.mustWrite(cw("late@example.com", "newsletter", "opted_in", e.t0))[0]
	rec, _ = s.LogEntry(e.ctx, e.ws, r.Consent.Seq)
	rc, err = ledger.ReceiptFor(e.ctx, s, signer, e.ws, r.Consent.Seq, rec.Leaf)
	if err != nil || ledger.VerifyReceipt(rc, signer.PublicKey()) != nil || rc.TreeSize != r.Consent.Seq {
		t.Errorf("ReceiptFor(newest) = %+v, %v; want a verified receipt at size %d", rc, err, r.Consent.Seq)
	}
	for seq := int64(1); seq <= e.logSize(); seq++ {
		rec, _ := s.LogEntry(e.ctx, e.ws, seq)
		rc, err := ledger.ReceiptFor(e.ctx, s, signer, e.ws, seq, rec.Leaf)
		if err != nil || ledger.VerifyReceipt(rc, signer.PublicKey()) != nil {
			t.Errorf("ReceiptFor(%d) = %v; want a verified receipt", seq, err)
		}
	}
}

func testCheckpoints(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	signer := newSigner(t)
	_, _, err := s.LatestCheckpoint(e.ctx, e.ws)
	wantCode(t, "LatestCheckpoint() before any", err, consentd.ENOTFOUND)
	if cps, err := s.Checkpoints(e.ctx, e.ws); err != nil || len(cps) != 0 {
		t.Errorf("Checkpoints() before any = %d, %v", len(cps), err)
	}
	signed1, cp1, err := ledger.SignCheckpoint(e.ctx, s, signer, e.ws)
	if err != nil || cp1.Size != catalogEntries {
		t.Fatalf("SignCheckpoint() = %+v, %v; want size %d", cp1, err, catalogEntries)
	}
	if again, _, err := ledger.SignCheckpoint(e.ctx, s, signer, e.ws); err != nil || again != signed1 {
		t.Errorf("SignCheckpoint() at the same size = a new checkpoint (%v); want the stored one", err)
	}
	e.fill()
	signed2, cp2, err := ledger.SignCheckpoint(e.ctx, s, signer, e.ws)
	if err != nil || cp2.Size != e.logSize() {
		t.Fatalf("SignCheckpoint() = %+v, %v", cp2, err)
	}
	cps, err := s.Checkpoints(e.ctx, e.ws)
	if err != nil || !slices.Equal(cps, []string{signed1, signed2}) {
		t.Errorf("Checkpoints() = %d, %v; want the two, oldest first", len(cps), err)
	}
	latest, size, err := s.LatestCheckpoint(e.ctx, e.ws)
	if err != nil || latest != signed2 || size != cp2.Size {
		t.Errorf("LatestCheckpoint() = size %d, %v; want the second, size %d", size, err, cp2.Size)
	}
	// A second checkpoint of one size keeps the first.
	if err := s.AddCheckpoint(e.ctx, e.ws, cp1.Size, "other text"); err != nil {
		t.Errorf("AddCheckpoint(existing size) = %v", err)
	}
	if cps, _ := s.Checkpoints(e.ctx, e.ws); len(cps) != 2 || cps[0] != signed1 {
		t.Errorf("after AddCheckpoint(existing size) Checkpoints() = %q; want the first kept", cps)
	}
	r, err := ledger.VerifyLog(e.ctx, s, signer.PublicKey(), e.ws)
	if err != nil || !r.OK || r.Checkpoints != 2 || r.Entries != cp2.Size {
		t.Errorf("VerifyLog() = %+v, %v; want OK against 2 checkpoints", r, err)
	}
	// An empty log has nothing to sign.
	other, err := s.CreateWorkspace(e.ctx, "empty")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = ledger.SignCheckpoint(e.ctx, s, signer, other.ID)
	wantCode(t, "SignCheckpoint(empty log)", err, consentd.ENOTFOUND)
}

func testHistory(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	const id = "jane@example.com#newsletter:email"
	e.mustWrite(cw("jane@example.com", "newsletter", "opted_in", e.t0), cw("other@example.com", "newsletter", "opted_in", e.t0))
	e.mustWrite(cw("Jane@Example.com", "newsletter", "opted_out", e.t0.Add(-time.Minute)))
	e.mustWrite(topic(cw("jane@example.com", "newsletter", "opted_out", e.t0), "weekly"))
	e.mustWrite(cw("jane@example.com", "newsletter", "opted_in", e.t0))
	e.mustWrite(cw("jane@example.com", "newsletter", "opted_out", e.t0.Add(time.Minute)))
	h, err := s.ConsentHistory(e.ctx, e.ws, "JANE@example.com#newsletter:email")
	if err != nil {
		t.Fatalf("ConsentHistory() = %v", err)
	}
	want := []string{consentd.LogConsentChanged, consentd.LogConsentSuperseded, consentd.LogConsentUnchanged, consentd.LogConsentChanged}
	if got := types(t, h); !slices.Equal(got, want) {
		t.Fatalf("ConsentHistory() = %v; want %v", got, want)
	}
	for i := 1; i < len(h); i++ {
		if h[i].Seq <= h[i-1].Seq || decode(t, h[i]).Subject != decode(t, h[0]).Subject {
			t.Errorf("ConsentHistory() entry %d: seq %d after %d, subject %q; want increasing seqs of one subject", i, h[i].Seq, h[i-1].Seq, decode(t, h[i]).Subject)
		}
	}
	if sl, err := s.SubjectLog(e.ctx, e.ws, decode(t, h[0]).Subject); err != nil || len(sl) != len(h) {
		t.Errorf("SubjectLog(subject) = %d, %v; want %d", len(sl), err, len(h))
	}
	if got := e.consent(id); got.Seq != h[3].Seq {
		t.Errorf("Consent().Seq = %d; want %d, the last consent.changed entry", got.Seq, h[3].Seq)
	}
	if h, err := s.ConsentHistory(e.ctx, e.ws, "nobody@example.com#newsletter:email"); err != nil || len(h) != 0 {
		t.Errorf("ConsentHistory(never written) = %d, %v; want none", len(h), err)
	}
	_, err = s.ConsentHistory(e.ctx, e.ws, "jane@example.com#nothere:email")
	wantCode(t, "ConsentHistory(unknown channel type)", err, consentd.EUNKNOWNCHANNELTYPE)
}
