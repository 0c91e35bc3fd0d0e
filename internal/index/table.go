package index

import (
	"encoding/binary"
	"sync/atomic"
)

// mapped is the size of the tables mapped outside the Go heap, in bytes
// (MappedBytes).
var mapped atomic.Int64

// MappedBytes is the memory the decision indexes of this process hold
// outside the Go heap (their consent tables, when big): runtime.MemStats
// does not count it.
func MappedBytes() int64 { return mapped.Load() }

// table maps (contact point hash, channel type) to a status: open
// addressing with linear probing over one flat slice of 16-byte slots. The
// keys are HMAC outputs, already uniformly random, so the slot is read off
// the key with no hashing, and a lookup usually reads one cache line: at
// 10M consents, where every lookup misses the CPU caches, that line is what
// a lookup costs (a Go map touches a group's control word and its slot,
// several lines apart). Four slots fill a 64-byte line exactly and none
// straddles two (the slice is 64-byte aligned: large allocations start on
// a page).
type table struct {
	slots []slot
	m     *mapping // where slots live when they are mapped outside the Go heap (slots_unix.go)
	n     int      // used slots
}

// slot holds 96 bits of the key (the index key's first 12 bytes: at 10M
// contact points the chance that two of a workspace's share them is below
// 1e-15), the interned channel type (30 bits) and the status (2 bits):
//
//	lo = key[0:8] (little endian)
//	hi = key[8:12] << 32 | ct << 2 | status
//
// hi == 0 marks an empty slot (stored statuses are never none).
type slot struct {
	lo, hi uint64
}

const (
	minSlots = 1 << 10
	mapMin   = 4 << 20 // bytes: bigger slots are mapped outside the Go heap (slots_unix.go)
	maxCT    = 1 << 30 // channel type ids fit in 30 bits
)

// words returns a key's slot words without the status.
func words(k hashKey, ct uint32) (lo, hi uint64) {
	return binary.LittleEndian.Uint64(k[:8]), uint64(binary.LittleEndian.Uint32(k[8:12]))<<32 | uint64(ct&(maxCT-1))<<2
}

// home is a key's home slot before the mask: the key's first 8 bytes,
// mixed with the channel type so that one contact point's channel types
// spread over the table.
func home(lo, hi uint64) uint64 { return lo ^ ((hi>>2)&(maxCT-1))*0x9e3779b97f4a7c15 }

// probe is a lookup started and not yet finished: its slot's cache line is
// on its way while the caller does other work (see start).
type probe struct {
	lo, hi uint64
	i      uint64 // the home slot
	first  uint64 // the home slot's hi word, loaded by start
}

// start begins the lookup of (k, ct): it reads the home slot's hi word, so
// that the memory access is issued now and its latency overlaps whatever
// the caller does before finish. On an empty table the probe finds none.
func (t *table) start(k hashKey, ct uint32) probe {
	lo, hi := words(k, ct)
	p := probe{lo: lo, hi: hi}
	if len(t.slots) == 0 {
		return p
	}
	p.i = home(lo, hi) & uint64(len(t.slots)-1)
	p.first = t.slots[p.i].hi
	return p
}

// finish returns the status stored for the probe's key, none when there is
// none. The table must be the one start read (the caller holds the lock
// across both).
func (t *table) finish(p probe) status {
	if p.first == 0 {
		return none
	}
	return t.find(p.lo, p.hi, p.i)
}

// get returns the status stored for (k, ct), none when there is none.
func (t *table) get(k hashKey, ct uint32) status {
	if len(t.slots) == 0 {
		return none
	}
	lo, hi := words(k, ct)
	return t.find(lo, hi, home(lo, hi)&uint64(len(t.slots)-1))
}

// find probes from slot i on for the slot words (hi without a status).
func (t *table) find(lo, hi uint64, i uint64) status {
	mask := uint64(len(t.slots) - 1)
	for ; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.hi&^3 == hi && s.lo == lo {
			return status(s.hi & 3)
		}
		if s.hi == 0 {
			return none
		}
	}
}

// put stores st (not none) for (k, ct), growing the table past 3/4 full.
func (t *table) put(k hashKey, ct uint32, st status) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.grow()
	}
	lo, hi := words(k, ct)
	t.insert(lo, hi, st)
}

// insert puts the slot words (hi without a status) with st.
func (t *table) insert(lo, hi uint64, st status) {
	mask := uint64(len(t.slots) - 1)
	for i := home(lo, hi) & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.hi == 0 {
			*s = slot{lo, hi | uint64(st)}
			t.n++
			return
		}
		if s.lo == lo && s.hi&^3 == hi {
			s.hi = hi | uint64(st)
			return
		}
	}
}

func (t *table) grow() {
	old, oldM := t.slots, t.m
	t.slots, t.m = allocSlots(max(minSlots, 2*len(old)))
	t.n = 0
	for _, s := range old {
		if s.hi != 0 {
			t.insert(s.lo, s.hi&^3, status(s.hi&3))
		}
	}
	oldM.free() // writers hold the workspace's lock, so no reader has the old slots
}

// len is the number of consents stored.
func (t *table) len() int { return t.n }
