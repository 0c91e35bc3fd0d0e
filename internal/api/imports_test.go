package api_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/api"
)

const importCSV = `contact_point,channel,purpose,topic,status,captured_at,source_type,source_name,source_details,party_id,jurisdiction,reason
jane@example.com,email,newsletter,,opted_in,2024-03-14T09:30:00Z,form,signup,,,,
not an address,email,newsletter,,opted_in,2024-03-14T09:30:00Z,,,,,,
bob@example.com,email,nope,,opted_in,2024-03-14T09:30:00Z,,,,,,
bob@example.com,email,newsletter,weekly,opted_out,2024-03-15T09:30:00Z,,,,,,
carl@example.com,email,newsletter,,maybe,2024-03-15T09:30:00Z,,,,,,
`

// TestImportsOverHTTP posts an import, runs it, reads its progress and
// rejects, posts it again (nothing written), and exports.
func TestImportsOverHTTP(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	e.api.EnableImports(dir, 1<<20)
	w, r := e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleRead)
	ctx := context.Background()

	// Refused before anything is stored: a bad format, a bad header, not
	// CSV, too large, a read key.
	size := e.logSize(w)
	for _, c := range []struct {
		name, path, key, ctype, body string
		status                       int
		code                         string
	}{
		{"unknown format", "/v1/imports?format=csv2000", w, "text/csv", importCSV, 422, consentd.EINVALID},
		{"no format", "/v1/imports", w, "text/csv", importCSV, 422, consentd.EINVALID},
		{"bad header", "/v1/imports?format=native", w, "text/csv", "email,state\nx,y\n", 422, consentd.EINVALID},
		{"not CSV", "/v1/imports?format=native", w, "application/json", `{"a":1}`, 415, consentd.EUNSUPPORTEDMEDIATYPE},
		{"too large", "/v1/imports?format=native", w, "text/csv", importCSV + strings.Repeat("x", 1<<20), 413, consentd.ETOOLARGE},
		{"read key", "/v1/imports?format=native", r, "text/csv", importCSV, 403, consentd.EFORBIDDEN},
	} {
		res := e.do("POST", c.path, c.key, c.body, "Content-Type", c.ctype)
		if p := res.problem(t); res.status != c.status || p.Code != c.code {
			t.Errorf("%s: POST %s = %s; want %d %s", c.name, c.path, res, c.status, c.code)
		}
	}
	if n := e.logSize(w); n != size {
		t.Errorf("log size %d after refused imports; want %d", n, size)
	}
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Errorf("refused imports left files: %v", files)
	}
	if n, _ := e.store.UnfinishedImports(ctx); len(n) != 0 {
		t.Errorf("refused imports stored %v", n)
	}

	res := e.do("POST", "/v1/imports?format=native&name=crm.csv", w, importCSV, "Content-Type", "text/csv")
	var im consentd.Import
	res.decode(t, &im)
	if res.status != 202 || im.State != consentd.ImportQueued || res.header.Get("Location") != "/v1/imports/"+im.ID {
		t.Fatalf("POST /v1/imports = %s, Location %q; want 202 queued with its Location", res, res.header.Get("Location"))
	}
	if n, err := e.api.ProcessImports(ctx); err != nil || n != 1 {
		t.Fatalf("ProcessImports() = %d, %v; want 1", n, err)
	}
	e.must("GET", "/v1/imports/"+im.ID, r, nil, 200).decode(t, &im)
	want := consentd.ImportCounts{Rows: 5, Created: 2, Rejected: 3}
	if im.State != consentd.ImportSucceeded || im.ImportCounts != want || im.Committed != 5 {
		t.Errorf("GET /v1/imports/%s = %+v; want succeeded with %+v", im.ID, im, want)
	}
	// The list has it, as any role that reads sees it; a bad limit is refused.
	var list struct {
		Imports       []consentd.Import `json:"imports"`
		NextPageToken string            `json:"next_page_token"`
	}
	e.must("GET", "/v1/imports?limit=10", r, nil, 200).decode(t, &list)
	if len(list.Imports) != 1 || list.Imports[0].ID != im.ID || list.Imports[0].ImportCounts != want || list.NextPageToken != "" {
		t.Errorf("GET /v1/imports = %+v; want the one import", list)
	}
	e.must("GET", "/v1/imports?limit=0", r, nil, 422)
	if _, err := os.Stat(filepath.Join(dir, im.ID+".csv")); !os.IsNotExist(err) {
		t.Errorf("the spool file of a finished import is still there: %v", err)
	}
	rej := e.must("GET", "/v1/imports/"+im.ID+"/rejects", r, nil, 200)
	if ct := rej.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("rejects Content-Type = %q", ct)
	}
	recs, err := csv.NewReader(strings.NewReader(string(rej.body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rec := range recs {
		got = append(got, rec[0]+" "+rec[1])
	}
	if s := strings.Join(got, ","); s != "line code,3 invalid_contact_point,4 unknown_purpose,6 invalid_status" {
		t.Errorf("rejects = %s", s)
	}
	if strings.Contains(string(rej.body), "not an address") {
		t.Errorf("the rejects CSV repeats the row's data: %s", rej.body)
	}
	var c struct {
		Status     string    `json:"status"`
		CapturedAt time.Time `json:"captured_at"`
	}
	e.must("GET", consentPath("jane@example.com#newsletter:email"), r, nil, 200).decode(t, &c)
	if c.Status != "opted_in" || !c.CapturedAt.Equal(time.Date(2024, 3, 14, 9, 30, 0, 0, time.UTC)) {
		t.Errorf("jane = %+v; want opted_in captured 2024-03-14T09:30:00Z", c)
	}

	// The same file again: the same import, nothing written.
	size = e.logSize(w)
	res = e.do("POST", "/v1/imports?format=native&name=crm.csv", w, importCSV, "Content-Type", "text/csv")
	var again consentd.Import
	res.decode(t, &again)
	if res.status != 200 || again.ID != im.ID || again.State != consentd.ImportSucceeded {
		t.Errorf("POST the same file = %s; want 200 with import %s, succeeded", res, im.ID)
	}
	if n, _ := e.api.ProcessImports(ctx); n != 0 {
		t.Errorf("ProcessImports() after the repost ran %d imports", n)
	}
	if n := e.logSize(w); n != size {
		t.Errorf("log size %d after the repost; want %d", n, size)
	}

	// Another workspace sees none of it.
	b := e.b.key(consentd.RoleAdmin)
	for _, path := range []string{"/v1/imports/" + im.ID, "/v1/imports/" + im.ID + "/rejects"} {
		if res := e.do("GET", path, b, nil); res.status != 404 {
			t.Errorf("GET %s from another workspace = %s; want 404", path, res)
		}
	}

	// The export: CSV in the native columns, and ndjson.
	exp := e.must("GET", "/v1/consents:export", r, nil, 200)
	lines := strings.Split(strings.TrimSpace(string(exp.body)), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "contact_point,channel,purpose,topic,status,captured_at,") {
		t.Errorf("export = %q; want a header and 2 consents", exp.body)
	}
	nd := e.must("GET", "/v1/consents:export?format=ndjson", r, nil, 200)
	var first map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(string(nd.body), "\n", 2)[0]), &first); err != nil || first["contact_point"] == nil {
		t.Errorf("ndjson export first line: %v, %v", first, err)
	}
	old := e.must("GET", "/v1/consents:export?as_of=2000-01-01T00:00:00Z", r, nil, 200)
	if n := strings.Count(string(old.body), "\n"); n != 1 {
		t.Errorf("export as of 2000 = %q; want only the header", old.body)
	}
	// Valid time: imported today, captured in March 2024, so in effect
	// then; known_at a day ago: nothing was recorded yet.
	var then struct {
		Status   string `json:"status"`
		ProvedBy struct {
			Type string `json:"type"`
		} `json:"proved_by"`
	}
	e.must("GET", consentPath("jane@example.com#newsletter:email")+"?as_of=2024-04-01T00:00:00Z", r, nil, 200).decode(t, &then)
	if then.Status != "opted_in" || then.ProvedBy.Type != "consent.changed" {
		t.Errorf("jane as of April 2024 = %+v; want opted_in, proved by the import's consent.changed entry", then)
	}
	if res := e.do("GET", consentPath("jane@example.com#newsletter:email")+"?as_of=2024-03-14T09:29:59Z", r, nil); res.status != 404 || res.problem(t).Code != consentd.ENOTINEFFECT {
		t.Errorf("jane as of before her captured_at = %s; want 404 %s", res, consentd.ENOTINEFFECT)
	}
	for _, c := range []struct {
		query string
		rows  int
	}{
		{"as_of=2024-03-14T10:00:00Z", 1},
		{"as_of=2024-03-16T00:00:00Z", 2},
		{"as_of=2024-03-16T00:00:00Z&known_at=" + time.Now().Add(-24*time.Hour).UTC().Format(time.RFC3339), 0},
		{"known_at=" + time.Now().Add(time.Hour).UTC().Format(time.RFC3339), 2},
	} {
		res := e.must("GET", "/v1/consents:export?"+c.query, r, nil, 200)
		if n := strings.Count(string(res.body), "\n") - 1; n != c.rows {
			t.Errorf("GET /v1/consents:export?%s = %q; want %d consents", c.query, res.body, c.rows)
		}
	}
	for _, q := range []string{"format=xml", "as_of=yesterday", "known_at=yesterday"} {
		if res := e.do("GET", "/v1/consents:export?"+q, r, nil); res.status != 422 {
			t.Errorf("GET /v1/consents:export?%s = %s; want 422", q, res)
		}
	}
	if res := e.do("GET", "/v1/consents:export", b, nil); res.status != 200 || strings.Count(string(res.body), "\n") != 1 {
		t.Errorf("export of another workspace = %s; want only the header", res)
	}
}

// failingExport is the real store whose export fails after some consents,
// as a disk or a connection could.
type failingExport struct {
	api.Store
	after int
}

func (f failingExport) ExportConsents(ctx context.Context, wsID string, at consentd.Times, fn func(*consentd.Consent) error) error {
	n := 0
	return f.Store.ExportConsents(ctx, wsID, at, func(c *consentd.Consent) error {
		if n == f.after {
			return errors.New("the export broke")
		}
		n++
		return fn(c)
	})
}

// TestExportCutShort: an export that fails after its first bytes went out
// breaks the transfer, so that the client sees an error rather than a
// short file that looks whole; one that fails before answers a problem.
func TestExportCutShort(t *testing.T) {
	e := newEnv(t)
	r := e.a.key(consentd.RoleRead)
	var writes []consentd.ConsentWrite
	for i := range 2000 { // more than the export's 64 KiB buffer
		writes = append(writes, consentd.ConsentWrite{ContactPoint: fmt.Sprintf("user%d@example.com", i), Channel: "email", Purpose: "newsletter",
			Status: consentd.OptedIn, CapturedAt: time.Now().Add(-time.Hour), Source: consentd.Source{Type: "import"}})
	}
	if _, err := e.store.WriteConsents(t.Context(), e.a.id, writes, "test"); err != nil {
		t.Fatal(err)
	}
	get := func() (*http.Response, []byte, error) {
		req, _ := http.NewRequest("GET", e.srv.URL+"/v1/consents:export", nil)
		req.Header.Set("Authorization", "Bearer "+r)
		res, err := e.client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		return res, body, err
	}
	if res, body, err := get(); err != nil || res.StatusCode != 200 || strings.Count(string(body), "\n") != 2001 {
		t.Fatalf("whole export = %d, %d lines, %v", res.StatusCode, strings.Count(string(body), "\n"), err)
	}
	real := e.api.DB
	t.Cleanup(func() { e.api.DB = real })

	e.api.DB = failingExport{Store: real, after: 1500}
	if res, body, err := get(); err == nil {
		t.Errorf("export broken after 1500 consents = %d, %d bytes, no error; want the transfer broken", res.StatusCode, len(body))
	}
	e.api.DB = failingExport{Store: real, after: 0}
	if res, body, err := get(); err != nil || res.StatusCode != 500 || !strings.Contains(res.Header.Get("Content-Type"), "problem+json") {
		t.Errorf("export broken before its first bytes = %d %q, %v; want a 500 problem", res.StatusCode, body, err)
	}
	if l := e.logs.take(); strings.Count(l, "level=ERROR") != 2 || !strings.Contains(l, `msg="export cut short"`) {
		t.Errorf("the server logged:\n%s\nwant the export cut short, then the problem", l)
	}
}
