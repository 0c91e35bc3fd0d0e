package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"unsafe"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/index"
)

// The local filter reads the file in big blocks, cuts them at row
// boundaries into batches, decides the batches' rows on every core (each
// worker with a decider of its own) and writes the kept rows batch by
// batch, in order. Rows are parsed only to find their contact point, and
// written as the bytes they were in the input: quoting, line ending (CRLF,
// LF, or none for a last row without one) and all, the header with its BOM
// too. A row that has no quotes and no carriage return inside it is split
// by its commas in place, without allocating; any other row is parsed by
// encoding/csv. Records are cut as encoding/csv reads them (a quoted field
// may span lines; a quote error ends the record with its line), so the
// rows, decisions and counts are those of reading the file with encoding/csv:
// filter_local_test.go checks the output against the input bytes of the
// rows that straightforward loop keeps.

// filterReadSize is the size of filter's reads and of a batch.
var filterReadSize = 1 << 20 // a variable for the tests

// filterSource is the input of the local filter after its header.
type filterSource struct {
	r      io.Reader
	ndjson bool
	hdr    []string // CSV header
	rawHdr []byte   // CSV: the header's bytes as in the input, BOM and line ending included
	col    int      // CSV: the contact point's column
	field  string   // NDJSON: --column
	buf    []byte   // read ahead: starts at a row
	eof    bool     // r is at its end
}

// utf8BOM is the byte order mark some tools write at the start of a UTF-8
// file.
var utf8BOM = []byte("\xef\xbb\xbf")

// newFilterSource reads the start of in: the format (given, or guessed from
// the first byte after a BOM), then for a CSV its BOM and header. Its errors are
// newRowReader's.
func newFilterSource(in io.Reader, format, column string) (*filterSource, error) {
	s := &filterSource{r: in, field: column, buf: make([]byte, 0, filterReadSize)}
	if err := s.fill(len(utf8BOM) + 1); err != nil {
		return nil, err
	}
	if format == "" {
		// The first byte after a BOM, which editors put at the start of
		// NDJSON files as well as CSV ones.
		format = "csv"
		if first := bytes.TrimPrefix(s.buf, utf8BOM); len(first) > 0 && first[0] == '{' {
			format = "ndjson"
		}
	}
	switch format {
	case "ndjson":
		s.ndjson = true
		return s, nil
	case "csv":
	default:
		return nil, fmt.Errorf("--format must be csv or ndjson")
	}
	var bom []byte
	if bytes.HasPrefix(s.buf, utf8BOM) {
		bom = utf8BOM
		s.buf = s.buf[len(bom):]
	}
	// The header is the first record: find its end, then let encoding/csv
	// read it (with the blank lines before it, for its error's line).
	var end int
	for {
		var ok bool
		end, ok = csvNextRecord(s.buf, 0, s.eof)
		if ok {
			break
		}
		if err := s.fill(2*len(s.buf) + 1); err != nil {
			return nil, err
		}
	}
	cr := csv.NewReader(bytes.NewReader(s.buf[:end]))
	cr.FieldsPerRecord = -1
	hdr, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("reading the CSV header: %w", err)
	}
	if s.col, err = csvColumn(hdr, column); err != nil {
		return nil, err
	}
	s.hdr = hdr
	start, _ := csvSkipBlank(s.buf, 0, s.eof) // blank lines before the header are dropped, as between rows
	s.rawHdr = append(bom, s.buf[start:end]...)
	s.buf = append(s.buf[:0], s.buf[end:]...)
	return s, nil
}

// fill reads until buf holds at least n bytes or the input ends.
func (s *filterSource) fill(n int) error {
	for len(s.buf) < n && !s.eof {
		if len(s.buf) == cap(s.buf) {
			s.buf = append(s.buf, make([]byte, max(n, 2*cap(s.buf))-len(s.buf))...)[:len(s.buf)]
		}
		k, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
		s.buf = s.buf[:len(s.buf)+k]
		if err == io.EOF {
			s.eof = true
		} else if err != nil {
			return err
		}
	}
	return nil
}

// csvNextRecord returns the end of the record after any blank lines at
// data[pos:], as encoding/csv reads records (the end of data when there is
// none); ok is false when the record may go on past data and data is not the
// input's end.
func csvNextRecord(data []byte, pos int, atEOF bool) (int, bool) {
	pos, ok := csvSkipBlank(data, pos, atEOF)
	if !ok {
		return pos, false
	}
	if pos == len(data) {
		return pos, atEOF
	}
	return csvRecordEnd(data, pos, atEOF)
}

// csvSkipBlank skips the lines encoding/csv skips: "\n", "\r\n", and at the
// input's end "\r".
func csvSkipBlank(data []byte, pos int, atEOF bool) (int, bool) {
	for pos < len(data) {
		switch {
		case data[pos] == '\n':
			pos++
		case data[pos] == '\r' && pos+1 < len(data) && data[pos+1] == '\n':
			pos += 2
		case data[pos] == '\r' && pos+1 == len(data):
			if !atEOF {
				return pos, false
			}
			pos++
		default:
			return pos, true
		}
	}
	return pos, true
}

// csvRecordEnd returns the end of the record starting at data[pos] (not a
// blank line), as encoding/csv's Reader (FieldsPerRecord -1, strict quotes)
// reads it: a quoted field may span lines, and a record with a quote error
// ends with the line the error is on.
func csvRecordEnd(data []byte, pos int, atEOF bool) (int, bool) {
	lineEnd := func(from int) (int, bool) {
		if i := bytes.IndexByte(data[from:], '\n'); i >= 0 {
			return from + i + 1, true
		}
		return len(data), atEOF
	}
	for {
		if pos >= len(data) || data[pos] != '"' {
			// An unquoted field: up to a comma or the line's end. A quote
			// in it is an error, which ends the record with the line.
			i := bytes.IndexAny(data[pos:], ",\n")
			if i < 0 {
				if bytes.IndexByte(data[pos:], '"') >= 0 {
					return lineEnd(pos)
				}
				return len(data), atEOF
			}
			if bytes.IndexByte(data[pos:pos+i], '"') >= 0 {
				return lineEnd(pos)
			}
			if data[pos+i] == '\n' {
				return pos + i + 1, true
			}
			pos += i + 1
			continue
		}
		pos++ // a quoted field
	quoted:
		for {
			i := bytes.IndexByte(data[pos:], '"')
			if i < 0 {
				return len(data), atEOF // runs to the end (an error at EOF)
			}
			pos += i + 1
			if pos == len(data) {
				return pos, atEOF
			}
			switch data[pos] {
			case '"':
				pos++
			case ',':
				pos++
				break quoted
			case '\n':
				return pos + 1, true
			case '\r':
				if pos+1 == len(data) {
					return len(data), atEOF // a "\r" before EOF is dropped
				}
				if data[pos+1] == '\n' {
					return pos + 2, true
				}
				return lineEnd(pos)
			default:
				return lineEnd(pos) // a quote error
			}
		}
	}
}

// filterJob is a batch of whole rows; last when it ends where the input
// does. err is a read error, after the rows before it.
type filterJob struct {
	seq  int
	data *[]byte
	last bool
	err  error
}

type filterDone struct {
	seq int
	out *[]byte
	st  filterStats
	err error
}

var filterBufs = sync.Pool{New: func() any { b := make([]byte, 0, filterReadSize+filterReadSize/4); return &b }}

// batches cuts the input into jobs until its end, an error or ctx is done.
func (s *filterSource) batches(ctx context.Context, jobs chan<- filterJob) {
	defer close(jobs)
	send := func(j filterJob) bool {
		select {
		case jobs <- j:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for seq := 0; ; seq++ {
		want := filterReadSize
		var cut int
		for {
			if err := s.fill(want); err != nil {
				send(filterJob{seq: seq, err: err})
				return
			}
			if s.eof {
				cut = len(s.buf)
				break
			}
			if cut = s.cut(); cut > 0 {
				break
			}
			want = 2 * len(s.buf) // a row longer than the block
		}
		b := filterBufs.Get().(*[]byte)
		*b = append((*b)[:0], s.buf[:cut]...)
		s.buf = append(s.buf[:0], s.buf[cut:]...)
		last := s.eof && len(s.buf) == 0
		if !send(filterJob{seq: seq, data: b, last: last}) || last {
			return
		}
	}
}

// cut returns the end of the last whole row in buf, 0 if there is none.
func (s *filterSource) cut() int {
	if s.ndjson || bytes.IndexByte(s.buf, '"') < 0 {
		return bytes.LastIndexByte(s.buf, '\n') + 1 // rows end at every newline
	}
	cut := 0
	for {
		end, ok := csvNextRecord(s.buf, cut, false)
		if !ok {
			return cut
		}
		cut = end
	}
}

// filterLocal decides from a decision index warmed from the data folder or
// database (offline, also while a server runs on it).
func (m *Main) filterLocal(ctx context.Context, c *config, purpose, topic, channel string, src *filterSource, out io.Writer, st *filterStats) error {
	db, ws, err := m.openWorkspace(ctx, c)
	if err != nil {
		return err
	}
	defer db.Close()
	idx := index.New(db, slog.New(slog.DiscardHandler))
	workers := runtime.GOMAXPROCS(0)
	deciders := make([]*index.Prepared, workers)
	for i := range deciders {
		if deciders[i], err = idx.Prepare(ctx, ws.ID, purpose, topic, channel); err != nil {
			return usageError{consentd.ErrorMessage(err)}
		}
	}
	if _, err := out.Write(src.rawHdr); err != nil {
		return err
	}
	return runFilter(ctx, src, deciders, out, st)
}

// runFilter runs the batches through one worker per decider and writes
// their kept rows in order.
func runFilter(ctx context.Context, src *filterSource, deciders []*index.Prepared, out io.Writer, st *filterStats) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan filterJob, len(deciders))
	done := make(chan filterDone, len(deciders))
	go src.batches(ctx, jobs)
	var wg sync.WaitGroup
	for _, p := range deciders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &filterWorker{src: src, p: p}
			for j := range jobs {
				d := filterDone{seq: j.seq, err: j.err}
				if j.data != nil {
					d.out = filterBufs.Get().(*[]byte)
					if ctx.Err() == nil {
						*d.out, d.err = w.batch(*j.data, j.last, (*d.out)[:0], &d.st)
					}
					filterBufs.Put(j.data)
				}
				select {
				case done <- d:
				case <-ctx.Done(): // runFilter returned
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	pending := map[int]filterDone{}
	next := 0
	for d := range done {
		pending[d.seq] = d
		for {
			d, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			st.rows, st.kept, st.denied, st.invalid = st.rows+d.st.rows, st.kept+d.st.kept, st.denied+d.st.denied, st.invalid+d.st.invalid
			if d.out != nil {
				if _, err := out.Write(*d.out); err != nil && d.err == nil {
					d.err = err
				}
				filterBufs.Put(d.out)
			}
			if d.err != nil {
				// The deferred cancel stops the reader and the workers,
				// without waiting for a slow input to end.
				return d.err
			}
		}
	}
	return nil
}

// filterWorker decides batches with a decider of its own; its slices are
// reused from batch to batch.
type filterWorker struct {
	src  *filterSource
	p    *index.Prepared
	rows []filterRow
	cps  []string
	ds   []consentd.Decision
	errs []error
}

// filterRow is a row of a batch: its contact point ("": none, an invalid
// row) and its bytes in the input, line ending included, written if it is
// kept.
type filterRow struct {
	cp  string
	raw []byte
}

// filterChunk is how many rows a worker decides under one index lock.
const filterChunk = 256

// batch decides the rows of data and appends the kept ones to out. It
// stops at an error that is not the row's (the catalog changed).
func (w *filterWorker) batch(data []byte, last bool, out []byte, st *filterStats) ([]byte, error) {
	if w.src.ndjson {
		w.ndjsonRows(data)
	} else {
		w.csvRows(data, last)
	}
	w.cps = w.cps[:0]
	for _, r := range w.rows {
		if r.cp != "" {
			w.cps = append(w.cps, r.cp)
		}
	}
	if cap(w.ds) < len(w.cps) {
		w.ds, w.errs = make([]consentd.Decision, len(w.cps)), make([]error, len(w.cps))
	}
	ds, errs := w.ds[:len(w.cps)], w.errs[:len(w.cps)]
	for start := 0; start < len(w.cps); start += filterChunk {
		end := min(start+filterChunk, len(w.cps))
		w.p.Decisions(w.cps[start:end], ds[start:end], errs[start:end])
	}
	j := 0
	for _, r := range w.rows {
		st.rows++
		if r.cp == "" {
			st.invalid++
			continue
		}
		d, err := ds[j], errs[j]
		j++
		switch {
		case err != nil && consentd.ErrorCode(err) == consentd.EINVALIDCONTACTPOINT:
			st.invalid++
			continue
		case err != nil:
			return out, err
		case !d.Allowed:
			st.denied++
			continue
		}
		st.kept++
		out = append(out, r.raw...)
	}
	return out, nil
}

// csvRows reads the rows of a batch of CSV.
func (w *filterWorker) csvRows(data []byte, last bool) {
	w.rows = w.rows[:0]
	quoted := bytes.IndexByte(data, '"') >= 0
	plain := !quoted && bytes.IndexByte(data, '\r') < 0 // every row is plain: no need to look
	for pos := 0; pos < len(data); {
		var end int
		if plain {
			end = len(data)
			if i := bytes.IndexByte(data[pos:], '\n'); i >= 0 {
				end = pos + i + 1
			}
			line := data[pos : end-1]
			if end == len(data) && data[end-1] != '\n' {
				line = data[pos:end]
			}
			if len(line) > 0 {
				field := csvField(line, w.src.col)
				w.rows = append(w.rows, filterRow{cp: unsafe.String(unsafe.SliceData(field), len(field)), raw: data[pos:end]})
			}
			pos = end
			continue
		}
		if quoted {
			start, _ := csvSkipBlank(data, pos, last)
			if start == len(data) {
				break
			}
			end, _ = csvRecordEnd(data, start, last)
			pos = start
		} else if i := bytes.IndexByte(data[pos:], '\n'); i >= 0 {
			end = pos + i + 1
		} else {
			end = len(data)
		}
		rec := data[pos:end]
		pos = end
		if cp, ok := csvContactPoint(rec, w.src.col); ok {
			w.rows = append(w.rows, filterRow{cp: cp, raw: rec})
		}
	}
}

// csvContactPoint returns the contact point of a CSV record (its bytes, line
// ending included): "" when the record is malformed (never kept) or has no
// such column; ok is false for a blank line, which is no row. A record
// without quotes or carriage returns is read in place: its contact point
// shares rec's memory.
func csvContactPoint(rec []byte, col int) (cp string, ok bool) {
	line := bytes.TrimSuffix(bytes.TrimSuffix(rec, []byte("\n")), []byte("\r"))
	if len(line) == 0 {
		return "", false
	}
	if bytes.IndexByte(line, '"') < 0 && bytes.IndexByte(line, '\r') < 0 {
		field := csvField(line, col)
		return unsafe.String(unsafe.SliceData(field), len(field)), true
	}
	cr := csv.NewReader(bytes.NewReader(rec))
	cr.FieldsPerRecord = -1
	fields, err := cr.Read()
	if err != nil || col >= len(fields) {
		return "", true
	}
	return fields[col], true
}

// csvField returns field col of a row without quotes, nil when the row has
// fewer fields.
func csvField(line []byte, col int) []byte {
	for range col {
		j := bytes.IndexByte(line, ',')
		if j < 0 {
			return nil
		}
		line = line[j+1:]
	}
	if j := bytes.IndexByte(line, ','); j >= 0 {
		return line[:j]
	}
	return line
}

// ndjsonRows reads the lines of a batch of NDJSON: a line of white space
// only is no row.
func (w *filterWorker) ndjsonRows(data []byte) {
	w.rows = w.rows[:0]
	for pos := 0; pos < len(data); {
		end := len(data)
		if i := bytes.IndexByte(data[pos:], '\n'); i >= 0 {
			end = pos + i + 1
		}
		line := data[pos:end]
		pos = end
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		w.rows = append(w.rows, filterRow{cp: ndjsonContactPoint(line, w.src.field), raw: line})
	}
}
