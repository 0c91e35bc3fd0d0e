package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/importer"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/sqlite"
)

// importData makes a data folder with workspace "imp" and purpose
// newsletter on email.
func importData(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(filepath.Join(dir, "consentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ws, err := db.CreateWorkspace(t.Context(), "imp")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PutPurpose(t.Context(), ws.ID, &consentd.Purpose{ID: "newsletter", Name: "Newsletter", Type: consentd.Commercial,
		Channels: map[string]consentd.ChannelSetting{"email": {}}}, true, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.LoadOrCreateKey(filepath.Join(dir, "checkpoint.key"), "consentd"); err != nil {
		t.Fatal(err)
	}
	return dir
}

// copyData copies a closed data folder (its files) to a new one.
func copyData(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err == nil {
			err = os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// nativeFile writes n native rows: two per address, the second an hour
// later and an opt-out for every third address; every 101st row is bad.
func nativeFile(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "consents.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString(strings.Join(importer.NativeColumns, ",") + "\n")
	at := time.Date(2022, 5, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		k := i / 2
		status, ts := "opted_in", at.Add(time.Duration(k)*time.Second)
		if i%2 == 1 {
			ts = ts.Add(time.Hour)
			if k%3 == 0 {
				status = "opted_out"
			}
		}
		cp := fmt.Sprintf("person%d@example.com", k)
		if i%101 == 0 {
			cp = "bad address"
		}
		fmt.Fprintf(w, "%s,email,newsletter,,%s,%s,import,old-crm,,,,\n", cp, status, ts.Format(time.RFC3339))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}

// importState is a data folder's comparable end state: its consents, and
// the types, subjects and after-states of its log in order (comparable
// between folders copied from one: subjects are keyed by the workspace's
// secret).
func importState(t *testing.T, dir string) (consents, log []string, im *consentd.Import) {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(dir, "consentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	ws, err := db.WorkspaceByName(ctx, "imp")
	if err != nil {
		t.Fatal(err)
	}
	err = db.ExportConsents(ctx, ws.ID, consentd.Times{}, func(c *consentd.Consent) error {
		consents = append(consents, fmt.Sprintf("%s %s %s %d", c.ID, c.Status, c.CapturedAt.Format(time.RFC3339Nano), c.Version))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(consents)
	err = ledger.EachEntry(ctx, db, ws.ID, func(rec consentd.LogRecord) error {
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
		log = append(log, fmt.Sprintf("%s %s %s %s", e.Type, e.Subject, e.After.Status, e.After.CapturedAt))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	refs, err := db.UnfinishedImports(ctx)
	if err != nil || len(refs) != 0 {
		t.Errorf("unfinished imports %v, %v", refs, err)
	}
	return consents, log, nil
}

// committed reads the committed records and state of the data folder's
// one import, read-only, while another process may write.
func committed(dir string) (int64, string) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "consentd.db")+"?_pragma=query_only(ON)&_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, ""
	}
	defer db.Close()
	var n int64
	var state string
	db.QueryRow(`SELECT committed, state FROM imports`).Scan(&n, &state)
	return n, state
}

func runConsentd(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = cleanEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CONSENTD_") {
			env = append(env, kv)
		}
	}
	return env
}

// TestImportKill9 runs `consentd import` on 60k rows with small batches,
// kills it with SIGKILL after some batches committed, runs it again: it
// completes, and the consents and log equal those of one uninterrupted run
// into another data folder; the log verifies; a third run writes nothing.
func TestImportKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the consentd binary")
	}
	bin := buildConsentd(t)
	file := nativeFile(t, 60_000)
	args := func(dir string) []string {
		return []string{"import", "--data", dir, "--workspace", "imp", "--format", "native", "--batch-size", "500", file}
	}

	// Both folders are copies of one: the same workspace and secret, so
	// the same contact point hashes and the same order of the import.
	tmpl := importData(t)
	once := copyData(t, tmpl)
	if out, err := runConsentd(t, bin, args(once)...); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}

	dir := copyData(t, tmpl)
	cmd := exec.Command(bin, args(dir)...)
	cmd.Env = cleanEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var n int64
	deadline := time.Now().Add(2 * time.Minute) // a bound, not a measurement
	for n == 0 && time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("import exited (%v) before it could be killed; make the file bigger\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		n, _ = committed(dir)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	n, state := committed(dir)
	if n == 0 || n >= 60_000 || state != "running" {
		t.Fatalf("after kill -9: committed %d, state %q; want part of the file committed, running", n, state)
	}
	t.Logf("killed after %d of 60000 records", n)

	res, err := runConsentd(t, bin, args(dir)...)
	if err != nil || !strings.Contains(res, ": succeeded: 60000 rows") {
		t.Fatalf("resumed import: %v\n%s", err, res)
	}
	c1, l1, _ := importState(t, once)
	c2, l2, _ := importState(t, dir)
	if len(c1) == 0 || strings.Join(c1, "\n") != strings.Join(c2, "\n") {
		t.Errorf("consents differ: %d after kill and resume, %d after one run", len(c2), len(c1))
	}
	if strings.Join(l1, "\n") != strings.Join(l2, "\n") {
		t.Errorf("logs differ: %d entries after kill and resume, %d after one run", len(l2), len(l1))
	}
	if out, err := runConsentd(t, bin, "log", "verify", "--data", dir); err != nil {
		t.Errorf("log verify after kill and resume: %v\n%s", err, out)
	}
	res, err = runConsentd(t, bin, args(dir)...)
	if err != nil || !strings.Contains(res, "already imported") {
		t.Errorf("third run: %v\n%s; want already imported", err, res)
	}
	if _, l3, _ := importState(t, dir); len(l3) != len(l2) {
		t.Errorf("the third run wrote %d log entries", len(l3)-len(l2))
	}
}

// TestImportExportCommands runs import, export and import --server through
// Main.Run.
func TestImportExportCommands(t *testing.T) {
	dir := importData(t)
	file := nativeFile(t, 10)
	run := func(args ...string) (string, string, int) {
		var stdout, stderr bytes.Buffer
		m := &Main{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
		code := m.Run(t.Context(), args)
		return stdout.String(), stderr.String(), code
	}
	rejects := filepath.Join(t.TempDir(), "rejects.csv")
	out, errOut, code := run("import", "--data", dir, "--workspace", "imp", "--format", "native", "--rejects", rejects, file)
	if code != 0 || !strings.Contains(out, ": succeeded: 10 rows, 5 created, 4 changed, 0 unchanged, 0 superseded, 0 skipped, 1 rejected") {
		t.Fatalf("import = %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "import: reading and sorting 10/10 rows\n") || !strings.Contains(errOut, ": running 10/10 rows (100%)") {
		t.Errorf("no progress lines (reading, then writing) on stderr: %q", errOut)
	}
	if b, _ := os.ReadFile(rejects); string(b) != "line,code,reason\n2,invalid_contact_point,the contact point cannot be normalized as an email address\n" &&
		!strings.HasPrefix(string(b), "line,code,reason\n2,invalid_contact_point,") {
		t.Errorf("rejects file = %q", b)
	}
	if out, _, code := run("import", "--data", dir, "--workspace", "imp", "--format", "native", file); code != 0 || !strings.Contains(out, "already imported") {
		t.Errorf("import again = %d %s", code, out)
	}
	if _, errOut, code := run("import", "--data", dir, "--workspace", "imp", file); code != 2 {
		t.Errorf("import without --format = %d %s; want 2", code, errOut)
	}
	if _, errOut, code := run("import", "--data", dir, "--workspace", "imp", "--format", "xml", file); code == 0 || !strings.Contains(errOut, "format") {
		t.Errorf("import --format xml = %d %s; want an error naming the format", code, errOut)
	}
	exported := filepath.Join(t.TempDir(), "export.csv")
	if _, errOut, code := run("export", "--data", dir, "--workspace", "imp", "-o", exported); code != 0 {
		t.Fatalf("export = %d %s", code, errOut)
	}
	b, _ := os.ReadFile(exported)
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 6 || lines[0] != strings.Join(importer.NativeColumns, ",") {
		t.Errorf("export = %q; want the header and 5 consents", b)
	}
	out, _, code = run("export", "--data", dir, "--workspace", "imp", "--format", "ndjson", "--as-of", "2000-01-01T00:00:00Z")
	if code != 0 || out != "" {
		t.Errorf("export as of 2000 = %d %q; want nothing", code, out)
	}
	// Valid time: imported today, each consent is exported as it was in
	// effect by captured_at; person0's only write and person3's opt-out
	// were captured at 01:00.
	dayAgo := time.Now().Add(-24 * time.Hour).UTC().Format(time.RFC3339)
	for _, c := range []struct {
		args     []string
		rows     int
		optedOut int
	}{
		{[]string{"--as-of", "2022-05-01T00:30:00Z"}, 4, 0},
		{[]string{"--as-of", "2022-05-01T02:00:00Z"}, 5, 2},
		{[]string{"--as-of", "2022-05-01T02:00:00Z", "--known-at", dayAgo}, 0, 0},
		{[]string{"--known-at", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, 5, 2},
	} {
		out, errOut, code := run(append([]string{"export", "--data", dir, "--workspace", "imp", "--format", "ndjson"}, c.args...)...)
		if n, outs := strings.Count(out, "\n"), strings.Count(out, `"opted_out"`); code != 0 || n != c.rows || outs != c.optedOut {
			t.Errorf("export %v = %d %q %s; want %d consents, %d opted out", c.args, code, out, errOut, c.rows, c.optedOut)
		}
	}
	if _, errOut, code := run("export", "--data", dir, "--workspace", "imp", "--known-at", "yesterday"); code != 2 || !strings.Contains(errOut, "--known-at") {
		t.Errorf("export --known-at yesterday = %d %q; want 2 naming the flag", code, errOut)
	}

	// Through a server: the same file posted and polled.
	srvDir := importData(t)
	ready := make(chan string, 1)
	m := &Main{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Ready: func(addr string) { ready <- addr },
		Getenv: func(k string) string {
			if k == "CONSENTD_ADMIN_KEY" {
				return "cd_test_admin_key_0123456789abcdef0123456789"
			}
			return ""
		}}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() { done <- m.Run(ctx, []string{"serve", "--data", srvDir, "--addr", "127.0.0.1:0"}) }()
	defer func() { cancel(); <-done }()
	addr := <-ready
	var key string
	{
		db, err := sqlite.Open(filepath.Join(srvDir, "consentd.db"))
		if err != nil {
			t.Fatal(err)
		}
		ws, _ := db.WorkspaceByName(t.Context(), "imp")
		_, key, err = db.CreateKey(t.Context(), ws.ID, consentd.RoleWrite, "importer", "")
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if !strings.HasPrefix(addr, "http") {
		addr = "http://" + addr
	}
	out, errOut, code = run("import", "--server", addr, "--key", key, "--format", "native", "--rejects", rejects, file)
	if code != 0 || !strings.Contains(out, ": succeeded: 10 rows, 5 created, 4 changed") {
		t.Fatalf("import --server = %d\n%s%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(rejects); !strings.HasPrefix(string(b), "line,code,reason\n2,invalid_contact_point,") {
		t.Errorf("rejects over HTTP = %q", b)
	}
	if _, errOut, code := run("import", "--server", addr, "--key", key, "--format", "csv2000", file); code == 0 || !strings.Contains(errOut, "invalid") {
		t.Errorf("import --server --format csv2000 = %d %s; want the problem", code, errOut)
	}
}

// TestLogVerifySavesItsResult: `consentd log verify` saves its report as
// the workspace's newest verification, which the console shows.
func TestLogVerifySavesItsResult(t *testing.T) {
	dir := importData(t)
	var stdout, stderr bytes.Buffer
	m := &Main{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
	if code := m.Run(t.Context(), []string{"log", "verify", "--data", dir}); code != 0 {
		t.Fatalf("log verify = %d\n%s%s", code, stdout.String(), stderr.String())
	}
	db, err := sqlite.Open(filepath.Join(dir, "consentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ws, err := db.WorkspaceByName(t.Context(), "imp")
	if err != nil {
		t.Fatal(err)
	}
	last, err := ledger.ReadLastVerification(t.Context(), db, ws.ID)
	if err != nil || last == nil || last.By != "cli" || !last.Report.OK || last.Report.Entries == 0 || time.Since(last.At) > time.Hour {
		t.Errorf("the saved verification = %+v, %v; want one by cli, OK, with entries, just now", last, err)
	}
}
