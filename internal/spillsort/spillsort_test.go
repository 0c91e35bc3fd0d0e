package spillsort

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
)

// TestSort sorts records in memory and through runs on disk and checks
// the order, the stability for equal keys and that nothing is lost.
func TestSort(t *testing.T) {
	for _, tc := range []struct {
		name  string
		n     int
		limit int
		runs  bool
	}{
		{"empty", 0, 1 << 10, false},
		{"in memory", 1000, 1 << 20, false},
		{"spilled", 20000, 4 << 10, true},
		{"one record per run", 50, 1, true},
		{"more runs than merge at once", 3*MaxFanIn + 7, 1, true}, // merged in rounds
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := New(dir, tc.limit)
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range tc.n {
				key := fmt.Appendf(nil, "k%03d", rng.IntN(100)) // many equal keys
				value := binary.BigEndian.AppendUint64(nil, uint64(i))
				value = append(value, bytes.Repeat([]byte{'v'}, rng.IntN(40))...)
				if err := s.Add(key, value); err != nil {
					t.Fatal(err)
				}
			}
			if (len(s.runs) > 0) != tc.runs {
				t.Fatalf("spilled %d runs; want spilled %v", len(s.runs), tc.runs)
			}
			it, err := s.Sort()
			if err != nil {
				t.Fatal(err)
			}
			defer it.Close()
			var prevKey []byte
			var prevSeq uint64
			seen := make([]bool, tc.n)
			count := 0
			for it.Next() {
				seq := binary.BigEndian.Uint64(it.Value())
				if c := bytes.Compare(prevKey, it.Key()); count > 0 && (c > 0 || c == 0 && seq < prevSeq) {
					t.Fatalf("record %d: key %q seq %d after key %q seq %d", count, it.Key(), seq, prevKey, prevSeq)
				}
				if seen[seq] {
					t.Fatalf("record %d twice", seq)
				}
				seen[seq] = true
				prevKey, prevSeq = append(prevKey[:0], it.Key()...), seq
				count++
			}
			if err := it.Err(); err != nil {
				t.Fatal(err)
			}
			if count != tc.n {
				t.Fatalf("got %d records; want %d", count, tc.n)
			}
			if err := it.Close(); err != nil {
				t.Fatal(err)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("left %d files in the temporary folder", len(left))
			}
		})
	}
}

// BenchmarkSort sorts 48-byte keys with 150-byte values through runs of
// 16 MiB; one op is one record.
func BenchmarkSort(b *testing.B) {
	s := New(b.TempDir(), 0)
	rng := rand.New(rand.NewPCG(1, 2))
	key, value := make([]byte, 48), make([]byte, 150)
	for range b.N {
		for i := 0; i < len(key); i += 8 {
			binary.LittleEndian.PutUint64(key[i:], rng.Uint64())
		}
		if err := s.Add(key, value); err != nil {
			b.Fatal(err)
		}
	}
	it, err := s.Sort()
	if err != nil {
		b.Fatal(err)
	}
	defer it.Close()
	for it.Next() {
	}
	if it.Err() != nil {
		b.Fatal(it.Err())
	}
}
