package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", to tamper with the file directly

	"github.com/consentd/consentd/internal/ledger"
)

// ledgerTestAdminKey is the bootstrap admin key of the servers these tests
// start (CONSENTD_ADMIN_KEY).
const ledgerTestAdminKey = "cdk_ledger_test_admin_key_0123456789"

// lockedBuffer is a bytes.Buffer safe for the server's goroutines to write
// while a test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// ledgerTestEnv is a Getenv that knows only the given variables, so the
// caller's CONSENTD_* environment cannot leak into a test.
func ledgerTestEnv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// inProcessServer is `consentd serve` run by Main.Run in a goroutine.
type inProcessServer struct {
	t      *testing.T
	base   string // http://127.0.0.1:PORT
	stderr *lockedBuffer
	cancel context.CancelFunc
	done   chan int
	once   sync.Once
	code   int
}

// startInProcessServer runs `consentd serve` on dir in this process, with
// the checkpoint loop off and extra flags, and waits (bounded) until it
// listens.
func startInProcessServer(t *testing.T, dir string, extra ...string) *inProcessServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &inProcessServer{t: t, stderr: &lockedBuffer{}, cancel: cancel, done: make(chan int, 1)}
	ready := make(chan string, 1)
	m := &Main{
		Stdin:  strings.NewReader(""),
		Stdout: io.Discard,
		Stderr: s.stderr,
		Getenv: ledgerTestEnv(map[string]string{"CONSENTD_ADMIN_KEY": ledgerTestAdminKey}),
		Ready:  func(addr string) { ready <- addr },
	}
	args := append([]string{"serve", "--data", dir, "--addr", "127.0.0.1:0", "--checkpoint-interval", "0"}, extra...)
	go func() { s.done <- m.Run(ctx, args) }()
	select {
	case addr := <-ready:
		s.base = "http://" + addr
	case code := <-s.done:
		cancel()
		t.Fatalf("consentd serve exited with %d before listening; stderr:\n%s", code, s.stderr)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("consentd serve did not listen within 30s; stderr:\n%s", s.stderr)
	}
	t.Cleanup(func() { s.stop() })
	return s
}

// stop cancels the server's context and waits (bounded) for Run to return;
// it returns Run's exit code.
func (s *inProcessServer) stop() int {
	s.once.Do(func() {
		s.cancel()
		select {
		case s.code = <-s.done:
		case <-time.After(30 * time.Second):
			s.t.Errorf("consentd serve did not stop within 30s of its context being canceled")
			s.code = -1
		}
	})
	return s.code
}

// ledgerTestClient is the HTTP client of these tests: bounded per request.
var ledgerTestClient = &http.Client{Timeout: 20 * time.Second}

// apiCall sends a JSON request with the admin key and decodes a JSON answer
// into out (when not nil). It returns the status code and the raw body.
func apiCall(t *testing.T, base, method, path string, body, out any) (int, []byte) {
	t.Helper()
	status, raw, err := apiRequest(context.Background(), ledgerTestClient, base, method, path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if out != nil && status/100 == 2 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decoding %q: %v", method, path, raw, err)
		}
	}
	return status, raw
}

// apiRequest is apiCall without a testing.T, for goroutines.
func apiRequest(ctx context.Context, c *http.Client, base, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+ledgerTestAdminKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, raw, fmt.Errorf("reading the answer: %w", err)
	}
	return resp.StatusCode, raw, nil
}

// newsletterPurpose is the purpose every test writes consents for.
var newsletterPurpose = map[string]any{
	"id": "newsletter", "name": "Newsletter", "type": "commercial",
	"channels": map[string]any{"email": map[string]any{}},
}

// consentPath is the URL path of a consent, its id URL-escaped.
func consentPath(contactPoint string) string {
	return "/v1/consents/" + url.PathEscape(contactPoint+"#newsletter:email")
}

// consentWriteBody is the body of one newsletter email consent write.
func consentWriteBody(contactPoint, status string, capturedAt time.Time) map[string]any {
	return map[string]any{
		"contact_point": contactPoint, "channel": "email", "purpose": "newsletter",
		"status": status, "captured_at": capturedAt.Format(time.RFC3339Nano),
		"source": map[string]any{"type": "api"},
	}
}

// runLogVerify runs `consentd log verify` in this process.
func runLogVerify(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: ledgerTestEnv(nil)}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code = m.Run(ctx, append([]string{"log", "verify"}, args...))
	return code, out.String(), errb.String()
}

// tamperFixture is a data folder with a purpose (entry 1), 30 consents
// (entries 2..31) and checkpoints signed at sizes 10, 20 and 31.
type tamperFixture struct {
	dir   string
	roots map[int64]string // checkpoint size -> base64 root
}

const (
	tamperConsents = 30
	tamperEntries  = tamperConsents + 1
)

func tamperContactPoint(i int) string { return fmt.Sprintf("user-%02d@example.com", i) }

func newTamperFixture(t *testing.T) *tamperFixture {
	t.Helper()
	f := &tamperFixture{dir: t.TempDir(), roots: map[int64]string{}}
	srv := startInProcessServer(t, f.dir)
	if st, raw := apiCall(t, srv.base, "POST", "/v1/purposes", newsletterPurpose, nil); st != 201 {
		t.Fatalf("POST /v1/purposes = %d %s; want 201", st, raw)
	}
	t0 := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	for i := 1; i <= tamperConsents; i++ {
		var ans struct {
			ID     string `json:"id"`
			Status string `json:"status"`
			Seq    int64  `json:"seq"`
		}
		st, raw := apiCall(t, srv.base, "POST", "/v1/consents", consentWriteBody(tamperContactPoint(i), "opted_in", t0.Add(time.Duration(i)*time.Minute)), &ans)
		if st != 201 {
			t.Fatalf("POST /v1/consents #%d = %d %s; want 201", i, st, raw)
		}
		// The tamper cases name entries by seq: entry 1 is the purpose,
		// consent i is entry i+1.
		if ans.Seq != int64(i+1) || ans.Status != "opted_in" {
			t.Fatalf("consent #%d: seq %d, status %q; want seq %d, opted_in", i, ans.Seq, ans.Status, i+1)
		}
		if n := int64(i + 1); n == 10 || n == 20 || n == tamperEntries {
			var cp struct {
				Size int64  `json:"size"`
				Root string `json:"root"`
			}
			if st, raw := apiCall(t, srv.base, "POST", "/v1/log/checkpoints", nil, &cp); st != 201 || cp.Size != n {
				t.Fatalf("POST /v1/log/checkpoints = %d %s; want 201 with size %d", st, raw, n)
			}
			f.roots[n] = cp.Root
		}
	}
	if code := srv.stop(); code != 0 {
		t.Fatalf("consentd serve = %d after cancel; want 0; stderr:\n%s", code, srv.stderr)
	}
	return f
}

// copy returns a fresh copy of the fixture's data folder (the database,
// the key, the mirrored checkpoints).
func (f *tamperFixture) copy(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(f.dir)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// tamperDB is direct write access to a stopped server's database, as an
// attacker with file access has it.
type tamperDB struct {
	t    *testing.T
	db   *sql.DB
	wsID string
}

func openTamperDB(t *testing.T, dir string) *tamperDB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "consentd.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	td := &tamperDB{t: t, db: db}
	if err := db.QueryRow(`SELECT id FROM workspaces WHERE name = 'default'`).Scan(&td.wsID); err != nil {
		db.Close()
		t.Fatalf("default workspace: %v", err)
	}
	return td
}

func (td *tamperDB) close() {
	if err := td.db.Close(); err != nil {
		td.t.Fatal(err)
	}
}

// exec runs a statement on the workspace (its first argument, ? or ?1, is
// the workspace id) and fails the test unless it changed at least one row, so
// that no case passes because its tampering did nothing.
func (td *tamperDB) exec(query string, args ...any) {
	td.t.Helper()
	res, err := td.db.Exec(query, append([]any{td.wsID}, args...)...)
	if err != nil {
		td.t.Fatalf("%s: %v", query, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		td.t.Fatalf("%s changed no row (%v)", query, err)
	}
}

func (td *tamperDB) entry(seq int64) []byte {
	td.t.Helper()
	var data []byte
	if err := td.db.QueryRow(`SELECT data FROM log_entries WHERE workspace_id = ? AND seq = ?`, td.wsID, seq).Scan(&data); err != nil {
		td.t.Fatalf("entry %d: %v", seq, err)
	}
	return data
}

// flipStatus alters entry seq's leaf (its last byte: a bit of its
// commitment or of its last field) and returns the new leaf.
func (td *tamperDB) flipStatus(seq int64) []byte {
	td.t.Helper()
	data := bytes.Clone(td.entry(seq))
	if len(data) == 0 {
		td.t.Fatalf("entry %d has no leaf", seq)
	}
	data[len(data)-1] ^= 1
	td.exec(`UPDATE log_entries SET data = ?2 WHERE workspace_id = ?1 AND seq = ?3`, data, seq)
	return data
}

// rehashAll recomputes every leaf hash and rewrites the tiles from the
// entries as they now are, the way consentd would have written them, and
// returns the new root of the whole log.
func (td *tamperDB) rehashAll() tlog.Hash {
	td.t.Helper()
	rows, err := td.db.Query(`SELECT seq, data FROM log_entries WHERE workspace_id = ? ORDER BY seq`, td.wsID)
	if err != nil {
		td.t.Fatal(err)
	}
	type ent struct {
		seq  int64
		data []byte
	}
	var ents []ent
	for rows.Next() {
		var e ent
		if err := rows.Scan(&e.seq, &e.data); err != nil {
			td.t.Fatal(err)
		}
		ents = append(ents, e)
	}
	if err := rows.Close(); err != nil {
		td.t.Fatal(err)
	}
	edge := &ledger.Edge{}
	td.db.Exec(`DELETE FROM log_tiles WHERE workspace_id = ?`, td.wsID)
	for _, e := range ents {
		lh := tlog.RecordHash(e.data)
		for _, tl := range edge.Append(lh) {
			td.exec(`INSERT INTO log_tiles (workspace_id, level, idx, hashes, root) VALUES (?, ?, ?, ?, ?)`, tl.Level, tl.Index, tl.Hashes, tl.Root[:])
		}
		td.exec(`UPDATE log_entries SET leaf_hash = ?2 WHERE workspace_id = ?1 AND seq = ?3`, lh[:], e.seq)
	}
	return edge.Root()
}

// memHashes is a tlog.HashReader over stored hashes in memory.
type memHashes []tlog.Hash

func (m memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		if idx < 0 || idx >= int64(len(m)) {
			return nil, fmt.Errorf("no stored hash %d", idx)
		}
		out[i] = m[idx]
	}
	return out, nil
}

var firstBadRE = regexp.MustCompile(`first bad entry (\d+)`)

func TestLogVerifyFindsTampering(t *testing.T) {
	f := newTamperFixture(t)

	cases := []struct {
		name   string
		tamper func(t *testing.T, td *tamperDB, dir string)
		args   []string
		code   int
		// want are substrings of stdout; firstBad, when not 0, is the entry
		// stdout must name as the first bad one.
		want     []string
		firstBad int64
		stderr   string // substring of stderr
	}{
		{
			name: "untouched",
			code: 0,
			want: []string{"workspace default: ok, 31 entries", "3 checkpoints checked", "the log's replay matches 30 consents and 0 suppressions"},
		},
		{
			// The log is whole; the stored row that decisions are
			// warmed from is not what it says.
			name: "consent row edited",
			tamper: func(t *testing.T, td *tamperDB, dir string) {
				td.exec(`UPDATE consents SET status = 'opted_out' WHERE workspace_id = ? AND seq = 12`)
			},
			code: 1,
			want: []string{"workspace default: BROKEN: 1 stored row differs from the replay of the log", "consents row ",
				"changed: status is opted_out, the log says opted_in"},
		},
		{
			name: "consent row edited, reported as JSON",
			tamper: func(t *testing.T, td *tamperDB, dir string) {
				td.exec(`UPDATE consents SET status = 'opted_out' WHERE workspace_id = ? AND seq = 12`)
			},
			args: []string{"--json"},
			code: 1,
			want: []string{`"ok":false`, `"differences":1`, `"table":"consents"`, `"kind":"changed"`, `"seq":12`},
		},
		{
			name: "consent rows deleted",
			tamper: func(t *testing.T, td *tamperDB, dir string) {
				td.exec(`DELETE FROM consents WHERE workspace_id = ? AND seq > 20`)
			},
			code: 1,
			want: []string{"BROKEN: 11 stored rows differ from the replay of the log", "missing: no stored row; the log's entry", "and 1 more stored rows that differ"},
		},
		{
			name: "suppression row added",
			tamper: func(t *testing.T, td *tamperDB, dir string) {
				td.exec(`INSERT INTO suppressions (workspace_id, id, cp_hash, kind, channel, reason, note, created_at, seq)
					SELECT workspace_id, 'sup_forged', cp_hash, 'email', '', 'do_not_contact', '', 0, 1 FROM consents WHERE workspace_id = ? AND seq = 12`)
			},
			code: 1,
			want: []string{"BROKEN: 1 stored row differs", "suppressions row sup_forged extra: no log entry suppresses its contact point"},
		},
		{
			// The replay cannot read the entry's state: it skips that
			// consent rather than fail, and the tree names the entry.
			name: "entry replaced by bytes that do not decode",
			tamper: func(t *testing.T, td *tamperDB, dir string) {
				td.exec(`UPDATE log_entries SET data = X'02FFFF' WHERE workspace_id = ? AND seq = 12`)
			},
			code:     1,
			want:     []string{"workspace default: BROKEN", "entry 12 was altered"},
			firstBad: 12,
		},
		{
			name: "entry replaced by bytes that do not decode, reported as JSON",
			tamper: func(t *testing.T, td *tamperDB, dir string) {
				td.exec(`UPDATE log_entries SET data = X'02FFFF' WHERE workspace_id = ? AND seq = 12`)
			},
			args: []string{"--json"},
			code: 1,
			want: []string{`"first_bad":12`, `"consents":29`, `"differences":0`, `"skipped":1`},
		},
		{
			name: "untouched, one workspace",
			args: []string{"--workspace", "default"},
			code: 0,
			want: []string{"workspace default: ok, 31 entries"},
		},
		{
			name: "entry data altered",
			tamper: func(t *testing.T, td *tamperDB, dir string) {
				td.flipStatus(12)
			},
			code:     1,
			want:     []string{"workspace default: BROKEN", "entry 12 was altered"},
			firstBad: 12,
		},
		{
			name: "entry data altered, reported as JSON",
			tamper: func(t *testing.T, td *tamperDB, dir string) {
				td.flipStatus(12)
			},
			args: []string{"--json"},
			code: 1,
			want: []string{`"ok":false`, `"first_bad":12`, `"workspace":"default"`},
		},
		{
			name: "entry altered and its leaf hash recomputed",
			tamper: func(t *testing.T, td *tamperDB, dir string) {
				data := td.flipStatus(12)
				lh := tlog.RecordHash(data)
				td.exec(`UPDATE log_entries SET leaf_hash = ?2 WHERE workspace_id = ?1 AND seq = 12`, lh[:])
			},
			code: 1,
			// The checkpoint at 10 still matches; the one at 20 does not.
			want:     []string{"BROKEN", "does not match the checkpoint signed at size 20", "(10, 20]"},
			firstBad: 11,
		},
		{
			name: "entry altered, leaf hash and tree hashes rewritten consistently",
			tamper: func(t *testing.T, td *tamperDB, dir string) {
				td.flipStatus(12)
				root := td.rehashAll()
				if root.String() == f.roots[tamperEntries] {
					t.Fatal("the rewritten tree has the signed root: the tampering changed nothing")
				}
			},
			code:     1,
			want:     []string{"BROKEN", "does not match the checkpoint signed at size 20", "(10, 20]"},
			firstBad: 11,
		},
		{
			name: "log rewritten and checkpoints re-signed with another key",
			tamper: func(t *testing.T, td *tamperDB, dir string) {
				td.flipStatus(12)
				root := td.rehashAll()
				forger, err := ledger.LoadOrCreateKey(filepath.Join(t.TempDir(), "forged.key"), "consentd")
				if err != nil {
					t.Fatal(err)
				}
				td.exec(`DELETE FROM checkpoints WHERE workspace_id = ?`)
				signed, err := forger.Sign(ledger.Checkpoint{Origin: ledger.Origin(td.wsID), Size: tamperEntries, Root: root})
				if err != nil {
					t.Fatal(err)
				}
				td.exec(`INSERT INTO checkpoints (workspace_id, size, signed, created_at) VALUES (?, ?, ?, 0)`, tamperEntries, signed)
			},
			code: 1,
			want: []string{"BROKEN", "not validly signed"},
		},
		{
			name: "middle entry deleted",
			tamper: func(t *testing.T, td *tamperDB, dir string) {
				td.exec(`DELETE FROM log_entries WHERE workspace_id = ? AND seq = 12`)
			},
			code:     1,
			want:     []string{"BROKEN", "entry 12 is missing"},
			firstBad: 12,
		},
		{
			name: "two entries swapped",
			tamper: func(t *testing.T, td *tamperDB, dir string) {
				td.exec(`UPDATE log_entries SET seq = -seq WHERE workspace_id = ? AND seq IN (12, 13)`)
				td.exec(`UPDATE log_entries SET seq = CASE seq WHEN -12 THEN 13 ELSE 12 END WHERE workspace_id = ? AND seq IN (-12, -13)`)
			},
			// Each entry still matches its own leaf hash, but carries its
			// seq in its data, so the first moved one is named.
			code:     1,
			want:     []string{"BROKEN", "entry 12 was moved"},
			firstBad: 12,
		},
		{
			name: "tail cut",
			tamper: func(t *testing.T, td *tamperDB, dir string) {
				td.exec(`DELETE FROM log_entries WHERE workspace_id = ? AND seq > ?`, tamperEntries-5)
			},
			code:     1,
			want:     []string{"BROKEN", "the log ends at 26", "entries 27..31 were removed"},
			firstBad: tamperEntries - 4,
		},
		{
			name: "tail cut and the checkpoint rows deleted",
			tamper: func(t *testing.T, td *tamperDB, dir string) {
				td.exec(`DELETE FROM log_entries WHERE workspace_id = ? AND seq > ?`, tamperEntries-5)
				td.exec(`DELETE FROM checkpoints WHERE workspace_id = ?`)
			},
			// The newest checkpoint is mirrored in the data folder.
			code:     1,
			want:     []string{"BROKEN", "the log ends at 26", "entries 27..31 were removed"},
			firstBad: tamperEntries - 4,
		},
		{
			name: "checkpoint rows deleted, log untouched",
			tamper: func(t *testing.T, td *tamperDB, dir string) {
				td.exec(`DELETE FROM checkpoints WHERE workspace_id = ?`)
			},
			code: 0,
			want: []string{"workspace default: ok, 31 entries", "1 checkpoints checked"},
		},
		{
			name: "checkpoint row forged",
			tamper: func(t *testing.T, td *tamperDB, dir string) {
				// Put the root signed at 20 into the checkpoint of size 31.
				td.exec(`UPDATE checkpoints SET signed = replace(signed, ?2, ?3) WHERE workspace_id = ?1 AND size = ?4`,
					f.roots[tamperEntries], f.roots[20], tamperEntries)
			},
			code: 1,
			want: []string{"BROKEN", "claiming size 31", "not validly signed"},
		},
		{
			name: "checkpoint key file missing",
			tamper: func(t *testing.T, td *tamperDB, dir string) {
				if err := os.Remove(filepath.Join(dir, "checkpoint.key")); err != nil {
					t.Fatal(err)
				}
			},
			code:   2,
			stderr: "checkpoint key",
		},
		{
			name:   "no such workspace",
			args:   []string{"--workspace", "nosuch"},
			code:   2,
			stderr: `no workspace "nosuch"`,
		},
		{
			name:   "bad flag",
			args:   []string{"--no-such-flag"},
			code:   2,
			stderr: "no-such-flag",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := f.copy(t)
			if tc.tamper != nil {
				td := openTamperDB(t, dir)
				tc.tamper(t, td, dir)
				td.close()
			}
			code, stdout, stderr := runLogVerify(t, append([]string{"--data", dir}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("log verify = %d, %q; want %d (stderr %q)", code, stdout, tc.code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("log verify = %d, %q; want it to contain %q", code, stdout, w)
				}
			}
			if tc.stderr != "" && !strings.Contains(stderr, tc.stderr) {
				t.Errorf("log verify stderr = %q; want it to contain %q", stderr, tc.stderr)
			}
			if tc.firstBad != 0 {
				m := firstBadRE.FindStringSubmatch(stdout)
				if m == nil {
					t.Fatalf("log verify = %d, %q; want it to name the first bad entry %d", code, stdout, tc.firstBad)
				}
				if n, _ := strconv.ParseInt(m[1], 10, 64); n != tc.firstBad {
					t.Errorf("log verify = %d, %q; want first bad entry %d", code, stdout, tc.firstBad)
				}
			}
		})
	}
}

func TestReceiptVerifyCLI(t *testing.T) {
	dir := t.TempDir()
	srv := startInProcessServer(t, dir)
	if st, raw := apiCall(t, srv.base, "POST", "/v1/purposes", newsletterPurpose, nil); st != 201 {
		t.Fatalf("POST /v1/purposes = %d %s; want 201", st, raw)
	}
	t0 := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	for i := 1; i <= 5; i++ {
		if st, raw := apiCall(t, srv.base, "POST", "/v1/consents", consentWriteBody(tamperContactPoint(i), "opted_in", t0.Add(time.Duration(i)*time.Minute)), nil); st != 201 {
			t.Fatalf("POST /v1/consents #%d = %d %s; want 201", i, st, raw)
		}
	}
	var rc ledger.Receipt
	st, raw := apiCall(t, srv.base, "GET", consentPath(tamperContactPoint(3))+"/receipt", nil, &rc)
	if st != 200 {
		t.Fatalf("GET receipt = %d %s; want 200", st, raw)
	}
	if rc.Seq != 4 || rc.TreeSize < rc.Seq {
		t.Fatalf("receipt for entry %d in a tree of size %d; want entry 4", rc.Seq, rc.TreeSize)
	}
	var latest struct {
		PublicKey string `json:"public_key"`
	}
	if st, raw := apiCall(t, srv.base, "GET", "/v1/log/checkpoints/latest", nil, &latest); st != 200 || latest.PublicKey == "" {
		t.Fatalf("GET /v1/log/checkpoints/latest = %d %s; want 200 with a public key", st, raw)
	}
	if code := srv.stop(); code != 0 {
		t.Fatalf("consentd serve = %d after cancel; want 0; stderr:\n%s", code, srv.stderr)
	}

	save := func(t *testing.T, rc *ledger.Receipt) string {
		t.Helper()
		b, err := json.Marshal(rc)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "receipt.json")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := filepath.Join(t.TempDir(), "receipt.json")
	if err := os.WriteFile(good, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	// alteredLeaf changes one byte of the leaf: its last.
	alteredLeaf := func(t *testing.T, rehash bool) string {
		t.Helper()
		var bad ledger.Receipt
		if err := json.Unmarshal(raw, &bad); err != nil {
			t.Fatal(err)
		}
		bad.Leaf[len(bad.Leaf)-1] ^= 1
		if rehash {
			bad.LeafHash = ledger.LeafHash(bad.Leaf).String()
		}
		return save(t, &bad)
	}
	otherKey, err := ledger.LoadOrCreateKey(filepath.Join(t.TempDir(), "other.key"), "consentd")
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name  string
		args  func(t *testing.T) []string
		stdin string
		code  int
		want  string // substring of stdout, or of stderr when code is 2
	}{
		{
			name: "flags before the file",
			args: func(t *testing.T) []string { return []string{"--data", dir, good} },
			code: 0,
			want: "receipt ok: entry 4",
		},
		{
			// The usage line is `consentd receipt verify [FILE] [flags]`.
			name: "file before the flags, as the usage says",
			args: func(t *testing.T) []string { return []string{good, "--data", dir} },
			code: 0,
			want: "receipt ok: entry 4",
		},
		{
			name:  "from stdin",
			args:  func(t *testing.T) []string { return []string{"--data", dir} },
			stdin: string(raw),
			code:  0,
			want:  "receipt ok: entry 4",
		},
		{
			name: "pinned public key, no data folder",
			args: func(t *testing.T) []string {
				return []string{"--data", filepath.Join(t.TempDir(), "none"), "--public-key", latest.PublicKey, good}
			},
			code: 0,
			want: "receipt ok: entry 4",
		},
		{
			name: "one byte of the leaf altered",
			args: func(t *testing.T) []string { return []string{"--data", dir, alteredLeaf(t, false)} },
			code: 1,
			want: "receipt BROKEN",
		},
		{
			name: "leaf altered and its leaf hash recomputed",
			args: func(t *testing.T) []string { return []string{"--data", dir, alteredLeaf(t, true)} },
			code: 1,
			want: "receipt BROKEN",
		},
		{
			name: "another log's key",
			args: func(t *testing.T) []string { return []string{"--public-key", otherKey.PublicKey(), good} },
			code: 1,
			want: "receipt BROKEN",
		},
		{
			name: "not JSON",
			args: func(t *testing.T) []string {
				p := filepath.Join(t.TempDir(), "junk")
				if err := os.WriteFile(p, []byte("not a receipt"), 0o600); err != nil {
					t.Fatal(err)
				}
				return []string{"--data", dir, p}
			},
			code: 2,
			want: "not valid JSON",
		},
		{
			name: "missing file",
			args: func(t *testing.T) []string {
				return []string{"--data", dir, filepath.Join(t.TempDir(), "nosuch.json")}
			},
			code: 2,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			m := &Main{Stdin: strings.NewReader(tc.stdin), Stdout: &out, Stderr: &errb, Getenv: ledgerTestEnv(nil)}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			code := m.Run(ctx, append([]string{"receipt", "verify"}, tc.args(t)...))
			if code != tc.code {
				t.Fatalf("receipt verify = %d, %q; want %d (stderr %q)", code, out.String(), tc.code, errb.String())
			}
			got := out.String()
			if tc.code == 2 {
				got = errb.String()
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("receipt verify = %d, stdout %q, stderr %q; want %q", code, out.String(), errb.String(), tc.want)
			}
		})
	}
}
