package importer_test

import (
	"fmt"
	"time"

	"github.com/consentd/consentd"
	"path/filepath"
	"testing"

	"github.com/consentd/consentd/internal/importer"
	"github.com/consentd/consentd/internal/sqlite"
)

// BenchmarkImportSQLite imports generated native rows into SQLite; one
// op is one row.
func BenchmarkImportSQLite(b *testing.B) {
	path := generate(b, max(b.N, 1000))
	db, err := sqlite.Open(filepath.Join(b.TempDir(), "consentd.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ws := workspace(b, db, "bench")
	b.ResetTimer()
	if _, _, err := (&importer.Engine{Store: db}).Import(b.Context(), ws, spec("native"), path); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWriteConsentsSQLite writes the same kind of rows with
// WriteConsents in batches of 5000: the write path without the import.
func BenchmarkWriteConsentsSQLite(b *testing.B) {
	db, err := sqlite.Open(filepath.Join(b.TempDir(), "consentd.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ws := workspace(b, db, "bench")
	at := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	var batch []consentd.ConsentWrite
	b.ResetTimer()
	for i := range b.N {
		batch = append(batch, consentd.ConsentWrite{ContactPoint: fmt.Sprintf("user%d@example.com", i), Channel: "email", Purpose: "newsletter",
			Status: consentd.OptedIn, CapturedAt: at, Source: consentd.Source{Type: "import"}})
		if len(batch) == 5000 || i == b.N-1 {
			if _, err := db.WriteConsents(b.Context(), ws, batch, "bench"); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}
