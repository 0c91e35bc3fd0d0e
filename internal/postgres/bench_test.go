package postgres_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/postgres"
)

// openB opens two handles on a new database, as two replicas, with one
// workspace and its purpose.
func openB(b *testing.B) (db1, db2 *postgres.DB, wsID string) {
	b.Helper()
	u := freshDB(b)
	db1, db2 = open(b, u), open(b, u)
	b.Cleanup(func() { db1.Close(); db2.Close() })
	ws, err := db1.CreateWorkspace(context.Background(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	p := &consentd.Purpose{ID: "newsletter", Name: "Newsletter", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"email": {}}}
	if err := db1.PutPurpose(context.Background(), ws.ID, p, true, "bench"); err != nil {
		b.Fatal(err)
	}
	return db1, db2, ws.ID
}

func write(cp string, at time.Time) consentd.ConsentWrite {
	return consentd.ConsentWrite{ContactPoint: cp, Channel: "email", Purpose: "newsletter", Status: consentd.OptedIn, CapturedAt: at, Source: consentd.Source{Type: "form"}}
}

// BenchmarkWriteConsentParallel measures acknowledged single-consent writes
// to one workspace from 16 goroutines per GOMAXPROCS through two handles (two
// replicas): each handle commits the writes that wait for it together, and
// the workspace's log lock makes the two take turns. writes/commit is how
// many writes a transaction committed, on average.
func BenchmarkWriteConsentParallel(b *testing.B) {
	db1, db2, ws := openB(b)
	var commits atomic.Int64
	count := func(map[string][]consentd.LogRecord) { commits.Add(1) }
	db1.SetOnCommit(count)
	db2.SetOnCommit(count)
	t0 := time.Now().Add(-time.Hour).UTC()
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		db := db1
		if n.Add(1)%2 == 0 {
			db = db2
		}
		for pb.Next() {
			w := write(fmt.Sprintf("user-%d@example.com", n.Add(1)), t0)
			if _, err := db.WriteConsents(context.Background(), ws, []consentd.ConsentWrite{w}, "bench"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
	b.ReportMetric(float64(b.N)/float64(commits.Load()), "writes/commit")
}

// BenchmarkWriteConsentBatch measures batches of 1,000 consents in one
// transaction (the import path).
func BenchmarkWriteConsentBatch(b *testing.B) {
	db, _, ws := openB(b)
	t0 := time.Now().Add(-time.Hour).UTC()
	batch := make([]consentd.ConsentWrite, 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range batch {
			batch[j] = write(fmt.Sprintf("user-%d-%d@example.com", i, j), t0)
		}
		if _, err := db.WriteConsents(context.Background(), ws, batch, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "writes/s")
}
