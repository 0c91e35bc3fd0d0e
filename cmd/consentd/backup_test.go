package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// runMain runs one command in this process with no CONSENTD_* variables.
func runMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: ledgerTestEnv(nil)}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code = m.Run(ctx, args)
	return code, out.String(), errb.String()
}

// ackedWrite is a consent write the server answered, and when the answer
// was in the test's hands.
type ackedWrite struct {
	contactPoint string
	at           time.Time
}

// TestBackupWhileWriting takes a backup of a running server's data folder
// while 8 writers post consents, restores it into a new folder, and checks
// that every write acknowledged before the backup started is in the
// restored database (read by an offline export and by a server started on
// the restored folder), and that the restored log verifies.
func TestBackupWhileWriting(t *testing.T) {
	dir := t.TempDir()
	// Frequent checkpoints: the mirror files change while the backup runs.
	// No rate limits: the writers go as fast as the server takes them.
	srv := startInProcessServer(t, dir, "--checkpoint-interval", "20ms", "--api-key-rate", "0", "--api-ip-rate", "0")
	if st, raw := apiCall(t, srv.base, "POST", "/v1/purposes", newsletterPurpose, nil); st != 201 {
		t.Fatalf("POST /v1/purposes = %d %s", st, raw)
	}

	const writers, maxOps = 8, 4000 // maxOps bounds each writer
	var (
		mu      sync.Mutex
		acked   []ackedWrite
		failure atomic.Value
		count   atomic.Int64
		tick    atomic.Int64
	)
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: writers}}
	defer client.CloseIdleConnections()
	ctx, stopWriters := context.WithCancel(context.Background())
	defer stopWriters()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < maxOps && ctx.Err() == nil; i++ {
				cp := fmt.Sprintf("w%d-%d@example.com", w, i)
				at := base.Add(time.Duration(tick.Add(1)) * time.Millisecond)
				st, raw, err := apiRequest(ctx, client, srv.base, "POST", "/v1/consents", consentWriteBody(cp, "opted_in", at))
				if ctx.Err() != nil {
					return // stopped: this write's answer does not matter
				}
				var a writerAnswer
				if err != nil || st/100 != 2 || json.Unmarshal(raw, &a) != nil || !a.Applied {
					failure.CompareAndSwap(nil, fmt.Sprintf("POST /v1/consents %s = %d %s, %v", cp, st, raw, err))
					return
				}
				now := time.Now()
				mu.Lock()
				acked = append(acked, ackedWrite{cp, now})
				mu.Unlock()
				count.Add(1)
			}
		}()
	}
	deadline := time.Now().Add(60 * time.Second)
	for count.Load() < 1000 && time.Now().Before(deadline) && failure.Load() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	if f := failure.Load(); f != nil {
		t.Fatal(f)
	}
	if count.Load() == 0 {
		t.Fatal("no write was acknowledged within 60s")
	}

	archive := filepath.Join(t.TempDir(), "consentd-backup.tar.gz")
	started := time.Now()
	beforeBackup := count.Load()
	code, stdout, stderr := runMain(t, "backup", "-o", archive, "--data", dir)
	duringBackup := count.Load() - beforeBackup
	stopWriters()
	wg.Wait()
	if code != 0 {
		t.Fatalf("backup = %d, %q, stderr %q; want 0", code, stdout, stderr)
	}
	if f := failure.Load(); f != nil {
		t.Fatal(f)
	}
	t.Logf("%d writes acknowledged before the backup, %d while it ran (%s); %s", beforeBackup, duringBackup, time.Since(started).Round(time.Millisecond), strings.TrimSpace(stdout))
	st, err := os.Stat(archive)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("backup archive mode %v; want 0600 (it holds the keys)", st.Mode().Perm())
	}
	names := archiveNames(t, archive)
	for _, want := range []string{"consentd.db", "checkpoint.key", "link-keys.json", "backup.json"} {
		if !names[want] {
			t.Errorf("archive lacks %s; it has %v", want, names)
		}
	}

	restored := filepath.Join(t.TempDir(), "restored")
	code, stdout, stderr = runMain(t, "restore", "-i", archive, "--data", restored)
	if code != 0 || !strings.Contains(stdout, "workspace default: ok") {
		t.Fatalf("restore = %d, %q, stderr %q; want 0 and the log verified", code, stdout, stderr)
	}
	if code, stdout, stderr := runLogVerify(t, "--data", restored); code != 0 {
		t.Fatalf("log verify --data restored = %d, %q, stderr %q; want 0", code, stdout, stderr)
	}

	// Every write acknowledged before the backup started is in it.
	code, stdout, stderr = runMain(t, "export", "--format", "ndjson", "--data", restored)
	if code != 0 {
		t.Fatalf("export of the restored folder = %d, stderr %q", code, stderr)
	}
	have := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var rec struct {
			ContactPoint string `json:"contact_point"`
			Status       string `json:"status"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		have[rec.ContactPoint] = rec.Status == "opted_in"
	}
	mu.Lock()
	defer mu.Unlock()
	var before []ackedWrite
	for _, a := range acked {
		if a.at.Before(started) {
			before = append(before, a)
		}
	}
	missing := 0
	for _, a := range before {
		if !have[a.contactPoint] {
			if missing++; missing <= 5 {
				t.Errorf("%s was acknowledged before the backup started but is not opted in in the restored folder", a.contactPoint)
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d writes acknowledged before the backup are missing from it", missing, len(before))
	}
	t.Logf("the restored folder holds all %d writes acknowledged before the backup and %d consents in all", len(before), len(have))

	// A server runs on the restored folder and answers for them.
	srv.stop()
	rs := startInProcessServer(t, restored)
	for _, a := range before[len(before)-min(len(before), 20):] {
		var got struct {
			Status string `json:"status"`
		}
		if st, raw := apiCall(t, rs.base, "GET", consentPath(a.contactPoint), nil, &got); st != 200 || got.Status != "opted_in" {
			t.Errorf("GET %s on the restored folder = %d %s; want 200 opted_in", consentPath(a.contactPoint), st, raw)
		}
	}
	if code := rs.stop(); code != 0 {
		t.Errorf("serve on the restored folder exited %d; stderr:\n%s", code, rs.stderr)
	}
	if code, stdout, stderr := runLogVerify(t, "--data", restored); code != 0 {
		t.Fatalf("log verify after serving the restored folder = %d, %q, stderr %q; want 0", code, stdout, stderr)
	}
}

// archiveNames lists the entries of a backup archive.
func archiveNames(t *testing.T, archive string) map[string]bool {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	names := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Mode&0o077 != 0 {
			t.Errorf("archive entry %s has mode %o; want no group or other bits", hdr.Name, hdr.Mode)
		}
		names[hdr.Name] = true
	}
}

// TestRestoreRefuses checks what backup takes and leaves (an unfinished
// import's spool file in; an upload in progress and the outbox out) and
// what restore and backup turn down: a folder that is not empty and a
// missing -o (usage, 2), a damaged archive or one naming a path outside
// the folder (1, leaving the folder empty), and a PostgreSQL database
// without --keys-only (2, naming pg_dump).
func TestRestoreRefuses(t *testing.T) {
	dir := t.TempDir()
	srv := startInProcessServer(t, dir)
	if st, raw := apiCall(t, srv.base, "POST", "/v1/purposes", newsletterPurpose, nil); st != 201 {
		t.Fatalf("POST /v1/purposes = %d %s", st, raw)
	}
	srv.stop()
	// An unfinished import's spool file goes in; an upload still arriving
	// and the mail outbox do not.
	os.MkdirAll(filepath.Join(dir, "imports"), 0o700)
	os.WriteFile(filepath.Join(dir, "imports", "imp_test.csv"), []byte("contact_point\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "imports", "upload-1.tmp"), []byte("partial"), 0o600)
	os.MkdirAll(filepath.Join(dir, "outbox"), 0o700)
	os.WriteFile(filepath.Join(dir, "outbox", "m.eml"), []byte("Subject: x\n\n"), 0o600)
	archive := filepath.Join(t.TempDir(), "b.tar.gz")
	if code, stdout, stderr := runMain(t, "backup", "-o", archive, "--data", dir); code != 0 {
		t.Fatalf("backup = %d, %q, %q", code, stdout, stderr)
	}
	names := archiveNames(t, archive)
	if !names["imports/imp_test.csv"] || names["imports/upload-1.tmp"] || names["outbox/m.eml"] {
		t.Errorf("archive holds %v; want imports/imp_test.csv and neither the upload nor the outbox", names)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if code, stdout, stderr := runMain(t, "restore", "-i", archive, "--data", restored); code != 0 {
		t.Fatalf("restore = %d, %q, %q", code, stdout, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(restored, "imports", "imp_test.csv")); err != nil || string(b) != "contact_point\n" {
		t.Errorf("restored spool file: %q, %v", b, err)
	}
	for _, f := range []string{"consentd.db", "checkpoint.key", "link-keys.json", "imports/imp_test.csv"} {
		if st, err := os.Stat(filepath.Join(restored, f)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("restored %s: %v, %v; want mode 0600", f, st, err)
		}
	}

	// An archive naming a path outside the folder is refused before
	// anything is written there.
	evil := filepath.Join(t.TempDir(), "evil.tar.gz")
	writeTarGz(t, evil, map[string]string{"../escaped": "x"})
	target := filepath.Join(t.TempDir(), "t")
	if code, _, stderr := runMain(t, "restore", "-i", evil, "--data", target); code != 1 || !strings.Contains(stderr, "unexpected entry") {
		t.Errorf("restore of an archive with ../escaped = %d, %q; want 1", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(target), "escaped")); err == nil {
		t.Errorf("restore wrote outside its folder")
	}

	if code, _, stderr := runMain(t, "backup", "--data", dir); code != 2 || !strings.Contains(stderr, "-o FILE is required") {
		t.Errorf("backup without -o = %d, %q; want 2", code, stderr)
	}
	if code, _, stderr := runMain(t, "backup", "-o", archive+"2", "--data", filepath.Join(t.TempDir(), "none")); code != 2 {
		t.Errorf("backup of a folder without data = %d, %q; want 2", code, stderr)
	}
	if code, _, stderr := runMain(t, "backup", "-o", archive+"2", "--data", dir, "--database", "postgres://postgres@127.0.0.1:1/none"); code != 2 || !strings.Contains(stderr, "pg_dump") || !strings.Contains(stderr, "--keys-only") {
		t.Errorf("backup of a PostgreSQL database = %d, %q; want 2 naming pg_dump and --keys-only", code, stderr)
	}

	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "x"), []byte("x"), 0o600)
	if code, _, stderr := runMain(t, "restore", "-i", archive, "--data", full); code != 2 || !strings.Contains(stderr, "not empty") {
		t.Errorf("restore into a folder that is not empty = %d, %q; want 2", code, stderr)
	}

	// One byte changed in the middle of the archive: gzip's CRC or the
	// manifest's hashes catch it.
	raw, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0xff
	damaged := filepath.Join(t.TempDir(), "damaged.tar.gz")
	os.WriteFile(damaged, raw, 0o600)
	target = filepath.Join(t.TempDir(), "new")
	if code, _, stderr := runMain(t, "restore", "-i", damaged, "--data", target); code != 1 {
		t.Errorf("restore of a damaged archive = %d, %q; want 1", code, stderr)
	}
	if entries, _ := os.ReadDir(target); len(entries) != 0 {
		t.Errorf("a failed restore left %d entries in %s", len(entries), target)
	}

	// A keys-only backup: no database in it, and restore says where it is.
	keys := filepath.Join(t.TempDir(), "keys.tar.gz")
	if code, stdout, stderr := runMain(t, "backup", "--keys-only", "-o", keys, "--data", dir); code != 0 {
		t.Fatalf("backup --keys-only = %d, %q, %q", code, stdout, stderr)
	}
	if names := archiveNames(t, keys); names["consentd.db"] || !names["checkpoint.key"] || !names["link-keys.json"] {
		t.Errorf("keys-only archive holds %v; want the keys and no database", names)
	}
	if code, stdout, stderr := runMain(t, "restore", "-i", keys, "--data", filepath.Join(t.TempDir(), "k")); code != 0 || !strings.Contains(stdout, "pg_restore") {
		t.Errorf("restore of a keys-only archive = %d, %q, %q; want 0 naming pg_restore", code, stdout, stderr)
	}
}

// TestBackupKeysOnlyPostgres backs up the keys of a server on PostgreSQL
// (the database itself is pg_dump's) and restores them into a new folder,
// where restore --database verifies the log with the restored keys.
func TestBackupKeysOnlyPostgres(t *testing.T) {
	pg := testPostgres(t)
	dir := t.TempDir()
	srv := startInProcessServer(t, dir, "--database", pg)
	if st, raw := apiCall(t, srv.base, "POST", "/v1/purposes", newsletterPurpose, nil); st != 201 {
		t.Fatalf("POST /v1/purposes = %d %s", st, raw)
	}
	at := time.Now().UTC().Add(-time.Minute)
	for i := range 5 {
		if st, raw := apiCall(t, srv.base, "POST", "/v1/consents", consentWriteBody(fmt.Sprintf("pg%d@example.com", i), "opted_in", at.Add(time.Duration(i)*time.Millisecond)), nil); st/100 != 2 {
			t.Fatalf("POST /v1/consents = %d %s", st, raw)
		}
	}
	archive := filepath.Join(t.TempDir(), "keys.tar.gz")
	if code, _, stderr := runMain(t, "backup", "-o", archive, "--data", dir, "--database", pg); code != 2 || !strings.Contains(stderr, "pg_dump") {
		t.Errorf("backup of PostgreSQL without --keys-only = %d, %q; want 2 naming pg_dump", code, stderr)
	}
	code, stdout, stderr := runMain(t, "backup", "--keys-only", "-o", archive, "--data", dir, "--database", pg)
	if code != 0 || !strings.Contains(stdout, "pg_dump") {
		t.Fatalf("backup --keys-only on PostgreSQL = %d, %q, %q; want 0 and a word on pg_dump", code, stdout, stderr)
	}
	if names := archiveNames(t, archive); names["consentd.db"] || !names["checkpoint.key"] || !names["link-keys.json"] || len(names) != 3 {
		t.Errorf("keys-only archive holds %v; want checkpoint.key, link-keys.json and backup.json", names)
	}
	srv.stop() // signs a last checkpoint
	restored := filepath.Join(t.TempDir(), "restored")
	code, stdout, stderr = runMain(t, "restore", "-i", archive, "--data", restored, "--database", pg)
	if code != 0 || !strings.Contains(stdout, "workspace default: ok") {
		t.Fatalf("restore --database = %d, %q, %q; want 0 and the log verified", code, stdout, stderr)
	}
}

// writeTarGz writes a gzip-compressed tar of the given files.
func writeTarGz(t *testing.T, path string, files map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}
