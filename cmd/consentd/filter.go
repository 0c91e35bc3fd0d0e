package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/client"
)

// filter reads a recipient list (CSV with a header, or NDJSON) and writes
// the rows whose contact point may be messaged for the purpose, topic and
// channel, in order and byte for byte as they were in the input (the header
// and a BOM too, quoting and line endings included), so that a pipeline's
// own columns and format survive. Counts go to stderr.
func (m *Main) filter(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("filter", flag.ContinueOnError)
	var c config
	m.flags(fs, &c, false)
	purpose := fs.String("purpose", "", "purpose id (required)")
	channel := fs.String("channel", "", "channel (required)")
	topic := fs.String("topic", "", "topic id")
	column := fs.String("column", "", "the CSV column or NDJSON field that holds the contact point (default: contact_point, email or phone)")
	format := fs.String("format", "", "csv or ndjson (default: guessed from the first byte after any BOM: { is NDJSON)")
	server := fs.String("server", m.Getenv("CONSENTD_SERVER"), "ask a running server instead of the data folder (CONSENTD_SERVER)")
	key := fs.String("key", m.Getenv("CONSENTD_KEY"), "API key for --server, any role (CONSENTD_KEY)")
	fs.StringVar(&c.Workspace, "workspace", consentd.DefaultWorkspace, "workspace name (local mode)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *purpose == "" || *channel == "" {
		return usageError{"usage: consentd filter --purpose P --channel C [--topic T] [FILE]"}
	}
	in := io.Reader(m.Stdin)
	if fs.NArg() > 0 && fs.Arg(0) != "-" {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return usageError{err.Error()}
		}
		defer f.Close()
		in = f
	}
	out := bufio.NewWriterSize(m.Stdout, filterReadSize)
	defer out.Flush()
	var st filterStats
	if *server != "" {
		src, err := newFilterSource(in, *format, *column)
		if err != nil {
			return usageError{err.Error()}
		}
		if err := filterRemote(ctx, *server, *key, *purpose, *topic, *channel, &sourceRows{s: src}, out, &st); err != nil {
			return err
		}
	} else {
		src, err := newFilterSource(in, *format, *column)
		if err != nil {
			return usageError{err.Error()}
		}
		if err := m.filterLocal(ctx, &c, *purpose, *topic, *channel, src, out, &st); err != nil {
			return err
		}
	}
	if err := out.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(m.Stderr, "consentd filter: kept %d of %d rows (%d denied, %d invalid addresses)\n", st.kept, st.rows, st.denied, st.invalid)
	return nil
}

type filterStats struct{ rows, kept, denied, invalid int }

// rowReader yields rows with their contact point and writes kept rows
// as they were in the input.
type rowReader interface {
	// next returns the next row's contact point; io.EOF at the end.
	next() (string, error)
	// keep writes the row next last returned.
	keep(w io.Writer) error
	// header writes what precedes the rows (the CSV header).
	header(w io.Writer) error
}

// sourceRows reads the rows of a filterSource one at a time, for the remote
// mode: each row's contact point, and its bytes as they were in the input
// (line ending included) to write if it is kept.
type sourceRows struct {
	s   *filterSource
	pos int    // in s.buf: where the next row starts
	row []byte // the row next last returned, in s.buf
}

// next returns the next row's contact point ("": none, never kept); io.EOF
// at the end. The row's bytes stay in r.row until the next call.
func (r *sourceRows) next() (string, error) {
	s := r.s
	for {
		start, end, ok := r.span()
		if !ok {
			// The row may go on past what was read: read on.
			s.buf = append(s.buf[:0], s.buf[r.pos:]...)
			r.pos = 0
			if err := s.fill(len(s.buf) + 1); err != nil {
				return "", err
			}
			continue
		}
		if start == len(s.buf) {
			return "", io.EOF
		}
		r.pos, r.row = end, s.buf[start:end]
		if s.ndjson {
			if len(bytes.TrimSpace(r.row)) == 0 {
				continue // a blank line is no row
			}
			return ndjsonContactPoint(r.row, s.field), nil
		}
		cp, ok := csvContactPoint(r.row, s.col)
		if !ok {
			continue // a blank line is no row
		}
		return strings.Clone(cp), nil // s.buf is reused
	}
}

// span returns the bytes of the next row in s.buf (after blank CSV lines;
// start is len(s.buf) at the input's end); ok is false when the row may go
// on past s.buf.
func (r *sourceRows) span() (start, end int, ok bool) {
	s := r.s
	if s.ndjson {
		if i := bytes.IndexByte(s.buf[r.pos:], '\n'); i >= 0 {
			return r.pos, r.pos + i + 1, true
		}
		return r.pos, len(s.buf), s.eof
	}
	if start, ok = csvSkipBlank(s.buf, r.pos, s.eof); !ok {
		return 0, 0, false
	}
	if start == len(s.buf) {
		return start, start, s.eof
	}
	end, ok = csvRecordEnd(s.buf, start, s.eof)
	return start, end, ok
}

// keep writes the row next last returned, as it was in the input.
func (r *sourceRows) keep(w io.Writer) error {
	_, err := w.Write(r.row)
	return err
}

// header writes the CSV header as it was in the input (nothing for NDJSON).
func (r *sourceRows) header(w io.Writer) error {
	_, err := w.Write(r.s.rawHdr)
	return err
}

// ndjsonContactPoint returns the contact point of an NDJSON line: the
// string in the field named (or else contact_point, email or phone), ""
// when there is none or the line is not a JSON object. A BOM before the
// object (the first line of a file that starts with one) is not part of
// the JSON; a kept line is still written with it, as it was.
func ndjsonContactPoint(line []byte, field string) string {
	var obj map[string]any
	if json.Unmarshal(bytes.TrimPrefix(line, utf8BOM), &obj) != nil {
		return "" // not JSON: no contact point, never kept
	}
	for _, f := range []string{field, "contact_point", "email", "phone"} {
		if s, ok := obj[f].(string); ok && f != "" {
			return s
		}
	}
	return ""
}

// csvColumn returns the index of the contact point's column: the one named
// (case-insensitive), else contact_point, email or phone, else the only one.
func csvColumn(hdr []string, column string) (int, error) {
	col := -1
	for _, name := range []string{column, "contact_point", "email", "phone"} {
		for i, h := range hdr {
			if name != "" && strings.EqualFold(strings.TrimSpace(h), name) {
				col = i
				break
			}
		}
		if col >= 0 || column != "" {
			break
		}
	}
	if col < 0 && len(hdr) == 1 && column == "" {
		col = 0
	}
	if col < 0 {
		return -1, fmt.Errorf("no contact point column in the CSV header (name one with --column)")
	}
	return col, nil
}

// filterRemote streams the contact points to the server's NDJSON batch
// endpoint and pairs its answers, one per line and in order, with the rows
// kept in a bounded queue.
func filterRemote(ctx context.Context, server, key, purpose, topic, channel string, rows rowReader, out io.Writer, st *filterStats) error {
	type pending struct {
		row  []byte
		none bool // no contact point: no line was sent
	}
	queue := make(chan pending, 1<<16)
	var readErr error // the rows' error; read once queue is closed
	// The client runs reqs on a goroutine of its own: it reads the rows,
	// queues each, and sends the contact points.
	reqs := func(yield func(consentd.DecisionRequest) bool) {
		defer close(queue)
		for {
			cp, err := rows.next()
			if err == io.EOF {
				return
			} else if err != nil {
				readErr = err
				return
			}
			var row bytes.Buffer
			rows.keep(&row)
			if cp == "" {
				queue <- pending{row: row.Bytes(), none: true}
				continue
			}
			queue <- pending{row: row.Bytes()}
			if !yield(consentd.DecisionRequest{ContactPoint: cp}) {
				return
			}
		}
	}
	s, err := newClient(server, key).DecideStream(ctx, client.StreamOptions{Purpose: purpose, Channel: channel, Topic: topic}, reqs)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := rows.header(out); err != nil {
		return err
	}
	for p := range queue {
		st.rows++
		if p.none {
			st.invalid++
			continue
		}
		if !s.Next() {
			if err := s.Err(); err != nil {
				return err
			}
			return fmt.Errorf("the server's answer ended early")
		}
		switch it := s.Item(); {
		case it.Error != nil:
			st.invalid++
		case !it.Allowed():
			st.denied++
		default:
			st.kept++
			if _, err := out.Write(p.row); err != nil {
				return err
			}
		}
	}
	if readErr != nil {
		return readErr
	}
	return s.Err()
}
