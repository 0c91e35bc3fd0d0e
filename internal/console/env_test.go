package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/api"
	"github.com/consentd/consentd/internal/console"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/pgtest"
	"github.com/consentd/consentd/internal/postgres"
	"github.com/consentd/consentd/internal/sqlite"
)

// backend is the pass TestMain runs: "sqlite" or "postgres".
var backend = "sqlite"

// TestMain runs every test of the package on SQLite, then again on
// PostgreSQL (a fresh database per test on CONSENTD_TEST_POSTGRES; skipped
// when the server cannot be reached, unless CI=true), so that every screen
// and action is checked on both backends. CONSENTD_CONSOLE_BACKENDS=sqlite
// or postgres runs one pass only.
func TestMain(m *testing.M) {
	code := 0
	artifacts := os.Getenv("CONSENTD_TEST_ARTIFACTS")
	for _, b := range []string{"sqlite", "postgres"} {
		if only := os.Getenv("CONSENTD_CONSOLE_BACKENDS"); only != "" && only != b {
			continue
		}
		backend = b
		if artifacts != "" { // each pass's screenshots in a folder of its own
			os.Setenv("CONSENTD_TEST_ARTIFACTS", filepath.Join(artifacts, b))
		}
		if c := m.Run(); c != 0 {
			code = c
		}
	}
	os.Exit(code)
}

// testStore is a backend as the tests use one: what the API serves with,
// and what the tests set up directly.
type testStore interface {
	api.Store
	CreateWorkspace(ctx context.Context, name string) (*consentd.Workspace, error)
	ClaimJobs(ctx context.Context, lease time.Duration, limit int) ([]*consentd.Job, error)
	FailJob(ctx context.Context, wsID, id, msg string, retryAt time.Time) error
	AddDecisionCounts(ctx context.Context, counts []consentd.DecisionCount) error
	Close() error
}

// env is the API and the console on one mux on loopback, as serve mounts
// them, on a real database of this pass's backend: SQLite in t.TempDir(),
// or a fresh PostgreSQL database.
type env struct {
	t    *testing.T
	db   testStore
	srv  *httptest.Server
	con  *console.Server // its Now may be moved forward
	ws   string
	keys map[consentd.Role]string // a key of each role
	logs *lockedBuffer

	a      *api.Server   // its imports spool to t.TempDir(), run by a.ProcessImports
	nudges *atomic.Int64 // calls of a.JobsNudge: the job runner's wake-ups
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	t.Logf("backend: %s", backend)
	var db testStore
	var err error
	if backend == "postgres" {
		db, err = postgres.Open(ctx, pgtest.FreshDB(t))
	} else {
		db, err = sqlite.Open(filepath.Join(dir, "consentd.db"))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	signer, err := ledger.LoadOrCreateKey(filepath.Join(dir, "checkpoint.key"), "consentd")
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := api.New(db, signer, log)
	a.EnableImports(filepath.Join(dir, "imports"), 0)
	e := &env{t: t, db: db, a: a, nudges: new(atomic.Int64), keys: map[consentd.Role]string{}, logs: logs}
	a.JobsNudge = func() { e.nudges.Add(1) }
	mux := http.NewServeMux()
	mux.Handle("/", a)
	e.con = console.New(db, a, log)
	e.con.Mount(mux)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)

	w, err := db.CreateWorkspace(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	e.ws = w.ID
	for _, r := range []consentd.Role{consentd.RoleAdmin, consentd.RoleWrite, consentd.RoleCheck, consentd.RoleRead, consentd.RoleAgent} {
		if _, e.keys[r], err = db.CreateKey(ctx, w.ID, r, string(r), ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ path, body string }{
		{"/v1/purposes", `{"id":"newsletter","name":"Newsletter","type":"commercial","channels":{"email":{"enforcement":"restrictive"},"sms":{}}}`},
		{"/v1/purposes", `{"id":"partners","name":"Partner offers","type":"commercial","channels":{"email":{}}}`},
		{"/v1/consents", `{"contact_point":"jane@example.com","channel_type":"newsletter:email","status":"opted_in","captured_at":"2026-01-02T03:04:05Z","source":{"type":"form","name":"signup"}}`},
		{"/v1/consents", `{"contact_point":"jane@example.com","channel_type":"partners:email","status":"opted_out","captured_at":"2026-01-02T03:04:05Z","source":{"type":"api"},"party_id":"p-2"}`},
		{"/v1/suppressions", `{"contact_point":"+14155550123","channel":"sms","reason":"sms_stop"}`},
	} {
		if st, b := e.api("POST", c.path, c.body); st >= 300 {
			t.Fatalf("POST %s = %d %s", c.path, st, b)
		}
	}
	if st, b := e.api("PUT", "/v1/parties/p-1", `{"contact_points":[{"kind":"email","value":"jane@example.com"},{"kind":"phone","value":"+14155550123"}]}`); st != 200 {
		t.Fatalf("PUT party = %d %s", st, b)
	}
	t.Cleanup(func() {
		if l := logs.String(); strings.Contains(l, "level=ERROR") {
			t.Errorf("the server logged errors:\n%s", l)
		}
	})
	return e
}

// api makes an API request with the admin key.
func (e *env) api(method, path, body string) (int, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.keys[consentd.RoleAdmin])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// consent reads one consent through the API.
func (e *env) consent(id string) consentd.Consent {
	e.t.Helper()
	st, b := e.api("GET", "/v1/consents/"+url.PathEscape(id), "")
	var c consentd.Consent
	if st != 200 || json.Unmarshal(b, &c) != nil {
		e.t.Fatalf("GET consent = %d %s", st, b)
	}
	return c
}

// operator is a browser without JavaScript: a cookie jar, no redirects
// followed.
type operator struct {
	e      *env
	client *http.Client
}

func (e *env) operator() *operator {
	jar, _ := cookiejar.New(nil)
	return &operator{e: e, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (o *operator) do(method, path string, form url.Values, header ...string) page {
	o.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, o.e.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := o.client.Do(req)
	if err != nil {
		o.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, resp.Header, string(b)}
}

// signIn signs in with the key of role and checks that it worked.
func (o *operator) signIn(role consentd.Role) page {
	o.e.t.Helper()
	p := o.do("POST", "/admin/sign-in", url.Values{"key": {o.e.keys[role]}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/admin/overview" {
		o.e.t.Fatalf("sign in as %s = %d %s", role, p.status, p.body)
	}
	return p
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the CSRF token of the forms on a page.
func (o *operator) csrf() string {
	o.e.t.Helper()
	p := o.do("GET", "/admin/person", nil)
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		o.e.t.Fatalf("no csrf field on /admin/person (%d):\n%s", p.status, p.body)
	}
	return m[1]
}
