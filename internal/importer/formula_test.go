package importer_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/importer"
)

// formulaCells are the 18 cells a spreadsheet runs as formulas: each of
// the six leading characters alone and with two payloads.
var formulaCells = []string{
	"=", `=HYPERLINK("http://127.0.0.1/?"&A1,"click")`, "=1+1",
	"+", "+1+1", "+SUM(1;2)",
	"-", "-2+3", "-1-1",
	"@", "@SUM(A1)", "@cmd",
	"\t", "\t=1", "\t@SUM(A1)",
	"\r", "\r=1", "\r+1",
}

// quotedCells are values that must come back as they are although they
// begin with the single quote the export adds, or hide a formula after
// another locale's separator.
var quotedCells = []string{"'", "''", "'=1", "''=1", "'+49", "'abc", "x;=1", "x;'=1", "a\t-1", "- one\n- two", `say "=1"`}

// TestFormulaRoundTrip writes consents whose reason, source name and
// party id hold formula cells, and whose contact point is an E.164 phone
// number or an address that begins with a trigger character, exports them
// as CSV, checks that no cell of the file begins with a formula
// character, imports the file into an empty workspace and expects every
// value back byte for byte.
func TestFormulaRoundTrip(t *testing.T) {
	backends(t, func(t *testing.T, open func(t *testing.T) store) {
		db := open(t)
		w, ok := db.(interface {
			WriteConsents(ctx context.Context, wsID string, writes []consentd.ConsentWrite, actor string) ([]consentd.WriteResult, error)
		})
		if !ok {
			t.Fatalf("%T has no WriteConsents", db)
		}
		ws := workspace(t, db, "src")
		at := time.Date(2024, 3, 14, 9, 30, 0, 0, time.UTC)
		var writes []consentd.ConsentWrite
		cells := append(append([]string(nil), formulaCells...), quotedCells...)
		for i, v := range cells {
			party := ""
			if consentd.ValidPartyID(v) { // printable, without /
				party = v
			}
			writes = append(writes, consentd.ConsentWrite{ContactPoint: fmt.Sprintf("user%d@example.com", i), Channel: "email", Purpose: "newsletter",
				Status: consentd.OptedOut, CapturedAt: at, Source: consentd.Source{Type: consentd.SourceForm, Name: v}, Reason: v, PartyID: party})
		}
		for i, cp := range []string{"+14155550123", "=1+1@example.com", "-x@example.com", "+tag@example.com"} {
			writes = append(writes, consentd.ConsentWrite{ContactPoint: cp, Channel: map[bool]string{true: "sms", false: "email"}[i == 0],
				Purpose: "newsletter", Status: consentd.OptedIn, CapturedAt: at, Source: consentd.Source{Type: consentd.SourceForm, Name: "signup"}})
		}
		res, err := w.WriteConsents(t.Context(), ws, writes, "test")
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Err != nil {
				t.Fatalf("write %q: %v", cells[min(i, len(cells)-1)], r.Err)
			}
		}
		src := exported(t, db, ws)
		if len(src) != len(writes) {
			t.Fatalf("%d consents; want %d", len(src), len(writes))
		}

		var buf bytes.Buffer
		ew, err := importer.NewExportWriter(&buf, "csv")
		if err != nil {
			t.Fatal(err)
		}
		if err := db.ExportConsents(t.Context(), ws, consentd.Times{}, ew.Write); err != nil {
			t.Fatal(err)
		}
		if err := ew.Flush(); err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		rows := map[string][]string{}
		for _, rec := range recs {
			for _, f := range rec {
				if f != "" && strings.ContainsRune("=+-@\t\r\n\x00", rune(f[0])) {
					t.Errorf("export cell %q begins with a formula character", f)
				}
			}
			rows[rec[0]] = rec
		}
		for i, v := range formulaCells {
			rec := rows[fmt.Sprintf("user%d@example.com", i)]
			if rec == nil {
				t.Fatalf("no row for formula %q", v)
			}
			for _, col := range []int{7, 9, 11} { // source_name, party_id, reason
				if col == 9 && !consentd.ValidPartyID(v) {
					continue
				}
				if f := rec[col]; !strings.HasPrefix(f, "'"+v[:1]) || len(f) <= len(v) {
					t.Errorf("%s of formula %q exported as %q; want it behind a single quote", importer.NativeColumns[col], v, f)
				}
			}
		}
		if !strings.Contains(buf.String(), "'+14155550123,") {
			t.Errorf("the E.164 number is not neutralized:\n%s", buf.String())
		}

		path := filepath.Join(t.TempDir(), "export.csv")
		if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		dst := workspace(t, db, "dst")
		im, _, err := (&importer.Engine{Store: db}).Import(t.Context(), dst, spec("native"), path)
		if err != nil || im.Created != int64(len(writes)) || im.Rejected != 0 {
			t.Fatalf("import of the export = %+v, %v; want %d created", im, err, len(writes))
		}
		got := exported(t, db, dst)
		for id, want := range src {
			if got[id] != want {
				t.Errorf("%s after the round trip:\n got %q\nwant %q", id, got[id], want)
			}
		}
	})
}

// exported returns the consents of a workspace by id: the values the
// native format carries, quoted.
func exported(t *testing.T, db store, ws string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := db.ExportConsents(t.Context(), ws, consentd.Times{}, func(c *consentd.Consent) error {
		m[c.ID] = fmt.Sprintf("%q %q %q %q %q %s %q %q", c.ContactPoint, c.ChannelType, c.Status, c.Source.Name, c.Reason,
			c.CapturedAt.UTC().Format(time.RFC3339Nano), c.PartyID, c.Jurisdiction)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
