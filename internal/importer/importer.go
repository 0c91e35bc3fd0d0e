// Package importer runs bulk imports (docs/architecture.md (imports and exports)): it streams a
// file through a format reader into batches, and writes each batch, with
// its rejects and the import's progress, in one transaction of the store,
// so that an import killed at any moment resumes at a batch boundary and
// the same file imported twice changes nothing the second time.
package importer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/spillsort"
)

// Row is one data record as a format reader reads it (the shape of
// internal/importfmt's Row): the consent writes it carries, or why it is
// skipped, or why it is rejected.
type Row struct {
	Line   int64
	Writes []consentd.ConsentWrite
	Skip   string
	Reject *consentd.Error
	Raw    []string
}

// Reader reads data records; io.EOF at the end. A bad record is a Row with
// Reject set, not an error.
type Reader interface {
	Next() (Row, error)
}

// Options configure a format reader (the shape of importfmt.Options).
type Options struct {
	Purpose, Channel, Topic string
	SourceName              string
	Catalog                 *consentd.Catalog
	DefaultRegion           string
	Mapping                 string // records: the mapping, a consentd.Rule as JSON
}

// OpenFunc opens a format reader on r; a bad header or an unknown format is
// a *consentd.Error.
type OpenFunc func(format string, r io.Reader, opt Options) (Reader, error)

// Store is what the engine needs of a backend.
type Store interface {
	Workspace(ctx context.Context, id string) (*consentd.Workspace, error)
	WorkspaceSecret(ctx context.Context, id string) ([]byte, error)
	Catalog(ctx context.Context, wsID string) (*consentd.Catalog, error)
	CreateImport(ctx context.Context, wsID string, spec consentd.ImportSpec) (*consentd.Import, bool, error)
	Import(ctx context.Context, wsID, id string) (*consentd.Import, error)
	ImportBatch(ctx context.Context, wsID, importID string, writes []consentd.ConsentWrite, lines []int64,
		rejects []consentd.ImportReject, progress consentd.ImportProgress, actor string) ([]consentd.WriteResult, error)
	StartImport(ctx context.Context, wsID, id string) error
	FinishImport(ctx context.Context, wsID, id string, state consentd.ImportState, msg string) error
}

// DefaultBatchSize is the number of consent writes per transaction.
const DefaultBatchSize = 5000

// Engine runs imports on a store.
type Engine struct {
	Store     Store
	Open      OpenFunc // OpenFormat when nil
	BatchSize int      // consent writes per transaction; DefaultBatchSize when 0
	// Progress, when set, is called after each committed batch with the
	// import as it now stands.
	Progress func(*consentd.Import)
	// Reading, when set, is called now and then while the file is read
	// and sorted, before anything is written, with the records read; done
	// the last time, when the writes begin.
	Reading func(rows int64, done bool)
	// TempDir holds the sort's runs (the system's temporary folder when
	// empty); SortMemory bounds the sort's memory (spillsort.DefaultLimit
	// when 0).
	TempDir    string
	SortMemory int
}

// Hash returns the hex SHA-256 and the size of the file at path.
func Hash(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Check refuses bad options (consentd.ImportSpec.Validate) and opens a
// reader on the file's head to refuse a bad format, options or header,
// before anything is stored.
func (e *Engine) Check(ctx context.Context, wsID string, spec consentd.ImportSpec, path string) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	opt, err := e.options(ctx, wsID, spec)
	if err != nil {
		return err
	}
	_, err = e.open(spec.Format, f, opt)
	return err
}

func (e *Engine) open(format string, r io.Reader, opt Options) (Reader, error) {
	if e.Open != nil {
		return e.Open(format, r, opt)
	}
	return OpenFormat(format, r, opt)
}

func (e *Engine) options(ctx context.Context, wsID string, spec consentd.ImportSpec) (Options, error) {
	ws, err := e.Store.Workspace(ctx, wsID)
	if err != nil {
		return Options{}, err
	}
	cat, err := e.Store.Catalog(ctx, wsID)
	if err != nil {
		return Options{}, err
	}
	return Options{Purpose: spec.Purpose, Channel: spec.Channel, Topic: spec.Topic, SourceName: spec.Name, Catalog: cat, DefaultRegion: ws.DefaultRegion,
		Mapping: spec.Mapping}, nil
}

// Import imports the file at path into the workspace: it finds or creates
// the import of (format, options, file hash), and runs it. done reports an
// import that had already succeeded: nothing was written.
func (e *Engine) Import(ctx context.Context, wsID string, spec consentd.ImportSpec, path string) (im *consentd.Import, done bool, err error) {
	if spec.SHA256 == "" {
		if spec.SHA256, spec.Size, err = Hash(path); err != nil {
			return nil, false, err
		}
	}
	if spec.Name == "" {
		spec.Name = filepath.Base(path)
	}
	if err := e.Check(ctx, wsID, spec, path); err != nil {
		return nil, false, err
	}
	im, _, err = e.Store.CreateImport(ctx, wsID, spec)
	if err != nil {
		return nil, false, err
	}
	if im.State == consentd.ImportSucceeded {
		return im, true, nil
	}
	im, err = e.Run(ctx, wsID, im, path)
	return im, false, err
}

// Run runs (or resumes, after its committed records) a stored import on
// the file at path and marks it succeeded, or failed with the error that
// stopped it. A canceled ctx leaves it as it is, to resume.
func (e *Engine) Run(ctx context.Context, wsID string, im *consentd.Import, path string) (*consentd.Import, error) {
	if im.State == consentd.ImportSucceeded {
		return im, nil
	}
	err := e.run(ctx, wsID, im, path)
	if err != nil && ctx.Err() == nil {
		if ferr := e.Store.FinishImport(context.WithoutCancel(ctx), wsID, im.ID, consentd.ImportFailed, consentd.ErrorMessage(err)); ferr != nil {
			err = errors.Join(err, ferr)
		}
	}
	if err == nil {
		err = e.Store.FinishImport(ctx, wsID, im.ID, consentd.ImportSucceeded, "")
	}
	if cur, gerr := e.Store.Import(context.WithoutCancel(ctx), wsID, im.ID); gerr == nil {
		im = cur
	}
	return im, err
}

func (e *Engine) run(ctx context.Context, wsID string, im *consentd.Import, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	opt, err := e.options(ctx, wsID, im.ImportSpec)
	if err != nil {
		return err
	}
	rd, err := e.open(im.Format, f, opt)
	if err != nil {
		return err
	}
	secret, err := e.Store.WorkspaceSecret(ctx, wsID)
	if err != nil {
		return err
	}
	if err := e.Store.StartImport(ctx, wsID, im.ID); err != nil {
		return err
	}
	// Read the whole file into the sorter (see order.go), then write its
	// entries in key order.
	s := spillsort.New(e.TempDir, e.SortMemory)
	defer s.Close()
	rows, err := e.read(ctx, rd, s, &keyer{opt: opt, secret: secret})
	if err != nil {
		return err
	}
	it, err := s.Sort()
	if err != nil {
		return err
	}
	defer it.Close()
	if e.Reading != nil {
		e.Reading(rows, true)
	}
	size := e.BatchSize
	if size <= 0 {
		size = DefaultBatchSize
	}
	actor := "import:" + im.ID
	var b batch
	b.reset()
	var n int64 // entries in order
	var ent entry
	for it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		n++
		if n <= im.Committed { // committed by an earlier run
			continue
		}
		if err := ent.decode(it.Value()); err != nil {
			return err
		}
		b.add(&ent)
		b.progress.Committed = n
		if len(b.writes) >= size || len(b.rejects) >= size || b.entries >= 4*size {
			if err := e.flush(ctx, wsID, im.ID, actor, &b); err != nil {
				return err
			}
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	if b.entries > 0 {
		return e.flush(ctx, wsID, im.ID, actor, &b)
	}
	return nil
}

// read reads every data record of rd into s as entries, keyed by k, and
// returns the number of records.
func (e *Engine) read(ctx context.Context, rd Reader, s *spillsort.Sorter, k *keyer) (int64, error) {
	var seq uint64
	var buf []byte
	add := func(ent *entry) error {
		buf = ent.encode(buf[:0])
		err := s.Add(k.key(ent, seq), buf)
		seq++
		return err
	}
	var rows int64
	for {
		if rows%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return rows, err
			}
			if e.Reading != nil && rows%(64<<10) == 0 && rows > 0 {
				e.Reading(rows, false)
			}
		}
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return rows, fmt.Errorf("read line %d: %w", row.Line, err)
		}
		rows++
		if row.Reject == nil {
			if err := checkFields(row.Raw); err != nil {
				row.Reject, row.Writes, row.Skip = err, nil, ""
			}
		}
		ent := entry{line: row.Line, rowFirst: true}
		switch {
		case row.Reject != nil:
			ent.kind, ent.reject = entryReject, consentd.ImportReject{Line: row.Line, Code: row.Reject.Code, Reason: row.Reject.Message, Raw: storableRaw(row.Raw)}
		case row.Skip != "":
			ent.kind, ent.skip = entrySkip, row.Skip
		case len(row.Writes) == 0:
			ent.kind, ent.skip = entrySkip, "no consent in the row"
		default:
			for i := range row.Writes {
				ent.kind, ent.write, ent.rowFirst = entryWrite, row.Writes[i], i == 0
				if err := add(&ent); err != nil {
					return rows, err
				}
			}
			continue
		}
		if err := add(&ent); err != nil {
			return rows, err
		}
	}
}

func (e *Engine) flush(ctx context.Context, wsID, id, actor string, b *batch) error {
	if _, err := e.Store.ImportBatch(ctx, wsID, id, b.writes, b.lines, b.rejects, b.progress, actor); err != nil {
		return err
	}
	committed := b.progress.Committed
	b.reset()
	b.progress.Committed = committed
	if e.Progress != nil {
		if im, err := e.Store.Import(ctx, wsID, id); err == nil {
			e.Progress(im)
		}
	}
	return nil
}

// batch is what goes into one transaction.
type batch struct {
	entries  int
	writes   []consentd.ConsentWrite
	lines    []int64
	rejects  []consentd.ImportReject
	progress consentd.ImportProgress
}

func (b *batch) reset() {
	b.writes, b.lines, b.rejects, b.entries = b.writes[:0], b.lines[:0], b.rejects[:0], 0
	clear(b.writes[:cap(b.writes)]) // drop references to the old rows
	b.progress = consentd.ImportProgress{SkipReasons: map[string]int64{}}
}

func (b *batch) add(e *entry) {
	b.entries++
	if e.rowFirst {
		b.progress.Counts.Rows++
	}
	switch e.kind {
	case entryReject:
		b.rejects = append(b.rejects, e.reject)
	case entrySkip:
		b.progress.Counts.Skipped++
		b.progress.SkipReasons[e.skip]++
	case entryWrite:
		b.writes = append(b.writes, e.write)
		b.lines = append(b.lines, e.line)
	}
}

// MaxField is the most bytes one field of an import row may hold. The
// fields that become a consent's fields have smaller limits of their own,
// which the write path checks (consentd.ConsentWrite.Validate); this one
// bounds the others, which a rejects file keeps.
const MaxField = 64 << 10

// checkFields refuses a row with a field that is not storable text (invalid
// UTF-8, NUL, a control character) or longer than MaxField: the row is
// rejected, with the column's position, and nothing of it is written.
func checkFields(raw []string) *consentd.Error {
	for i, f := range raw {
		if p := consentd.TextProblem(f); p != "" {
			return consentd.Errorf(consentd.EINVALID, "column %d %s", i+1, p)
		}
		if len(f) > MaxField {
			return consentd.Errorf(consentd.EINVALID, "column %d is longer than %d bytes", i+1, MaxField)
		}
	}
	return nil
}

// maxRawField is how much of each field a reject keeps.
const maxRawField = 1 << 10

// storableRaw returns a rejected row's fields as the rejects file keeps
// them: invalid UTF-8 and control characters other than tab and newlines
// replaced with U+FFFD, each field cut to maxRawField bytes. The raw fields
// are for a person to find the row by; both backends must be able to store
// them (PostgreSQL refuses NUL and invalid UTF-8 in text).
func storableRaw(raw []string) []string {
	out := raw
	for i, f := range raw {
		if consentd.TextProblem(f) == "" && len(f) <= maxRawField {
			continue
		}
		if &out[0] == &raw[0] {
			out = slices.Clone(raw)
		}
		f = strings.Map(func(r rune) rune {
			if r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
				return utf8.RuneError
			}
			return r
		}, strings.ToValidUTF8(f, "\uFFFD"))
		if len(f) > maxRawField {
			f = strings.ToValidUTF8(f[:maxRawField], "")
		}
		out[i] = f
	}
	return out
}
