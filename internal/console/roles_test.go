package console

import (
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/api"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/sqlite"
)

// TestRolesAreTheAPIs keeps the console's role sets the API's: reading a
// consent (GET /v1/consents) and acting for a person (POST
// /v1/suppressions, an agent's act).
func TestRolesAreTheAPIs(t *testing.T) {
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
	want := map[string][]consentd.Role{"GET /v1/consents": readers, "POST /v1/suppressions": agents}
	for _, op := range api.New(db, signer, slog.Default()).Operations() {
		set, ok := want[op.Method+" "+op.Path]
		if !ok {
			continue
		}
		var got []string
		for _, r := range set {
			got = append(got, string(r))
		}
		slices.Sort(got)
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
