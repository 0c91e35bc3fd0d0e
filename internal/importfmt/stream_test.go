package importfmt

import (
	"io"
	"runtime"
	"strconv"
	"testing"
)

// genReader generates a native file of n rows on the fly, so that the test
// itself holds no file in memory.
type genReader struct {
	n, i int
	buf  []byte
}

func newGen(n int) *genReader {
	return &genReader{n: n, buf: []byte("contact_point,channel,purpose,topic,status,captured_at,source_type,source_name,source_details,party_id,jurisdiction,reason\r\n")}
}

func (g *genReader) Read(p []byte) (int, error) {
	for len(g.buf) < len(p) && g.i < g.n {
		g.buf = append(g.buf, "user"...)
		g.buf = strconv.AppendInt(g.buf, int64(g.i), 10)
		g.buf = append(g.buf, "@example.org,email,newsletter,,opted_in,2024-03-14T09:30:00Z,form,signup,\"{\"\"form\"\":\"\"v2\"\"}\",party-"...)
		g.buf = strconv.AppendInt(g.buf, int64(g.i), 10)
		g.buf = append(g.buf, ",DE,\"a reason, with a comma\"\r\n"...)
		g.i++
	}
	if len(g.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, g.buf)
	g.buf = g.buf[:copy(g.buf, g.buf[n:])]
	return n, nil
}

// TestStreams reads 200k generated rows and checks that the reader keeps
// nothing per row: allocations per row are a small constant and the live
// heap after the file is about what it was before.
func TestStreams(t *testing.T) {
	const n = 200_000
	r, err := NewReader("native", newGen(n), Options{})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rows := 0
	for {
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if row.Reject != nil || len(row.Writes) != 1 {
			t.Fatalf("line %d: %v", row.Line, row.Reject)
		}
		rows++
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if rows != n {
		t.Fatalf("read %d rows; want %d", rows, n)
	}
	// The file is about 25 MB; a reader that kept rows would hold that much.
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 1<<20 {
		t.Errorf("live heap grew by %d bytes over %d rows; want it flat", grew, n)
	}
	perRow := float64(after.Mallocs-before.Mallocs) / n
	t.Logf("%.2f allocs/row", perRow)

	// Allocations per row, measured on their own.
	r, err = NewReader("native", newGen(1<<30), Options{})
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(10_000, func() {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	})
	// One string for the record (encoding/csv), the Raw copy, the Writes
	// slice, the source details: a reader that grew per row or parsed wastefully would exceed it.
	if allocs > 4 {
		t.Errorf("%.1f allocs per row; want <= 4", allocs)
	}
}

// BenchmarkNative measures parsing of the native format: rows/s and
// allocs/row (one op is one row).
func BenchmarkNative(b *testing.B) {
	r, err := NewReader("native", newGen(1<<40), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		row, err := r.Next()
		if err != nil || row.Reject != nil {
			b.Fatal(err, row.Reject)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
