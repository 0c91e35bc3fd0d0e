//go:build unix

package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/postgres"
)

// importRows is how many generated rows BenchmarkImportBatch writes per
// iteration, in batches of importBatchSize (the importer's default).
const (
	importRows      = 200_000
	importBatchSize = 5000
)

// BenchmarkImportBatch measures ImportBatch writing importRows new
// consents (one contact point each, as consentd bench import does) in
// batches of importBatchSize into a new workspace per iteration: in file
// order, and sorted by contact point hash as the import engine will hand
// them over.
func BenchmarkImportBatch(b *testing.B) {
	for _, order := range []string{"file", "sorted"} {
		b.Run(order, func(b *testing.B) {
			db, _, _ := openB(b)
			ctx := context.Background()
			at := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
			var server, client time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				ws, err := db.CreateWorkspace(ctx, fmt.Sprintf("import-%s-%d", order, i))
				if err != nil {
					b.Fatal(err)
				}
				p := &consentd.Purpose{ID: "newsletter", Name: "Newsletter", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"email": {}}}
				if err := db.PutPurpose(ctx, ws.ID, p, true, "bench"); err != nil {
					b.Fatal(err)
				}
				secret, err := db.WorkspaceSecret(ctx, ws.ID)
				if err != nil {
					b.Fatal(err)
				}
				writes := make([]consentd.ConsentWrite, importRows)
				for j := range writes {
					status := consentd.OptedIn
					if j%3 == 0 {
						status = consentd.OptedOut
					}
					writes[j] = consentd.ConsentWrite{ContactPoint: fmt.Sprintf("user%d@example.com", j), Channel: "email", Purpose: "newsletter",
						Status: status, CapturedAt: at.Add(time.Duration(j) * time.Second), Source: consentd.Source{Type: consentd.SourceImport, Name: "old-crm"}}
				}
				if order == "sorted" {
					keys := make(map[string][32]byte, len(writes))
					for _, w := range writes {
						keys[w.ContactPoint] = consentd.ContactPointHash(secret, consentd.KindEmail, w.ContactPoint)
					}
					slices.SortFunc(writes, func(x, y consentd.ConsentWrite) int {
						hx, hy := keys[x.ContactPoint], keys[y.ContactPoint]
						return bytes.Compare(hx[:], hy[:])
					})
				}
				im, _, err := db.CreateImport(ctx, ws.ID, consentd.ImportSpec{Format: "native", SHA256: strings.Repeat(fmt.Sprintf("%02x", i%256), 32)})
				if err != nil {
					b.Fatal(err)
				}
				server0, client0 := serverCPU(b, db), clientCPU()
				b.StartTimer()
				importAll(b, db, ws.ID, im.ID, writes)
				b.StopTimer()
				server += serverCPU(b, db) - server0
				client += clientCPU() - client0
				b.StartTimer()
			}
			b.ReportMetric(float64(b.N*importRows)/b.Elapsed().Seconds(), "rows/s")
			if server > 0 {
				b.ReportMetric(server.Seconds()*1e6/float64(b.N*importRows), "server-us/row")
			}
			b.ReportMetric(client.Seconds()*1e6/float64(b.N*importRows), "client-us/row")
		})
	}
}

func importAll(b *testing.B, db *postgres.DB, wsID, importID string, writes []consentd.ConsentWrite) {
	lines := make([]int64, importBatchSize)
	for k := 0; k < len(writes); k += importBatchSize {
		batch := writes[k:min(k+importBatchSize, len(writes))]
		for j := range batch {
			lines[j] = int64(k + j + 2)
		}
		progress := consentd.ImportProgress{Counts: consentd.ImportCounts{Rows: int64(len(batch))}, Committed: int64(k + len(batch))}
		if _, err := db.ImportBatch(context.Background(), wsID, importID, batch, lines[:len(batch)], nil, progress, "import:"+importID); err != nil {
			b.Fatal(err)
		}
	}
}

// serverCPU returns the CPU time of the database's server processes, when
// they run on this machine (0 when /proc does not have them).
func serverCPU(b *testing.B, db *postgres.DB) time.Duration {
	var pids []int
	err := postgres.QueryForTest(context.Background(), db, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`, func(pid int) { pids = append(pids, pid) })
	if err != nil {
		b.Fatal(err)
	}
	var ticks int64
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0
		}
		// After the command in parentheses: utime and stime are fields 14
		// and 15 of the line, 12 and 13 after it.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		for _, s := range f[11:13] {
			n, _ := strconv.ParseInt(s, 10, 64)
			ticks += n
		}
	}
	return time.Duration(ticks) * (time.Second / 100) // USER_HZ
}

// clientCPU returns this process's CPU time.
func clientCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
