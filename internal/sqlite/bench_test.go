package sqlite_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// BenchmarkWriteConsentParallel measures acknowledged single-consent writes
// from many goroutines: group commit should pay one fsync for many.
func BenchmarkWriteConsentParallel(b *testing.B) {
	db, ws := openB(b)
	t0 := time.Now().Add(-time.Hour).UTC()
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			w := write(fmt.Sprintf("user-%d@example.com", i), "opted_in", t0)
			if _, err := db.WriteConsents(context.Background(), ws, []consentd.ConsentWrite{w}, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

// BenchmarkWriteConsentBatch measures batches of 1,000 consents in one
// transaction (the import path).
func BenchmarkWriteConsentBatch(b *testing.B) {
	db, ws := openB(b)
	t0 := time.Now().Add(-time.Hour).UTC()
	batch := make([]consentd.ConsentWrite, 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range batch {
			batch[j] = write(fmt.Sprintf("user-%d-%d@example.com", i, j), "opted_in", t0)
		}
		if _, err := db.WriteConsents(context.Background(), ws, batch, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "writes/s")
}
