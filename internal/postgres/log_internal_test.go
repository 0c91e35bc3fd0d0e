package postgres

import (
	"context"
	"math/bits"
	"os"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"
)

// TestFrontierSQL checks the SQL that finds the hashes appends need against
// tlog: for every size n, the stored hash indexes of the perfect subtrees
// of the tree of size n, which are those tlog.StoredHashes reads appending
// leaves n+1, n+2, ... that the new leaves do not make themselves.
func TestFrontierSQL(t *testing.T) {
	url := os.Getenv("CONSENTD_TEST_POSTGRES")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL not reachable (set CONSENTD_TEST_POSTGRES): %v; with CI=true these tests must run", err)
		}
		t.Skipf("PostgreSQL not reachable; these tests were skipped (set CONSENTD_TEST_POSTGRES to run them): %v", err)
	}
	defer conn.Close(ctx)
	sizes := []int64{1<<40 - 1, 1 << 40, 1<<40 + 12345, 1<<62 - 1}
	for n := int64(0); n <= 1100; n++ {
		sizes = append(sizes, n)
	}
	for _, n := range sizes {
		rows, _ := conn.Query(ctx, `WITH n AS (SELECT $1::bigint AS n) `+frontierSQL+` ORDER BY idx`, n)
		got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			t.Fatalf("frontier of %d: %v", n, err)
		}
		var want []int64
		for i := 62; i >= 0; i-- {
			if n>>i&1 == 1 {
				want = append(want, tlog.StoredHashIndex(i, n>>i-1))
			}
		}
		slices.Sort(want)
		if len(got) != bits.OnesCount64(uint64(n)) || !slices.Equal(got, want) {
			t.Fatalf("frontier of %d = %v; want %v", n, got, want)
		}
	}

	// And appending from the frontier alone needs nothing else.
	var hashes []tlog.Hash
	for n := int64(0); n < 1100; n++ {
		frontier := map[int64]bool{}
		for i := 0; i < 63; i++ {
			if n>>i&1 == 1 {
				frontier[tlog.StoredHashIndex(i, n>>i-1)] = true
			}
		}
		r := readerFunc(func(idx []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(idx))
			for j, x := range idx {
				if !frontier[x] {
					t.Fatalf("appending leaf %d reads hash %d, not in the frontier %v", n, x, frontier)
				}
				out[j] = hashes[x]
			}
			return out, nil
		})
		hs, err := tlog.StoredHashes(n, []byte{byte(n)}, r)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, hs...)
	}
}

type readerFunc func([]int64) ([]tlog.Hash, error)

func (f readerFunc) ReadHashes(idx []int64) ([]tlog.Hash, error) { return f(idx) }
