package ledger

import (
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// The tree is stored as C2SP tlog-tiles (https://c2sp.org/tlog-tiles): a
// tile at level L holds 256 consecutive hashes of tree level 8L, so a full
// tile is 8 KiB and never changes once written. Only full tiles are stored.
// The right edge of the tree, the partial tiles and the roots of the
// perfect subtrees of the current size, is held in memory by an Edge, and
// rebuilt when needed from the newest leaf hashes and the roots of the
// newest full tiles. Hashing is RFC 6962 as golang.org/x/mod/sumdb/tlog does
// it, so roots and proofs are the same whichever way the tree is stored.

// TileHeight is the height of a tile: it holds 2^TileHeight hashes.
const TileHeight = 8

// TileWidth is the number of hashes in a full tile.
const TileWidth = 1 << TileHeight

// TileSize is the size of a full tile's data in bytes.
const TileSize = TileWidth * tlog.HashSize

// Tile is one full tile to store: its level and index, its 256 hashes
// (TileSize bytes), and its root, the hash of tree level 8(Level+1) that
// the tile's hashes make, which is one hash of the tile above it.
type Tile struct {
	Level  int
	Index  int64
	Hashes []byte
	Root   tlog.Hash
}

// Edge is the right edge of a log's tree: everything appending a leaf
// needs, and the root. It holds the partial tile of every level and the
// roots of the perfect subtrees of the tree (one per set bit of the size),
// about 8 KiB per level. The zero Edge is the empty tree.
type Edge struct {
	size    int64
	stack   [64]tlog.Hash // roots of the perfect subtrees, largest first
	depth   int
	partial [][]tlog.Hash // partial[k]: the hashes of the incomplete tile at level k
}

// Size returns the number of leaves.
func (e *Edge) Size() int64 { return e.size }

// shallow returns a copy of e that shares the partial tiles' arrays. It
// stays what e was as long as e only appends: Append writes past the
// lengths the copy holds, and starts a new array when a tile completes.
func (e *Edge) shallow() *Edge {
	c := *e
	c.partial = append([][]tlog.Hash(nil), e.partial...)
	return &c
}

// Clone returns a copy of e that shares nothing with it.
func (e *Edge) Clone() *Edge {
	c := &Edge{size: e.size, stack: e.stack, depth: e.depth, partial: make([][]tlog.Hash, len(e.partial))}
	for k, p := range e.partial {
		c.partial[k] = make([]tlog.Hash, len(p), TileWidth)
		copy(c.partial[k], p)
	}
	return c
}

func (e *Edge) push(level int, h tlog.Hash) {
	for len(e.partial) <= level {
		e.partial = append(e.partial, make([]tlog.Hash, 0, TileWidth))
	}
	e.partial[level] = append(e.partial[level], h)
}

// Append adds the leaf with hash lh and returns the tiles it completes
// (none, except for every 256th leaf).
func (e *Edge) Append(lh tlog.Hash) []Tile {
	e.push(0, lh)
	h, d, level := lh, e.depth, 0
	for k := e.size; k&1 == 1; k >>= 1 {
		d--
		h = tlog.NodeHash(e.stack[d], h)
		level++
		if level%TileHeight == 0 {
			e.push(level/TileHeight, h)
		}
	}
	e.stack[d] = h
	e.depth = d + 1
	e.size++
	var full []Tile
	for k := 0; k < len(e.partial) && len(e.partial[k]) == TileWidth; k++ {
		t := Tile{Level: k, Index: e.size>>(TileHeight*(k+1)) - 1, Hashes: make([]byte, 0, TileSize)}
		for _, h := range e.partial[k] {
			t.Hashes = append(t.Hashes, h[:]...)
		}
		// Completing this tile completed one hash of the level above: its
		// root, just pushed there.
		t.Root = e.partial[k+1][len(e.partial[k+1])-1]
		// A new array, not the full one reused: a shallow copy of the
		// edge taken earlier (Appender.Mark) still reads the old one.
		e.partial[k] = make([]tlog.Hash, 0, TileWidth)
		full = append(full, t)
	}
	return full
}

// Root returns the tree's RFC 6962 root hash.
func (e *Edge) Root() tlog.Hash {
	if e.depth == 0 {
		return emptyRoot
	}
	h := e.stack[e.depth-1]
	for i := e.depth - 2; i >= 0; i-- {
		h = tlog.NodeHash(e.stack[i], h)
	}
	return h
}

// EdgeSource reads what rebuilding an Edge needs from storage.
type EdgeSource interface {
	// LeafHashes returns the leaf hashes of tree indexes [from, to)
	// (entries from+1 to to).
	LeafHashes(from, to int64) ([]tlog.Hash, error)
	// TileRoots returns the roots of the full tiles of one level with
	// indexes [from, to).
	TileRoots(level int, from, to int64) ([]tlog.Hash, error)
}

// RebuildEdge returns the Edge of the tree of size n from storage: the
// leaf hashes of its partial level 0 tile and the stored roots of the full
// tiles that make up the partial tiles above.
func RebuildEdge(n int64, src EdgeSource) (*Edge, error) {
	e := &Edge{size: n}
	levels := 0
	for m := n; m > 0; m >>= TileHeight {
		levels++
	}
	e.partial = make([][]tlog.Hash, levels+1)
	for k := range e.partial {
		e.partial[k] = make([]tlog.Hash, 0, TileWidth)
	}
	for k := levels - 1; k >= 0; k-- {
		m := n >> (TileHeight * k) // complete hashes at tree level 8k
		w := m % TileWidth
		if w == 0 {
			continue
		}
		var hs []tlog.Hash
		var err error
		if k == 0 {
			hs, err = src.LeafHashes(m-w, m)
		} else {
			hs, err = src.TileRoots(k-1, m-w, m)
		}
		if err != nil {
			return nil, err
		}
		if int64(len(hs)) != w {
			return nil, fmt.Errorf("ledger: rebuilding the tree's edge at size %d: %d hashes at level %d, want %d", n, len(hs), k, w)
		}
		e.partial[k] = append(e.partial[k], hs...)
		// The perfect subtrees these hashes make, largest first: one per
		// set bit of w.
		i := 0
		for bit := TileHeight - 1; bit >= 0; bit-- {
			if w&(1<<bit) == 0 {
				continue
			}
			e.stack[e.depth] = subtreeHash(hs[i : i+1<<bit])
			e.depth++
			i += 1 << bit
		}
	}
	return e, nil
}

// subtreeHash returns the root of the perfect subtree over hs (a power of
// two of them).
func subtreeHash(hs []tlog.Hash) tlog.Hash {
	if len(hs) == 1 {
		return hs[0]
	}
	half := len(hs) / 2
	return tlog.NodeHash(subtreeHash(hs[:half]), subtreeHash(hs[half:]))
}

// TileSource reads stored tiles and what partial tiles are made of.
type TileSource interface {
	EdgeSource
	// FullTile returns the data of the full tile at level and index, or
	// nil when it is not stored (yet).
	FullTile(level int, index int64) ([]byte, error)
}

// TileHashReader is a tlog.HashReader over a tiled tree: each hash is
// read from the tile that holds it, a stored full tile or a partial tile
// made from leaf hashes or tile roots. Tiles read are kept for the
// reader's life, so use one reader per proof or tree hash.
type TileHashReader struct {
	src   TileSource
	tiles map[tlog.Tile][]byte
}

// NewTileHashReader returns a reader over src.
func NewTileHashReader(src TileSource) *TileHashReader {
	return &TileHashReader{src: src, tiles: map[tlog.Tile][]byte{}}
}

// ReadHashes implements tlog.HashReader.
func (r *TileHashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		t := tlog.TileForIndex(TileHeight, idx)
		data, err := r.tile(t)
		if err != nil {
			return nil, err
		}
		if out[i], err = tlog.HashFromTile(t, data, idx); err != nil {
			return nil, fmt.Errorf("ledger: hash %d: %w", idx, err)
		}
	}
	return out, nil
}

// tile returns the data of t: a prefix of the stored full tile, or the
// hashes of a partial one.
func (r *TileHashReader) tile(t tlog.Tile) ([]byte, error) {
	full := tlog.Tile{H: t.H, L: t.L, N: t.N, W: TileWidth}
	if data, ok := r.tiles[full]; ok {
		return data[:t.W*tlog.HashSize], nil
	}
	if data, ok := r.tiles[t]; ok {
		return data, nil
	}
	data, err := r.src.FullTile(t.L, t.N)
	if err != nil {
		return nil, err
	}
	if data != nil {
		if len(data) != TileSize {
			return nil, fmt.Errorf("ledger: tile %d/%d is %d bytes", t.L, t.N, len(data))
		}
		r.tiles[full] = data
		return data[:t.W*tlog.HashSize], nil
	}
	from, to := t.N*TileWidth, t.N*TileWidth+int64(t.W)
	var hs []tlog.Hash
	if t.L == 0 {
		hs, err = r.src.LeafHashes(from, to)
	} else {
		hs, err = r.src.TileRoots(t.L-1, from, to)
	}
	if err != nil {
		return nil, err
	}
	if len(hs) != t.W {
		return nil, fmt.Errorf("ledger: partial tile %d/%d: %d hashes, want %d", t.L, t.N, len(hs), t.W)
	}
	data = make([]byte, 0, len(hs)*tlog.HashSize)
	for _, h := range hs {
		data = append(data, h[:]...)
	}
	r.tiles[t] = data
	return data, nil
}

// TilesFromHashes calls put with every full tile of the tree of size n,
// read from the tree's tlog stored hashes (the storage before tiles), level
// by level in index order. Upgrading a log to tiles stores what it gets;
// the roots and proofs stay the same.
func TilesFromHashes(n int64, r tlog.HashReader, put func(Tile) error) error {
	for level := 0; ; level++ {
		full := n >> (TileHeight * (level + 1))
		if full == 0 {
			return nil
		}
		for idx := int64(0); idx < full; idx++ {
			data, err := tlog.ReadTileData(tlog.Tile{H: TileHeight, L: level, N: idx, W: TileWidth}, r)
			if err != nil {
				return fmt.Errorf("ledger: tile %d/%d from stored hashes: %w", level, idx, err)
			}
			root, err := r.ReadHashes([]int64{tlog.StoredHashIndex(TileHeight*(level+1), idx)})
			if err != nil {
				return fmt.Errorf("ledger: root of tile %d/%d: %w", level, idx, err)
			}
			if err := put(Tile{Level: level, Index: idx, Hashes: data, Root: root[0]}); err != nil {
				return err
			}
		}
	}
}
