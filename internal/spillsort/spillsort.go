// Package spillsort sorts more (key, value) records than fit in memory: it
// keeps records in a byte arena up to a memory limit, writes each full
// arena as a sorted run to a temporary file, and merges the runs. Memory
// stays flat whatever the number of records: the arena, plus one buffered
// reader per run while merging.
package spillsort

import (
	"bufio"
	"bytes"
	"cmp"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// DefaultLimit is the arena size when New is given none.
const DefaultLimit = 8 << 20

// Sorter collects records; Sort returns them in key order. Records with
// equal keys come out in the order they were added.
type Sorter struct {
	dir   string
	limit int
	arena []byte
	offs  []uint32 // start of each record in arena
	runs  []*os.File
	done  bool
}

// New returns a Sorter that spills runs to temporary files in dir (the
// system's temporary folder when empty) once its arena holds limit bytes
// (DefaultLimit when limit <= 0).
func New(dir string, limit int) *Sorter {
	if limit <= 0 {
		limit = DefaultLimit
	}
	return &Sorter{dir: dir, limit: limit}
}

// Add adds a record; key and value are copied.
func (s *Sorter) Add(key, value []byte) error {
	if s.done {
		return errors.New("spillsort: Add after Sort")
	}
	size := binary.MaxVarintLen64*2 + len(key) + len(value)
	if len(s.arena) > 0 && len(s.arena)+size > s.limit {
		if err := s.spill(); err != nil {
			return err
		}
	}
	if s.arena == nil {
		s.arena = make([]byte, 0, max(s.limit, size))
	}
	s.offs = append(s.offs, uint32(len(s.arena)))
	s.arena = binary.AppendUvarint(s.arena, uint64(len(key)))
	s.arena = append(s.arena, key...)
	s.arena = binary.AppendUvarint(s.arena, uint64(len(value)))
	s.arena = append(s.arena, value...)
	return nil
}

// record returns the key and value of the record at off in b.
func record(b []byte, off uint32) (key, value []byte) {
	b = b[off:]
	n, w := binary.Uvarint(b)
	key, b = b[w:w+int(n)], b[w+int(n):]
	n, w = binary.Uvarint(b)
	return key, b[w : w+int(n)]
}

// sortRec is a record to sort: the first 8 bytes of its key (zero-padded,
// big-endian), which decide most comparisons without reading the arena,
// and its offset.
type sortRec struct {
	pre uint64
	off uint32
}

// sortArena sorts the arena's records by key, stably: equal keys keep the
// order they were added in, which is their offsets' order.
func (s *Sorter) sortArena() {
	recs := make([]sortRec, len(s.offs))
	for i, off := range s.offs {
		k, _ := record(s.arena, off)
		var p [8]byte
		copy(p[:], k)
		recs[i] = sortRec{binary.BigEndian.Uint64(p[:]), off}
	}
	slices.SortFunc(recs, func(a, b sortRec) int {
		if a.pre != b.pre {
			return cmp.Compare(a.pre, b.pre)
		}
		ka, _ := record(s.arena, a.off)
		kb, _ := record(s.arena, b.off)
		if c := bytes.Compare(ka, kb); c != 0 {
			return c
		}
		return cmp.Compare(a.off, b.off)
	})
	for i := range recs {
		s.offs[i] = recs[i].off
	}
}

// spill writes the arena as a sorted run and empties it.
func (s *Sorter) spill() error {
	s.sortArena()
	f, err := os.CreateTemp(s.dir, "consentd-sort-*")
	if err != nil {
		return fmt.Errorf("spillsort: %w", err)
	}
	// Unlinked at once: the run goes away with the file descriptor, also
	// when the process is killed.
	os.Remove(f.Name())
	s.runs = append(s.runs, f)
	w := bufio.NewWriterSize(f, 256<<10)
	for _, off := range s.offs {
		key, value := record(s.arena, off)
		if err := writeRecord(w, key, value); err != nil {
			return fmt.Errorf("spillsort: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("spillsort: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spillsort: %w", err)
	}
	s.arena, s.offs = s.arena[:0], s.offs[:0]
	return nil
}

func writeRecord(w *bufio.Writer, key, value []byte) error {
	var buf [binary.MaxVarintLen64]byte
	w.Write(buf[:binary.PutUvarint(buf[:], uint64(len(key)))])
	w.Write(key)
	w.Write(buf[:binary.PutUvarint(buf[:], uint64(len(value)))])
	_, err := w.Write(value)
	return err
}

// Sort ends adding and returns an iterator over the records in key order.
// The iterator's Close removes what the sort left on disk.
func (s *Sorter) Sort() (*Iter, error) {
	if s.done {
		return nil, errors.New("spillsort: Sort called twice")
	}
	s.done = true
	if len(s.runs) == 0 {
		s.sortArena()
		return &Iter{mem: s.arena, offs: s.offs}, nil
	}
	if len(s.offs) > 0 {
		if err := s.spill(); err != nil {
			s.close()
			return nil, err
		}
	}
	s.arena, s.offs = nil, nil // the runs take over
	// Merge the oldest runs into one until few enough are left to merge
	// at once: open files and merge buffers stay bounded.
	for len(s.runs) > MaxFanIn {
		if err := s.mergeRuns(MaxFanIn); err != nil {
			s.close()
			return nil, err
		}
	}
	it, err := s.merger(s.runs)
	if err != nil {
		s.close()
		return nil, err
	}
	s.runs = nil
	return it, nil
}

// MaxFanIn is the most runs merged at once.
const MaxFanIn = 128

// merger returns an iterator merging runs, which it takes over when it
// succeeds. The merge reads every run at once: its buffers share a
// quarter of the arena's size.
func (s *Sorter) merger(runs []*os.File) (*Iter, error) {
	it := &Iter{files: runs}
	bufSize := max(4<<10, min(256<<10, s.limit/4/len(runs)))
	for i, f := range runs {
		r := &run{idx: i, f: f, r: bufio.NewReaderSize(f, bufSize)}
		ok, err := r.next()
		if err != nil {
			return nil, err
		}
		if ok {
			it.heap = append(it.heap, r)
		}
	}
	heap.Init(&it.heap)
	return it, nil
}

// mergeRuns merges the n oldest runs into one run, which takes their
// place first: records with equal keys keep their order.
func (s *Sorter) mergeRuns(n int) error {
	it, err := s.merger(s.runs[:n])
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.dir, "consentd-sort-*")
	if err != nil {
		return fmt.Errorf("spillsort: %w", err)
	}
	os.Remove(f.Name())
	w := bufio.NewWriterSize(f, 256<<10)
	for it.Next() {
		if err = writeRecord(w, it.Key(), it.Value()); err != nil {
			break
		}
	}
	if err == nil {
		err = it.Err()
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("spillsort: %w", err)
	}
	it.Close() // closes the n runs
	s.runs = append([]*os.File{f}, s.runs[n:]...)
	return nil
}

func (s *Sorter) close() {
	for _, f := range s.runs {
		f.Close()
	}
	s.runs = nil
}

// Close drops what the sorter holds (after an error, before Sort).
func (s *Sorter) Close() { s.close(); s.arena, s.offs = nil, nil }

// Iter walks sorted records.
type Iter struct {
	// In memory.
	mem  []byte
	offs []uint32
	// Merged from runs.
	heap  runHeap
	files []*os.File
	cur   *run

	key, value []byte
	started    bool
	err        error
}

// Next advances to the next record; false at the end or on an error (Err).
func (it *Iter) Next() bool {
	if it.err != nil {
		return false
	}
	if it.files == nil {
		if it.started {
			it.offs = it.offs[1:]
		}
		it.started = true
		if len(it.offs) == 0 {
			return false
		}
		it.key, it.value = record(it.mem, it.offs[0])
		return true
	}
	if it.cur != nil {
		// Advance the run of the previous record, then restore the heap.
		ok, err := it.cur.next()
		if err != nil {
			it.err = err
			return false
		}
		if ok {
			heap.Fix(&it.heap, 0)
		} else {
			heap.Pop(&it.heap)
		}
		it.cur = nil
	}
	if len(it.heap) == 0 {
		return false
	}
	it.cur = it.heap[0]
	it.key, it.value = it.cur.key, it.cur.value
	return true
}

// Key is the current record's key, valid until the next call to Next.
func (it *Iter) Key() []byte { return it.key }

// Value is the current record's value, valid until the next call to Next.
func (it *Iter) Value() []byte { return it.value }

// Err is the error that stopped Next, if any.
func (it *Iter) Err() error { return it.err }

// Close removes the runs.
func (it *Iter) Close() error {
	var errs []error
	for _, f := range it.files {
		errs = append(errs, f.Close())
	}
	it.files, it.heap, it.mem, it.offs = nil, nil, nil, nil
	return errors.Join(errs...)
}

// run reads one sorted run.
type run struct {
	idx        int
	f          *os.File
	r          *bufio.Reader
	buf        []byte
	key, value []byte
}

func (r *run) next() (bool, error) {
	kn, err := binary.ReadUvarint(r.r)
	if errors.Is(err, io.EOF) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("spillsort: read run: %w", err)
	}
	r.buf = slices.Grow(r.buf[:0], int(kn))[:kn]
	if _, err := io.ReadFull(r.r, r.buf); err != nil {
		return false, fmt.Errorf("spillsort: read run: %w", err)
	}
	vn, err := binary.ReadUvarint(r.r)
	if err != nil {
		return false, fmt.Errorf("spillsort: read run: %w", err)
	}
	r.buf = slices.Grow(r.buf, int(vn))[:int(kn)+int(vn)]
	if _, err := io.ReadFull(r.r, r.buf[kn:]); err != nil {
		return false, fmt.Errorf("spillsort: read run: %w", err)
	}
	r.key, r.value = r.buf[:kn], r.buf[kn:]
	return true, nil
}

// runHeap orders runs by their current key, then by run index (stable).
type runHeap []*run

func (h runHeap) Len() int { return len(h) }
func (h runHeap) Less(i, j int) bool {
	if c := bytes.Compare(h[i].key, h[j].key); c != 0 {
		return c < 0
	}
	return h[i].idx < h[j].idx
}
func (h runHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)   { *h = append(*h, x.(*run)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
