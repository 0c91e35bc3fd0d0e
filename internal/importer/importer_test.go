package importer_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd/internal/pgtest"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/importer"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/postgres"
	"github.com/consentd/consentd/internal/sqlite"
)

// store is what these tests need of a backend.
type store interface {
	importer.Store
	CreateWorkspace(ctx context.Context, name string) (*consentd.Workspace, error)
	PutPurpose(ctx context.Context, wsID string, p *consentd.Purpose, create bool, actor string) error
	PutTopic(ctx context.Context, wsID string, t *consentd.Topic, create bool, actor string) error
	Suppressions(ctx context.Context, wsID string) ([]*consentd.Suppression, error)
	ExportConsents(ctx context.Context, wsID string, at consentd.Times, fn func(*consentd.Consent) error) error
	ImportRejects(ctx context.Context, wsID, id string, fn func(*consentd.ImportReject) error) error
	Consent(ctx context.Context, wsID, id string, asOf time.Time) (*consentd.Consent, error)
	LogSize(ctx context.Context, wsID string) (int64, error)
	ContactPointByHash(ctx context.Context, wsID string, hash [32]byte) (consentd.ContactPointKind, string, error)
	ledger.Store
	Close() error
}

// backends runs f on a new SQLite database and a new PostgreSQL database
// (skipped when the server is not reachable, unless CI=true).
func backends(t *testing.T, f func(t *testing.T, open func(t *testing.T) store)) {
	t.Run("sqlite", func(t *testing.T) {
		f(t, func(t *testing.T) store {
			db, err := sqlite.Open(filepath.Join(t.TempDir(), "consentd.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		})
	})
	t.Run("postgres", func(t *testing.T) {
		f(t, func(t *testing.T) store {
			db, err := postgres.Open(t.Context(), pgtest.FreshDB(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		})
	})
}

// workspace creates a workspace with the catalog of importfmt's native
// test file: newsletter on email and sms, offers on sms with topic
// weekly-digest.
func workspace(t testing.TB, db store, name string) string {
	t.Helper()
	ctx := t.Context()
	ws, err := db.CreateWorkspace(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*consentd.Purpose{
		{ID: "newsletter", Name: "Newsletter", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"email": {}, "sms": {}}},
		{ID: "offers", Name: "Offers", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"sms": {}, "email": {}}},
	} {
		if err := db.PutPurpose(ctx, ws.ID, p, true, "test"); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.PutTopic(ctx, ws.ID, &consentd.Topic{ID: "weekly-digest", Purpose: "offers", Name: "Weekly"}, true, "test"); err != nil {
		t.Fatal(err)
	}
	return ws.ID
}

func spec(format string) consentd.ImportSpec { return consentd.ImportSpec{Format: format} }

func logSize(t *testing.T, db store, ws string) int64 {
	t.Helper()
	n, err := db.LogSize(t.Context(), ws)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestNative imports importfmt's native test file: counts, rejects with
// line numbers, captured_at kept; the same file again writes nothing.
func TestNative(t *testing.T) {
	backends(t, func(t *testing.T, open func(t *testing.T) store) {
		db := open(t)
		ws := workspace(t, db, "native")
		e := &importer.Engine{Store: db}
		path := "../importfmt/testdata/native.csv"
		im, done, err := e.Import(t.Context(), ws, spec("native"), path)
		if err != nil || done {
			t.Fatalf("Import() = %+v, %v, %v", im, done, err)
		}
		want := consentd.ImportCounts{Rows: 15, Created: 4, Rejected: 11}
		if im.State != consentd.ImportSucceeded || im.ImportCounts != want || im.Committed != 15 || im.Name != "native.csv" {
			t.Errorf("import = %+v; want succeeded, counts %+v, committed 15", im, want)
		}
		var lines []string
		err = db.ImportRejects(t.Context(), ws, im.ID, func(r *consentd.ImportReject) error {
			lines = append(lines, fmt.Sprintf("%d:%s", r.Line, r.Code))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		wantLines := "6:invalid_status 7:invalid_status 8:invalid_contact_point 9:invalid_time 10:invalid_time 11:invalid 12:invalid 13:malformed_request 14:unknown_purpose 15:invalid 16:invalid"
		if got := strings.Join(lines, " "); got != wantLines {
			t.Errorf("rejects = %s; want %s", got, wantLines)
		}
		c, err := db.Consent(t.Context(), ws, "jane@example.com#newsletter:email", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if !c.CapturedAt.Equal(time.Date(2024, 3, 14, 9, 30, 0, 0, time.UTC)) || c.PartyID != "party-1" || c.Source.Name != "signup-form" {
			t.Errorf("jane = %+v; want captured_at 2024-03-14T09:30:00Z, party-1, source signup-form", c)
		}
		if c, err := db.Consent(t.Context(), ws, "+4915112345678#weekly-digest:sms", time.Time{}); err != nil || c.Status != consentd.OptedOut ||
			!c.CapturedAt.Equal(time.Date(2024, 3, 14, 9, 30, 0, 123e6, time.UTC)) {
			t.Errorf("sms consent = %+v, %v; want opted_out captured 09:30:00.123Z", c, err)
		}
		size := logSize(t, db, ws)
		again, done, err := e.Import(t.Context(), ws, spec("native"), path)
		if err != nil || !done || again.ID != im.ID {
			t.Errorf("Import() again = %+v, %v, %v; want the same import, already done", again, done, err)
		}
		if n := logSize(t, db, ws); n != size {
			t.Errorf("log size after the second import = %d; want %d (nothing written)", n, size)
		}
		// Another workspace has its own import of the same file.
		other := workspace(t, db, "other")
		if im2, done, err := e.Import(t.Context(), other, spec("native"), path); err != nil || done || im2.ID == im.ID || im2.Created != 4 {
			t.Errorf("Import(other workspace) = %+v, %v, %v; want a new import that creates 4", im2, done, err)
		}
		// A bad header or format is refused before anything is stored.
		bad := filepath.Join(t.TempDir(), "bad.csv")
		os.WriteFile(bad, []byte("contact_point,status\nx@y.z,opted_in\n"), 0o600)
		if _, _, err := e.Import(t.Context(), ws, spec("native"), bad); consentd.ErrorCode(err) != consentd.EINVALID {
			t.Errorf("Import(bad header) = %v; want invalid", err)
		}
		if _, _, err := e.Import(t.Context(), ws, spec("csv2000"), path); consentd.ErrorCode(err) != consentd.EINVALID {
			t.Errorf("Import(unknown format) = %v; want invalid", err)
		}
	})
}

// generate writes n native rows over n/2 contact points (two writes per
// address, the second an opt-out an hour later on every fourth) and a few
// bad rows.
func generate(t testing.TB, n int) string {
	t.Helper()
	var b bytes.Buffer
	b.WriteString(strings.Join(importer.NativeColumns, ",") + "\n")
	at := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		k := i / 2
		status, ts := "opted_in", at.Add(time.Duration(k)*time.Second)
		if i%2 == 1 {
			ts = ts.Add(time.Hour)
			if k%4 == 0 {
				status = "opted_out"
			}
		}
		cp := fmt.Sprintf("user%d@example.com", k)
		if i%97 == 0 {
			cp = "not an address"
		}
		fmt.Fprintf(&b, "%s,email,newsletter,,%s,%s,import,crm,,,,\n", cp, status, ts.Format(time.RFC3339))
	}
	path := filepath.Join(t.TempDir(), "gen.csv")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// state is the comparable end state of a workspace: its consents, and its
// log entries (type, consent, after-state) grouped by consent, each
// consent's entries in log order. The hashes that order an import's
// entries are keyed by the workspace's secret, so the interleaving of
// consents differs between workspaces (inHashOrder checks it).
func state(t *testing.T, db store, ws string) (consents []string, log []string) {
	t.Helper()
	err := db.ExportConsents(t.Context(), ws, consentd.Times{}, func(c *consentd.Consent) error {
		consents = append(consents, fmt.Sprintf("%s %s %s %d", c.ID, c.Status, c.CapturedAt.Format(time.RFC3339Nano), c.Version))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(consents) // key order is by hash, which differs between workspaces
	err = ledger.EachEntry(t.Context(), db, ws, func(rec consentd.LogRecord) error {
		data := []byte(rec.Entry)
		var e struct {
			Type, Subject string
			After         struct {
				Status     string    `json:"status"`
				CapturedAt time.Time `json:"captured_at"`
			} `json:"after"`
		}
		if err := json.Unmarshal(data, &e); err != nil {
			return err
		}
		id := e.Subject
		if h, ct, ok := strings.Cut(e.Subject, "#"); ok {
			hash, err := base64.RawURLEncoding.DecodeString(h)
			if err != nil || len(hash) != 32 {
				return fmt.Errorf("subject %q: %v", e.Subject, err)
			}
			_, cp, err := db.ContactPointByHash(t.Context(), ws, [32]byte(hash))
			if err != nil {
				return err
			}
			id = cp + "#" + ct
		}
		log = append(log, fmt.Sprintf("%s %s %s %s", id, e.Type, e.After.Status, e.After.CapturedAt))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.SliceStable(log, func(i, j int) bool { return strings.Fields(log[i])[0] < strings.Fields(log[j])[0] })
	return consents, log
}

// inHashOrder checks that the consent entries of the workspace's log are
// in contact point hash order, as one import writes them.
func inHashOrder(t *testing.T, db store, ws string) {
	t.Helper()
	var hashes [][]byte
	err := ledger.EachEntry(t.Context(), db, ws, func(rec consentd.LogRecord) error {
		data := []byte(rec.Entry)
		var e struct{ Subject string }
		if err := json.Unmarshal(data, &e); err != nil {
			return err
		}
		if h, _, ok := strings.Cut(e.Subject, "#"); ok {
			b, _ := base64.RawURLEncoding.DecodeString(h)
			hashes = append(hashes, b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(hashes) == 0 || !slices.IsSortedFunc(hashes, bytes.Compare) {
		t.Errorf("the import's %d log entries are not in contact point hash order", len(hashes))
	}
}

// TestResume stops an import after its first batches and runs it again:
// it resumes after the committed records, and the end state and log equal
// those of one uninterrupted run.
func TestResume(t *testing.T) {
	backends(t, func(t *testing.T, open func(t *testing.T) store) {
		path := generate(t, 3000)
		one := open(t)
		wsOne := workspace(t, one, "one")
		// A small sort memory: the entries go through runs on disk.
		im, _, err := (&importer.Engine{Store: one, BatchSize: 250, SortMemory: 16 << 10}).Import(t.Context(), wsOne, spec("native"), path)
		if err != nil {
			t.Fatal(err)
		}

		db := open(t)
		ws := workspace(t, db, "one")
		ctx, cancel := context.WithCancel(t.Context())
		batches := 0
		e := &importer.Engine{Store: db, BatchSize: 250, SortMemory: 16 << 10, Progress: func(*consentd.Import) {
			if batches++; batches == 3 {
				cancel()
			}
		}}
		half, _, err := e.Import(ctx, ws, spec("native"), path)
		if !errors.Is(err, context.Canceled) || half.State != consentd.ImportRunning || half.Committed == 0 || half.Committed >= 3000 {
			t.Fatalf("interrupted Import() = %+v, %v; want canceled, running, part committed", half, err)
		}
		e.Progress = nil
		full, done, err := e.Import(t.Context(), ws, spec("native"), path)
		if err != nil || done || full.ID != half.ID || full.State != consentd.ImportSucceeded {
			t.Fatalf("resumed Import() = %+v, %v, %v", full, done, err)
		}
		if full.ImportCounts != im.ImportCounts {
			t.Errorf("resumed counts = %+v; want those of one run %+v", full.ImportCounts, im.ImportCounts)
		}
		c1, l1 := state(t, one, wsOne)
		c2, l2 := state(t, db, ws)
		inHashOrder(t, db, ws)
		if strings.Join(c1, "\n") != strings.Join(c2, "\n") || strings.Join(l1, "\n") != strings.Join(l2, "\n") {
			t.Errorf("resumed import differs from one run: %d/%d consents, %d/%d log entries", len(c2), len(c1), len(l2), len(l1))
		}
		if im.Rejected != 31 || im.Created != 1500 {
			t.Errorf("one run counts = %+v; want 31 rejected, 1500 created", im.ImportCounts)
		}
	})
}

// TestResumeAfterCatalogChange: an import stopped while a tenth of its rows
// are rejected for an unknown purpose, resumed after the purpose was
// created: every row is counted once, the rows committed before stay as
// they were (rejected), and every other row is written. The order of the
// entries does not depend on the catalog, or a resumed import would skip
// rows it never wrote.
func TestResumeAfterCatalogChange(t *testing.T) {
	backends(t, func(t *testing.T, open func(t *testing.T) store) {
		const n = 3000
		var b bytes.Buffer
		b.WriteString(strings.Join(importer.NativeColumns, ",") + "\n")
		purposeOf := func(i int) string {
			if i%10 == 0 {
				return "later"
			}
			return "newsletter"
		}
		at := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range n {
			fmt.Fprintf(&b, "user%d@example.com,email,%s,,opted_in,%s,import,crm,,,,\n", i/2, purposeOf(i), at.Add(time.Duration(i)*time.Second).Format(time.RFC3339))
		}
		path := filepath.Join(t.TempDir(), "later.csv")
		if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		db := open(t)
		ws := workspace(t, db, "later")
		ctx, cancel := context.WithCancel(t.Context())
		batches := 0
		e := &importer.Engine{Store: db, BatchSize: 250, SortMemory: 16 << 10, Progress: func(*consentd.Import) {
			if batches++; batches == 4 {
				cancel()
			}
		}}
		half, _, err := e.Import(ctx, ws, spec("native"), path)
		if !errors.Is(err, context.Canceled) || half.Rejected == 0 || half.Committed >= n {
			t.Fatalf("interrupted Import() = %+v, %v; want canceled with some rows rejected", half, err)
		}
		if err := db.PutPurpose(t.Context(), ws, &consentd.Purpose{ID: "later", Name: "Later", Type: consentd.Commercial,
			Channels: map[string]consentd.ChannelSetting{"email": {}}}, true, "test"); err != nil {
			t.Fatal(err)
		}
		e.Progress = nil
		full, _, err := e.Import(t.Context(), ws, spec("native"), path)
		if err != nil || full.State != consentd.ImportSucceeded || full.Rows != n || full.Rejected != half.Rejected {
			t.Fatalf("resumed Import() = %+v, %v; want succeeded, %d rows, the %d rejects of the first run", full, err, n, half.Rejected)
		}
		rejected := map[int64]bool{}
		if err := db.ImportRejects(t.Context(), ws, full.ID, func(r *consentd.ImportReject) error {
			if r.Code != consentd.EUNKNOWNPURPOSE {
				t.Errorf("reject of line %d: %s; want %s", r.Line, r.Code, consentd.EUNKNOWNPURPOSE)
			}
			rejected[r.Line] = true
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{}
		for i := range n {
			if !rejected[int64(i+2)] { // line 1 is the header
				want[fmt.Sprintf("user%d@example.com#%s:email", i/2, purposeOf(i))] = true
			}
		}
		got := map[string]bool{}
		if err := db.ExportConsents(t.Context(), ws, consentd.Times{}, func(c *consentd.Consent) error {
			got[c.ID] = true
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for id := range want {
			if !got[id] {
				t.Errorf("consent %s was never written", id)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%d consents; want %d", len(got), len(want))
		}
	})
}

// TestErased: an import never resurrects an erased contact point.
func TestErased(t *testing.T) {
	backends(t, func(t *testing.T, open func(t *testing.T) store) {
		db := open(t)
		ws := workspace(t, db, "erased")
		if _, err := db.AddSuppression(t.Context(), ws, consentd.SuppressionInput{ContactPoint: "user3@example.com", Reason: consentd.SuppressErased}, "test"); err != nil {
			t.Fatal(err)
		}
		im, _, err := (&importer.Engine{Store: db}).Import(t.Context(), ws, spec("native"), generate(t, 20))
		if err != nil {
			t.Fatal(err)
		}
		if im.Skipped != 2 || im.SkipReasons["erased"] != 2 {
			t.Errorf("import = %+v; want 2 skipped, reason erased", im)
		}
		if _, err := db.Consent(t.Context(), ws, "user3@example.com#newsletter:email", time.Time{}); consentd.ErrorCode(err) != consentd.ENOTFOUND {
			t.Errorf("Consent(erased) = %v; want not_found", err)
		}
	})
}

// TestRoundTrip exports a workspace, imports the export into an empty one:
// every consent is the same; a known_at export gives what the first import
// had recorded.
func TestRoundTrip(t *testing.T) {
	backends(t, func(t *testing.T, open func(t *testing.T) store) {
		db := open(t)
		ws := workspace(t, db, "src")
		e := &importer.Engine{Store: db}
		if _, _, err := e.Import(t.Context(), ws, spec("native"), "../importfmt/testdata/native.csv"); err != nil {
			t.Fatal(err)
		}
		mid := time.Now()
		time.Sleep(2 * time.Millisecond) // the log's clock must move between the two states
		if _, _, err := e.Import(t.Context(), ws, spec("native"), generate(t, 200)); err != nil {
			t.Fatal(err)
		}
		for _, format := range importer.ExportFormats {
			var buf bytes.Buffer
			w, err := importer.NewExportWriter(&buf, format)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.ExportConsents(t.Context(), ws, consentd.Times{}, w.Write); err != nil {
				t.Fatal(err)
			}
			w.Flush()
			if format != "csv" {
				if n := strings.Count(buf.String(), "\n"); n != 104 {
					t.Errorf("ndjson export has %d lines; want 104", n)
				}
				continue
			}
			path := filepath.Join(t.TempDir(), "export.csv")
			os.WriteFile(path, buf.Bytes(), 0o600)
			dst := workspace(t, db, "dst")
			im, _, err := e.Import(t.Context(), dst, spec("native"), path)
			if err != nil || im.Created != 104 || im.Rejected != 0 {
				t.Fatalf("import of the export = %+v, %v; want 104 created", im, err)
			}
			src, _ := state(t, db, ws)
			got, _ := state(t, db, dst)
			if strings.Join(versionless(src), "\n") != strings.Join(versionless(got), "\n") {
				t.Errorf("round trip differs:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(src, "\n"))
			}
		}
		var old []string
		if err := db.ExportConsents(t.Context(), ws, consentd.Times{KnownAt: mid}, func(c *consentd.Consent) error { old = append(old, c.ID); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(old) != 4 {
			t.Errorf("known_at export = %v; want the 4 consents of the first file", old)
		}
	})
}

// versionless drops the version (an imported consent starts at 1).
func versionless(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = x[:strings.LastIndex(x, " ")]
	}
	return out
}

// TestRecords derives consent from Dynamics-style contact fields with a
// mapping: donotbulkemail false is an opt-in, true an opt-out; a record
// without an address is rejected with its line; the mapping is part of the
// import's identity.
func TestRecords(t *testing.T) {
	backends(t, func(t *testing.T, open func(t *testing.T) store) {
		db := open(t)
		ws := workspace(t, db, "records")
		mapping, err := importer.ParseMapping([]byte(`
contact_point: record.emailaddress1
party: record.contactid
captured_at: record.modifiedon
consents:
- channel_type: newsletter:email
  status: 'record.donotbulkemail ? "opted_out" : "opted_in"'
- channel_type: offers:email
  status: 'has(record.donotemail) && record.donotemail ? "opted_out" : ""'
`))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "contacts.csv")
		os.WriteFile(path, []byte("contactid,emailaddress1,donotbulkemail,donotemail,modifiedon\r\n"+
			"c1,Ann@Example.com,False,False,2021-06-01T10:00:00Z\r\n"+
			"c2,bea@example.com,True,True,2021-06-02T10:00:00Z\r\n"+
			"c3,,False,,2021-06-03T10:00:00Z\r\n"), 0o600)
		e := &importer.Engine{Store: db}
		sp := consentd.ImportSpec{Format: importer.Records, Mapping: mapping}
		im, _, err := e.Import(t.Context(), ws, sp, path)
		if err != nil {
			t.Fatal(err)
		}
		if want := (consentd.ImportCounts{Rows: 3, Created: 3, Rejected: 1}); im.ImportCounts != want {
			t.Errorf("counts = %+v; want %+v", im.ImportCounts, want)
		}
		for id, want := range map[string]consentd.Status{"ann@example.com#newsletter:email": consentd.OptedIn,
			"bea@example.com#newsletter:email": consentd.OptedOut, "bea@example.com#offers:email": consentd.OptedOut} {
			c, err := db.Consent(t.Context(), ws, id, time.Time{})
			if err != nil || c.Status != want || c.CapturedAt.Year() != 2021 || c.PartyID == "" || c.Source.Type != consentd.SourceImport {
				t.Errorf("%s = %+v, %v; want %s captured 2021 with party, source import", id, c, err, want)
			}
		}
		var lines []int64
		db.ImportRejects(t.Context(), ws, im.ID, func(r *consentd.ImportReject) error { lines = append(lines, r.Line); return nil })
		if len(lines) != 1 || lines[0] != 4 {
			t.Errorf("reject lines = %v; want [4]", lines)
		}
		// Another mapping on the same file is another import.
		other, err := importer.ParseMapping([]byte("contact_point: record.emailaddress1\ncaptured_at: record.modifiedon\nconsents:\n- channel_type: newsletter:email\n  status: '\"opted_out\"'\n"))
		if err != nil {
			t.Fatal(err)
		}
		im2, done, err := e.Import(t.Context(), ws, consentd.ImportSpec{Format: importer.Records, Mapping: other}, path)
		if err != nil || done || im2.ID == im.ID {
			t.Errorf("import with another mapping = %+v, %v, %v; want a new import", im2, done, err)
		}
		for _, bad := range []string{"contact_point: record.x\nconsents: [{channel_type: a:email, status: '\"opted_in\"'}]\n", "contact_point: record.\ncaptured_at: record.t\nconsents: [{channel_type: a:email, status: x}]\n", "nope: 1\n"} {
			if _, err := importer.ParseMapping([]byte(bad)); err == nil {
				t.Errorf("ParseMapping(%q) = nil error", bad)
			}
		}
	})
}

// formatsWorkspace creates a workspace with the catalog of importfmt's
// test files (external ids of Dynamics and Salesforce).
func formatsWorkspace(t *testing.T, db store, name string) string {
	t.Helper()
	ctx := t.Context()
	ws, err := db.CreateWorkspace(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	email := consentd.ChannelSetting{Enforcement: consentd.Restrictive}
	for _, p := range []*consentd.Purpose{
		{ID: "newsletter", Name: "Newsletter", Type: consentd.Commercial,
			Channels: map[string]consentd.ChannelSetting{
				"email":    {Enforcement: consentd.Restrictive, ExternalID: "0eBAB00000001NNMAA"},
				"sms":      {Enforcement: consentd.Restrictive, ExternalID: "0eBAB00000002QQ"},
				"whatsapp": email,
			},
			ExternalIDs: map[string]string{"dynamics": "a1b2c3d4-0000-0000-0000-000000000001", "salesforce": "0XlAB00000001MMKAY"}},
		{ID: "offers", Name: "Offers", Type: consentd.Commercial,
			Channels:    map[string]consentd.ChannelSetting{"email": email, "sms": email, "voice": email},
			ExternalIDs: map[string]string{"dynamics": "{A1B2C3D4-0000-0000-0000-000000000002}"}},
	} {
		if err := db.PutPurpose(ctx, ws.ID, p, true, "test"); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.PutTopic(ctx, ws.ID, &consentd.Topic{ID: "weekly-digest", Purpose: "newsletter", Name: "Weekly digest",
		ExternalIDs:        map[string]string{"dynamics": "b0000000-0000-0000-0000-00000000000a"},
		ChannelExternalIDs: map[string]string{"email": "0eBAB00000003XYZAB"}}, true, "test"); err != nil {
		t.Fatal(err)
	}
	return ws.ID
}

// TestFormats imports each of importfmt's test files through the engine:
// every record counted once (written, skipped with its reason, or rejected
// with its line), and each consent stored with the latest captured_at the
// file gives it (the source's time, never today).
func TestFormats(t *testing.T) {
	backends(t, func(t *testing.T, open func(t *testing.T) store) {
		db := open(t)
		for _, tc := range []struct {
			format, file string
			spec         consentd.ImportSpec
		}{
			{"native", "native.csv", consentd.ImportSpec{}},
			{"dynamics", "dynamics.csv", consentd.ImportSpec{}},
			{"salesforce", "salesforce.csv", consentd.ImportSpec{}},
			{"listmonk", "listmonk.csv", consentd.ImportSpec{Purpose: "newsletter"}},
			{"listmonk", "listmonk_lists.csv", consentd.ImportSpec{Purpose: "newsletter", Topic: "weekly-digest", Channel: "email"}},
			{"mailchimp", "mailchimp_subscribed.csv", consentd.ImportSpec{Purpose: "newsletter"}},
			{"mailchimp", "mailchimp_unsubscribed.csv", consentd.ImportSpec{Purpose: "newsletter"}},
			{"mailchimp", "mailchimp_cleaned.csv", consentd.ImportSpec{Purpose: "newsletter"}},
		} {
			t.Run(tc.file, func(t *testing.T) {
				ws := formatsWorkspace(t, db, strings.TrimSuffix(tc.file, ".csv"))
				path := filepath.Join("../importfmt/testdata", tc.file)
				cat, err := db.Catalog(t.Context(), ws)
				if err != nil {
					t.Fatal(err)
				}
				// What the reader makes of the file, read directly.
				f, err := os.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				rd, err := importer.OpenFormat(tc.format, f, importer.Options{Purpose: tc.spec.Purpose, Channel: tc.spec.Channel, Topic: tc.spec.Topic,
					SourceName: tc.file, Catalog: cat})
				if err != nil {
					t.Fatal(err)
				}
				var records, skips, rejects, nwrites int64
				latest := map[string]time.Time{}
				for {
					row, err := rd.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					records++
					switch {
					case row.Reject != nil:
						rejects++
					case row.Skip != "" || len(row.Writes) == 0 && len(row.Suppressions) == 0:
						skips++
					}
					for _, w := range row.Writes {
						nwrites++
						ct, cp, err := consentd.PrepareWrite(cat, "", &w, time.Now())
						if err != nil {
							continue // the write path refuses it: a reject
						}
						id := consentd.ConsentID(cp, ct.ID)
						if w.CapturedAt.After(latest[id]) {
							latest[id] = w.CapturedAt
						}
					}
				}
				sp := tc.spec
				sp.Format = tc.format
				im, _, err := (&importer.Engine{Store: db}).Import(t.Context(), ws, sp, path)
				if err != nil {
					t.Fatal(err)
				}
				c := im.ImportCounts
				if c.Rows != records || c.Skipped != skips || c.Rejected < rejects ||
					c.Created+c.Changed+c.Unchanged+c.Superseded+(c.Rejected-rejects) != nwrites {
					t.Errorf("counts %+v; the reader read %d records: %d writes, %d skipped, %d rejected", c, records, nwrites, skips, rejects)
				}
				var sum int64
				for _, n := range im.SkipReasons {
					sum += n
				}
				if sum != c.Skipped {
					t.Errorf("skip reasons %v do not add up to %d skipped", im.SkipReasons, c.Skipped)
				}
				n := int64(0)
				db.ImportRejects(t.Context(), ws, im.ID, func(r *consentd.ImportReject) error {
					if r.Line < 2 || r.Code == "" || r.Reason == "" {
						t.Errorf("reject %+v lacks line, code or reason", r)
					}
					n++
					return nil
				})
				if n != c.Rejected {
					t.Errorf("%d rejects stored; counts say %d", n, c.Rejected)
				}
				if len(latest) != int(c.Created) {
					t.Errorf("%d consents created; the file names %d", c.Created, len(latest))
				}
				for id, at := range latest {
					got, err := db.Consent(t.Context(), ws, id, time.Time{})
					if err != nil || !got.CapturedAt.Equal(at) {
						t.Errorf("%s = %+v, %v; want captured_at %v", id, got, err, at)
					}
				}
			})
		}
	})
}

// TestImportSuppressions imports the formats' rows that stand for "never
// send": a Mailchimp cleaned address becomes a hard_bounce suppression on
// email (and no consent), a listmonk blocklisted subscriber a
// do_not_contact suppression as well as its opt-out. Each names its import
// in the note and is logged with the import as actor; importing the same
// rows again (another file name) adds no second suppression.
func TestImportSuppressions(t *testing.T) {
	backends(t, func(t *testing.T, open func(t *testing.T) store) {
		db := open(t)
		ws := formatsWorkspace(t, db, "sups")
		ctx := t.Context()
		run := func(format, file, name string) *consentd.Import {
			t.Helper()
			sp := consentd.ImportSpec{Format: format, Purpose: "newsletter", Name: name}
			im, _, err := (&importer.Engine{Store: db}).Import(ctx, ws, sp, filepath.Join("../importfmt/testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			return im
		}
		cleaned := run("mailchimp", "mailchimp_cleaned.csv", "audience-cleaned.csv")
		if cleaned.Rows != 2 || cleaned.Rejected != 1 || cleaned.Skipped != 0 || cleaned.Created != 0 {
			t.Errorf("mailchimp cleaned counts %+v; want 2 rows, 1 rejected (no address), no consent", cleaned.ImportCounts)
		}
		blocked := run("listmonk", "listmonk.csv", "listmonk-export.csv")
		sups, err := db.Suppressions(ctx, ws)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]*consentd.Suppression{}
		for _, s := range sups {
			got[s.ContactPoint] = s
		}
		if s := got["ida@example.org"]; s == nil || s.Reason != consentd.SuppressHardBounce || s.Channel != "email" || !strings.Contains(s.Note, "audience-cleaned.csv") {
			t.Errorf("ida@example.org suppression %+v; want hard_bounce on email naming the import", s)
		}
		if s := got["bob@example.org"]; s == nil || s.Reason != consentd.SuppressDoNotContact || s.Channel != "" || !strings.Contains(s.Note, "listmonk-export.csv") {
			t.Errorf("bob@example.org suppression %+v; want do_not_contact on every channel naming the import", s)
		}
		if len(sups) != 2 {
			t.Errorf("suppressions %+v; want ida's and bob's", sups)
		}
		if c, err := db.Consent(ctx, ws, "bob@example.org#newsletter:email", time.Time{}); err != nil || c.Status != consentd.OptedOut {
			t.Errorf("bob's consent %+v, %v; want opted_out (blocklisted)", c, err)
		}
		// The log says which import added them.
		recs, err := db.Log(ctx, ws, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		actors := map[string]int{}
		for _, r := range recs {
			var en struct{ Type, Actor string }
			if err := json.Unmarshal(r.Entry, &en); err != nil {
				t.Fatal(err)
			}
			if en.Type == consentd.LogSuppressionAdded {
				actors[en.Actor]++
			}
		}
		if actors["import:"+cleaned.ID] != 1 || actors["import:"+blocked.ID] != 1 {
			t.Errorf("suppression.added actors %v; want one by each import", actors)
		}
		// The same rows under other names: new imports, no new suppression.
		run("mailchimp", "mailchimp_cleaned.csv", "again.csv")
		run("listmonk", "listmonk.csv", "again-listmonk.csv")
		if sups, err := db.Suppressions(ctx, ws); err != nil || len(sups) != 2 {
			t.Errorf("after importing again: %d suppressions, %v; want still 2", len(sups), err)
		}
	})
}
