package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/consentd/consentd/internal/sqlite"
	"github.com/consentd/consentd/internal/storetest"
)

var _ storetest.Store = (*sqlite.DB)(nil)

// TestStore runs the conformance suite on a new database file per subtest.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		db, err := sqlite.Open(filepath.Join(t.TempDir(), "consentd.db"))
		if err != nil {
			t.Fatalf("Open() = %v", err)
		}
		return db
	})
}

// placeholder matches the suite's $1 placeholders; SQLite numbers them ?1.
var placeholder = regexp.MustCompile(`\$(\d+)`)

// TestStoreTampered runs the tampering cases of the log's replay, with a
// second connection that writes the database file directly.
func TestStoreTampered(t *testing.T) {
	storetest.RunTampered(t, func(t *testing.T) (storetest.Store, storetest.Exec) {
		path := filepath.Join(t.TempDir(), "consentd.db")
		db, err := sqlite.Open(path)
		if err != nil {
			t.Fatalf("Open() = %v", err)
		}
		raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		return db, func(ctx context.Context, query string, args ...any) (int64, error) {
			res, err := raw.ExecContext(ctx, placeholder.ReplaceAllString(query, "?$1"), args...)
			if err != nil {
				return 0, err
			}
			return res.RowsAffected()
		}
	})
}

// TestStaleUpgrade runs the upgrade that lists stale contact points on a
// database file, undoing its migration with a second connection.
func TestStaleUpgrade(t *testing.T) {
	path := filepath.Join(t.TempDir(), "consentd.db")
	storetest.RunStaleUpgrade(t, func(t *testing.T) storetest.Migrator {
		db, err := sqlite.Open(path)
		if err != nil {
			t.Fatalf("Open() = %v", err)
		}
		return db
	}, func(ctx context.Context, query string, args ...any) (int64, error) {
		raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
		if err != nil {
			return 0, err
		}
		defer raw.Close()
		res, err := raw.ExecContext(ctx, placeholder.ReplaceAllString(query, "?$1"), args...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	})
}

// TestJobKindsUpgrade runs the upgrade that moves the confirmation mail
// outbox and the pending requests into jobs, on a database file, undoing
// its migration with a second connection.
func TestJobKindsUpgrade(t *testing.T) {
	path := filepath.Join(t.TempDir(), "consentd.db")
	storetest.RunJobKindsUpgrade(t, func(t *testing.T) storetest.Store {
		db, err := sqlite.Open(path)
		if err != nil {
			t.Fatalf("Open() = %v", err)
		}
		return db
	}, func(ctx context.Context, query string, args ...any) (int64, error) {
		raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
		if err != nil {
			return 0, err
		}
		defer raw.Close()
		res, err := raw.ExecContext(ctx, placeholder.ReplaceAllString(query, "?$1"), args...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	})
}

// TestBrandUpgrade opens a database written before migration 0016 (the
// brand columns dropped with a second connection) and checks that its
// data is kept.
func TestBrandUpgrade(t *testing.T) {
	path := filepath.Join(t.TempDir(), "consentd.db")
	storetest.RunBrandUpgrade(t, func(t *testing.T) storetest.Store {
		db, err := sqlite.Open(path)
		if err != nil {
			t.Fatalf("Open() = %v", err)
		}
		return db
	}, func(ctx context.Context, query string, args ...any) (int64, error) {
		raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
		if err != nil {
			return 0, err
		}
		defer raw.Close()
		res, err := raw.ExecContext(ctx, query, args...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	})
}
