package index

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
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

// TestTableMapping checks that a big table's slots, mapped outside the Go
// heap, are counted while it lives, unmapped at once when it grows, and
// unmapped once nothing reaches it.
func TestTableMapping(t *testing.T) {
	if !mapsSlots {
		t.Skip("tables live on the Go heap on this platform")
	}
	runtime.GC() // tables earlier tests dropped are unmapped first (no other test here maps one)
	time.Sleep(50 * time.Millisecond)
	base := MappedBytes()
	tb := &table{}
	var k hashKey
	rng := rand.New(rand.NewPCG(5, 6))
	n := 0
	for ; tb.m == nil || len(tb.slots) < 4*mapMin/16; n++ {
		for j := range k {
			k[j] = byte(rng.Uint32())
		}
		tb.put(k, 0, optedIn)
	}
	if got, want := MappedBytes()-base, int64(len(tb.slots)*16); got != want {
		t.Fatalf("mapped %d bytes after growing past two mappings; want the table's %d", got, want)
	}
	if tb.len() != n || tb.get(k, 0) != optedIn {
		t.Fatalf("table of %d holds %d, last key %d", n, tb.len(), tb.get(k, 0))
	}
	tb = nil
	deadline := time.Now().Add(10 * time.Second)
	for MappedBytes() != base {
		if time.Now().After(deadline) {
			t.Fatalf("a table nothing reaches is still mapped: %d bytes", MappedBytes()-base)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}
