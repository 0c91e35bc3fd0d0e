package index

import (
	"math/rand/v2"
	"testing"
)

// TestTable checks the flat table against a Go map through growth,
// overwrites, and keys that share their first 8 bytes (one probe chain,
// told apart by the next four, the last bytes a slot keeps).
func TestTable(t *testing.T) {
	var tb table
	want := map[[20]byte]status{}
	rng := rand.New(rand.NewPCG(3, 4))
	key := func(i int) (hashKey, uint32) {
		var k hashKey
		if i%4 == 0 {
			k[11] = byte(i) // same first 8 bytes as every other such key
			k[10] = byte(i >> 8)
		} else {
			for j := range k {
				k[j] = byte(rng.Uint32())
			}
		}
		return k, uint32(i % 3)
	}
	var keys []struct {
		k  hashKey
		ct uint32
	}
	for i := 0; i < 5000; i++ {
		k, ct := key(i)
		keys = append(keys, struct {
			k  hashKey
			ct uint32
		}{k, ct})
	}
	for round := 0; round < 3; round++ {
		for _, kk := range keys {
			st := status(1 + rng.IntN(3))
			tb.put(kk.k, kk.ct, st)
			var mk [20]byte
			copy(mk[:], kk.k[:])
			mk[16] = byte(kk.ct)
			want[mk] = st
		}
	}
	if tb.len() != len(want) {
		t.Fatalf("len = %d; want %d", tb.len(), len(want))
	}
	for _, kk := range keys {
		var mk [20]byte
		copy(mk[:], kk.k[:])
		mk[16] = byte(kk.ct)
		if got := tb.get(kk.k, kk.ct); got != want[mk] {
			t.Fatalf("get(%x, %d) = %d; want %d", kk.k, kk.ct, got, want[mk])
		}
	}
	var missing hashKey
	missing[0] = 0xff
	if got := tb.get(missing, 7); got != none {
		t.Fatalf("get(missing) = %d; want none", got)
	}
}
