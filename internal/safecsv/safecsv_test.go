package safecsv

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
)

// formulas are the 18 formula cells: each trigger character alone and
// with two payloads.
var formulas = []string{
	"=", `=HYPERLINK("http://127.0.0.1/?"&A1,"x")`, "=1+1",
	"+", "+1+1", "+14155550123",
	"-", "-2+3", "-1-1",
	"@", "@SUM(A1)", "@cmd",
	"\t", "\t=1", "\t@SUM(A1)",
	"\r", "\r=1", "\r+1",
}

// values are values that must come back unchanged, with the quotes that
// make the escaping reversible.
var values = append([]string{`x;"=1`, `x;""'=1`, `"=1"`, `"'`, `""`, "x;=1", "x\t=1", ";=1", "=1;=2", "x;'=1", "x;''", "';=1", "'\t=1", "a;b\tc", "''", "'''", "'=1", "''=1", "'+49", "'abc", "a'=1", "plain", "a;=1", "a,=1", "a\t=1", `say "=1"`,
	" =1", "\n=1", "\x00=1", `\.`, "x\r", "jane@example.com", "ü=ß"}, formulas...)

func TestEscapeUnescape(t *testing.T) {
	for _, v := range values {
		e := Escape(v)
		if e != "" && trigger(e[0]) {
			t.Errorf("Escape(%q) = %q begins with a formula character", v, e)
		}
		if got := Unescape(e); got != v {
			t.Errorf("Unescape(Escape(%q)) = %q", v, got)
		}
	}
	for _, f := range formulas {
		if !strings.HasPrefix(Escape(f), "'"+f[:1]) {
			t.Errorf("Escape(%q) = %q; want a quote before it", f, Escape(f))
		}
	}
	for _, v := range []string{"plain", "'abc", "a'=1", "jane@example.com", "'"} {
		if Escape(v) != v {
			t.Errorf("Escape(%q) = %q; want it unchanged", v, Escape(v))
		}
	}
}

// TestWriter writes the values in one record and reads it back with
// encoding/csv: each field unescapes to its value. And as a spreadsheet set
// to another separator sees the file (split at every semicolon, tab or line break,
// quotes ignored but for one at the start of a cell): no cell begins with
// a formula character.
func TestWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.Write([]string{"header", "line"})
	w.Write(values)
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "header,line\n") {
		t.Errorf("header = %q; want it as encoding/csv writes it", buf.String())
	}
	r := csv.NewReader(bytes.NewReader(buf.Bytes()))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || len(recs[1]) != len(values) {
		t.Fatalf("records %q; want the header and %d fields", recs, len(values))
	}
	for i, f := range recs[1] {
		if f != "" && trigger(f[0]) {
			t.Errorf("cell %q begins with a formula character", f)
		}
		if Unescape(f) != values[i] {
			t.Errorf("field %d = %q, unescaped %q; want %q", i, f, Unescape(f), values[i])
		}
	}
	for _, cell := range strings.FieldsFunc(buf.String(), func(r rune) bool { return r == ';' || r == '\t' || r == '\r' || r == '\n' }) {
		if c := strings.TrimLeft(cell, `"`); c != "" && trigger(c[0]) {
			t.Errorf("split at ; and tab, a cell begins with a formula character: %q", cell)
		}
	}
	for _, v := range []string{"x;=1", "x\t=1", "x;;+1", "x;'=1", "x;''", "- a\n- b", "x\r\n=1", `x;"=1`, `x;""'=1`, `"=1"`} {
		e := Escape(v)
		for _, cell := range strings.FieldsFunc(e, func(r rune) bool { return r == ';' || r == '\t' || r == '\r' || r == '\n' }) {
			if c := strings.TrimLeft(cell, `"`); c != "" && trigger(c[0]) {
				t.Errorf("Escape(%q) = %q: cell %q after a separator begins with a formula character", v, e, cell)
			}
		}
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, v := range values {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if got := Unescape(Escape(v)); got != v {
			t.Errorf("Unescape(Escape(%q)) = %q", v, got)
		}
		if e := Escape(v); e != "" && trigger(e[0]) {
			t.Errorf("Escape(%q) = %q", v, e)
		}
	})
}
