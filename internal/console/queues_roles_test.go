package console

import (
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/api"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/sqlite"
)

// TestRetryRolesAreTheAPIs keeps the roles that may retry a job the
// API's (POST /v1/jobs/{id}:retry), and the queues' reads open to the
// readers, as the API's lists are.
func TestRetryRolesAreTheAPIs(t *testing.T) {
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
	want := map[string][]consentd.Role{"POST /v1/jobs/{id}:retry": retriers, "GET /v1/jobs": readers, "GET /v1/requests": readers, "GET /v1/webhooks": readers}
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
	var _ queueStore = db // the store the server runs on has what the screen reads
}

func TestDueState(t *testing.T) {
	day := 24 * time.Hour
	received := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	due := received.Add(40 * day)
	for _, c := range []struct {
		now          time.Time
		class, words string
	}{
		{received.Add(day), "due-early", "39 days left"},
		{received.Add(10 * day), "due-half", "30 days left"}, // exactly 75% left
		{received.Add(30 * day), "due-late", "10 days left"}, // exactly 25% left
		{due.Add(-time.Hour), "due-late", "less than a day left"},
		{due.Add(time.Hour), "overdue", "overdue by 1 day"},
		{due.Add(3 * day), "overdue", "overdue by 3 days"},
	} {
		if class, words := dueState(received, due, c.now); class != c.class || words != c.words {
			t.Errorf("at %s: %s %q; want %s %q", c.now, class, words, c.class, c.words)
		}
	}
}
