package ledger

import (
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// memTiles is a TileSource in memory, filled by an Edge's appends.
type memTiles struct {
	leaves []tlog.Hash
	tiles  map[[2]int64]Tile
}

func (m *memTiles) LeafHashes(from, to int64) ([]tlog.Hash, error) {
	if to > int64(len(m.leaves)) {
		return nil, fmt.Errorf("leaves %d..%d of %d", from, to, len(m.leaves))
	}
	return m.leaves[from:to], nil
}

func (m *memTiles) TileRoots(level int, from, to int64) ([]tlog.Hash, error) {
	var out []tlog.Hash
	for i := from; i < to; i++ {
		t, ok := m.tiles[[2]int64{int64(level), i}]
		if !ok {
			return nil, fmt.Errorf("no tile %d/%d", level, i)
		}
		out = append(out, t.Root)
	}
	return out, nil
}

func (m *memTiles) FullTile(level int, index int64) ([]byte, error) {
	if t, ok := m.tiles[[2]int64{int64(level), index}]; ok {
		return t.Hashes, nil
	}
	return nil, nil
}

// TestEdge: a tree built by an Edge has tlog's roots and proofs at every
// size, its tiles are tlog's tiles, and an Edge rebuilt from storage at any
// size goes on exactly like the one that was never dropped.
func TestEdge(t *testing.T) {
	const n = 3*65536 + 1000
	mem := &memTiles{tiles: map[[2]int64]Tile{}}
	stored := map[int64]tlog.Hash{} // tlog stored hashes, the reference
	hr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	e := &Edge{}
	check := map[int64]bool{1: true, 255: true, 256: true, 257: true, 65535: true, 65536: true, 65537: true, 65536 + 256: true, n: true}
	for i := int64(0); i < n; i++ {
		data := []byte(fmt.Sprintf("leaf %d", i))
		hs, err := tlog.StoredHashes(i, data, hr)
		if err != nil {
			t.Fatal(err)
		}
		for j, h := range hs {
			stored[tlog.StoredHashIndex(0, i)+int64(j)] = h
		}
		lh := tlog.RecordHash(data)
		mem.leaves = append(mem.leaves, lh)
		for _, tl := range e.Append(lh) {
			if len(tl.Hashes) != TileSize {
				t.Fatalf("tile %d/%d is %d bytes", tl.Level, tl.Index, len(tl.Hashes))
			}
			want, err := tlog.ReadTileData(tlog.Tile{H: TileHeight, L: tl.Level, N: tl.Index, W: TileWidth}, hr)
			if err != nil || string(want) != string(tl.Hashes) {
				t.Fatalf("tile %d/%d differs from tlog's (%v)", tl.Level, tl.Index, err)
			}
			mem.tiles[[2]int64{int64(tl.Level), tl.Index}] = tl
		}
		size := i + 1
		if !check[size] && size%9973 != 0 {
			continue
		}
		want, err := tlog.TreeHash(size, hr)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.Root(); got != want {
			t.Fatalf("size %d: Root() = %v, want %v", size, got, want)
		}
		re, err := RebuildEdge(size, mem)
		if err != nil {
			t.Fatalf("RebuildEdge(%d): %v", size, err)
		}
		if re.Root() != want || re.Size() != size {
			t.Fatalf("size %d: rebuilt edge has root %v size %d", size, re.Root(), re.Size())
		}
		// The rebuilt edge and a clone go on like the original.
		c := e.Clone()
		next := tlog.RecordHash([]byte("next"))
		a, b, d := e.Clone().Append(next), re.Append(next), c.Append(next)
		if len(a) != len(b) || len(a) != len(d) || re.Root() != c.Root() {
			t.Fatalf("size %d: a rebuilt edge goes on differently", size)
		}
		// Proofs over tiles are tlog's proofs.
		tr := NewTileHashReader(mem)
		if got, err := tlog.TreeHash(size, tr); err != nil || got != want {
			t.Fatalf("size %d: TreeHash over tiles = %v, %v", size, got, err)
		}
		for _, idx := range []int64{0, size / 2, size - 1} {
			p, err := tlog.ProveRecord(size, idx, NewTileHashReader(mem))
			if err != nil {
				t.Fatalf("ProveRecord(%d, %d): %v", size, idx, err)
			}
			if err := tlog.CheckRecord(p, size, want, idx, mem.leaves[idx]); err != nil {
				t.Fatalf("CheckRecord(%d, %d): %v", size, idx, err)
			}
		}
		if size > 1 {
			old := size / 3
			if old == 0 {
				old = 1
			}
			p, err := tlog.ProveTree(size, old, NewTileHashReader(mem))
			if err != nil {
				t.Fatal(err)
			}
			oldRoot, _ := tlog.TreeHash(old, hr)
			if err := tlog.CheckTree(p, size, want, old, oldRoot); err != nil {
				t.Fatalf("CheckTree(%d, %d): %v", old, size, err)
			}
		}
	}
	if len(mem.tiles) != n/256+n/65536 {
		t.Errorf("%d tiles stored, want %d", len(mem.tiles), n/256+n/65536)
	}
}

func BenchmarkEdgeAppend(b *testing.B) {
	e := &Edge{}
	h := tlog.RecordHash([]byte("x"))
	for b.Loop() {
		e.Append(h)
	}
}

// TestTilesFromHashes: the tiles made from stored hashes are the tiles an
// Edge makes.
func TestTilesFromHashes(t *testing.T) {
	const n = 65536 + 3*256 + 7
	stored := map[int64]tlog.Hash{}
	hr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			h, ok := stored[x]
			if !ok {
				return nil, fmt.Errorf("no hash %d", x)
			}
			out[i] = h
		}
		return out, nil
	})
	e := &Edge{}
	want := map[[2]int64]Tile{}
	for i := int64(0); i < n; i++ {
		data := []byte(fmt.Sprintf("leaf %d", i))
		hs, err := tlog.StoredHashes(i, data, hr)
		if err != nil {
			t.Fatal(err)
		}
		for j, h := range hs {
			stored[tlog.StoredHashIndex(0, i)+int64(j)] = h
		}
		for _, tl := range e.Append(tlog.RecordHash(data)) {
			want[[2]int64{int64(tl.Level), tl.Index}] = tl
		}
	}
	got := 0
	err := TilesFromHashes(n, hr, func(tl Tile) error {
		w, ok := want[[2]int64{int64(tl.Level), tl.Index}]
		if !ok || string(w.Hashes) != string(tl.Hashes) || w.Root != tl.Root {
			t.Errorf("tile %d/%d differs", tl.Level, tl.Index)
		}
		got++
		return nil
	})
	if err != nil || got != len(want) {
		t.Fatalf("TilesFromHashes: %d tiles of %d, %v", got, len(want), err)
	}
}

// TestAppenderMark: going back to a mark, across completed tiles too,
// leaves the appender as it was at the mark.
func TestAppenderMark(t *testing.T) {
	for _, before := range []int{0, 1, 200, 255, 256, 65535} {
		for _, after := range []int{1, 56, 300, 70000} {
			a, ref := NewAppender(&Edge{}), &Edge{}
			h := func(i int) tlog.Hash { return tlog.RecordHash([]byte(fmt.Sprint(i))) }
			for i := 0; i < before; i++ {
				a.edge.Append(h(i))
				ref.Append(h(i))
			}
			m := a.Mark()
			for i := 0; i < after; i++ {
				a.edge.Append(h(-i - 1))
			}
			a.Reset(m)
			for i := before; i < before+300; i++ {
				x, y := a.edge.Append(h(i)), ref.Append(h(i))
				if len(x) != len(y) || (len(x) > 0 && string(x[0].Hashes) != string(y[0].Hashes)) {
					t.Fatalf("before %d after %d: tiles differ at %d", before, after, i)
				}
			}
			if a.edge.Root() != ref.Root() || a.Size() != ref.Size() {
				t.Fatalf("before %d after %d: the reset appender goes on differently", before, after)
			}
		}
	}
}
