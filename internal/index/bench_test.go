package index_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"testing"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/index"
)

// benchIndex is an index of one workspace holding n synthetic consents on
// "news:email" for user<i>@example.com, every third opted out.
type benchIndex struct {
	idx   *index.Index
	n     int
	bytes float64 // heap bytes per consent
}

var (
	benchOnce   sync.Map // n -> *benchIndex
	benchMu     sync.Mutex
	benchSecret = []byte("0123456789abcdef0123456789abcdef")
)

func loadBench(b *testing.B, n int) *benchIndex {
	benchMu.Lock()
	defer benchMu.Unlock()
	if v, ok := benchOnce.Load(n); ok {
		return v.(*benchIndex)
	}
	benchOnce.Clear() // keep one big index in memory at a time
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	mappedBefore := index.MappedBytes()
	cat := consentd.NewCatalog([]*consentd.Purpose{{ID: "news", Name: "N", Type: consentd.Commercial,
		Channels: map[string]consentd.ChannelSetting{"email": {Enforcement: consentd.Restrictive}}}}, nil)
	idx := index.New(nil, slog.New(slog.DiscardHandler))
	idx.Load("w", &consentd.Workspace{ID: "w"}, benchSecret, cat, int64(n), func(put func([32]byte, string, consentd.Status)) {
		for i := 0; i < n; i++ {
			st := consentd.OptedIn
			if i%3 == 0 {
				st = consentd.OptedOut
			}
			put(consentd.ContactPointHash(benchSecret, consentd.KindEmail, fmt.Sprintf("user%d@example.com", i)), "news:email", st)
		}
	})
	runtime.GC()
	runtime.ReadMemStats(&after)
	// The heap and the table mapped outside it.
	bi := &benchIndex{idx: idx, n: n, bytes: (float64(after.HeapAlloc) - float64(before.HeapAlloc) + float64(index.MappedBytes()-mappedBefore)) / float64(n)}
	benchOnce.Store(n, bi)
	return bi
}

var sizes = []int{1_000_000, 10_000_000}

// BenchmarkDecideInProc is a whole in-process decision at 1M and 10M
// consents: normalize, hash, look up, apply the rules.
func BenchmarkDecideInProc(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("consents=%d", n), func(b *testing.B) {
			bi := loadBench(b, n)
			// Distinct recipients spread over the whole index, as a send
			// pipeline asks: most lookups miss the CPU caches.
			addrs := make([]string, 1<<20)
			for i := range addrs {
				addrs[i] = fmt.Sprintf("user%d@example.com", int(uint64(i)*2654435761%uint64(n)))
			}
			ctx := context.Background()
			// As POST /v1/decisions asks: into a result, the consent id
			// in parts (Decide also builds its string).
			req := consentd.DecisionRequest{Channel: "email", Purpose: "news"}
			var res consentd.DecisionResult
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				req.ContactPoint = addrs[i&(len(addrs)-1)]
				if _, err := bi.idx.DecideParts(ctx, "w", &req, &res); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(bi.bytes, "B/consent")
		})
	}
}

// BenchmarkLookup is the index lookup alone at 1M and 10M consents: as a
// stream does it (Prepared: the workspace and the channel type resolved
// once), and by name (Index.Lookup, which finds both in maps every call).
func BenchmarkLookup(b *testing.B) {
	for _, n := range sizes {
		bi := loadBench(b, n)
		hashes := make([][32]byte, 1<<20)
		for i := range hashes {
			hashes[i] = consentd.ContactPointHash(benchSecret, consentd.KindEmail, fmt.Sprintf("user%d@example.com", int(uint64(i)*2654435761%uint64(n))))
		}
		p, err := bi.idx.Prepare(context.Background(), "w", "news", "", "email")
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("consents=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if st := p.Lookup(hashes[i&(len(hashes)-1)]); st == "" {
					b.Fatal("not found")
				}
			}
			b.ReportMetric(bi.bytes, "B/consent")
		})
		b.Run(fmt.Sprintf("by-name/consents=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if st := bi.idx.Lookup("w", hashes[i&(len(hashes)-1)], "news:email"); st == "" {
					b.Fatal("not found")
				}
			}
		})
	}
}
