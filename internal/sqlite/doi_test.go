package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/consentd/consentd/internal/doi"
	"github.com/consentd/consentd/internal/doi/doitest"
	"github.com/consentd/consentd/internal/sqlite"
)

var _ doi.Store = (*sqlite.DB)(nil)

// TestDoubleOptInStore runs the double opt-in store suite on a new database
// file per subtest.
func TestDoubleOptInStore(t *testing.T) {
	doitest.Run(t, func(t *testing.T) doitest.Store {
		db, err := sqlite.Open(filepath.Join(t.TempDir(), "consentd.db"))
		if err != nil {
			t.Fatalf("Open() = %v", err)
		}
		return db
	})
}
