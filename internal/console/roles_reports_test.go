package console

import (
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/consentd/consentd/internal/api"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/sqlite"
)

// TestReportRolesAreTheAPIs keeps the blocked-sends and log screens to
// the roles the API lets read a decision report and verify the log: the
// console's readers.
func TestReportRolesAreTheAPIs(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(filepath.Join(dir, "consentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	signer, err := ledger.LoadOrCreateKey(filepath.Join(dir, "checkpoint.key"), "consentd")
	if err != nil {
		t.Fatal(err)
	}
	var _ reportStore = db // the screens' reads, which the store is asserted for
	var _ logVerifier = api.New(db, signer, slog.Default())
	want := map[string]bool{"GET /v1/reports/decisions": true, "GET /v1/log": true, "GET /v1/log/verify": true, "GET /v1/log/checkpoints/latest": true}
	var got []string
	for _, r := range readers {
		got = append(got, string(r))
	}
	slices.Sort(got)
	for _, op := range api.New(db, signer, slog.Default()).Operations() {
		if !want[op.Method+" "+op.Path] {
			continue
		}
		roles := slices.Clone(op.Roles)
		slices.Sort(roles)
		if !slices.Equal(got, roles) {
			t.Errorf("%s %s: the API allows %v, the console %v", op.Method, op.Path, roles, got)
		}
		delete(want, op.Method+" "+op.Path)
	}
	if len(want) > 0 {
		t.Errorf("operations not found: %v", want)
	}
}
