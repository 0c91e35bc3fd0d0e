package api_test

import (
	"context"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/safecsv"
)

// TestRejectsHaveNoFormulas imports rows whose rejected values hold a
// formula after a semicolon, which a spreadsheet that splits on ';' would
// start a cell with: the rejects CSV neutralizes it, and reads back, through
// safecsv.Unescape, as the reason the importer gave.
func TestRejectsHaveNoFormulas(t *testing.T) {
	e := newEnv(t)
	e.api.EnableImports(t.TempDir(), 1<<20)
	w, r := e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleRead)
	const file = "contact_point,channel,purpose,status,captured_at,jurisdiction\n" +
		"jane@example.com,email,newsletter,x;=1+1,2024-03-14T09:30:00Z,\n" +
		"jane@example.com,email,newsletter,opted_in,2024-03-14T09:30:00Z,DE;@SUM(A1)\n" +
		"jane@example.com,email,newsletter,opted_in,x;-2+3,\n"
	res := e.do("POST", "/v1/imports?format=native", w, file, "Content-Type", "text/csv")
	var im consentd.Import
	res.decode(t, &im)
	if res.status != 202 {
		t.Fatalf("POST /v1/imports = %s", res)
	}
	if n, err := e.api.ProcessImports(context.Background()); err != nil || n != 1 {
		t.Fatalf("ProcessImports() = %d, %v", n, err)
	}
	rej := e.must("GET", "/v1/imports/"+im.ID+"/rejects", r, nil, 200)
	body := string(rej.body)
	for _, cell := range strings.FieldsFunc(body, func(r rune) bool { return r == ',' || r == ';' || r == '\t' || r == '\n' || r == '\r' }) {
		if c := strings.TrimLeft(cell, `"`); c != "" && strings.ContainsRune("=+-@", rune(c[0])) {
			t.Errorf("the rejects CSV has a cell %q that begins with a formula character:\n%s", cell, body)
		}
	}
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(recs) != 4 {
		t.Fatalf("rejects = %q, %v; want the header and 3 rows", recs, err)
	}
	for i, want := range []string{`"x;=1+1"`, `"DE;@SUM(A1)"`, `"x;-2+3"`} {
		if reason := safecsv.Unescape(recs[i+1][2]); !strings.Contains(reason, want) {
			t.Errorf("reason %d = %q (read back %q); want it to name %s", i, recs[i+1][2], reason, want)
		}
	}
}
