package index

import "encoding/binary"

// table maps (contact point hash, channel type) to a status: open
// addressing with linear probing over one flat slice. The keys are HMAC
// outputs, already uniformly random, so the slot index is read off the key
// with no hashing, and a lookup usually touches one cache line: at 10M
// consents, where every lookup misses the CPU caches, that is what a lookup
// costs. A Go map touches a group's control word and its slot, several
// lines apart.
type table struct {
	slots []slot
	n     int // used slots
}

// slot is 24 bytes; st == none marks an empty slot (stored statuses are
// never none).
type slot struct {
	k  hashKey
	ct uint32
	st status
}

const minSlots = 1 << 10

func (t *table) index(k hashKey, ct uint32) uint64 {
	return (binary.LittleEndian.Uint64(k[:8]) ^ uint64(ct)*0x9e3779b97f4a7c15) & uint64(len(t.slots)-1)
}

// get returns the status stored for (k, ct), none when there is none.
func (t *table) get(k hashKey, ct uint32) status {
	if len(t.slots) == 0 {
		return none
	}
	mask := uint64(len(t.slots) - 1)
	for i := t.index(k, ct); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.st == none {
			return none
		}
		if s.ct == ct && s.k == k {
			return s.st
		}
	}
}

// put stores st (not none) for (k, ct), growing the table past 3/4 full.
func (t *table) put(k hashKey, ct uint32, st status) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.grow()
	}
	mask := uint64(len(t.slots) - 1)
	for i := t.index(k, ct); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.st == none {
			*s = slot{k, ct, st}
			t.n++
			return
		}
		if s.ct == ct && s.k == k {
			s.st = st
			return
		}
	}
}

func (t *table) grow() {
	old := t.slots
	t.slots = make([]slot, max(minSlots, 2*len(old)))
	hugePages(t.slots)
	t.n = 0
	for _, s := range old {
		if s.st != none {
			t.put(s.k, s.ct, s.st)
		}
	}
}

// len is the number of consents stored.
func (t *table) len() int { return t.n }
