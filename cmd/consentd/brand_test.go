package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/storetest"
)

// brandCatalog is a catalog file with a workspace's brand, its logo file
// and names per language.
const brandCatalog = `workspace:
  sender_name: Example GmbH
  default_language: DE
  accent_color: '#1A56DB'
  privacy_url: https://example.com/privacy
  footer: Example GmbH, Hauptstraße 1, 10115 Berlin
  public_url: https://news.example.com/
  texts:
    de: {date.format: '{day}. {month} {year}'}
  logo_file: brand/logo.png
purposes:
  - id: newsletter
    name: Newsletter
    names: {de: Newsletter, fr: Lettre d'information, ar: النشرة الإخبارية}
    descriptions: {de: Neuigkeiten einmal im Monat.}
    type: commercial
    channels: {email: {}}
topics:
  - {id: weekly, purpose: newsletter, name: Weekly digest, names: {es: Resumen semanal}}
`

// TestApplyBrandRoundTrip applies a file with a brand and a logo, sees the
// plan show each change, exports it (the logo written beside the output),
// applies the export to another workspace and exports that: the same file
// and the same logo.
func TestApplyBrandRoundTrip(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(filepath.Join(src, "brand"), 0o755); err != nil {
		t.Fatal(err)
	}
	logo := storetest.PNG(t, 200, 60)
	file := filepath.Join(src, "catalog.yaml")
	if err := os.WriteFile(file, []byte(brandCatalog), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "brand", "logo.png"), logo, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CONSENTD_ADMIN_KEY": ledgerTestAdminKey}
	apply := func(args ...string) (int, string, string) {
		return runCLI(t, env, append([]string{"apply", "--data", data}, args...)...)
	}
	if code, out, errOut := apply("-f", file); code != 0 {
		t.Fatalf("apply = %d\n%s%s", code, out, errOut)
	}
	// Dry run of a change: the plan shows the brand's fields.
	changed := strings.Replace(strings.Replace(brandCatalog, "'#1A56DB'", "'#767676'", 1), "  footer: Example GmbH, Hauptstraße 1, 10115 Berlin\n", "", 1)
	changedFile := filepath.Join(src, "changed.yaml")
	if err := os.WriteFile(changedFile, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := apply("-f", changedFile, "--dry-run")
	if code != 0 || !strings.Contains(out, "~ workspace default\n    accent_color: \"#1a56db\" -> \"#767676\"\n") || !strings.Contains(out, "0 to create, 1 to update, 2 unchanged") {
		t.Errorf("dry run of a colour change = %d\n%s%s", code, out, errOut)
	}
	// The same file again: nothing to do, the logo included.
	if code, out, errOut = apply("-f", file); code != 0 || !strings.Contains(out, "Plan: 0 to create, 0 to update, 3 unchanged.") {
		t.Errorf("second apply = %d\n%s%s", code, out, errOut)
	}
	// A colour without contrast fails the plan, changing nothing.
	bad := strings.Replace(brandCatalog, "'#1A56DB'", "'#ffff00'", 1)
	if err := os.WriteFile(changedFile, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut = apply("-f", changedFile); code == 0 || !strings.Contains(errOut, "accent_color") {
		t.Errorf("apply of a pale accent colour = %d\n%s%s; want a failure naming accent_color", code, out, errOut)
	}

	// Export: the brand in its stored form, the logo beside the file.
	out1 := filepath.Join(dir, "one", "out.yaml")
	os.MkdirAll(filepath.Dir(out1), 0o755)
	if code, _, errOut := runCLI(t, env, "export-catalog", "--data", data, "-o", out1); code != 0 {
		t.Fatalf("export-catalog = %d %s", code, errOut)
	}
	exported, _ := os.ReadFile(out1)
	for _, want := range []string{"sender_name: Example GmbH", "default_language: de", "accent_color: '#1a56db'", "public_url: https://news.example.com\n",
		"date.format: '{day}. {month} {year}'", "logo_file: out.logo.png", "logo_sha256: ", "fr: Lettre d'information", "es: Resumen semanal"} {
		if !strings.Contains(string(exported), want) {
			t.Errorf("export lacks %q:\n%s", want, exported)
		}
	}
	if got, err := os.ReadFile(filepath.Join(dir, "one", "out.logo.png")); err != nil || !bytes.Equal(got, logo) {
		t.Errorf("exported logo = %d bytes, %v; want the %d bytes applied", len(got), err, len(logo))
	}

	// Applied to another workspace, the export gives the same file.
	if code, out, errOut := runCLI(t, nil, "workspace", "create", "staging", "--data", data); code != 0 {
		t.Fatalf("workspace create = %d %s%s", code, out, errOut)
	}
	if code, out, errOut := apply("-f", out1, "--workspace", "staging"); code != 0 {
		t.Fatalf("apply export to staging = %d\n%s%s", code, out, errOut)
	}
	out2 := filepath.Join(dir, "two", "out.yaml")
	os.MkdirAll(filepath.Dir(out2), 0o755)
	if code, _, errOut := runCLI(t, env, "export-catalog", "--data", data, "--workspace", "staging", "-o", out2); code != 0 {
		t.Fatalf("export-catalog staging = %d %s", code, errOut)
	}
	again, _ := os.ReadFile(out2)
	if string(again) != string(exported) {
		t.Errorf("export of staging differs from the file applied to it:\n%s\n---\n%s", again, exported)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "two", "out.logo.png")); err != nil || !bytes.Equal(got, logo) {
		t.Errorf("staging's exported logo = %d bytes, %v; want the same logo", len(got), err)
	}
	// On standard output the logo is named by its hash only.
	if code, stdout, _ := runCLI(t, env, "export-catalog", "--data", data); code != 0 || strings.Contains(stdout, "logo_file") || !strings.Contains(stdout, "logo_sha256") {
		t.Errorf("export-catalog to standard output = %d\n%s; want logo_sha256 without logo_file", code, stdout)
	}
}

// TestServeLogo uploads a logo to `consentd serve` and fetches it at its
// URL without a key, as the public pages and mails do.
func TestServeLogo(t *testing.T) {
	srv := startInProcessServer(t, t.TempDir())
	logo := storetest.PNG(t, 30, 30)
	req, err := http.NewRequest("PUT", srv.base+"/v1/workspace/logo", bytes.NewReader(logo))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+ledgerTestAdminKey)
	req.Header.Set("Content-Type", "image/png")
	res, err := ledgerTestClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ws consentd.Workspace
	err = json.NewDecoder(res.Body).Decode(&ws)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || ws.Logo == nil {
		t.Fatalf("PUT /v1/workspace/logo = %d, %+v, %v", res.StatusCode, ws.Logo, err)
	}
	res, err = ledgerTestClient.Get(srv.base + ws.Logo.URL) // no key
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Equal(got, logo) || res.Header.Get("Content-Type") != "image/png" ||
		res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Errorf("GET %s without a key = %d, %d bytes, %v; want the logo, cached for good", ws.Logo.URL, res.StatusCode, len(got), res.Header)
	}
}
