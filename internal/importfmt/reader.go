// Package importfmt reads consent import files (docs/architecture.md (imports and exports)) in
// their source systems' CSV shapes and turns each row into consent writes,
// a skip with its reason, or a reject with a line number and a stable code.
//
// It only parses: the contact point is passed on as the file has it
// (normalization happens in the write path), and what needs the store (a
// purpose that does not exist, a captured_at in the future) is the write
// path's to refuse. A Reader streams: it holds one record at a time, so
// memory stays flat whatever the file size.
//
// Every data row comes back as exactly one of: writes, a skip (the row
// states no consent decision: Dynamics "not set", Salesforce Seen/NotSeen,
// a listmonk subscriber disabled by an administrator, a Mailchimp cleaned
// address; the reason is a fixed string, fit to count by), or a reject
// with a stable code (consentd's error codes: malformed_request for a row
// that is not CSV or has the wrong number of fields, invalid_contact_point,
// invalid_status, invalid_time, unknown_purpose, unknown_topic,
// unknown_channel_type, invalid) and the column it names. Opt-outs are never
// turned into skips: a status that means "stop" in the source system is
// opted_out here.
//
// captured_at always comes from the file, never from the clock; each
// format's doc comment says which column gives it and the fallback order.
// A time column that is present but does not parse rejects the row; it
// does not fall through to the next column.
package importfmt

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/consentd/consentd"
)

// Format names.
const (
	Native     = "native"
	Dynamics   = "dynamics"
	Salesforce = "salesforce"
	Listmonk   = "listmonk"
	Mailchimp  = "mailchimp"
)

// Formats lists the format names: native, dynamics, salesforce, listmonk,
// mailchimp.
func Formats() []string {
	var out []string
	for _, f := range []string{Native, Dynamics, Salesforce, Listmonk, Mailchimp} {
		if _, ok := formats[f]; ok {
			out = append(out, f)
		}
	}
	return out
}

// Options carries what some formats need.
type Options struct {
	Purpose, Channel, Topic string            // listmonk, mailchimp: where the subscribers go
	SourceName              string            // source.name of the writes; default the format name
	Catalog                 *consentd.Catalog // dynamics: purposes and topics by external_ids["dynamics"]; salesforce: channel types by external id
	DefaultRegion           string            // not needed here, normalization happens later
	// Location is the time zone of times written without an offset in
	// formats that do not say (Dynamics "3/14/2024 9:30 AM"); default UTC.
	// Mailchimp and listmonk times are UTC or carry their offset.
	Location *time.Location
}

// Row is one data record of an import file.
type Row struct {
	Line   int64                   // 1-based line in the file where the record starts (header is line 1)
	Writes []consentd.ConsentWrite // what the row asks to write (usually one); Source.Type "import" unless the row says otherwise (native source_type)
	Skip   string                  // non-empty: the row does not apply; the reason (e.g. "status not set")
	Reject *consentd.Error         // non-nil: the row is bad; its Code (stable) and Message name the problem and the column
	Raw    []string                // the row's fields, for a rejects file (a copy: safe to keep)
}

// Reader reads one import file. It is not safe for concurrent use.
type Reader struct {
	format string
	cr     *csv.Reader
	header []string // as in the file, trimmed
	opt    Options
	source string // source.name
	// The bound columns of the format (one of them is set). Next calls the
	// format's parser directly, not through a func value, so that the Row
	// does not escape to the heap.
	nat nativeCols
	dyn dynamicsCols
	sf  salesforceCols
	lm  listmonkCols
	mc  mailchimpCols
}

// format is what each format provides: its required columns and a setup
// that binds column indexes.
type format struct {
	// required lists the required columns; each entry is a set of
	// alternative names, the first one named in errors.
	required [][]string
	// setup checks the options, the header and binds the parser.
	setup func(r *Reader, cols columns) error
}

var formats = map[string]format{
	Native:     nativeFormat,
	Dynamics:   dynamicsFormat,
	Salesforce: salesforceFormat,
	Listmonk:   listmonkFormat,
	Mailchimp:  mailchimpFormat,
}

// columns maps a lower-case header name to its index.
type columns map[string]int

// idx returns the index of the first of names (matched case-insensitively)
// in the header, or -1.
func (c columns) idx(names ...string) int {
	for _, n := range names {
		if i, ok := c[strings.ToLower(n)]; ok {
			return i
		}
	}
	return -1
}

// req is a required column with its alternative names.
func req(names ...string) []string { return names }

// NewReader reads CSV in the named format. It strips a UTF-8 BOM, accepts
// CRLF or LF, quoted fields with commas and newlines, and columns in any
// order with extra columns ignored (header names matched
// case-insensitively). A header that lacks a required column is an error (a
// *consentd.Error naming the missing columns) from NewReader; an unknown
// format too. A header with more semicolons than commas makes ';' the
// separator (CSV as spreadsheets in European locales save it).
func NewReader(formatName string, r io.Reader, opt Options) (*Reader, error) {
	f, ok := formats[strings.ToLower(formatName)]
	if !ok {
		return nil, consentd.FieldErrorf(consentd.EINVALID, "format", "unknown import format %q: one of %s", formatName, strings.Join(Formats(), ", "))
	}
	formatName = strings.ToLower(formatName)
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(3); err == nil && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.Comma = sniffComma(br)
	cr.FieldsPerRecord = -1 // a wrong column count is a rejected row, not the end of the file
	cr.ReuseRecord = true
	hdr, err := cr.Read()
	if err == io.EOF {
		return nil, consentd.Errorf(consentd.EMALFORMED, "the file is empty: a header line is required")
	}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, consentd.Errorf(consentd.EMALFORMED, "line %d: the header is not valid CSV: %v", pe.StartLine, pe.Err)
		}
		return nil, err
	}
	rd := &Reader{format: formatName, cr: cr, opt: opt, source: opt.SourceName}
	if rd.source == "" {
		rd.source = formatName
	}
	if rd.opt.Location == nil {
		rd.opt.Location = time.UTC
	}
	cols := columns{}
	rd.header = make([]string, len(hdr))
	for i, h := range hdr {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		rd.header[i] = h
		k := strings.ToLower(h)
		if _, dup := cols[k]; !dup {
			cols[k] = i
		}
	}
	var missing []string
	for _, alt := range f.required {
		if cols.idx(alt...) < 0 {
			missing = append(missing, alt[0])
		}
	}
	if len(missing) > 0 {
		return nil, missingColumns(formatName, missing)
	}
	if err := f.setup(rd, cols); err != nil {
		return nil, err
	}
	return rd, nil
}

// sniffComma returns ';' when the header line (peeked, not consumed) has
// more semicolons than commas outside quotes, as spreadsheets in many
// European locales write CSV; ',' otherwise.
func sniffComma(br *bufio.Reader) rune {
	b, _ := br.Peek(br.Size())
	commas, semis, quoted := 0, 0, false
	for _, c := range b {
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '\n':
			if semis > commas {
				return ';'
			}
			return ','
		case c == ',':
			commas++
		case c == ';':
			semis++
		}
	}
	if semis > commas {
		return ';'
	}
	return ','
}

// missingColumns is the error for a header without required columns.
func missingColumns(format string, missing []string) *consentd.Error {
	msg := fmt.Sprintf("the %s header lacks the required column(s) %s", format, strings.Join(missing, ", "))
	e := &consentd.Error{Code: consentd.EINVALID, Message: msg}
	for _, m := range missing {
		e.Fields = append(e.Fields, consentd.FieldError{Field: m, Code: consentd.EINVALID, Message: "required column missing"})
	}
	return e
}

// Header returns the header fields as in the file (trimmed, BOM removed).
func (r *Reader) Header() []string { return r.header }

// Format returns the format name.
func (r *Reader) Format() string { return r.format }

// Next returns the next data row; io.EOF after the last. It never stops at
// a bad row: the row comes back with Reject set. Any other error is an I/O
// error of the underlying reader.
func (r *Reader) Next() (Row, error) {
	rec, err := r.cr.Read()
	if err != nil {
		if err == io.EOF {
			return Row{}, io.EOF
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return Row{
				Line:   int64(pe.StartLine),
				Reject: consentd.Errorf(consentd.EMALFORMED, "line %d: not valid CSV: %v", pe.Line, pe.Err),
				Raw:    append([]string(nil), rec...),
			}, nil
		}
		return Row{}, err
	}
	line, _ := r.cr.FieldPos(0)
	row := Row{Line: int64(line), Raw: append([]string(nil), rec...)}
	if len(rec) != len(r.header) {
		row.Reject = consentd.Errorf(consentd.EMALFORMED, "the row has %d fields; the header has %d", len(rec), len(r.header))
		return row, nil
	}
	switch r.format {
	case Native:
		r.parseNative(rec, &row)
	case Dynamics:
		r.parseDynamics(rec, &row)
	case Salesforce:
		r.parseSalesforce(rec, &row)
	case Listmonk:
		r.parseListmonk(rec, &row)
	case Mailchimp:
		r.parseMailchimp(rec, &row)
	}
	return row, nil
}

// field returns rec[i] trimmed, or "" when the column is absent (i < 0).
func field(rec []string, i int) string {
	if i < 0 {
		return ""
	}
	return strings.TrimSpace(rec[i])
}

// reject sets the row's reject for a column.
func reject(row *Row, code, column, format string, args ...any) {
	row.Reject = consentd.FieldErrorf(code, column, format, args...)
}

// parseTime parses s with the first layout that fits; layouts without an
// offset are read in loc.
func parseTime(s string, loc *time.Location, layouts ...string) (time.Time, bool) {
	for _, l := range layouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// col is a bound column: its index (-1 when absent) and its name as in the
// header, for rejects.
type col struct {
	i    int
	name string
}

// bind returns the column of the first of names in the header.
func (r *Reader) bind(c columns, names ...string) col {
	i := c.idx(names...)
	if i < 0 {
		return col{i: -1, name: names[0]}
	}
	return col{i: i, name: r.header[i]}
}

// get returns the trimmed field of c in rec, "" when the column is absent.
func (c col) get(rec []string) string { return field(rec, c.i) }

// firstTime returns the time of the first of cols that is not empty in
// rec, parsed with layouts (zone-less layouts read in loc). A non-empty
// value that does not parse rejects the row naming its column: it never
// falls through to the next column. When all are empty the row is
// rejected naming the first.
func firstTime(rec []string, row *Row, loc *time.Location, layouts []string, cols ...col) (time.Time, bool) {
	var names []string
	for _, c := range cols {
		s := c.get(rec)
		if s == "" {
			if c.i >= 0 {
				names = append(names, c.name)
			}
			continue
		}
		t, ok := parseTime(s, loc, layouts...)
		if !ok {
			reject(row, consentd.EINVALIDTIME, c.name, "%s %q is not a time this format writes", c.name, s)
		}
		return t, ok
	}
	if len(names) == 0 {
		names = []string{cols[0].name}
	}
	reject(row, consentd.EINVALIDTIME, names[0], "no time: %s empty", strings.Join(names, ", "))
	return time.Time{}, false
}

// details returns a JSON object of the non-empty values of kv (pairs of
// key and value), nil when all are empty. It keeps a source system's own
// fields with the write.
func details(kv ...string) json.RawMessage {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		if v := kv[i+1]; v != "" {
			if strings.Contains(v, "@") {
				// Source details go into the immutable log, which names
				// people only by keyed hashes: a value that may be an
				// address (Salesforce's ConsentCapturedSource can be
				// the user's email) is withheld.
				v = withheld
			}
			m[kv[i]] = v
		}
	}
	if len(m) == 0 {
		return nil
	}
	b, _ := json.Marshal(m)
	return b
}

// withheld replaces a source detail that may be an address.
const withheld = "(withheld: may be an address)"

// key lower-cases s and drops spaces, underscores and hyphens, so that
// "Opted in", "OPTED_IN" and "opted-in" compare equal.
func key(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '_' || c == '-':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}
