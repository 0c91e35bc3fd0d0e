package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
)

// Markers of jane@example.com's newsletter consent in the old leaves: the
// reason of her opt-in and the proof IP of the write it superseded. Nothing
// else in the fixtures holds them, so erasing her address must leave no
// copy.
var janeMarkers = []string{"signed up at the fair", "203.0.113.8"}

// TestUpgradeFromRelease0 opens stores written by the previous release,
// on both backends, either with `consentd migrate` first or by starting
// `consentd serve` on them, and checks that the old log is whole and still
// proves what it proved: the same entries with the same leaf bytes and
// hashes, the old checkpoints' roots, the old receipt, receipts served now,
// the recorded decisions; that log_hashes became full tiles; that the log
// grows correctly after, consistently with the old checkpoints; that a
// second opening changes nothing; and that erasing an address with old
// JSON leaves removes their bytes and keeps the log verifiable.
func TestUpgradeFromRelease0(t *testing.T) {
	for _, tc := range []struct {
		name    string
		load    func(*testing.T) *release0
		migrate bool // run `consentd migrate` before serving
	}{
		{"sqlite/migrate", loadRelease0SQLite, true},
		{"sqlite/serve", loadRelease0SQLite, false},
		{"postgres/migrate", loadRelease0Postgres, true},
		{"postgres/serve", loadRelease0Postgres, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := tc.load(t)
			testUpgrade(t, fx, tc.migrate)
		})
	}
}

// testUpgrade is TestUpgradeFromRelease0 on one loaded fixture; migrate
// runs `consentd migrate` before the server starts, else serve upgrades.
func testUpgrade(t *testing.T, fx *release0, migrate bool) {
	ctx := context.Background()
	old := fx.readRaw(t)
	if old.LogHashes == nil || len(old.Versions) == 0 || old.Versions[len(old.Versions)-1] != "0006_imports" {
		t.Fatalf("the fixture is not a store of the previous release: migrations %v, log_hashes %v", old.Versions, old.LogHashes != nil)
	}
	var cp1, cp2, otherCP release0Checkpoint
	fx.readAnswer(t, "checkpoint-1.json", &cp1)
	fx.readAnswer(t, "checkpoint-2.json", &cp2)
	fx.readAnswer(t, "other-checkpoint.json", &otherCP)
	pub := cp1.PublicKey
	defaultWS := strings.TrimPrefix(cp2.Origin, "consentd/")
	otherWS := strings.TrimPrefix(otherCP.Origin, "consentd/")
	sizes := old.logSizes()
	if sizes[defaultWS] != cp2.Size || sizes[otherWS] != otherCP.Size || cp1.Size >= cp2.Size {
		t.Fatalf("fixture log sizes %v; checkpoints at %d, %d and %d", sizes, cp1.Size, cp2.Size, otherCP.Size)
	}

	versions := migrationVersions(t, fx.backend)
	oldVersion, newVersion := old.Versions[len(old.Versions)-1], versions[len(versions)-1]
	pending := versions[slices.Index(versions, oldVersion)+1:]
	if migrate {
		code, stdout, stderr := fx.cli(t, "migrate")
		if code != 0 {
			t.Fatalf("consentd migrate = %d; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		want := fmt.Sprintf("schema %s -> %s: applied %s\n"+
			"workspace default: log moved to tiles, %d full tiles for %d entries\n"+
			"workspace other: log moved to tiles, %d full tiles for %d entries\n",
			oldVersion, newVersion, strings.Join(pending, ", "), cp2.Size/ledger.TileWidth, cp2.Size, otherCP.Size/ledger.TileWidth, otherCP.Size)
		if stdout != want {
			t.Errorf("consentd migrate printed\n%s\nwant\n%s", stdout, want)
		}
		first := fx.readRaw(t)
		code, stdout, stderr = fx.cli(t, "migrate")
		if want := "schema " + newVersion + ": up to date\nlog: stored in tiles, nothing to move\n"; code != 0 || stdout != want {
			t.Errorf("consentd migrate again = %d, printed\n%s\nwant 0 and\n%s\nstderr:\n%s", code, stdout, want, stderr)
		}
		if again := fx.readRaw(t); !reflect.DeepEqual(again, first) {
			t.Errorf("opening the upgraded store again changed it")
		}
	}

	srv := startInProcessServer(t, fx.dir, fx.flags...)
	if !migrate {
		for _, want := range []string{"schema migrated", "applied=" + strings.Join(pending, ","), fmt.Sprintf(`log moved to tiles" workspace=%s tiles=%d`, defaultWS, cp2.Size/ledger.TileWidth)} {
			if !strings.Contains(srv.stderr.String(), want) {
				t.Errorf("serve's log lacks %q:\n%s", want, srv.stderr)
			}
		}
	}

	// As stored: log_hashes is gone, the tiles are the full ones, and
	// every old entry keeps its leaf bytes and hash, without evidence.
	up := fx.readRaw(t)
	if up.LogHashes != nil {
		t.Errorf("log_hashes is still there after the upgrade")
	}
	if !slices.Equal(up.Versions, versions) {
		t.Errorf("migrations after the upgrade: %v; want %v", up.Versions, versions)
	}
	up.checkTiles(t, old)
	if len(up.Entries) != len(old.Entries) {
		t.Fatalf("%d log entries after the upgrade; want %d", len(up.Entries), len(old.Entries))
	}
	for i, e := range up.Entries {
		o := old.Entries[i]
		// The subject column is rewritten in its stored spelling, which
		// sorts like the hashes (consentd.StoredSubject).
		if e.WS != o.WS || e.Seq != o.Seq || e.Subject != consentd.StoredSubject(o.Subject) || !bytes.Equal(e.Data, o.Data) || !bytes.Equal(e.LeafHash, o.LeafHash) {
			t.Fatalf("entry %s/%d changed in the upgrade:\n%s\nwas\n%s", e.WS, e.Seq, e.Data, o.Data)
		}
		if e.Evidence != nil || e.Opening != nil {
			t.Errorf("entry %s/%d has evidence after the upgrade; a version 1 leaf has none", e.WS, e.Seq)
		}
		if lh := ledger.LeafHash(e.Data); !bytes.Equal(lh[:], e.LeafHash) {
			t.Errorf("entry %s/%d: leaf hash of its data differs from the stored one", e.WS, e.Seq)
		}
	}
	if !reflect.DeepEqual(up.Checkpoints, old.Checkpoints) {
		t.Errorf("the signed checkpoints changed in the upgrade")
	}

	// The tree over tiles: the old checkpoints' roots, the whole log
	// verified with the old key, the old receipt's proof recomputed.
	var oldReceipt ledger.Receipt
	fx.readAnswer(t, "receipt.json", &oldReceipt)
	fx.withStore(t, func(db store) {
		if mig := db.Migration(); len(mig.Applied) != 0 || len(mig.Tiles) != 0 {
			t.Errorf("opening an upgraded store: %+v; want nothing done", mig)
		}
		for _, cp := range []release0Checkpoint{cp1, cp2, otherCP} {
			ws := strings.TrimPrefix(cp.Origin, "consentd/")
			root, err := tlog.TreeHash(cp.Size, db.HashReader(ctx, ws))
			if err != nil {
				t.Fatalf("TreeHash(%d): %v", cp.Size, err)
			}
			if root.String() != cp.Root {
				t.Errorf("root of %s at %d = %s; the old release signed %s", ws, cp.Size, root, cp.Root)
			}
		}
		for _, ws := range []string{defaultWS, otherWS} {
			rep, err := ledger.VerifyLog(ctx, db, pub, ws)
			if err != nil || !rep.OK {
				t.Errorf("VerifyLog(%s) = %+v, %v; want OK", ws, rep, err)
			}
		}
		proof, err := tlog.ProveRecord(oldReceipt.TreeSize, oldReceipt.Seq-1, db.HashReader(ctx, defaultWS))
		if err != nil {
			t.Fatal(err)
		}
		for i := range proof {
			if len(proof) != len(oldReceipt.Proof) || proof[i].String() != oldReceipt.Proof[i] {
				t.Fatalf("inclusion proof of entry %d at %d from tiles = %v; the old release proved %v", oldReceipt.Seq, oldReceipt.TreeSize, proof, oldReceipt.Proof)
			}
		}
	})
	if err := ledger.VerifyReceipt(&oldReceipt, pub); err != nil {
		t.Errorf("the old receipt: %v", err)
	}
	if !bytes.Equal(oldReceipt.Leaf, up.entry(t, defaultWS, oldReceipt.Seq).Data) {
		t.Errorf("the old receipt's leaf is not entry %d's stored leaf", oldReceipt.Seq)
	}
	verify := func(when string, wantCheckpoints int) {
		t.Helper()
		code, stdout, stderr := fx.cli(t, "log", "verify")
		if code != 0 || !strings.Contains(stdout, fmt.Sprintf("workspace default: ok, %d entries", sizeOf(t, fx, defaultWS))) ||
			!strings.Contains(stdout, fmt.Sprintf("%d checkpoints checked", wantCheckpoints)) {
			t.Fatalf("%s: consentd log verify = %d; stdout:\n%s\nstderr:\n%s", when, code, stdout, stderr)
		}
	}
	verify("after the upgrade", 2)
	receiptFile := filepath.Join(fx.answers, "receipt.json")
	if code, stdout, stderr := fx.cli(t, "receipt", "verify", receiptFile); code != 0 {
		t.Errorf("consentd receipt verify (old receipt) = %d; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	// Over HTTP: every entry with its leaf, the old ones shown as they
	// were; the decisions the old release gave; receipts for old entries.
	for after := int64(0); ; {
		var page struct {
			Entries []consentd.LogRecord `json:"entries"`
		}
		call(t, srv.base, release0AdminKey, "GET", fmt.Sprintf("/v1/log?after=%d&limit=1000", after), nil, 200, &page)
		for _, r := range page.Entries {
			o := old.entry(t, defaultWS, r.Seq)
			var view bytes.Buffer
			json.Compact(&view, r.Entry)
			if !bytes.Equal(r.Leaf, o.Data) || !bytes.Equal(r.LeafHash, o.LeafHash) || !bytes.Equal(view.Bytes(), o.Data) {
				t.Fatalf("GET /v1/log entry %d: leaf %s, entry %s; want both %s", r.Seq, r.Leaf, r.Entry, o.Data)
			}
		}
		if len(page.Entries) < 1000 {
			if after+int64(len(page.Entries)) != cp2.Size {
				t.Errorf("GET /v1/log served %d entries; want %d", after+int64(len(page.Entries)), cp2.Size)
			}
			break
		}
		after = page.Entries[len(page.Entries)-1].Seq
	}
	checkDecisions(t, fx, srv.base)
	for _, id := range []string{"jane@example.com#newsletter:email", "user-002@example.com#newsletter:email", "import-004@example.org#weekly:email"} {
		var rc ledger.Receipt
		call(t, srv.base, release0AdminKey, "GET", "/v1/consents/"+url.PathEscape(id)+"/receipt", nil, 200, &rc)
		if err := ledger.VerifyReceipt(&rc, pub); err != nil {
			t.Errorf("receipt of %s served after the upgrade: %v", id, err)
		}
		if rc.Seq > cp2.Size || !bytes.Equal(rc.Leaf, old.entry(t, defaultWS, rc.Seq).Data) {
			t.Errorf("receipt of %s: entry %d with leaf %s; want an old entry's stored leaf", id, rc.Seq, rc.Leaf)
		}
	}

	// New writes: 150 consents take the log past a tile boundary, in
	// version 2 leaves; a new checkpoint is consistent with the old ones.
	var batch struct {
		Consents []map[string]any `json:"consents"`
	}
	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	for i := range 150 {
		w := map[string]any{"contact_point": fmt.Sprintf("new-%03d@example.com", i), "channel": "email", "purpose": "newsletter",
			"status": "opted_in", "captured_at": t0.Add(time.Duration(i) * time.Minute).Format(time.RFC3339), "source": map[string]any{"type": "api"}}
		if i%50 == 0 {
			w["proof"] = map[string]any{"ip": "192.0.2.200", "user_agent": "upgrade-test"}
		}
		batch.Consents = append(batch.Consents, w)
	}
	call(t, srv.base, release0AdminKey, "POST", "/v1/consents:batch", batch, 200, nil)
	var cp3 release0Checkpoint
	call(t, srv.base, release0AdminKey, "POST", "/v1/log/checkpoints", nil, 201, &cp3)
	if cp3.Size != cp2.Size+150 {
		t.Fatalf("new checkpoint at %d; want %d", cp3.Size, cp2.Size+150)
	}
	verify("after new writes", 3)
	grown := fx.readRaw(t)
	grown.checkTiles(t, old)
	for seq := cp2.Size + 1; seq <= cp3.Size; seq++ {
		if d := grown.entry(t, defaultWS, seq).Data; len(d) == 0 || d[0] != consentd.LeafVersion {
			t.Fatalf("entry %d written after the upgrade is not a version 2 leaf", seq)
		}
	}
	fx.withStore(t, func(db store) {
		newRoot, err := tlog.ParseHash(cp3.Root)
		if err != nil {
			t.Fatal(err)
		}
		for _, cp := range []release0Checkpoint{cp1, cp2} {
			oldRoot, err := tlog.ParseHash(cp.Root)
			if err != nil {
				t.Fatal(err)
			}
			proof, err := tlog.ProveTree(cp3.Size, cp.Size, db.HashReader(ctx, defaultWS))
			if err != nil {
				t.Fatalf("ProveTree(%d, %d): %v", cp3.Size, cp.Size, err)
			}
			if err := tlog.CheckTree(proof, cp3.Size, newRoot, cp.Size, oldRoot); err != nil {
				t.Errorf("the checkpoint at %d is not consistent with the old one at %d: %v", cp3.Size, cp.Size, err)
			}
		}
	})

	// Erasing jane@example.com: her old JSON leaves lose their bytes, keep
	// their hashes, read as erased, and the log still verifies.
	janeSubject := jsonField(t, oldReceipt.Leaf, "subject")
	janePrefix := janeSubject[:strings.Index(janeSubject, "#")+1]
	var janeSeqs []int64
	for _, e := range old.Entries {
		if e.WS == defaultWS && strings.HasPrefix(e.Subject, janePrefix) {
			janeSeqs = append(janeSeqs, e.Seq)
		}
	}
	if len(janeSeqs) < 2 {
		t.Fatalf("jane's old entries: %v; the fixture has her opt-in and a superseded write", janeSeqs)
	}
	call(t, srv.base, release0AdminKey, "POST", "/v1/suppressions", map[string]any{"contact_point": "jane@example.com", "reason": "erased"}, 201, nil)
	// Her consent's latest entry is an old leaf without its bytes now: no
	// receipt can show it, and the answer says so.
	var gone struct {
		Code string `json:"code"`
	}
	call(t, srv.base, release0AdminKey, "GET", "/v1/consents/jane%40example.com%23newsletter%3Aemail/receipt", nil, 410, &gone)
	if gone.Code != consentd.ELEAFERASED {
		t.Errorf("receipt of an erased old entry: code %q; want %q", gone.Code, consentd.ELEAFERASED)
	}
	erased := fx.readRaw(t)
	for _, seq := range janeSeqs {
		e, o := erased.entry(t, defaultWS, seq), old.entry(t, defaultWS, seq)
		if len(e.Data) != 0 || !bytes.Equal(e.LeafHash, o.LeafHash) {
			t.Errorf("erased entry %d: data %q, leaf hash kept %v; want no data and the same hash", seq, e.Data, bytes.Equal(e.LeafHash, o.LeafHash))
		}
		var page struct {
			Entries []struct {
				Entry struct {
					Seq      int64  `json:"seq"`
					Evidence string `json:"evidence"`
				} `json:"entry"`
			} `json:"entries"`
		}
		call(t, srv.base, release0AdminKey, "GET", fmt.Sprintf("/v1/log?after=%d&limit=1", seq-1), nil, 200, &page)
		if len(page.Entries) != 1 || page.Entries[0].Entry.Evidence != consentd.EvidenceErased {
			t.Errorf("GET /v1/log entry %d after the erasure = %+v; want \"evidence\":%q", seq, page.Entries, consentd.EvidenceErased)
		}
	}
	for _, e := range erased.Entries {
		for _, m := range janeMarkers {
			if bytes.Contains(e.Data, []byte(m)) || bytes.Contains(e.Evidence, []byte(m)) {
				t.Errorf("entry %s/%d still holds %q after the erasure", e.WS, e.Seq, m)
			}
		}
	}
	if fx.dbFile != "" {
		for _, name := range []string{fx.dbFile, fx.dbFile + "-wal"} {
			b, err := os.ReadFile(name)
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range janeMarkers {
				if bytes.Contains(b, []byte(m)) {
					t.Errorf("%s still holds %q after the erasure", filepath.Base(name), m)
				}
			}
		}
	}
	verify("after the erasure", 3)

	if code := srv.stop(); code != 0 {
		t.Fatalf("consentd serve = %d after cancel; stderr:\n%s", code, srv.stderr)
	}
	verify("after the server stopped", 4) // serve signs the grown log on shutdown
	if code, stdout, _ := fx.cli(t, "migrate"); code != 0 || !strings.Contains(stdout, "up to date") {
		t.Errorf("consentd migrate after all = %d:\n%s", code, stdout)
	}
}

// sizeOf returns the size of a workspace's log.
func sizeOf(t *testing.T, fx *release0, ws string) int64 {
	t.Helper()
	var n int64
	fx.withStore(t, func(db store) {
		var err error
		if n, err = db.LogSize(context.Background(), ws); err != nil {
			t.Fatal(err)
		}
	})
	return n
}

// jsonField returns a string field of a JSON object.
func jsonField(t *testing.T, b []byte, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	s, _ := m[name].(string)
	if s == "" {
		t.Fatalf("no %q in %s", name, b)
	}
	return s
}

// checkDecisions asks the fixture's decisions again, as NDJSON, and
// compares each answer with the old release's.
func checkDecisions(t *testing.T, fx *release0, base string) {
	t.Helper()
	reqBody, err := os.ReadFile(filepath.Join("testdata", "release-0", "decisions-request.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(fx.answers, "decisions.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", base+"/v1/decisions:batch", bytes.NewReader(reqBody))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+release0AdminKey)
	req.Header.Set("Content-Type", "application/x-ndjson")
	res, err := ledgerTestClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("POST /v1/decisions:batch = %d %s, %v", res.StatusCode, got, err)
	}
	reqs := strings.Split(strings.TrimSpace(string(reqBody)), "\n")
	gotLines := strings.Split(strings.TrimSpace(string(got)), "\n")
	wantLines := strings.Split(strings.TrimSpace(string(want)), "\n")
	if len(gotLines) != len(wantLines) {
		t.Fatalf("%d decisions; the old release gave %d", len(gotLines), len(wantLines))
	}
	for i := range wantLines {
		var g, w any
		if err := json.Unmarshal([]byte(gotLines[i]), &g); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(wantLines[i]), &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("Decide(%s) = %s; the old release answered %s", reqs[i], gotLines[i], wantLines[i])
		}
	}
}
