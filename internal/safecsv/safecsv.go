// Package safecsv writes CSV that a spreadsheet opens as data, never as
// formulas (CSV or formula injection: OWASP "CSV Injection", CWE-1236),
// and undoes its one change for a reader of consentd's own files.
//
// The rule follows OWASP and ASVS 5.0 (requirement 1.2.10): fields are
// quoted by RFC 4180 (encoding/csv), and a cell that a spreadsheet would
// read as a formula gets a single quote (') before it:
//
//   - A cell that begins with = + - or @, or with tab, carriage return,
//     line feed or NUL (which some spreadsheets skip before one), is
//     written with a single quote before it: '=1+1, '+4915112345678.
//   - The same holds after every semicolon, tab, CR and LF inside a cell.
//     OWASP warns that a separator inside a value can start a new cell
//     with the dangerous character at its start. RFC 4180 quoting settles
//     that for the file's own separator, the comma, but a spreadsheet set
//     to another locale's separator (Excel in most of Europe splits on
//     ';'; some split on tab) does not see where a comma-separated file's
//     quoted fields end, and starts a cell after each of these
//     characters (a line break starts a row): "x;=HYPERLINK(...)" is
//     written x;'=HYPERLINK(...). Double quotes at such a place are
//     skipped over, as a spreadsheet reads them as the quotes of a field:
//     x;"=1 is written x;"'=1.
//   - Where a single quote stands at such a place (the start, or after
//     one of these characters) and a trigger character or another single
//     quote follows it, it gets one more single quote, so that the change
//     can be undone exactly: Unescape removes one single quote at each such
//     place where a trigger character or a single quote follows it, and
//     changes nothing else.
//
// Unescape(Escape(s)) == s for every s: consentd's native import reads an
// export back unchanged. A value that was not written by Escape but looks
// escaped ('=1 in a file from elsewhere) loses its quote when read through
// Unescape.
package safecsv

import (
	"encoding/csv"
	"io"
	"strings"
)

// trigger reports whether c begins a formula in a spreadsheet, or may come
// before the character that does.
func trigger(c byte) bool {
	switch c {
	case '=', '+', '-', '@', '\t', '\r', '\n', 0:
		return true
	}
	return false
}

// separator reports whether c starts a new cell in a spreadsheet that
// reads the file with another separator than the comma (and so does not
// know where a quoted field ends): a semicolon, a tab, or a line break.
func separator(c byte) bool { return c == ';' || c == '\t' || c == '\r' || c == '\n' }

// escaped reports whether s[i] starts a formula, or is a single quote
// that would be read as an escape: Escape puts a quote before it.
func escaped(s string, i int) bool {
	return trigger(s[i]) || (s[i] == '\'' && i+1 < len(s) && (trigger(s[i+1]) || s[i+1] == '\''))
}

// Escape returns the cell s as written: with a single quote inserted at
// the start and after each semicolon, tab, CR or LF (and any double quotes
// that follow), where a trigger character, or a single quote followed by a
// trigger character or a single quote, stands.
func Escape(s string) string {
	n := 0
	for i, start := 0, true; i < len(s); i++ {
		if start && escaped(s, i) {
			n++
		}
		start = separator(s[i]) || (start && s[i] == '"')
	}
	if n == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + n)
	for i, start := 0, true; i < len(s); i++ {
		if start && escaped(s, i) {
			b.WriteByte('\'')
		}
		b.WriteByte(s[i])
		start = separator(s[i]) || (start && s[i] == '"')
	}
	return b.String()
}

// Unescape returns the value of a cell that Escape wrote: without the
// single quote at the start or after a semicolon, tab, CR or LF (and any
// double quotes that follow) where a trigger character or another single
// quote follows it.
func Unescape(s string) string {
	if !strings.Contains(s, "'") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i, start := 0, true; i < len(s); i++ {
		if start && s[i] == '\'' && i+1 < len(s) && (trigger(s[i+1]) || s[i+1] == '\'') {
			start = false // the quote Escape added; the character after it is kept as is
			continue
		}
		b.WriteByte(s[i])
		start = separator(s[i]) || (start && s[i] == '"')
	}
	return b.String()
}

// Writer writes CSV records as encoding/csv does (comma-separated, LF line
// ends, RFC 4180 quoting) with every field passed through Escape. It
// buffers: call Flush at the end, then Error.
type Writer struct {
	cw  *csv.Writer
	rec []string
}

// NewWriter returns a Writer to w.
func NewWriter(w io.Writer) *Writer { return &Writer{cw: csv.NewWriter(w)} }

// Write writes one record.
func (w *Writer) Write(record []string) error {
	w.rec = w.rec[:0]
	for _, f := range record {
		w.rec = append(w.rec, Escape(f))
	}
	return w.cw.Write(w.rec)
}

// Flush writes what is buffered.
func (w *Writer) Flush() { w.cw.Flush() }

// Error returns the first error of a Write or Flush.
func (w *Writer) Error() error { return w.cw.Error() }
