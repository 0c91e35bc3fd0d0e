package sqlite_test

import (
	"path/filepath"
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
