package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd/internal/pgtest"
)

// offlineCommands are the commands that read or change existing data,
// each with the arguments it needs besides the store's.
func offlineCommands(t *testing.T) map[string][]string {
	t.Helper()
	files := t.TempDir()
	csvFile := filepath.Join(files, "list.csv")
	catalog := filepath.Join(files, "catalog.yaml")
	os.WriteFile(csvFile, []byte("contact_point\njane@example.com\n"), 0o600)
	os.WriteFile(catalog, []byte("purposes: []\n"), 0o600)
	return map[string][]string{
		"import":         {"import", "--format", "native", csvFile},
		"filter":         {"filter", "--purpose", "newsletter", "--channel", "email", csvFile},
		"export":         {"export"},
		"export-catalog": {"export-catalog"},
		"keys create":    {"keys", "create", "--role", "read"},
		"keys list":      {"keys", "list"},
		"keys revoke":    {"keys", "revoke", "key_x"},
		"keys rotate":    {"keys", "rotate-links"},
		"log verify":     {"log", "verify"},
		"jobs list":      {"jobs", "list"},
		"jobs retry":     {"jobs", "retry", "--all"},
		"workspace list": {"workspace", "list"},
		"apply other ws": {"apply", "-f", catalog, "--workspace", "staging"},
		"apply dry run":  {"apply", "-f", catalog, "--dry-run"},
	}
}

// listTree lists the files under dir, for "created nothing".
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != dir {
			out = append(out, strings.TrimPrefix(p, dir))
		}
		return nil
	})
	return out
}

// TestOfflineCommandsWithoutData points every offline command at a folder
// that does not exist, at an empty folder, at a missing --database file
// and at an empty PostgreSQL database: each says there is no consentd data
// there, names the place, exits 2 and creates nothing.
func TestOfflineCommandsWithoutData(t *testing.T) {
	parent := t.TempDir()
	missing := filepath.Join(parent, "typo-data")
	empty := t.TempDir()
	stores := []struct {
		name  string
		args  []string
		where string
	}{
		{"missing folder", []string{"--data", missing}, "data folder " + missing},
		{"empty folder", []string{"--data", empty}, "data folder " + empty},
		{"missing database file", []string{"--data", empty, "--database", filepath.Join(empty, "other.db")}, "database file " + filepath.Join(empty, "other.db")},
	}
	for name, cmd := range offlineCommands(t) {
		for _, st := range stores {
			t.Run(name+"/"+st.name, func(t *testing.T) {
				code, out, errOut := runCLI(t, nil, append(append([]string{}, cmd...), st.args...)...)
				where := st.where
				if name == "keys rotate" { // names the keyring file it lacks
					where = filepath.Join(st.args[1], "link-keys.json")
				}
				if code != exitUsage || !strings.Contains(errOut, where) || out != "" {
					t.Errorf("%v = %d, stdout %q, stderr %q; want 2 naming %q", cmd, code, out, errOut, where)
				}
				if name != "keys rotate" && !strings.Contains(errOut, "no consentd data") {
					t.Errorf("stderr %q does not say there is no consentd data", errOut)
				}
			})
		}
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("the missing data folder was created: %v", err)
	}
	if files := listTree(t, empty); len(files) > 0 {
		t.Errorf("the empty data folder now has %v", files)
	}

	// An empty PostgreSQL database: named without its password, left
	// without tables.
	pg := pgtest.FreshDB(t)
	withPassword := strings.Replace(pg, "postgres@", "postgres:s3cret@", 1)
	code, _, errOut := runCLI(t, nil, "keys", "list", "--database", withPassword)
	if code != exitUsage || !strings.Contains(errOut, "no consentd data in database postgres://postgres@") || strings.Contains(errOut, "s3cret") {
		t.Errorf("keys list on an empty PostgreSQL database = %d, %q", code, errOut)
	}
	code, _, errOut = runCLI(t, nil, "log", "verify", "--database", pg, "--data", empty)
	if code != exitUsage || !strings.Contains(errOut, "no consentd data") {
		t.Errorf("log verify on an empty PostgreSQL database = %d, %q", code, errOut)
	}
	if code, out, errOut := runCLI(t, nil, "migrate", "--database", pg); code != 0 {
		t.Fatalf("migrate = %d %s%s", code, out, errOut)
	}
	// Tables but no workspace: log verify has nothing to verify.
	code, out, errOut := runCLI(t, nil, "log", "verify", "--database", pg, "--data", empty, "--log-key", writeKey(t))
	if code != 0 || !strings.Contains(out, "nothing to verify: no workspace in database postgres://") {
		t.Errorf("log verify on a store without workspaces = %d, %q %q", code, out, errOut)
	}
}

// writeKey makes a checkpoint key ring file and returns its path.
func writeKey(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	code, _, errOut := runCLI(t, nil, "apply", "-f", "-", "--data", dir)
	if code != 0 {
		t.Fatalf("apply on a new folder = %d %s", code, errOut)
	}
	return filepath.Join(dir, "checkpoint.key")
}

// TestApplyBootstrapsNewFolder: apply on a new data folder does what the
// first serve does (the default workspace, its admin key, the checkpoint
// key), and a server started on the folder then takes the key.
func TestApplyBootstrapsNewFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	catalog := filepath.Join(t.TempDir(), "catalog.yaml")
	os.WriteFile(catalog, []byte("purposes:\n  - id: newsletter\n    name: Newsletter\n    type: commercial\n    channels: {email: {}}\n"), 0o600)
	env := map[string]string{"CONSENTD_ADMIN_KEY": ledgerTestAdminKey}
	code, out, errOut := runCLI(t, env, "apply", "-f", catalog, "--data", dir)
	if code != 0 || !strings.Contains(out, `Created workspace "default" with the admin key from CONSENTD_ADMIN_KEY`) || !strings.Contains(out, "+ purpose newsletter") {
		t.Fatalf("apply on a new folder = %d\n%s%s", code, out, errOut)
	}
	for _, f := range []string{"consentd.db", "checkpoint.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("apply made no %s: %v", f, err)
		}
	}
	srv := startInProcessServer(t, dir)
	if st, raw := apiCall(t, srv.base, "GET", "/v1/purposes/newsletter", nil, nil); st != 200 {
		t.Errorf("GET the applied purpose with the bootstrap key = %d %s", st, raw)
	}
	if strings.Contains(srv.stderr.String(), "warning") {
		t.Errorf("serve warns about the key it was bootstrapped with:\n%s", srv.stderr)
	}

	// Without CONSENTD_ADMIN_KEY the new key is printed once; with --json
	// it goes to stderr, and stdout is the plan alone.
	dir2 := t.TempDir()
	code, out, errOut = runCLI(t, nil, "apply", "-f", catalog, "--json", "--data", dir2)
	var plan map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &plan) != nil || !regexp.MustCompile(`admin key, shown only this once:\n\S+\n`).MatchString(errOut) {
		t.Errorf("apply --json on a new folder = %d\nstdout %q\nstderr %q", code, out, errOut)
	}
}

// TestServeWarnsOfUnusedAdminKey: CONSENTD_ADMIN_KEY on a folder whose
// workspace has other keys is not used, and serve says so.
func TestServeWarnsOfUnusedAdminKey(t *testing.T) {
	dir := t.TempDir()
	startInProcessServer(t, dir).stop() // bootstraps with ledgerTestAdminKey
	var stderr lockedBuffer
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	m := &Main{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr,
		Getenv: ledgerTestEnv(map[string]string{"CONSENTD_ADMIN_KEY": "cdk_another_key_0123456789"}),
		Ready:  func(addr string) { ready <- addr }}
	done := make(chan int, 1)
	go func() {
		done <- m.Run(ctx, []string{"serve", "--data", dir, "--addr", "127.0.0.1:0", "--checkpoint-interval", "0"})
	}()
	select {
	case <-ready:
	case code := <-done:
		t.Fatalf("serve = %d before listening: %s", code, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not listen within 30s")
	}
	cancel()
	<-done
	if !strings.Contains(stderr.String(), "warning: CONSENTD_ADMIN_KEY is set but not used: data folder "+dir+" already has workspaces") {
		t.Errorf("serve with a foreign CONSENTD_ADMIN_KEY says:\n%s", stderr.String())
	}
}

// TestInspectCommands: version, workspace list, keys list and keys revoke
// on a real data folder, and a revoked key stops working on the server.
func TestInspectCommands(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, _ := runCLI(t, nil, args...)
		if code != 0 || !regexp.MustCompile(`^consentd \S+ \(.*go1\.\d+`).MatchString(out) {
			t.Errorf("%v = %d %q", args, code, out)
		}
	}
	dir := t.TempDir()
	srv := startInProcessServer(t, dir)
	if code, out, errOut := runCLI(t, nil, "workspace", "create", "staging", "--data", dir); code != 0 {
		t.Fatalf("workspace create = %d %s%s", code, out, errOut)
	}
	code, out, _ := runCLI(t, nil, "workspace", "list", "--data", dir)
	if code != 0 || !regexp.MustCompile(`(?m)^NAME\s+ID\s+CREATED\n^default\s+\S+\s+\d{4}-\S+Z\n^staging\s`).MatchString(out) {
		t.Errorf("workspace list = %d\n%s", code, out)
	}

	code, out, errOut := runCLI(t, nil, "keys", "create", "--role", "check", "--name", "send pipeline", "--data", dir)
	if code != 0 {
		t.Fatalf("keys create = %d %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	secret := lines[len(lines)-1]
	id := regexp.MustCompile(`key (\S+) in workspace`).FindStringSubmatch(out)[1]
	code, out, _ = runCLI(t, nil, "keys", "list", "--data", dir)
	if code != 0 || !regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(id)+`\s+check\s+send pipeline\s+\d{4}-`).MatchString(out) ||
		!strings.Contains(out, "admin") || strings.Contains(out, secret) || strings.Contains(out, ledgerTestAdminKey) {
		t.Errorf("keys list = %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, nil, "keys", "list", "--json", "--workspace", "staging", "--data", dir)
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, `"role":"admin"`) {
		t.Errorf("keys list --json --workspace staging = %d\n%s", code, out)
	}

	decide := func() int {
		req, _ := http.NewRequest("POST", srv.base+"/v1/decisions", strings.NewReader(`{"contact_point":"a@example.com","channel":"email","purpose":"x"}`))
		req.Header.Set("Authorization", "Bearer "+secret)
		res, err := ledgerTestClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if st := decide(); st == 401 {
		t.Fatalf("the new check key is refused before its revocation")
	}
	code, out, errOut = runCLI(t, nil, "keys", "revoke", id, "key_nosuch", "--data", dir)
	if code != exitFailed || !strings.Contains(out, "Revoked key "+id) || !strings.Contains(errOut, "no key key_nosuch") {
		t.Errorf("keys revoke = %d\n%s%s", code, out, errOut)
	}
	if _, out, _ := runCLI(t, nil, "keys", "list", "--data", dir); strings.Contains(out, id) {
		t.Errorf("keys list after revoke still shows %s:\n%s", id, out)
	}
	// The server caches keys for up to 10 seconds.
	deadline := time.Now().Add(15 * time.Second)
	for decide() != 401 {
		if time.Now().After(deadline) {
			t.Fatal("the revoked key still works on the server after 15s")
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestDidYouMean: a typo gets the closest command and exit 2.
func TestDidYouMean(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serv"}, `did you mean "consentd serve"?`},
		{[]string{"improt", "x.csv"}, `did you mean "consentd import"?`},
		{[]string{"keys", "lsit"}, `did you mean "consentd keys list"?`},
		{[]string{"log", "verfiy"}, `did you mean "consentd log verify"?`},
		{[]string{"verison"}, `did you mean "consentd version"?`},
		{[]string{"keys"}, "keys needs a subcommand: create, list, revoke"},
		{[]string{"keys", "frobnicate"}, "keys has: create, list"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
	} {
		code, out, errOut := runCLI(t, nil, tc.args...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v = %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
}

// TestMethodNotAllowed: a known path with another method is 405 with an
// Allow header and problem JSON; an unknown path stays 404; the public
// pages beside the API still answer.
func TestMethodNotAllowed(t *testing.T) {
	srv := startInProcessServer(t, t.TempDir())
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"DELETE", "/v1/decisions", 405, "POST"},
		{"PUT", "/v1/purposes", 405, "GET, HEAD, POST"},
		{"POST", "/v1/consents/x%40y.z%23n%3Aemail", 405, "GET, HEAD"},
		{"POST", "/openapi.json", 405, "GET, HEAD"},
		{"GET", "/v1/no-such-thing", 404, ""},
		{"GET", "/v1/purposes", 200, ""},
	} {
		req, _ := http.NewRequest(tc.method, srv.base+tc.path, nil)
		req.Header.Set("Authorization", "Bearer "+ledgerTestAdminKey)
		res, err := ledgerTestClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.status {
			t.Errorf("%s %s = %d %s; want %d", tc.method, tc.path, res.StatusCode, body, tc.status)
			continue
		}
		if got := res.Header.Get("Allow"); !strings.HasPrefix(got, tc.allow) || (tc.allow == "") != (got == "") {
			t.Errorf("%s %s: Allow %q; want %q", tc.method, tc.path, got, tc.allow)
		}
		if tc.status == 405 {
			var p struct{ Code, Detail string }
			if json.Unmarshal(body, &p) != nil || p.Code != "method_not_allowed" || res.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s %s: body %s (%s)", tc.method, tc.path, body, res.Header.Get("Content-Type"))
			}
		}
	}
	// A public page: a bad token is the page's own answer, not the API's.
	res, err := ledgerTestClient.Get(srv.base + "/u/not-a-token")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if strings.Contains(string(body), "method_not_allowed") || strings.Contains(string(body), "no such route") {
		t.Errorf("GET /u/not-a-token = %d %s", res.StatusCode, body)
	}
}

// goWords are the marks of a Go error leaking to a user.
var goWords = regexp.MustCompile(`Go struct|Go value|\*[a-z]+\.[A-Z]|strconv\.|json: |sql: |map\[|\[\][a-z*]`)

// TestErrorsInUserWords drives the common mistakes, on the command line
// and in API bodies, and checks no answer speaks Go.
func TestErrorsInUserWords(t *testing.T) {
	dir := t.TempDir()
	srv := startInProcessServer(t, dir)
	files := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(files, name)
		os.WriteFile(p, []byte(s), 0o600)
		return p
	}
	csvFile := write("c.csv", "contact_point\na@example.com\n")
	for _, args := range [][]string{
		{"import", "--format", "native", "--batch-size", "many", csvFile, "--data", dir},
		{"export", "--as-of", "yesterday", "--data", dir},
		{"apply", "-f", write("a.yaml", "purposes:\n  - id: n\n    name: N\n    type: commercial\n    channels: [email]\n"), "--data", dir},
		{"apply", "-f", write("b.yaml", "purposes: 5\n"), "--data", dir},
		{"apply", "-f", write("c.yaml", "x"), "--dry-run=maybe", "--data", dir},
		{"receipt", "verify", write("r.json", `{"seq":"one"}`), "--data", dir},
		{"receipt", "verify", write("r2.json", `[1]`), "--data", dir},
		{"import", "--format", "records", "--mapping", write("m.yaml", "contact_point: 5\nconsents: {a: 1}\n"), csvFile, "--data", dir},
		{"serve", "--checkpoint-interval", "5", "--data", dir},
		{"serve", "--job-max-attempts", "1.5", "--data", dir},
		{"serve", "--adr", "127.0.0.1:0", "--data", dir},
		{"jobs", "list", "--state", "broken", "--data", dir},
		{"keys", "create", "--role", "root", "--data", dir},
	} {
		code, out, errOut := runCLI(t, nil, args...)
		if code == 0 {
			t.Errorf("%v = 0; want a failure\n%s", args, out)
		}
		if goWords.MatchString(out + errOut) {
			t.Errorf("%v speaks Go:\n%s%s", args, out, errOut)
		}
	}

	for _, tc := range []struct{ path, body, field string }{
		{"/v1/purposes", `{"id":"n","name":"N","type":"commercial","channels":["email"]}`, "channels"},
		{"/v1/purposes", `{"id":7,"name":"N","type":"commercial"}`, "id"},
		{"/v1/consents", `{"contact_point":"a@example.com","channel":"email","purpose":"n","status":true}`, "status"},
		{"/v1/consents", `{"contact_point":"a@example.com","channel":"email","purpose":"n","status":"opted_in","captured_at":5}`, "captured_at"},
		{"/v1/consents", `["not","an","object"]`, ""},
		{"/v1/decisions", `{"contact_point":{"a":1}}`, "contact_point"},
		{"/v1/decisions", `{"contact_point":"a@example.com",}`, ""},
	} {
		req, _ := http.NewRequest("POST", srv.base+tc.path, bytes.NewReader([]byte(tc.body)))
		req.Header.Set("Authorization", "Bearer "+ledgerTestAdminKey)
		res, err := ledgerTestClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode/100 != 4 || goWords.Match(body) || !strings.Contains(string(body), tc.field) {
			t.Errorf("POST %s %s = %d %s; want a 4xx in the user's words naming %q", tc.path, tc.body, res.StatusCode, body, tc.field)
		}
	}
}
