package ledger_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/sqlite"
)

// TestMirrorCatchesCutTailWithCheckpoints cuts the tail of a log and deletes
// every checkpoint row in the database: the checkpoint file in the data
// folder still shows the cut.
func TestMirrorCatchesCutTailWithCheckpoints(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "consentd.db")
	db, err := sqlite.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ledger.LoadOrCreateKey(filepath.Join(dir, "checkpoint.key"), "consentd")
	if err != nil {
		t.Fatal(err)
	}
	st := &ledger.Mirror{Store: db, Dir: filepath.Join(dir, "checkpoints")}
	ws, err := db.CreateWorkspace(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PutPurpose(ctx, ws.ID, &consentd.Purpose{ID: "p", Name: "P", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"email": {}}}, true, "t"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		w := consentd.ConsentWrite{ContactPoint: "a@b.de", Channel: "email", Purpose: "p", Status: consentd.OptedIn,
			CapturedAt: time.Now().Add(time.Duration(i-60) * time.Minute), Source: consentd.Source{Type: "api"}}
		if _, err := db.WriteConsents(ctx, ws.ID, []consentd.ConsentWrite{w}, "t"); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := ledger.SignCheckpoint(ctx, st, signer, ws.ID); err != nil {
		t.Fatal(err)
	}
	if rep, err := ledger.VerifyLog(ctx, st, signer.PublicKey(), ws.ID); err != nil || !rep.OK || rep.Entries != 11 {
		t.Fatalf("VerifyLog before = %+v, %v; want ok with 11 entries", rep, err)
	}
	db.Close()

	raw, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DELETE FROM log_entries WHERE seq > 8`, `DELETE FROM checkpoints`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	db, err = sqlite.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st.Store = db
	rep, err := ledger.VerifyLog(ctx, st, signer.PublicKey(), ws.ID)
	if err != nil || rep.OK || rep.FirstBad != 9 || !strings.Contains(rep.Problem, "removed") {
		t.Fatalf("VerifyLog after cut = %+v, %v; want broken at 9 (removed)", rep, err)
	}
	// Without the mirror the database alone cannot tell.
	if rep, _ := ledger.VerifyLog(ctx, db, signer.PublicKey(), ws.ID); !rep.OK {
		t.Fatalf("VerifyLog of the database alone = %+v; the test assumes it cannot see the cut", rep)
	}
}
