package main

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/sqlite"
)

// TestMigrateCommand runs `consentd migrate` on stores that are not an
// upgrade (TestUpgradeFromRelease0 runs it on stores of the previous
// release): a new database gets every migration, and what cannot be
// opened or is asked wrongly exits 2 without creating anything.
func TestMigrateCommand(t *testing.T) {
	// newStore is what migrate says of a new database.
	newStore := func(backend string) string {
		vs := migrationVersions(t, backend)
		return fmt.Sprintf("schema (empty) -> %s: applied %s\nlog: stored in tiles, nothing to move\n", vs[len(vs)-1], strings.Join(vs, ", "))
	}
	cases := []struct {
		name   string
		args   func(t *testing.T) []string
		code   int
		stdout string // the whole output, when code is 0
		stderr string // a substring of stderr, when code is 2
	}{
		{
			name: "new SQLite file",
			args: func(t *testing.T) []string {
				dir := t.TempDir()
				if err := os.WriteFile(filepath.Join(dir, "consentd.db"), nil, 0o600); err != nil {
					t.Fatal(err)
				}
				return []string{"--data", dir}
			},
			stdout: newStore("sqlite"),
		},
		{
			name: "new PostgreSQL database",
			args: func(t *testing.T) []string {
				return []string{"--data", t.TempDir(), "--database", testPostgres(t)}
			},
			stdout: newStore("postgres"),
		},
		{
			name:   "no SQLite file",
			args:   func(t *testing.T) []string { return []string{"--data", filepath.Join(t.TempDir(), "missing")} },
			code:   2,
			stderr: "no database to migrate",
		},
		{
			name: "PostgreSQL not answering",
			args: func(t *testing.T) []string {
				return []string{"--database", "postgres://postgres@127.0.0.1:1/none?connect_timeout=5"}
			},
			code:   2,
			stderr: "open PostgreSQL",
		},
		{
			name:   "an argument",
			args:   func(t *testing.T) []string { return []string{"--data", t.TempDir(), "now"} },
			code:   2,
			stderr: "usage: consentd migrate",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args(t)
			code, stdout, stderr := runCLI(t, nil, append([]string{"migrate"}, args...)...)
			if code != tc.code {
				t.Fatalf("consentd migrate %v = %d; want %d; stdout:\n%s\nstderr:\n%s", args, code, tc.code, stdout, stderr)
			}
			if tc.code == 0 && stdout != tc.stdout {
				t.Errorf("consentd migrate %v printed\n%s\nwant\n%s", args, stdout, tc.stdout)
			}
			if tc.code != 0 && !strings.Contains(stderr, tc.stderr) {
				t.Errorf("consentd migrate %v: stderr %q; want it to say %q", args, stderr, tc.stderr)
			}
		})
	}
	t.Run("no folder made", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "missing")
		runCLI(t, nil, "migrate", "--data", missing)
		if _, err := os.Stat(missing); !os.IsNotExist(err) {
			t.Errorf("consentd migrate on a missing data folder made it (%v)", err)
		}
	})
}

// migrationVersions returns the versions of a backend's migrations in this
// release, in order.
func migrationVersions(t *testing.T, backend string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("..", "..", "internal", backend, "migrations", "*.sql"))
	if err != nil || len(names) == 0 {
		t.Fatalf("the migrations of %s: %v", backend, err)
	}
	var vs []string
	for _, n := range names {
		vs = append(vs, strings.TrimSuffix(filepath.Base(n), ".sql"))
	}
	slices.Sort(vs)
	return vs
}

// TestMigrateStaleContactPoints: upgrading a store whose contact points an
// earlier release stored and Normalize now refuses says how many, by kind
// and outcome, and never names one.
func TestMigrateStaleContactPoints(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "consentd.db")
	ctx := t.Context()
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := db.CreateWorkspace(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	by := "BY"
	if _, err := db.UpdateWorkspace(ctx, ws.ID, consentd.WorkspaceUpdate{DefaultRegion: &by}, "test"); err != nil {
		t.Fatal(err)
	}
	p := &consentd.Purpose{ID: "news", Name: "News", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"email": {}, "sms": {}}}
	if err := db.PutPurpose(ctx, ws.ID, p, true, "test"); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour)
	restore := consentd.LegacyWritesForTest()
	res, err := db.WriteConsents(ctx, ws.ID, []consentd.ConsentWrite{
		{ContactPoint: "08100000000", Channel: "sms", Purpose: "news", Status: consentd.OptedIn, CapturedAt: at, Source: consentd.Source{Type: "form"}},
		{ContactPoint: "a@xn--ls8h.la", Channel: "email", Purpose: "news", Status: consentd.OptedIn, CapturedAt: at, Source: consentd.Source{Type: "form"}},
		{ContactPoint: "b@xn--ls8h.la", Channel: "email", Purpose: "news", Status: consentd.OptedIn, CapturedAt: at, Source: consentd.Source{Type: "form"}},
		{ContactPoint: "jane@example.com", Channel: "email", Purpose: "news", Status: consentd.OptedIn, CapturedAt: at, Source: consentd.Source{Type: "form"}},
	}, "test")
	restore()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	db.Close()
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TABLE stale_contact_points`, `DELETE FROM schema_migrations WHERE version = '0008_stale_contact_points'`} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	code, stdout, stderr := runCLI(t, nil, "migrate", "--data", dir)
	// Before is the newest migration still recorded: the one before 0008,
	// or a later one, which the test left recorded.
	vs := slices.DeleteFunc(migrationVersions(t, "sqlite"), func(v string) bool { return v == "0008_stale_contact_points" })
	want := fmt.Sprintf("schema %s -> %s: applied 0008_stale_contact_points\n", vs[len(vs)-1], max(vs[len(vs)-1], "0008_stale_contact_points")) +
		"workspace shop: 3 stored contact points no longer normalize to themselves (email refused 2, phone refused 1); kept, still found by reads, opt-outs, erasures and SMS STOP, listed by hash in stale_contact_points\n" +
		"log: stored in tiles, nothing to move\n"
	if code != 0 || stdout != want {
		t.Errorf("consentd migrate = %d, printed\n%s\nwant\n%s\nstderr:\n%s", code, stdout, want, stderr)
	}
	if code, stdout, _ := runCLI(t, nil, "migrate", "--data", dir); code != 0 || strings.Contains(stdout, "contact points") {
		t.Errorf("consentd migrate again = %d, printed\n%s\nwant nothing about contact points", code, stdout)
	}
}
