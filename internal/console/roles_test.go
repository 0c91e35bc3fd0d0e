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

// TestRolesAreTheAPIs keeps the console's role sets the API's, for the
// routes each screen stands for: reading a consent and acting for a person
// (an agent's act), the queues' reads and their actions (a job's retry, a
// webhook's resume, an SMS reply's resolution, an import's rejects), the
// reports (the overview's and blocked sends') and the log. It also asserts
// that the store the server runs on, and the
// API server, have what the screens read.
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
	var _ queueStore = db
	var _ reportStore = db
	var _ logVerifier = api.New(db, signer, slog.Default())
	var _ queueActions = api.New(db, signer, slog.Default())
	var _ personActions = api.New(db, signer, slog.Default())
	var _ requestReader = db
	want := map[string][]consentd.Role{
		"GET /v1/consents": readers, "POST /v1/suppressions": agents, "GET /v1/consents/{id}/history": readers,
		"DELETE /v1/suppressions/{id}": admins, "POST /v1/requests": writers, "POST /v1/links:send": writers,
		"POST /v1/jobs/{id}:retry": writers, "GET /v1/jobs": readers, "GET /v1/requests": readers, "GET /v1/webhooks": readers,
		"PATCH /v1/webhooks/{id}": admins, "GET /v1/webhooks/{id}/deliveries": readers,
		"GET /v1/imports": readers, "GET /v1/imports/{id}/rejects": readers,
		"GET /v1/inbound/sms": readers, "POST /v1/inbound/sms/{id}:resolve": writers,
		"GET /v1/reports/decisions": readers, "GET /v1/reports/consents": readers, "GET /v1/log": readers, "GET /v1/log/verify": readers, "GET /v1/log/checkpoints/latest": readers,
	}
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
