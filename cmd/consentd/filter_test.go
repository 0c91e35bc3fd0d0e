package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd/internal/apitest"
)

// TestFilter filters a CSV and an NDJSON recipient list, against a running
// server and offline on its data folder (while it runs): the allowed rows
// come out in order and byte for byte as they were in the input, the
// others not.
func TestFilter(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	env := map[string]string{"CONSENTD_ADMIN_KEY": benchAdminKey}
	r, err := startReplica(ctx, env, io.Discard, "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	base := "http://" + r.addr
	c := &http.Client{Timeout: 10 * time.Second, Transport: apitest.Transport(t, nil)} // checked against /openapi.json
	must := func(method, path string, body any) {
		t.Helper()
		if err := httpJSON(ctx, c, method, base+path, body, nil); err != nil {
			t.Fatal(err)
		}
	}
	must("POST", "/v1/purposes", map[string]any{"id": "news", "name": "News", "type": "commercial",
		"channels": map[string]any{"email": map[string]any{"enforcement": "non_restrictive"}}})
	at := time.Now().Add(-time.Hour).Format(time.RFC3339)
	must("POST", "/v1/consents", map[string]any{"contact_point": "bob@example.com", "channel": "email", "purpose": "news",
		"status": "opted_out", "captured_at": at, "source": map[string]any{"type": "api"}})
	must("POST", "/v1/suppressions", map[string]any{"contact_point": "carol@example.com", "reason": "hard_bounce"})

	csvIn := "\xef\xbb\xbfname,Email,note\r\n" +
		"Jane,Jane@Example.com ,\"likes, commas\"\r\n" +
		"Bob,bob@example.com,x\r\n" +
		"Carol,carol@example.com,y\r\n" +
		"Nobody,not-an-address,z\r\n" +
		"Dan,dan@example.com,\"multi\nline\"\r\n"
	// The kept rows, the header and the BOM come out as their input bytes:
	// CRLF, quotes and the embedded newline as they were.
	csvWant := "\xef\xbb\xbfname,Email,note\r\n" +
		"Jane,Jane@Example.com ,\"likes, commas\"\r\n" +
		"Dan,dan@example.com,\"multi\nline\"\r\n"
	// A CRLF line stays CRLF; a last line without a newline stays without.
	ndIn := `{"contact_point":"jane@example.com","first":"Jane"}` + "\r\n" + `{"contact_point":"bob@example.com"}` + "\n" + `{"email":"dan@example.com"}`
	ndWant := `{"contact_point":"jane@example.com","first":"Jane"}` + "\r\n" + `{"email":"dan@example.com"}`

	// An NDJSON file that starts with a BOM is NDJSON: the BOM stays with
	// its first line, which comes out as it was when it is kept.
	bom := "\xef\xbb\xbf"
	ndBOMDropped := bom + `{"contact_point":"bob@example.com"}` + "\n" + `{"contact_point":"jane@example.com"}` + "\n" + `{"email":"dan@example.com"}` + "\n"
	ndBOMDroppedWant := `{"contact_point":"jane@example.com"}` + "\n" + `{"email":"dan@example.com"}` + "\n"

	for _, mode := range []struct {
		name string
		args []string
	}{
		{"server", []string{"--server", base, "--key", benchAdminKey}},
		{"local", []string{"--data", data}},
	} {
		for _, tt := range []struct{ name, in, want string }{{"csv", csvIn, csvWant}, {"ndjson", ndIn, ndWant},
			{"ndjson with a BOM", bom + ndIn, bom + ndWant}, {"ndjson with a BOM, first line dropped", ndBOMDropped, ndBOMDroppedWant}} {
			var out, errb bytes.Buffer
			m := &Main{Stdin: strings.NewReader(tt.in), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
			args := append([]string{"filter", "--purpose", "news", "--channel", "email"}, mode.args...)
			if code := m.Run(ctx, args); code != 0 {
				t.Fatalf("filter %s %s = %d, %s", mode.name, tt.name, code, errb.String())
			}
			if out.String() != tt.want {
				t.Errorf("filter %s %s wrote\n%q; want\n%q", mode.name, tt.name, out.String(), tt.want)
			}
			if !strings.Contains(errb.String(), "kept 2 of") {
				t.Errorf("filter %s %s stderr = %q; want the counts", mode.name, tt.name, errb.String())
			}
		}
	}
}
