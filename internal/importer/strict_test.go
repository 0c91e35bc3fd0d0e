package importer_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/importer"
)

// TestBadTextRowsRejected imports a native file whose bad rows hold invalid
// UTF-8, a NUL, a control character, a 1 MB reason, a 1 MB ignored column,
// a source_details with an escaped NUL and a proof-less over-long source
// name: each is rejected with a reason, on both backends, and nothing of
// it is written; the good rows around them are.
func TestBadTextRowsRejected(t *testing.T) {
	backends(t, func(t *testing.T, open func(t *testing.T) store) {
		db := open(t)
		ws := workspace(t, db, "strict")
		at := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		mb := strings.Repeat("r", 1<<20)
		lines := []string{
			"contact_point,channel,purpose,status,captured_at,source_name,source_details,reason,notes",
			"good1@example.com,email,newsletter,opted_in," + at + ",form,,,",                            // line 2
			"bad2@example.com,email,newsletter,opted_in," + at + ",form\xff,,,",                         // invalid UTF-8
			"bad3@example.com,email,newsletter,opted_in," + at + ",form,,why\x00,",                      // NUL
			"bad4@example.com,email,newsletter,opted_in," + at + ",form,,why\x07,",                      // BEL
			"bad5@example.com,email,newsletter,opted_in," + at + ",form,," + mb + ",",                   // 1 MB reason
			"bad6@example.com,email,newsletter,opted_in," + at + ",form,,," + mb,                        // 1 MB ignored column
			"bad7@example.com,email,newsletter,opted_in," + at + `,form,"{""a"":""\u0000""}",,`,         // escaped NUL in details
			"bad8@example.com,email,newsletter,opted_in," + at + "," + strings.Repeat("n", 300) + ",,,", // source_name over 200
			"good9@example.com,email,newsletter,opted_in," + at + ",form,,,",
		}
		path := filepath.Join(t.TempDir(), "strict.csv")
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		e := &importer.Engine{Store: db}
		im, _, err := e.Import(t.Context(), ws, spec("native"), path)
		if err != nil {
			t.Fatalf("Import() = %v", err)
		}
		if im.State != consentd.ImportSucceeded || im.Created != 2 || im.Rejected != 7 || im.Rows != 9 {
			t.Errorf("import = %+v; want succeeded, 9 rows, 2 created, 7 rejected", im.ImportCounts)
		}
		var got []string
		err = db.ImportRejects(t.Context(), ws, im.ID, func(r *consentd.ImportReject) error {
			if r.Reason == "" {
				t.Errorf("reject of line %d has no reason", r.Line)
			}
			for _, f := range r.Raw {
				if consentd.TextProblem(f) != "" || len(f) > 1<<10 {
					t.Errorf("reject of line %d keeps a raw field that is not storable text or over 1 KiB", r.Line)
				}
			}
			got = append(got, fmt.Sprintf("%d:%s", r.Line, r.Code))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(got)
		if want := "3:invalid 4:invalid 5:invalid 6:invalid 7:invalid 8:invalid 9:invalid"; strings.Join(got, " ") != want {
			t.Errorf("rejects = %v; want %s", got, want)
		}
		for _, cp := range []string{"good1@example.com", "good9@example.com"} {
			if _, err := db.Consent(t.Context(), ws, cp+"#newsletter:email", time.Time{}); err != nil {
				t.Errorf("good row %s: %v", cp, err)
			}
		}
		for i := 2; i <= 8; i++ {
			id := fmt.Sprintf("bad%d@example.com#newsletter:email", i)
			if _, err := db.Consent(t.Context(), ws, id, time.Time{}); consentd.ErrorCode(err) != consentd.ENOTFOUND {
				t.Errorf("bad row %s was written: %v", id, err)
			}
		}
		if n := logSize(t, db, ws); n != 2+3 { // the catalog's three entries and the two good rows
			t.Errorf("log size = %d; want 5", n)
		}
	})
}

// TestImportOptionsChecked: a 1 MB or NUL import name is refused before
// anything is stored, and the native format refuses purpose=, channel= and
// topic= (its rows name them) rather than ignoring them.
func TestImportOptionsChecked(t *testing.T) {
	backends(t, func(t *testing.T, open func(t *testing.T) store) {
		db := open(t)
		ws := workspace(t, db, "options")
		e := &importer.Engine{Store: db}
		path := "../importfmt/testdata/native.csv"
		for _, c := range []struct {
			spec  consentd.ImportSpec
			field string
		}{
			{consentd.ImportSpec{Format: "native", Name: strings.Repeat("n", 1<<20)}, "name"},
			{consentd.ImportSpec{Format: "native", Name: "a\x00b"}, "name"},
			{consentd.ImportSpec{Format: "native", Name: "a\xffb"}, "name"},
			{consentd.ImportSpec{Format: "native", Purpose: "newsletter"}, "purpose"},
			{consentd.ImportSpec{Format: "native", Channel: "email"}, "channel"},
			{consentd.ImportSpec{Format: "native", Topic: "weekly-digest"}, "topic"},
		} {
			_, _, err := e.Import(t.Context(), ws, c.spec, path)
			var ce *consentd.Error
			if consentd.ErrorCode(err) != consentd.EINVALID || !errors.As(err, &ce) || len(ce.Fields) != 1 || ce.Fields[0].Field != c.field {
				t.Errorf("Import(%.40q...) = %v; want invalid naming %s", fmt.Sprintf("%+v", c.spec), err, c.field)
			}
		}
		if n := logSize(t, db, ws); n != 3 {
			t.Errorf("log size = %d; want 3 (the catalog only)", n)
		}
	})
}
