package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/api"
	"github.com/consentd/consentd/internal/apitest"
	"github.com/consentd/consentd/internal/index"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/pgtest"
	"github.com/consentd/consentd/internal/postgres"
	"github.com/consentd/consentd/internal/signedlink"
	"github.com/consentd/consentd/internal/sqlite"
)

// ---- test environment: real SQLite, real HTTP on loopback ----

var allRoles = []consentd.Role{consentd.RoleAdmin, consentd.RoleWrite, consentd.RoleCheck, consentd.RoleRead, consentd.RoleAgent}

// workspace is one workspace with a key of every role.
type workspace struct {
	id     string
	keys   map[consentd.Role]string // role -> secret
	keyIDs map[consentd.Role]string // role -> key id
}

func (w workspace) key(r consentd.Role) string { return w.keys[r] }

type env struct {
	t      *testing.T
	db     *sqlite.DB // nil on PostgreSQL (newEnvOn): store is the backend
	store  testStore
	api    *api.Server
	srv    *httptest.Server
	signer *ledger.Signer
	a, b   workspace
	// clockSkew moves the database's clock (db.Now) ahead, in
	// nanoseconds: tests of delayed jobs advance it instead of waiting.
	clockSkew *atomic.Int64
	logs      *lockedBuffer // the server's log lines
	http      *http.Client  // checks every exchange against /openapi.json
}

// backend is the database every newEnv of this run opens: TestMain runs
// the package's tests once on SQLite, then again on PostgreSQL.
var backend = "sqlite"

// pgPass are the tests of the PostgreSQL pass: those whose exchanges
// reach the most routes, statuses and stored shapes (every route's roles,
// bad input, batches, writes, decisions, the catalog, webhooks, imports,
// inbound, requests, the log and its proofs, automation, double opt-in,
// links, export). The others mostly check HTTP handling that does not
// depend on the backend, and each PostgreSQL env costs a new database
// (about 1 to 4 s on a busy machine): the full list took 105 s there
// against 30 s on SQLite. CONSENTD_API_BACKENDS=postgres runs all of them.
var pgPass = []string{
	"TestRoles", "TestBadInputChangesNothing", "TestBatchKeepsGoodItems", "TestWorkspaceIsolation",
	"TestWriteSemanticsOverHTTP", "TestDecisionsOverHTTP", "TestPatchPurpose", "TestWebhooksOverHTTP",
	"TestImportsOverHTTP", "TestExportCutShort", "TestInboundSMSOverHTTP", "TestOptOutAllOverHTTP",
	"TestRequestsOverHTTP", "TestAccessReportOverHTTP", "TestCheckpointHistoryAndConsistency",
	"TestReceiptTLogProof", "TestRecordToConsentDynamics", "TestFailedJobsRetry", "TestRuleCompileErrors",
	"TestDoubleOptInWrites", "TestPostLinkErrors",
}

// TestMain runs the tests on SQLite, then the pgPass list on PostgreSQL
// (each test skipped when the server is not reachable, unless CI=true), so
// that the exchanges are checked against /openapi.json on both backends.
// With CI=true the PostgreSQL pass runs every test. A -run pattern applies
// to both passes. CONSENTD_API_BACKENDS=sqlite or postgres runs every test
// on that backend only.
func TestMain(m *testing.M) {
	only := os.Getenv("CONSENTD_API_BACKENDS")
	code := 0
	for _, b := range []string{"sqlite", "postgres"} {
		if only != "" && only != b {
			continue
		}
		if b == "postgres" && only == "" && os.Getenv("CI") != "true" && flag.Parsed() && flag.Lookup("test.run").Value.String() == "" {
			flag.Set("test.run", "^("+strings.Join(pgPass, "|")+")$")
		}
		backend = b
		if c := m.Run(); c != 0 {
			code = c
		}
	}
	os.Exit(code)
}

// client is the env's HTTP client: its transport checks every request and
// answer against the server's /openapi.json (internal/apitest).
func (e *env) client() *http.Client {
	if e.http == nil {
		e.http = &http.Client{Transport: apitest.Transport(e.t, e.srv.Client().Transport)}
	}
	return e.http
}

// now is the env's clock: the database's, and the job runner's.
func (e *env) now() time.Time { return time.Now().Add(time.Duration(e.clockSkew.Load())) }

// lockedBuffer collects the server's log lines.
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

// take returns the lines logged so far and forgets them: a test that
// expects errors takes them before the env's check.
func (l *lockedBuffer) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.b.String()
	l.b.Reset()
	return out
}

// newEnv opens a fresh database on this pass's backend (SQLite in
// t.TempDir(), or a new PostgreSQL database; see TestMain), serves the API on loopback
// and sets up workspaces "alpha" (a) and "beta" (b), each with a key of
// every role and the same catalog: purpose newsletter (commercial, email
// non_restrictive, sms restrictive) with topic weekly, and purpose orders
// (transactional, email disabled).
func newEnv(t *testing.T) *env {
	t.Helper()
	t.Logf("backend: %s", backend)
	return newEnvOn(t, backend)
}

// testStore is a backend as the tests set one up.
type testStore interface {
	api.Store
	index.Source
	CreateWorkspace(ctx context.Context, name string) (*consentd.Workspace, error)
	LinkedContactPoints(ctx context.Context, wsID string, hash [32]byte) ([]consentd.PartyContactPoint, []*consentd.Suppression, error)
	UnfinishedImports(ctx context.Context) ([]consentd.ImportRef, error)
	ClaimConfirmationMails(ctx context.Context, lease time.Duration, limit int) ([]*consentd.Confirmation, error)
	Close() error
}

// backends runs f with an env on SQLite and one on PostgreSQL: a fresh
// database on CONSENTD_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432/test),
// skipped when that server cannot be reached, unless CI=true.
func backends(t *testing.T, f func(t *testing.T, e *env)) {
	if backend != "sqlite" {
		t.Skip("runs on both backends in TestMain's first pass")
	}
	for _, b := range []string{"sqlite", "postgres"} {
		t.Run(b, func(t *testing.T) { f(t, newEnvOn(t, b)) })
	}
}

// newEnvOn is newEnv on the backend named: "sqlite" (e.db is set) or
// "postgres" (e.db is nil; e.store is the backend).
func newEnvOn(t *testing.T, backend string) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	skew := &atomic.Int64{}
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	var db testStore
	var lite *sqlite.DB
	var onCommit func(func(map[string][]consentd.LogRecord))
	switch backend {
	case "sqlite":
		d, err := sqlite.Open(filepath.Join(dir, "consentd.db"))
		if err != nil {
			t.Fatal(err)
		}
		d.Now, db, lite = now, d, d
		onCommit = func(f func(map[string][]consentd.LogRecord)) { d.OnCommit = f }
	case "postgres":
		d, err := postgres.Open(ctx, pgtest.FreshDB(t))
		if err != nil {
			t.Fatal(err)
		}
		d.Now, db = now, d
		onCommit = func(f func(map[string][]consentd.LogRecord)) { d.OnCommit = f }
	default:
		t.Fatalf("unknown backend %q", backend)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close db: %v", err)
		}
	})
	signer, err := ledger.LoadOrCreateKey(filepath.Join(dir, "checkpoint.key"), "consentd")
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	s := api.New(db, signer, logger)
	// Decide as serve does: from the in-memory index fed by the commits.
	idx := index.New(db, logger)
	onCommit(func(m map[string][]consentd.LogRecord) { idx.Apply(context.Background(), m) })
	s.Decider = idx
	links, err := signedlink.LoadOrCreate(filepath.Join(dir, "link-keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnableLinks(links, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if l := logs.String(); strings.Contains(l, "level=ERROR") {
			t.Errorf("the server logged errors:\n%s", l)
		}
	})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	e := &env{t: t, db: lite, store: db, api: s, srv: srv, signer: signer, clockSkew: skew, logs: logs}
	for _, ws := range []struct {
		name string
		dst  *workspace
	}{{"alpha", &e.a}, {"beta", &e.b}} {
		w, err := db.CreateWorkspace(ctx, ws.name)
		if err != nil {
			t.Fatal(err)
		}
		*ws.dst = workspace{id: w.ID, keys: map[consentd.Role]string{}, keyIDs: map[consentd.Role]string{}}
		for _, r := range allRoles {
			k, secret, err := db.CreateKey(ctx, w.ID, r, ws.name+"-"+string(r), "")
			if err != nil {
				t.Fatal(err)
			}
			ws.dst.keys[r], ws.dst.keyIDs[r] = secret, k.ID
		}
		e.setupCatalog(*ws.dst)
	}
	return e
}

func (e *env) setupCatalog(w workspace) {
	e.t.Helper()
	admin := w.key(consentd.RoleAdmin)
	e.must("POST", "/v1/purposes", admin, `{"id":"newsletter","name":"Newsletter","type":"commercial","channels":{"email":{"enforcement":"non_restrictive"},"sms":{"enforcement":"restrictive"}}}`, 201)
	e.must("POST", "/v1/topics", admin, `{"id":"weekly","purpose":"newsletter","name":"Weekly digest"}`, 201)
	e.must("POST", "/v1/purposes", admin, `{"id":"orders","name":"Orders","type":"transactional","channels":{"email":{"enforcement":"disabled"}}}`, 201)
}

type response struct {
	method, path string
	status       int
	header       http.Header
	body         []byte
}

func (r *response) String() string {
	return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body))
}

// problem decodes the body as a problem document, checking the media type.
func (r *response) problem(t *testing.T) api.Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%s %s: Content-Type %q, want application/problem+json; body %s", r.method, r.path, ct, r.body)
	}
	var p api.Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Errorf("%s %s: problem body %q: %v", r.method, r.path, r.body, err)
	}
	if p.Status != r.status {
		t.Errorf("%s %s: problem status %d, HTTP status %d", r.method, r.path, p.Status, r.status)
	}
	return p
}

// decode decodes a JSON body into v.
func (r *response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("%s %s: decoding %s: %v", r.method, r.path, r.body, err)
	}
}

// do sends a request. body is nil, a string or []byte (sent as is), or a
// value sent as JSON; header holds name, value pairs.
func (e *env) do(method, path, key string, body any, header ...string) *response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := e.client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return &response{method: method, path: path, status: res.StatusCode, header: res.Header, body: b}
}

// must sends a request and fails the test unless the status is want.
func (e *env) must(method, path, key string, body any, want int) *response {
	e.t.Helper()
	r := e.do(method, path, key, body)
	if r.status != want {
		e.t.Fatalf("%s %s = %s; want %d", method, path, r, want)
	}
	return r
}

// logSize reads the whole log through GET /v1/log and returns its size.
func (e *env) logSize(key string) int64 {
	e.t.Helper()
	var after int64
	for {
		var page struct {
			Entries []struct {
				Seq int64 `json:"seq"`
			} `json:"entries"`
			Next int64 `json:"next"`
		}
		e.must("GET", fmt.Sprintf("/v1/log?after=%d&limit=1000", after), key, nil, 200).decode(e.t, &page)
		for _, en := range page.Entries {
			if en.Seq != after+1 {
				e.t.Fatalf("GET /v1/log: entry %d after %d", en.Seq, after)
			}
			after = en.Seq
		}
		if page.Next == 0 {
			return after
		}
	}
}

type consentJSON struct {
	ID           string `json:"id"`
	ContactPoint string `json:"contact_point"`
	ChannelType  string `json:"channel_type"`
	Status       string `json:"status"`
	CapturedAt   string `json:"captured_at"`
	RecordedAt   string `json:"recorded_at"`
	Version      int64  `json:"version"`
	Seq          int64  `json:"seq"`
	Applied      *bool  `json:"applied"`
	Outcome      string `json:"outcome"`
	ProvedBy     *struct {
		Seq  int64  `json:"seq"`
		Type string `json:"type"`
	} `json:"proved_by"`
}

// consents lists the workspace's consents (first 1000).
func (e *env) consents(key, query string) []consentJSON {
	e.t.Helper()
	var l struct {
		Consents []consentJSON `json:"consents"`
	}
	e.must("GET", "/v1/consents?limit=1000"+query, key, nil, 200).decode(e.t, &l)
	return l.Consents
}

// write returns a consent write as a JSON object.
func write(cp, purpose, topic, channel, status string, at time.Time) map[string]any {
	m := map[string]any{"contact_point": cp, "channel": channel, "purpose": purpose, "status": status,
		"captured_at": at.UTC().Format(time.RFC3339Nano), "source": map[string]any{"type": "form", "name": "signup"}}
	if topic != "" {
		m["topic"] = topic
	}
	return m
}

func consentPath(id string) string { return "/v1/consents/" + url.PathEscape(id) }

// ---- 1. bad input gets a clear error and changes nothing ----

func TestBadInputChangesNothing(t *testing.T) {
	e := newEnv(t)
	write_, read, admin, agent := e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleRead), e.a.key(consentd.RoleAdmin), e.a.key(consentd.RoleAgent)
	t0 := time.Now().Add(-time.Hour)
	// Some state to not change.
	e.must("POST", "/v1/consents", write_, write("jane@example.com", "newsletter", "", "email", "opted_in", t0), 201)
	e.must("POST", "/v1/suppressions", agent, `{"contact_point":"bob@example.com","reason":"hard_bounce"}`, 201)
	e.must("POST", "/v1/suppressions", agent, `{"contact_point":"bob@example.com","reason":"erased"}`, 403)
	e.must("PUT", "/v1/parties/p1", write_, `{"contact_points":[{"kind":"email","value":"jane@example.com"}]}`, 200)

	// good is a write that would change jane's consent if it were accepted.
	good := func(mod func(m map[string]any)) map[string]any {
		m := write("jane@example.com", "newsletter", "", "email", "opted_out", time.Now().Add(-time.Minute))
		if mod != nil {
			mod(m)
		}
		return m
	}
	goodJSON, _ := json.Marshal(good(nil))
	bigBatch := make([]map[string]any, api.MaxBatch+1)
	for i := range bigBatch {
		bigBatch[i] = good(func(m map[string]any) { m["contact_point"] = fmt.Sprintf("u%d@example.com", i) })
	}

	type tc struct {
		name         string
		method, path string
		key          string
		body         any
		status       int
		code         string
		field        string // a field the problem must name; "" for none
	}
	consent := func(name string, body any, status int, code, field string) tc {
		return tc{name, "POST", "/v1/consents", write_, body, status, code, field}
	}
	tests := []tc{
		consent("malformed JSON", `{"contact_point": "jane@example.com", "status": `, 400, consentd.EMALFORMED, ""),
		consent("not JSON", `contact_point=jane@example.com&status=opted_out`, 400, consentd.EMALFORMED, ""),
		consent("two JSON values", string(goodJSON)+string(goodJSON), 400, consentd.EMALFORMED, ""),
		consent("unknown JSON field", good(func(m map[string]any) { m["colour"] = "red" }), 400, consentd.EMALFORMED, ""),
		consent("wrong JSON type", good(func(m map[string]any) { m["status"] = 5 }), 400, consentd.EMALFORMED, "status"),
		consent("array body", `[]`, 400, consentd.EMALFORMED, ""),
		consent("empty body", "", 400, consentd.EMALFORMED, ""),
		consent("unknown purpose", good(func(m map[string]any) { m["purpose"] = "nope" }), 422, consentd.EUNKNOWNPURPOSE, "purpose"),
		consent("unknown topic", good(func(m map[string]any) { m["topic"] = "nope" }), 422, consentd.EUNKNOWNTOPIC, "topic"),
		consent("topic of another purpose", good(func(m map[string]any) { m["purpose"], m["topic"] = "orders", "weekly" }), 422, consentd.EUNKNOWNTOPIC, "topic"),
		consent("channel not offered", good(func(m map[string]any) { m["channel"] = "whatsapp" }), 422, consentd.ECHANNELNOTOFFERED, "channel"),
		consent("unknown channel_type", good(func(m map[string]any) {
			delete(m, "channel")
			delete(m, "purpose")
			m["channel_type"] = "nope:email"
		}), 422, consentd.EUNKNOWNCHANNELTYPE, "channel_type"),
		consent("invalid email address", good(func(m map[string]any) { m["contact_point"] = "jane@" }), 422, consentd.EINVALIDCONTACTPOINT, "contact_point"),
		consent("email with two @", good(func(m map[string]any) { m["contact_point"] = "jane@@example.com" }), 422, consentd.EINVALIDCONTACTPOINT, "contact_point"),
		consent("missing contact_point", good(func(m map[string]any) { delete(m, "contact_point") }), 422, consentd.EINVALIDCONTACTPOINT, "contact_point"),
		consent("phone without country code", good(func(m map[string]any) { m["channel"], m["contact_point"] = "sms", "0151 23456789" }), 422, consentd.EINVALIDCONTACTPOINT, "contact_point"),
		consent("bad status", good(func(m map[string]any) { m["status"] = "maybe" }), 422, consentd.EINVALIDSTATUS, "status"),
		consent("missing status", good(func(m map[string]any) { delete(m, "status") }), 422, consentd.EINVALIDSTATUS, "status"),
		consent("missing captured_at", good(func(m map[string]any) { delete(m, "captured_at") }), 422, consentd.EINVALIDTIME, "captured_at"),
		consent("non-RFC3339 captured_at", good(func(m map[string]any) { m["captured_at"] = "2024-03-14 10:00:00" }), 422, consentd.EINVALIDTIME, "captured_at"),
		consent("captured_at in the future", good(func(m map[string]any) {
			m["captured_at"] = time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		}), 422, consentd.EFUTURECAPTUREDAT, "captured_at"),
		consent("bad source type", good(func(m map[string]any) { m["source"] = map[string]any{"type": "carrier_pigeon"} }), 422, consentd.EINVALID, "source.type"),
		consent("missing source", good(func(m map[string]any) { delete(m, "source") }), 422, consentd.EINVALID, "source.type"),
		consent("bad jurisdiction", good(func(m map[string]any) { m["jurisdiction"] = "Germany" }), 422, consentd.EINVALID, "jurisdiction"),
		consent("bad party_id", good(func(m map[string]any) { m["party_id"] = "a/b" }), 422, consentd.EINVALID, "party_id"),

		{"batch over 10,000 items", "POST", "/v1/consents:batch", write_, map[string]any{"consents": bigBatch}, 413, consentd.ETOOLARGE, ""},
		{"malformed batch", "POST", "/v1/consents:batch", write_, `{"consents": [`, 400, consentd.EMALFORMED, ""},
		{"batch with unknown field", "POST", "/v1/consents:batch", write_, `{"consents": [], "dry_run": true}`, 400, consentd.EMALFORMED, ""},

		{"commercial purpose with sms non_restrictive", "POST", "/v1/purposes", admin,
			`{"id":"promo-sms","name":"Promo","type":"commercial","channels":{"sms":{"enforcement":"non_restrictive"}}}`, 422, consentd.EINVALID, "channels.sms.enforcement"},
		{"commercial purpose with whatsapp non_restrictive", "POST", "/v1/purposes", admin,
			`{"id":"promo-wa","name":"Promo","type":"commercial","channels":{"email":{},"whatsapp":{"enforcement":"non_restrictive"}}}`, 422, consentd.EINVALID, "channels.whatsapp.enforcement"},
		{"disabled on a commercial purpose", "POST", "/v1/purposes", admin,
			`{"id":"promo","name":"Promo","type":"commercial","channels":{"email":{"enforcement":"disabled"}}}`, 422, consentd.EINVALID, "channels.email.enforcement"},
		{"disabled on a tracking purpose", "POST", "/v1/purposes", admin,
			`{"id":"clicks","name":"Clicks","type":"tracking","channels":{"email":{"enforcement":"disabled"}}}`, 422, consentd.EINVALID, "channels.email.enforcement"},
		{"bad purpose id", "POST", "/v1/purposes", admin,
			`{"id":"Promo!","name":"Promo","type":"commercial","channels":{"email":{}}}`, 422, consentd.EINVALID, "id"},
		{"bad purpose type", "POST", "/v1/purposes", admin,
			`{"id":"promo","name":"Promo","type":"marketing","channels":{"email":{}}}`, 422, consentd.EINVALID, "type"},
		{"purpose without channels", "POST", "/v1/purposes", admin,
			`{"id":"promo","name":"Promo","type":"commercial","channels":{}}`, 422, consentd.EINVALID, "channels"},
		{"duplicate purpose id", "POST", "/v1/purposes", admin,
			`{"id":"newsletter","name":"Again","type":"commercial","channels":{"email":{}}}`, 409, consentd.ECONFLICT, ""},
		{"purpose id equal to a topic id", "POST", "/v1/purposes", admin,
			`{"id":"weekly","name":"Weekly","type":"commercial","channels":{"email":{}}}`, 409, consentd.ECONFLICT, ""},
		{"topic id equal to a purpose id", "POST", "/v1/topics", admin,
			`{"id":"orders","purpose":"newsletter","name":"Orders digest"}`, 409, consentd.ECONFLICT, ""},
		{"duplicate topic id", "POST", "/v1/topics", admin,
			`{"id":"weekly","purpose":"newsletter","name":"Again"}`, 409, consentd.ECONFLICT, ""},
		{"topic of an unknown purpose", "POST", "/v1/topics", admin,
			`{"id":"daily","purpose":"nope","name":"Daily"}`, 422, consentd.EUNKNOWNPURPOSE, "purpose"},
		{"patch purpose to disabled", "PATCH", "/v1/purposes/newsletter", admin,
			`{"channels":{"email":{"enforcement":"disabled"}}}`, 422, consentd.EINVALID, "channels.email.enforcement"},
		{"patch purpose id", "PATCH", "/v1/purposes/newsletter", admin, `{"id":"news"}`, 422, consentd.EINVALID, "id"},
		{"delete a purpose with topics", "DELETE", "/v1/purposes/newsletter", admin, nil, 409, consentd.ECONFLICT, ""},
		{"suppression with a bad reason", "POST", "/v1/suppressions", agent,
			`{"contact_point":"carol@example.com","reason":"annoyed"}`, 422, consentd.EINVALID, "reason"},
		{"suppression of an invalid address", "POST", "/v1/suppressions", agent,
			`{"contact_point":"carol@","reason":"complaint"}`, 422, consentd.EINVALIDCONTACTPOINT, "contact_point"},
		{"party with an invalid address", "PUT", "/v1/parties/p1", write_,
			`{"contact_points":[{"kind":"email","value":"jane@"}]}`, 422, consentd.EINVALIDCONTACTPOINT, "contact_point"},
		{"workspace with a bad default_region", "PATCH", "/v1/workspace", admin, `{"default_region":"Germany"}`, 422, consentd.EINVALID, "default_region"},
	}

	type snapshot struct {
		log                                                      int64
		consents, purposes, topics, suppressions, party, workspc string
	}
	snap := func() snapshot {
		return snapshot{
			log:          e.logSize(read),
			consents:     string(e.must("GET", "/v1/consents?limit=1000", read, nil, 200).body),
			purposes:     string(e.must("GET", "/v1/purposes", read, nil, 200).body),
			topics:       string(e.must("GET", "/v1/topics", read, nil, 200).body),
			suppressions: string(e.must("GET", "/v1/suppressions", read, nil, 200).body),
			party:        string(e.must("GET", "/v1/parties/p1", read, nil, 200).body),
			workspc:      string(e.must("GET", "/v1/workspace", read, nil, 200).body),
		}
	}
	before := snap()
	if before.log == 0 || len(e.consents(read, "")) != 1 {
		t.Fatalf("setup: log size %d, consents %s", before.log, before.consents)
	}
	for _, tt := range tests {
		r := e.do(tt.method, tt.path, tt.key, tt.body)
		p := r.problem(t)
		if r.status != tt.status || p.Code != tt.code {
			t.Errorf("%s %s %s = %s; want %d %s", tt.method, tt.path, tt.name, r, tt.status, tt.code)
			continue
		}
		if p.Detail == "" {
			t.Errorf("%s %s %s: the problem has no detail: %s", tt.method, tt.path, tt.name, r)
		}
		if tt.field != "" && !slices.ContainsFunc(p.Fields, func(f consentd.FieldError) bool { return f.Field == tt.field }) {
			t.Errorf("%s %s %s = %s; want fields naming %q", tt.method, tt.path, tt.name, r, tt.field)
		}
		if strings.Contains(p.Detail, "jane@") || strings.Contains(p.Detail, "carol@") {
			t.Errorf("%s %s %s: the problem repeats the contact point: %s", tt.method, tt.path, tt.name, r)
		}
		if after := snap(); after != before {
			t.Errorf("%s %s %s changed the workspace:\nbefore %+v\nafter  %+v", tt.method, tt.path, tt.name, before, after)
			before = after
		}
	}
}

// ---- 2. a batch keeps its good items ----

func TestBatchKeepsGoodItems(t *testing.T) {
	e := newEnv(t)
	w, read := e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleRead)
	t0 := time.Now().Add(-time.Hour)
	items := []map[string]any{
		write("jane@example.com", "newsletter", "", "email", "opted_in", t0),
		write("jane@example.com", "nope", "", "email", "opted_in", t0),
		write("+49 151 23456789", "newsletter", "", "sms", "opted_in", t0),
		write("not an address", "newsletter", "", "email", "opted_in", t0),
		write("john@example.com", "newsletter", "", "email", "opted_in", time.Now().Add(time.Hour)),
		write("jane@example.com", "newsletter", "weekly", "email", "opted_in", t0),
		write("jane@example.com", "newsletter", "", "email", "maybe", t0),
		write("Jane@Example.com", "newsletter", "", "email", "opted_in", t0), // the first again
	}
	want := []struct {
		outcome, code, id string
	}{
		{"created", "", "jane@example.com#newsletter:email"},
		{"", consentd.EUNKNOWNPURPOSE, ""},
		{"created", "", "+4915123456789#newsletter:sms"},
		{"", consentd.EINVALIDCONTACTPOINT, ""},
		{"", consentd.EFUTURECAPTUREDAT, ""},
		{"created", "", "jane@example.com#weekly:email"},
		{"", consentd.EINVALIDSTATUS, ""},
		{"unchanged", "", "jane@example.com#newsletter:email"},
	}
	good := 0
	for _, w := range want {
		if w.code == "" {
			good++
		}
	}
	size := e.logSize(read)
	r := e.do("POST", "/v1/consents:batch", w, map[string]any{"consents": items}, apitest.Invalid, "bad items on purpose")
	if r.status != 200 {
		t.Fatalf("POST /v1/consents:batch = %s; want 200", r)
	}
	var res struct {
		Results []struct {
			consentJSON
			Error *api.Problem `json:"error"`
		} `json:"results"`
	}
	r.decode(t, &res)
	if len(res.Results) != len(items) {
		t.Fatalf("POST /v1/consents:batch: %d results for %d items: %s", len(res.Results), len(items), r)
	}
	for i, w := range want {
		got := res.Results[i]
		switch {
		case w.code != "":
			if got.Error == nil || got.Error.Code != w.code || got.Error.Status != 422 || got.ID != "" {
				t.Errorf("POST /v1/consents:batch item %d = %+v error %+v; want error %s", i, got.consentJSON, got.Error, w.code)
			} else if len(got.Error.Fields) == 0 {
				t.Errorf("POST /v1/consents:batch item %d: error %+v names no field", i, got.Error)
			}
		default:
			if got.Error != nil || got.Outcome != w.outcome || got.ID != w.id || got.Applied == nil || *got.Applied != (w.outcome == "created") {
				t.Errorf("POST /v1/consents:batch item %d = %+v error %+v; want outcome %s id %s", i, got.consentJSON, got.Error, w.outcome, w.id)
			}
		}
	}
	if grown := e.logSize(read) - size; grown != int64(good) {
		t.Errorf("POST /v1/consents:batch: the log grew by %d entries; want %d (one per good item)", grown, good)
	}
	var ids []string
	for _, c := range e.consents(read, "") {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	if wantIDs := []string{"+4915123456789#newsletter:sms", "jane@example.com#newsletter:email", "jane@example.com#weekly:email"}; !slices.Equal(ids, wantIDs) {
		t.Errorf("consents after the batch: %q; want %q", ids, wantIDs)
	}

	// A batch of only bad items is still answered 200, and stores nothing.
	size = e.logSize(read)
	r = e.do("POST", "/v1/consents:batch", w, map[string]any{"consents": items[1:2]})
	if r.status != 200 || !strings.Contains(string(r.body), consentd.EUNKNOWNPURPOSE) {
		t.Errorf("POST /v1/consents:batch all bad = %s; want 200 with %s", r, consentd.EUNKNOWNPURPOSE)
	}
	if n := e.logSize(read); n != size {
		t.Errorf("POST /v1/consents:batch all bad: the log grew from %d to %d", size, n)
	}
}

// ---- 3. roles on every route ----

var pathParam = regexp.MustCompile(`\{[a-z_]+\}`)

// fillPath puts plausible ids into a path template. DELETEs get ids that do
// not exist, so that the test does not depend on the order of the routes.
func fillPath(method, path string) string {
	var id string
	switch {
	case strings.HasPrefix(path, "/v1/consents/"):
		id = url.PathEscape("jane@example.com#newsletter:email")
	case strings.HasPrefix(path, "/v1/purposes/"):
		id = "newsletter"
	case strings.HasPrefix(path, "/v1/topics/"):
		id = "weekly"
	case strings.HasPrefix(path, "/v1/parties/"):
		id = "p1"
	case strings.HasPrefix(path, "/v1/suppressions/"):
		id = "sup_aaaaaaaaaaaa"
	case strings.HasPrefix(path, "/v1/keys/"):
		id = "key_aaaaaaaaaaaa"
	default:
		id = "x1"
	}
	if method == "DELETE" {
		id = "no-such-" + strings.TrimPrefix(id, "sup_")
	}
	return pathParam.ReplaceAllString(path, id)
}

func TestRoles(t *testing.T) {
	e := newEnv(t)
	e.must("POST", "/v1/consents", e.a.key(consentd.RoleWrite), write("jane@example.com", "newsletter", "", "email", "opted_in", time.Now().Add(-time.Hour)), 201)
	e.must("PUT", "/v1/parties/p1", e.a.key(consentd.RoleWrite), `{"contact_points":[{"kind":"email","value":"jane@example.com"}]}`, 200)

	ops := e.api.Operations()
	if len(ops) == 0 {
		t.Fatal("Operations() is empty")
	}
	allowedOps := map[consentd.Role][]string{}
	for _, op := range ops {
		if !strings.HasPrefix(op.Path, "/v1/") {
			continue // public documentation (the problem pages)
		}
		route := op.Method + " " + op.Path
		path := fillPath(op.Method, op.Path)
		t.Run(route, func(t *testing.T) {
			// No key, a malformed header, an unknown key: 401 on every route.
			for _, c := range []struct{ name, auth string }{
				{"no key", ""},
				{"unknown key", "Bearer " + sqlite.NewKeySecret()},
				{"empty bearer", "Bearer "},
				{"basic auth", "Basic " + e.a.key(consentd.RoleAdmin)},
				{"key without scheme", e.a.key(consentd.RoleAdmin)},
			} {
				var r *response
				if c.auth == "" {
					r = e.do(op.Method, path, "", nil)
				} else {
					r = e.do(op.Method, path, "", nil, "Authorization", c.auth)
				}
				if p := r.problem(t); r.status != 401 || p.Code != consentd.EUNAUTHORIZED {
					t.Errorf("%s %s %s = %s; want 401 %s", op.Method, path, c.name, r, consentd.EUNAUTHORIZED)
				}
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s %s %s: WWW-Authenticate %q, want a Bearer challenge", op.Method, path, c.name, r.header.Get("WWW-Authenticate"))
				}
			}
			if len(op.Roles) == 0 {
				t.Errorf("%s: Operations() lists no roles for this route, so neither the document nor this test can say who may call it", route)
				return
			}
			for _, role := range allRoles {
				allowed := slices.Contains(op.Roles, string(role))
				r := e.do(op.Method, path, e.a.key(role), nil)
				switch {
				case !allowed:
					if p := r.problem(t); r.status != 403 || p.Code != consentd.EFORBIDDEN {
						t.Errorf("%s %s as %s = %s; want 403 %s", op.Method, path, role, r, consentd.EFORBIDDEN)
					}
				case r.status == 401 || r.status == 403 || r.status >= 500:
					t.Errorf("%s %s as %s = %s; want neither 401, 403 nor 5xx (roles %v)", op.Method, path, role, r, op.Roles)
				default:
					allowedOps[role] = append(allowedOps[role], route)
				}
			}
		})
	}

	// The role sets of docs/api.md, checked against the table.
	rolesOf := map[string][]string{}
	for _, op := range ops {
		rolesOf[op.Method+" "+op.Path] = op.Roles
	}
	for route, roles := range rolesOf {
		if len(roles) == 0 {
			continue // reported above
		}
		if !slices.Contains(roles, string(consentd.RoleAdmin)) {
			t.Errorf("%s: roles %v; admin may do everything", route, roles)
		}
		if strings.Contains(route, "/v1/keys") && !slices.Equal(roles, []string{"admin"}) {
			t.Errorf("%s: roles %v; keys are for admin only", route, roles)
		}
		method, path, _ := strings.Cut(route, " ")
		isDecision := path == "/v1/decisions" || path == "/v1/decisions:batch"
		if slices.Contains(roles, string(consentd.RoleCheck)) != isDecision {
			t.Errorf("%s: roles %v; the check role may make decisions and nothing else", route, roles)
		}
		readOnly := method == "GET" || path == "/v1/consents:search" || isDecision
		if slices.Contains(roles, string(consentd.RoleRead)) && !readOnly {
			t.Errorf("%s: roles %v; the read role may not change anything", route, roles)
		}
		if method == "GET" && strings.HasPrefix(path, "/v1/") && !strings.Contains(path, "/v1/keys") {
			for _, r := range []consentd.Role{consentd.RoleWrite, consentd.RoleRead, consentd.RoleAgent} {
				if !slices.Contains(roles, string(r)) {
					t.Errorf("%s: roles %v; %s keys may read", route, roles, r)
				}
			}
		}
	}
	if got := rolesOf["POST /v1/suppressions"]; len(got) > 0 && !slices.Contains(got, string(consentd.RoleAgent)) {
		t.Errorf("POST /v1/suppressions: roles %v; agent keys may opt people out", got)
	}
	t.Logf("routes each role may call: %v", allowedOps)
}

// ---- 4. nothing crosses workspaces ----

func TestWorkspaceIsolation(t *testing.T) {
	e := newEnv(t)
	a, b := e.a, e.b
	t0 := time.Now().Add(-time.Hour)
	const janeID = "jane@example.com#newsletter:email"

	// Workspace A: a consent, a purpose of its own, a suppression, a party.
	e.must("POST", "/v1/consents", a.key(consentd.RoleWrite), write("jane@example.com", "newsletter", "", "email", "opted_out", t0), 201)
	e.must("POST", "/v1/purposes", a.key(consentd.RoleAdmin), `{"id":"a-only","name":"A only","type":"commercial","channels":{"email":{}}}`, 201)
	e.must("POST", "/v1/consents", a.key(consentd.RoleWrite), write("jane@example.com", "a-only", "", "email", "opted_in", t0), 201)
	var sup struct {
		ID string `json:"id"`
	}
	e.must("POST", "/v1/suppressions", a.key(consentd.RoleAgent), `{"contact_point":"bob@example.com","reason":"do_not_contact"}`, 201).decode(t, &sup)
	e.must("PUT", "/v1/parties/p1", a.key(consentd.RoleWrite), `{"contact_points":[{"kind":"email","value":"jane@example.com"}],"external_ids":{"crm":"A-1"}}`, 200)
	e.must("POST", "/v1/log/checkpoints", a.key(consentd.RoleWrite), nil, 201)

	aState := func() string {
		k := a.key(consentd.RoleRead)
		return fmt.Sprint(e.logSize(k),
			string(e.must("GET", "/v1/consents?limit=1000", k, nil, 200).body),
			string(e.must("GET", "/v1/purposes", k, nil, 200).body),
			string(e.must("GET", "/v1/suppressions", k, nil, 200).body),
			string(e.must("GET", "/v1/parties/p1", k, nil, 200).body),
			string(e.must("GET", "/v1/keys", a.key(consentd.RoleAdmin), nil, 200).body))
	}
	before := aState()
	bLog := e.logSize(b.key(consentd.RoleRead))

	tests := []struct {
		name         string
		method, path string
		role         consentd.Role
		body         any
		status       int
		code         string
	}{
		{"read A's consent", "GET", consentPath(janeID), consentd.RoleRead, nil, 404, consentd.ENOTFOUND},
		{"read A's consent as of now", "GET", consentPath(janeID) + "?as_of=" + url.QueryEscape(time.Now().UTC().Format(time.RFC3339Nano)), consentd.RoleRead, nil, 404, consentd.ENOTFOUND},
		{"read A's consent history", "GET", consentPath(janeID) + "/history", consentd.RoleRead, nil, 404, consentd.ENOTFOUND},
		{"read A's consent receipt", "GET", consentPath(janeID) + "/receipt", consentd.RoleRead, nil, 404, consentd.ENOTFOUND},
		{"read a consent of A's purpose", "GET", consentPath("jane@example.com#a-only:email"), consentd.RoleRead, nil, 422, consentd.EUNKNOWNCHANNELTYPE},
		{"decide on A's purpose", "POST", "/v1/decisions", consentd.RoleCheck, `{"contact_point":"jane@example.com","channel":"email","purpose":"a-only"}`, 422, consentd.EUNKNOWNPURPOSE},
		{"batch-decide on A's purpose", "POST", "/v1/decisions:batch", consentd.RoleCheck, `{"purpose":"a-only","channel":"email","contact_points":["jane@example.com"]}`, 422, consentd.EUNKNOWNPURPOSE},
		{"write to A's purpose", "POST", "/v1/consents", consentd.RoleWrite, write("jane@example.com", "a-only", "", "email", "opted_out", t0), 422, consentd.EUNKNOWNPURPOSE},
		{"write to A's channel type", "POST", "/v1/consents", consentd.RoleWrite, map[string]any{"contact_point": "jane@example.com", "channel_type": "a-only:email", "status": "opted_out", "captured_at": t0.UTC().Format(time.RFC3339), "source": map[string]any{"type": "api"}}, 422, consentd.EUNKNOWNCHANNELTYPE},
		{"read A's purpose", "GET", "/v1/purposes/a-only", consentd.RoleRead, nil, 404, consentd.ENOTFOUND},
		{"change A's purpose", "PATCH", "/v1/purposes/a-only", consentd.RoleAdmin, `{"name":"Taken over"}`, 404, consentd.ENOTFOUND},
		{"delete A's purpose", "DELETE", "/v1/purposes/a-only", consentd.RoleAdmin, nil, 404, consentd.ENOTFOUND},
		{"topic under A's purpose", "POST", "/v1/topics", consentd.RoleAdmin, `{"id":"a-topic","purpose":"a-only","name":"x"}`, 422, consentd.EUNKNOWNPURPOSE},
		{"lift A's suppression", "DELETE", "/v1/suppressions/" + sup.ID, consentd.RoleAdmin, nil, 404, consentd.ENOTFOUND},
		{"read A's party", "GET", "/v1/parties/p1", consentd.RoleRead, nil, 404, consentd.ENOTFOUND},
		{"read A's party's consents", "GET", "/v1/parties/p1/consents", consentd.RoleRead, nil, 404, consentd.ENOTFOUND},
		{"delete A's key", "DELETE", "/v1/keys/" + a.keyIDs[consentd.RoleRead], consentd.RoleAdmin, nil, 404, consentd.ENOTFOUND},
		{"read B's checkpoint after A signed one", "GET", "/v1/log/checkpoints/latest", consentd.RoleRead, nil, 404, consentd.ENOTFOUND},
	}
	for _, tt := range tests {
		r := e.do(tt.method, tt.path, b.key(tt.role), tt.body)
		if p := r.problem(t); r.status != tt.status || p.Code != tt.code {
			t.Errorf("%s %s %s with B's %s key = %s; want %d %s", tt.method, tt.path, tt.name, tt.role, r, tt.status, tt.code)
		}
	}

	// B's lists show none of A's rows.
	bRead := b.key(consentd.RoleRead)
	for _, q := range []string{"", "&contact_point=jane%40example.com", "&party_id=p1"} {
		if cs := e.consents(bRead, q); len(cs) != 0 {
			t.Errorf("GET /v1/consents?%s with B's key = %+v; want none", q, cs)
		}
	}
	if r := e.must("POST", "/v1/consents:search", bRead, `{"contact_point":"jane@example.com"}`, 200); strings.Contains(string(r.body), "jane") {
		t.Errorf("POST /v1/consents:search with B's key = %s; want none of A's", r)
	}
	if r := e.must("GET", "/v1/suppressions", bRead, nil, 200); strings.Contains(string(r.body), "bob") || strings.Contains(string(r.body), sup.ID) {
		t.Errorf("GET /v1/suppressions with B's key = %s; want none of A's", r)
	}
	if r := e.must("GET", "/v1/purposes", bRead, nil, 200); strings.Contains(string(r.body), "a-only") {
		t.Errorf("GET /v1/purposes with B's key = %s; want none of A's", r)
	}
	if r := e.must("GET", "/v1/keys", b.key(consentd.RoleAdmin), nil, 200); strings.Contains(string(r.body), a.id) || strings.Contains(string(r.body), a.keyIDs[consentd.RoleRead]) {
		t.Errorf("GET /v1/keys with B's key = %s; want none of A's", r)
	}
	if r := e.must("GET", "/v1/workspace", bRead, nil, 200); !strings.Contains(string(r.body), b.id) || strings.Contains(string(r.body), a.id) {
		t.Errorf("GET /v1/workspace with B's key = %s; want B", r)
	}

	// B's decisions do not see A's opt-out or suppression.
	for _, cp := range []string{"jane@example.com", "bob@example.com"} {
		var d struct {
			Allowed bool   `json:"allowed"`
			Reason  string `json:"reason"`
		}
		e.must("POST", "/v1/decisions", b.key(consentd.RoleCheck), map[string]any{"contact_point": cp, "channel": "email", "purpose": "newsletter"}, 200).decode(t, &d)
		if !d.Allowed || d.Reason != "not_opted_out" {
			t.Errorf("POST /v1/decisions %s with B's key = %+v; want allowed not_opted_out (A's state is not B's)", cp, d)
		}
	}

	// B's writes to the same natural keys stay in B.
	e.must("POST", "/v1/consents", b.key(consentd.RoleWrite), write("jane@example.com", "newsletter", "", "email", "opted_in", t0.Add(time.Minute)), 201)
	e.must("PUT", "/v1/parties/p1", b.key(consentd.RoleWrite), `{"contact_points":[{"kind":"email","value":"mallory@example.com"}]}`, 200)
	e.must("POST", "/v1/suppressions", b.key(consentd.RoleWrite), `{"contact_point":"jane@example.com","reason":"erased"}`, 201)
	if n := e.logSize(bRead); n != bLog+3 {
		t.Errorf("B's log grew from %d to %d; want +3 (B's own writes)", bLog, n)
	}
	if after := aState(); after != before {
		t.Errorf("B's requests changed workspace A:\nbefore %s\nafter  %s", before, after)
	}
	var d struct {
		Allowed bool   `json:"allowed"`
		Reason  string `json:"reason"`
	}
	e.must("POST", "/v1/decisions", a.key(consentd.RoleCheck), `{"contact_point":"jane@example.com","channel":"email","purpose":"newsletter"}`, 200).decode(t, &d)
	if d.Allowed || d.Reason != "opted_out" {
		t.Errorf("POST /v1/decisions jane with A's key after B's writes = %+v; want denied opted_out", d)
	}
	// A's key still works: B could not delete it.
	e.must("GET", "/v1/workspace", a.key(consentd.RoleRead), nil, 200)
}

// ---- 5. write semantics over HTTP ----

func TestWriteSemanticsOverHTTP(t *testing.T) {
	e := newEnv(t)
	w, read := e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleRead)
	const id = "jane@example.com#newsletter:email"
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	t1 := t0.Add(30 * time.Minute)

	post := func(name string, body map[string]any, wantStatus int, wantOutcome string, wantApplied bool, wantState string, wantVersion int64) consentJSON {
		t.Helper()
		r := e.do("POST", "/v1/consents", w, body)
		var c consentJSON
		if r.status == wantStatus {
			r.decode(t, &c)
		}
		if r.status != wantStatus || c.Outcome != wantOutcome || c.Applied == nil || *c.Applied != wantApplied {
			t.Fatalf("POST /v1/consents %s = %s; want %d %s applied=%v", name, r, wantStatus, wantOutcome, wantApplied)
		}
		if c.ID != id || c.Status != wantState || c.Version != wantVersion {
			t.Errorf("POST /v1/consents %s = %s; want %s %s version %d", name, r, id, wantState, wantVersion)
		}
		return c
	}
	first := post("first opt-in", write("jane@example.com", "newsletter", "", "email", "opted_in", t0), 201, "created", true, "opted_in", 1)
	post("the same write again", write("jane@example.com", "newsletter", "", "email", "opted_in", t0), 200, "unchanged", false, "opted_in", 1)
	post("an older opt-out", write("jane@example.com", "newsletter", "", "email", "opted_out", t0.Add(-time.Hour)), 200, "superseded", false, "opted_in", 1)
	changed := post("a newer opt-out, address in another case", write("Jane@Example.com ", "newsletter", "", "email", "opted_out", t1), 200, "changed", true, "opted_out", 2)
	post("an opt-in at the same captured_at", write("jane@example.com", "newsletter", "", "email", "opted_in", t1), 200, "superseded", false, "opted_out", 2)
	post("a pending at the same captured_at", write("JANE@EXAMPLE.COM", "newsletter", "", "email", "pending", t1), 200, "superseded", false, "opted_out", 2)
	post("the same opt-out replayed", write("jane@example.com", "newsletter", "", "email", "opted_out", t1), 200, "unchanged", false, "opted_out", 2)
	post("the opt-out by channel_type", map[string]any{"contact_point": "jane@example.com", "channel_type": "newsletter:email", "status": "opted_out",
		"captured_at": t1.UTC().Format(time.RFC3339), "source": map[string]any{"type": "api"}}, 200, "unchanged", false, "opted_out", 2)
	wantTypes := []string{"consent.changed", "consent.unchanged", "consent.superseded", "consent.changed", "consent.superseded", "consent.superseded", "consent.unchanged", "consent.unchanged"}

	// Opted_out wins a tie whichever arrives first.
	tieID := "jane@example.com#weekly:email"
	e.must("POST", "/v1/consents", w, write("jane@example.com", "newsletter", "weekly", "email", "opted_in", t0), 201)
	r := e.must("POST", "/v1/consents", w, write("jane@example.com", "newsletter", "weekly", "email", "opted_out", t0), 200)
	var tie consentJSON
	r.decode(t, &tie)
	if tie.ID != tieID || tie.Outcome != "changed" || tie.Status != "opted_out" {
		t.Errorf("POST /v1/consents opt-out after an opt-in at the same captured_at = %s; want changed opted_out", r)
	}

	// One consent, under the normalized address.
	for _, q := range []string{"&contact_point=jane%40example.com", "&contact_point=" + url.QueryEscape(" Jane@EXAMPLE.com")} {
		cs := e.consents(read, q+"&purpose=newsletter&channel=email")
		var ids []string
		for _, c := range cs {
			ids = append(ids, c.ID)
		}
		slices.Sort(ids)
		if want := []string{id, tieID}; !slices.Equal(ids, want) {
			t.Errorf("GET /v1/consents?%s = %q; want %q", q, ids, want)
		}
	}
	for _, getID := range []string{id, "Jane@Example.com #newsletter:email"} {
		var c consentJSON
		e.must("GET", consentPath(getID), read, nil, 200).decode(t, &c)
		if c.ID != id || c.ContactPoint != "jane@example.com" || c.Status != "opted_out" || c.Version != 2 || c.CapturedAt != t1.UTC().Format(time.RFC3339) {
			t.Errorf("GET /v1/consents/%s = %+v; want %s opted_out version 2 captured %s", getID, c, id, t1.UTC().Format(time.RFC3339))
		}
	}

	// as_of is valid time: the write in effect then by captured_at, as
	// everything recorded says; known_at is transaction time: only what
	// was recorded by then.
	nanoTime := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	firstAt, changedAt := mustTime(t, first.RecordedAt), mustTime(t, changed.RecordedAt)
	for _, c := range []struct {
		name      string
		query     string
		status    int
		state     string
		provedBy  int64  // 0: not checked
		entryType string // of proved_by
		code      string // of the problem
	}{
		{"as of the first opt-in's captured_at", "as_of=" + nanoTime(t0), 200, "opted_in", first.Seq, "consent.changed", ""},
		{"as of just before the opt-out's captured_at", "as_of=" + nanoTime(t1.Add(-time.Nanosecond)), 200, "opted_in", first.Seq, "consent.changed", ""},
		{"as of the opt-out's captured_at", "as_of=" + nanoTime(t1), 200, "opted_out", changed.Seq, "consent.changed", ""},
		{"as of half an hour before the first opt-in: the older opt-out, recorded later", "as_of=" + nanoTime(t0.Add(-30*time.Minute)), 200, "opted_out", 0, "consent.superseded", ""},
		{"as of before any write was captured", "as_of=" + nanoTime(t0.Add(-2*time.Hour)), 404, "", 0, "", consentd.ENOTINEFFECT},
		{"known at the first write", "known_at=" + first.RecordedAt, 200, "opted_in", first.Seq, "consent.changed", ""},
		{"known just before the opt-out was recorded", "known_at=" + nanoTime(changedAt.Add(-time.Nanosecond)), 200, "opted_in", first.Seq, "consent.changed", ""},
		{"known at the opt-out", "known_at=" + changed.RecordedAt, 200, "opted_out", changed.Seq, "consent.changed", ""},
		{"known before the first write", "known_at=" + nanoTime(firstAt.Add(-time.Nanosecond)), 404, "", 0, "", consentd.ENOTINEFFECT},
		{"now, as believed before the opt-out was recorded", "as_of=" + nanoTime(time.Now()) + "&known_at=" + nanoTime(changedAt.Add(-time.Nanosecond)), 200, "opted_in", first.Seq, "consent.changed", ""},
	} {
		r := e.do("GET", consentPath(id)+"?"+strings.ReplaceAll(c.query, "+", "%2B"), read, nil)
		var got consentJSON
		var code string
		if r.status == 200 {
			r.decode(t, &got)
		} else {
			code = r.problem(t).Code
		}
		if r.status != c.status || got.Status != c.state || code != c.code {
			t.Errorf("GET /v1/consents/{id}?%s (%s) = %s; want %d %s%s", c.query, c.name, r, c.status, c.state, c.code)
			continue
		}
		if c.status == 200 && (got.ProvedBy == nil || got.ProvedBy.Type != c.entryType || got.ProvedBy.Seq != got.Seq || c.provedBy != 0 && got.Seq != c.provedBy) {
			t.Errorf("GET /v1/consents/{id}?%s (%s) = %s; want proved by a %s entry %d", c.query, c.name, r, c.entryType, c.provedBy)
		}
	}
	for _, field := range []string{"as_of", "known_at"} {
		r := e.do("GET", consentPath(id)+"?"+field+"=yesterday", read, nil)
		if p := r.problem(t); r.status != 422 || p.Code != consentd.EINVALIDTIME || len(p.Fields) != 1 || p.Fields[0].Field != field {
			t.Errorf("GET /v1/consents/{id}?%s=yesterday = %s; want 422 %s naming %s", field, r, consentd.EINVALIDTIME, field)
		}
	}

	// History: every write, in order, superseded and unchanged ones too.
	var hist struct {
		Entries []struct {
			Seq   int64           `json:"seq"`
			Entry json.RawMessage `json:"entry"`
			Leaf  []byte          `json:"leaf"`
		} `json:"entries"`
	}
	e.must("GET", consentPath(id)+"/history", read, nil, 200).decode(t, &hist)
	var types []string
	var last int64
	for _, h := range hist.Entries {
		var en struct {
			Seq   int64  `json:"seq"`
			Type  string `json:"type"`
			After *struct {
				Status string `json:"status"`
			} `json:"after"`
		}
		if err := json.Unmarshal(h.Entry, &en); err != nil {
			t.Fatalf("history entry %s: %v", h.Entry, err)
		}
		if en.Seq != h.Seq || h.Seq <= last {
			t.Errorf("history entry seq %d (record %d) after %d: not in order", en.Seq, h.Seq, last)
		}
		if strings.Contains(string(h.Entry), "jane@example.com") {
			t.Errorf("history entry %s holds the plaintext contact point", h.Entry)
		}
		last = h.Seq
		types = append(types, en.Type)
	}
	if !slices.Equal(types, wantTypes) {
		t.Errorf("GET /v1/consents/{id}/history types = %q; want %q", types, wantTypes)
	}
	if r := e.do("GET", consentPath("nobody@example.com#newsletter:email")+"/history", read, nil); r.status != 404 {
		t.Errorf("GET history of a consent never written = %s; want 404", r)
	}

	// Receipt: verifies against the public key of the latest checkpoint.
	var cp struct {
		Checkpoint string `json:"checkpoint"`
		Size       int64  `json:"size"`
		PublicKey  string `json:"public_key"`
		KeyID      string `json:"key_id"`
	}
	if r := e.do("GET", "/v1/log/checkpoints/latest", read, nil); r.status != 404 {
		t.Errorf("GET /v1/log/checkpoints/latest before any was signed = %s; want 404", r)
	}
	e.must("POST", "/v1/log/checkpoints", w, nil, 201)
	e.must("GET", "/v1/log/checkpoints/latest", read, nil, 200).decode(t, &cp)
	// The key that signed, under the name it signed with: the workspace's
	// log origin.
	if want := e.signer.PublicKeyFor(ledger.Origin(e.a.id)); cp.PublicKey != want || !strings.HasPrefix(want, cp.KeyID+"+") || cp.Size != e.logSize(read) {
		t.Errorf("GET /v1/log/checkpoints/latest = %+v; want key %s size %d", cp, want, e.logSize(read))
	}
	var rc ledger.Receipt
	e.must("GET", consentPath(id)+"/receipt", read, nil, 200).decode(t, &rc)
	if err := ledger.VerifyReceipt(&rc, cp.PublicKey); err != nil {
		t.Errorf("GET /v1/consents/{id}/receipt does not verify: %v", err)
	}
	if lastEntry := hist.Entries[len(hist.Entries)-1]; rc.Seq != lastEntry.Seq || !bytes.Equal(rc.Leaf, lastEntry.Leaf) {
		t.Errorf("receipt is for entry %d %s; want the latest entry %d %s", rc.Seq, rc.Leaf, lastEntry.Seq, lastEntry.Entry)
	}
	if c, err := ledger.OpenCheckpoint(rc.Checkpoint, cp.PublicKey); err != nil || c.Origin != ledger.Origin(e.a.id) {
		t.Errorf("receipt checkpoint origin %q, %v; want %q", c.Origin, err, ledger.Origin(e.a.id))
	}
	tampered := rc
	tampered.Leaf = bytes.Clone(rc.Leaf)
	tampered.Leaf[len(tampered.Leaf)-1] ^= 1
	if err := ledger.VerifyReceipt(&tampered, cp.PublicKey); err == nil {
		t.Errorf("a receipt with an altered leaf verifies")
	}
	other, err := ledger.LoadOrCreateKey(filepath.Join(t.TempDir(), "other.key"), "consentd")
	if err != nil {
		t.Fatal(err)
	}
	if err := ledger.VerifyReceipt(&rc, other.PublicKey()); err == nil {
		t.Errorf("a receipt verifies under another key")
	}
	// A write after the checkpoint gets a receipt too (a newer checkpoint).
	e.must("POST", "/v1/consents", w, write("jane@example.com", "newsletter", "", "email", "opted_in", t1.Add(time.Minute)), 200)
	e.must("GET", consentPath(id)+"/receipt", read, nil, 200).decode(t, &rc)
	if err := ledger.VerifyReceipt(&rc, cp.PublicKey); err != nil || rc.TreeSize <= cp.Size {
		t.Errorf("receipt after a later write: %v, tree size %d (checkpoint was %d)", err, rc.TreeSize, cp.Size)
	}
	var rep ledger.Report
	r = e.must("GET", "/v1/log/verify", read, nil, 200)
	r.decode(t, &rep)
	if !rep.OK || rep.Entries != e.logSize(read) || rep.Checkpoints < 2 || rep.State == nil || rep.State.Consents == 0 || rep.State.Differences != 0 {
		t.Errorf("GET /v1/log/verify = %s; want ok, every entry, both checkpoints, the stored consents as the log's replay", r)
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return tm
}

// ---- 6. the decision rules of docs/decisions.md over HTTP ----

type decision struct {
	Allowed      bool         `json:"allowed"`
	Reason       string       `json:"reason"`
	Enforcement  string       `json:"enforcement"`
	Status       string       `json:"status"`
	ContactPoint string       `json:"contact_point"`
	ConsentID    string       `json:"consent_id"`
	Seq          int64        `json:"seq"`
	Error        *api.Problem `json:"error"`
}

func TestDecisionsOverHTTP(t *testing.T) {
	e := newEnv(t)
	admin, w, agent, check, read := e.a.key(consentd.RoleAdmin), e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleAgent), e.a.key(consentd.RoleCheck), e.a.key(consentd.RoleRead)
	// More of the catalog: a restrictive commercial purpose with a topic, a
	// non-restrictive transactional purpose, a tracking purpose.
	e.must("POST", "/v1/purposes", admin, `{"id":"promos","name":"Promotions","type":"commercial","channels":{"email":{},"sms":{}}}`, 201)
	e.must("POST", "/v1/topics", admin, `{"id":"flash","purpose":"promos","name":"Flash sales"}`, 201)
	e.must("POST", "/v1/purposes", admin, `{"id":"receipts","name":"Receipts","type":"transactional","channels":{"email":{},"sms":{"enforcement":"restrictive"}}}`, 201)
	e.must("POST", "/v1/purposes", admin, `{"id":"clicks","name":"Click tracking","type":"tracking","channels":{"email":{}}}`, 201)

	type cons struct{ purpose, topic, channel, status string }
	type sup struct{ reason, channel string }
	type req struct{ purpose, topic, channel string }
	tests := []struct {
		name        string
		consents    []cons
		sups        []sup
		req         req
		allowed     bool
		reason      string
		enforcement string
	}{
		// 1. suppressions
		{"do_not_contact blocks a commercial purpose", nil, []sup{{"do_not_contact", ""}}, req{"newsletter", "", "email"}, false, "suppressed", "non_restrictive"},
		{"hard_bounce blocks even an opt-in", []cons{{"promos", "", "email", "opted_in"}}, []sup{{"hard_bounce", "email"}}, req{"promos", "", "email"}, false, "suppressed", "restrictive"},
		{"complaint blocks a topic", []cons{{"promos", "", "email", "opted_in"}, {"promos", "flash", "email", "opted_in"}}, []sup{{"complaint", ""}}, req{"promos", "flash", "email"}, false, "suppressed", "restrictive"},
		{"do_not_contact blocks tracking", []cons{{"clicks", "", "email", "opted_in"}}, []sup{{"do_not_contact", ""}}, req{"clicks", "", "email"}, false, "suppressed", "restrictive"},
		{"do_not_contact spares transactional", nil, []sup{{"do_not_contact", ""}}, req{"receipts", "", "email"}, true, "not_opted_out", "non_restrictive"},
		{"do_not_contact spares disabled", nil, []sup{{"do_not_contact", ""}}, req{"orders", "", "email"}, true, "disabled", "disabled"},
		{"erased blocks transactional", nil, []sup{{"erased", ""}}, req{"receipts", "", "email"}, false, "suppressed", "non_restrictive"},
		{"erased blocks even disabled", nil, []sup{{"erased", ""}}, req{"orders", "", "email"}, false, "suppressed", "disabled"},
		{"a suppression on another channel does not block", []cons{{"promos", "", "email", "opted_in"}}, []sup{{"hard_bounce", "sms"}}, req{"promos", "", "email"}, true, "opted_in", "restrictive"},
		{"a suppression reaches purposes created later", nil, []sup{{"do_not_contact", ""}}, req{"late", "", "email"}, false, "suppressed", "non_restrictive"},
		// 2. the purpose
		{"channel not offered", nil, nil, req{"newsletter", "", "whatsapp"}, false, "channel_not_offered", ""},
		{"opted_out", []cons{{"newsletter", "", "email", "opted_out"}}, nil, req{"newsletter", "", "email"}, false, "opted_out", "non_restrictive"},
		{"opted_in", []cons{{"promos", "", "email", "opted_in"}}, nil, req{"promos", "", "email"}, true, "opted_in", "restrictive"},
		{"no record, non_restrictive", nil, nil, req{"newsletter", "", "email"}, true, "not_opted_out", "non_restrictive"},
		{"pending, non_restrictive", []cons{{"newsletter", "", "email", "pending"}}, nil, req{"newsletter", "", "email"}, true, "not_opted_out", "non_restrictive"},
		{"no record, restrictive", nil, nil, req{"promos", "", "email"}, false, "no_consent", "restrictive"},
		{"pending, restrictive", []cons{{"promos", "", "email", "pending"}}, nil, req{"promos", "", "email"}, false, "pending_confirmation", "restrictive"},
		{"opted_out, restrictive", []cons{{"promos", "", "email", "opted_out"}}, nil, req{"promos", "", "email"}, false, "opted_out", "restrictive"},
		{"disabled, no record", nil, nil, req{"orders", "", "email"}, true, "disabled", "disabled"},
		{"disabled, opted_out", []cons{{"orders", "", "email", "opted_out"}}, nil, req{"orders", "", "email"}, true, "disabled", "disabled"},
		// 3. topics
		{"topic opted_in", []cons{{"promos", "", "email", "opted_in"}, {"promos", "flash", "email", "opted_in"}}, nil, req{"promos", "flash", "email"}, true, "opted_in", "restrictive"},
		{"topic opted_out", []cons{{"promos", "", "email", "opted_in"}, {"promos", "flash", "email", "opted_out"}}, nil, req{"promos", "flash", "email"}, false, "topic_opted_out", "restrictive"},
		{"topic no record, restrictive", []cons{{"promos", "", "email", "opted_in"}}, nil, req{"promos", "flash", "email"}, false, "topic_no_consent", "restrictive"},
		{"topic pending, restrictive", []cons{{"promos", "", "email", "opted_in"}, {"promos", "flash", "email", "pending"}}, nil, req{"promos", "flash", "email"}, false, "topic_pending_confirmation", "restrictive"},
		{"purpose opted_out, topic opted_in", []cons{{"promos", "", "email", "opted_out"}, {"promos", "flash", "email", "opted_in"}}, nil, req{"promos", "flash", "email"}, false, "purpose_opted_out", "restrictive"},
		{"purpose no record, topic opted_in", []cons{{"promos", "flash", "email", "opted_in"}}, nil, req{"promos", "flash", "email"}, false, "purpose_no_consent", "restrictive"},
		{"purpose pending, topic opted_in", []cons{{"promos", "", "email", "pending"}, {"promos", "flash", "email", "opted_in"}}, nil, req{"promos", "flash", "email"}, false, "purpose_pending_confirmation", "restrictive"},
		{"topic, nothing recorded, non_restrictive", nil, nil, req{"newsletter", "weekly", "email"}, true, "not_opted_out", "non_restrictive"},
		{"topic opted_out, non_restrictive", []cons{{"newsletter", "weekly", "email", "opted_out"}}, nil, req{"newsletter", "weekly", "email"}, false, "topic_opted_out", "non_restrictive"},
		{"purpose opted_out, topic opted_in, non_restrictive", []cons{{"newsletter", "", "email", "opted_out"}, {"newsletter", "weekly", "email", "opted_in"}}, nil, req{"newsletter", "weekly", "email"}, false, "purpose_opted_out", "non_restrictive"},
		{"topic on a channel not offered", nil, nil, req{"newsletter", "weekly", "whatsapp"}, false, "channel_not_offered", ""},
		// 4. transactional and tracking purposes, same rules
		{"transactional opted_out", []cons{{"receipts", "", "email", "opted_out"}}, nil, req{"receipts", "", "email"}, false, "opted_out", "non_restrictive"},
		{"transactional restrictive, no record", nil, nil, req{"receipts", "", "sms"}, false, "no_consent", "restrictive"},
		{"transactional restrictive, opted_in", []cons{{"receipts", "", "sms", "opted_in"}}, nil, req{"receipts", "", "sms"}, true, "opted_in", "restrictive"},
		{"tracking, no record", nil, nil, req{"clicks", "", "email"}, false, "no_consent", "restrictive"},
		{"tracking opted_in", []cons{{"clicks", "", "email", "opted_in"}}, nil, req{"clicks", "", "email"}, true, "opted_in", "restrictive"},
		{"sms opted_in", []cons{{"newsletter", "", "sms", "opted_in"}}, nil, req{"newsletter", "", "sms"}, true, "opted_in", "restrictive"},
		{"sms_stop on sms", []cons{{"newsletter", "", "sms", "opted_in"}}, []sup{{"sms_stop", "sms"}}, req{"newsletter", "", "sms"}, false, "suppressed", "restrictive"},
	}
	t0 := time.Now().Add(-time.Hour)
	lateCreated := false
	for i, tt := range tests {
		email, phone := fmt.Sprintf("row%02d@example.com", i), fmt.Sprintf("+49 151 234567%02d", i)
		addr := func(channel string) string {
			if consentd.KindOf(channel) == consentd.KindPhone {
				return phone
			}
			return email
		}
		for _, c := range tt.consents {
			r := e.do("POST", "/v1/consents", w, write(addr(c.channel), c.purpose, c.topic, c.channel, c.status, t0))
			if r.status != 201 {
				t.Fatalf("%s: POST /v1/consents %+v = %s; want 201", tt.name, c, r)
			}
		}
		for _, s := range tt.sups {
			// The decided address, suppressed on s.channel ("" = all).
			body := map[string]any{"contact_point": addr(tt.req.channel), "kind": consentd.KindOf(tt.req.channel), "channel": s.channel, "reason": s.reason}
			key := agent // agents opt people out; erasure takes a write key
			if s.reason == "erased" {
				key = w
			}
			r := e.do("POST", "/v1/suppressions", key, body)
			if r.status != 201 {
				t.Fatalf("%s: POST /v1/suppressions %+v = %s; want 201", tt.name, s, r)
			}
		}
		if tt.req.purpose == "late" && !lateCreated {
			e.must("POST", "/v1/purposes", admin, `{"id":"late","name":"Created after the suppression","type":"commercial","channels":{"email":{"enforcement":"non_restrictive"}}}`, 201)
			lateCreated = true
		}
		// The address as a sender might spell it.
		cp := strings.ToUpper(addr(tt.req.channel)[:1]) + addr(tt.req.channel)[1:] + " "
		r := e.do("POST", "/v1/decisions", check, map[string]any{"contact_point": cp, "channel": tt.req.channel, "purpose": tt.req.purpose, "topic": tt.req.topic})
		var d decision
		if r.status == 200 {
			r.decode(t, &d)
		}
		if r.status != 200 || d.Allowed != tt.allowed || d.Reason != tt.reason || d.Enforcement != tt.enforcement {
			t.Errorf("POST /v1/decisions %s = %s; want 200 allowed=%v %s enforcement %q", tt.name, r, tt.allowed, tt.reason, tt.enforcement)
			continue
		}
		sub := tt.req.purpose
		if tt.req.topic != "" {
			sub = tt.req.topic
		}
		norm := email
		if consentd.KindOf(tt.req.channel) == consentd.KindPhone {
			norm = "+4915123456" + fmt.Sprintf("7%02d", i)
		}
		if wantID := norm + "#" + sub + ":" + tt.req.channel; d.ConsentID != wantID || d.ContactPoint != norm {
			t.Errorf("POST /v1/decisions %s: consent_id %q contact_point %q; want %q %q", tt.name, d.ConsentID, d.ContactPoint, wantID, norm)
		}
		if size := e.logSize(read); d.Seq != size {
			t.Errorf("POST /v1/decisions %s: seq %d; want the log size %d", tt.name, d.Seq, size)
		}
	}

	// Lifting a suppression lets the consent decide again.
	var s struct {
		ID string `json:"id"`
	}
	e.must("POST", "/v1/suppressions", agent, `{"contact_point":"lifted@example.com","reason":"complaint"}`, 201).decode(t, &s)
	decide := func(body string) decision {
		t.Helper()
		var d decision
		e.must("POST", "/v1/decisions", check, body, 200).decode(t, &d)
		return d
	}
	if d := decide(`{"contact_point":"lifted@example.com","channel":"email","purpose":"newsletter"}`); d.Allowed || d.Reason != "suppressed" {
		t.Errorf("decision while suppressed = %+v; want suppressed", d)
	}
	e.must("DELETE", "/v1/suppressions/"+s.ID, admin, nil, 204)
	if d := decide(`{"contact_point":"lifted@example.com","channel":"email","purpose":"newsletter"}`); !d.Allowed || d.Reason != "not_opted_out" {
		t.Errorf("decision after the suppression was lifted = %+v; want allowed not_opted_out", d)
	}

	// Decisions on bad input.
	for _, c := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"unknown purpose", `{"contact_point":"a@example.com","channel":"email","purpose":"nope"}`, 422, consentd.EUNKNOWNPURPOSE},
		{"unknown topic", `{"contact_point":"a@example.com","channel":"email","purpose":"newsletter","topic":"flash"}`, 422, consentd.EUNKNOWNTOPIC},
		{"invalid address", `{"contact_point":"a@","channel":"email","purpose":"newsletter"}`, 422, consentd.EINVALIDCONTACTPOINT},
		{"phone without country code", `{"contact_point":"0151 23456789","channel":"sms","purpose":"newsletter"}`, 422, consentd.EINVALIDCONTACTPOINT},
		{"unknown field", `{"contact_point":"a@example.com","channel":"email","purpose":"newsletter","urgent":true}`, 400, consentd.EMALFORMED},
		{"malformed", `{"contact_point":`, 400, consentd.EMALFORMED},
	} {
		r := e.do("POST", "/v1/decisions", check, c.body)
		if p := r.problem(t); r.status != c.status || p.Code != c.code {
			t.Errorf("POST /v1/decisions %s = %s; want %d %s", c.name, r, c.status, c.code)
		}
	}

	// Batches. out@ opted out of newsletter:email, in@ opted in, fresh@ has
	// no record; promos is restrictive.
	e.must("POST", "/v1/consents", w, write("out@example.com", "newsletter", "", "email", "opted_out", t0), 201)
	e.must("POST", "/v1/consents", w, write("in@example.com", "newsletter", "", "email", "opted_in", t0), 201)
	e.must("POST", "/v1/consents", w, write("in@example.com", "promos", "", "email", "opted_in", t0), 201)

	type want struct {
		cp      string // contact point in the answer
		allowed bool
		reason  string
		code    string // error code, for a line that could not be decided
	}
	check1 := func(name string, got []decision, wants []want) {
		t.Helper()
		if len(got) != len(wants) {
			t.Errorf("%s: %d answers %+v; want %d", name, len(got), got, len(wants))
			return
		}
		for i, w := range wants {
			g := got[i]
			switch {
			case w.code != "":
				if g.Error == nil || g.Error.Code != w.code || g.ContactPoint != w.cp {
					t.Errorf("%s answer %d = %+v (error %+v); want error %s for %q", name, i, g, g.Error, w.code, w.cp)
				}
			case g.Error != nil || g.Allowed != w.allowed || g.Reason != w.reason || g.ContactPoint != w.cp:
				t.Errorf("%s answer %d = %+v (error %+v); want %q allowed=%v %s", name, i, g, g.Error, w.cp, w.allowed, w.reason)
			}
		}
	}

	// JSON.
	body := `{"purpose":"newsletter","channel":"email","contact_points":["out@example.com","Fresh@Example.com","bad@","in@example.com"]}`
	all := []want{{"out@example.com", false, "opted_out", ""}, {"fresh@example.com", true, "not_opted_out", ""}, {"bad@", false, "", consentd.EINVALIDCONTACTPOINT}, {"in@example.com", true, "opted_in", ""}}
	for _, c := range []struct {
		query string
		wants []want
	}{
		{"", all},
		{"?only=allowed", []want{all[1], all[3]}},
	} {
		var res struct {
			Results []decision `json:"results"`
		}
		r := e.must("POST", "/v1/decisions:batch"+c.query, check, body, 200)
		r.decode(t, &res)
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("POST /v1/decisions:batch%s JSON: Content-Type %q", c.query, ct)
		}
		check1("POST /v1/decisions:batch"+c.query+" JSON", res.Results, c.wants)
	}
	if r := e.do("POST", "/v1/decisions:batch", check, `{"purpose":"nope","channel":"email","contact_points":["a@example.com"]}`); r.status != 422 || r.problem(t).Code != consentd.EUNKNOWNPURPOSE {
		t.Errorf("POST /v1/decisions:batch JSON with an unknown purpose = %s; want 422 %s", r, consentd.EUNKNOWNPURPOSE)
	}

	// NDJSON, defaults from the query, one answer line per request line.
	lines := strings.Join([]string{
		`{"contact_point":"out@example.com"}`,
		`{"contact_point":"Fresh@Example.com"}`,
		`this is not JSON`,
		`{"contact_point":"bad@"}`,
		`{"contact_point":"in@example.com","purpose":"promos"}`,
		`{"contact_point":"fresh@example.com","purpose":"nope"}`,
		`{"contact_point":"+49 151 23456799","channel":"sms"}`,
		`{"contact_point":"fresh@example.com","topic":"weekly"}`,
		`{"contact_point":"in@example.com"}`,
	}, "\n") + "\n"
	nd := []want{
		{"out@example.com", false, "opted_out", ""},
		{"fresh@example.com", true, "not_opted_out", ""},
		{"", false, "", consentd.EMALFORMED},
		{"bad@", false, "", consentd.EINVALIDCONTACTPOINT},
		{"in@example.com", true, "opted_in", ""},
		{"fresh@example.com", false, "", consentd.EUNKNOWNPURPOSE},
		{"+4915123456799", false, "no_consent", ""},
		{"fresh@example.com", true, "not_opted_out", ""},
		{"in@example.com", true, "opted_in", ""},
	}
	for _, c := range []struct {
		query string
		wants []want
	}{
		{"?purpose=newsletter&channel=email", nd},
		{"?purpose=newsletter&channel=email&only=allowed", []want{nd[1], nd[4], nd[7], nd[8]}},
	} {
		r := e.do("POST", "/v1/decisions:batch"+c.query, check, lines, "Content-Type", "application/x-ndjson")
		if r.status != 200 {
			t.Errorf("POST /v1/decisions:batch%s NDJSON = %s; want 200", c.query, r)
			continue
		}
		if ct := r.header.Get("Content-Type"); ct != "application/x-ndjson" {
			t.Errorf("POST /v1/decisions:batch%s NDJSON: Content-Type %q", c.query, ct)
		}
		var got []decision
		sc := bufio.NewScanner(bytes.NewReader(r.body))
		for sc.Scan() {
			var d decision
			if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
				t.Fatalf("NDJSON answer line %q: %v", sc.Text(), err)
			}
			got = append(got, d)
		}
		check1("POST /v1/decisions:batch"+c.query+" NDJSON", got, c.wants)
	}
}

// ---- catalog changes: a refused PATCH changes nothing, a merge patch can remove ----

func TestPatchPurpose(t *testing.T) {
	e := newEnv(t)
	admin, read, check := e.a.key(consentd.RoleAdmin), e.a.key(consentd.RoleRead), e.a.key(consentd.RoleCheck)
	e.must("POST", "/v1/consents", e.a.key(consentd.RoleWrite), write("out@example.com", "newsletter", "", "email", "opted_out", time.Now().Add(-time.Hour)), 201)
	decide := func(cp, channel string) decision {
		t.Helper()
		var d decision
		e.must("POST", "/v1/decisions", check, map[string]any{"contact_point": cp, "channel": channel, "purpose": "newsletter"}, 200).decode(t, &d)
		return d
	}
	purpose := func() string { return string(e.must("GET", "/v1/purposes/newsletter", read, nil, 200).body) }

	// A refused PATCH changes neither the stored purpose nor the decisions.
	before, size := purpose(), e.logSize(read)
	r := e.do("PATCH", "/v1/purposes/newsletter", admin, `{"channels":{"email":{"enforcement":"disabled"}}}`)
	if p := r.problem(t); r.status != 422 || p.Code != consentd.EINVALID {
		t.Errorf("PATCH /v1/purposes/newsletter disabled on commercial = %s; want 422 %s", r, consentd.EINVALID)
	}
	if after := purpose(); after != before || e.logSize(read) != size {
		t.Errorf("PATCH /v1/purposes/newsletter refused, but GET /v1/purposes/newsletter changed from\n%s\nto\n%s", before, after)
	}
	if d := decide("out@example.com", "email"); d.Allowed || d.Reason != "opted_out" {
		t.Errorf("POST /v1/decisions for an opted-out address after a refused PATCH = %+v; want denied opted_out", d)
	}

	// RFC 7396: null removes a member. (In workspace B, whose catalog the
	// refused PATCH above did not touch.)
	bAdmin, bRead := e.b.key(consentd.RoleAdmin), e.b.key(consentd.RoleRead)
	size = e.logSize(bRead)
	r = e.do("PATCH", "/v1/purposes/newsletter", bAdmin, `{"channels":{"sms":null},"name":"News"}`)
	if r.status != 200 || strings.Contains(string(r.body), `"sms"`) || !strings.Contains(string(r.body), `"News"`) {
		t.Errorf("PATCH /v1/purposes/newsletter {channels:{sms:null}} = %s; want 200 without sms", r)
	}
	if got := string(e.must("GET", "/v1/purposes/newsletter", bRead, nil, 200).body); strings.Contains(got, `"sms"`) {
		t.Errorf("GET /v1/purposes/newsletter after removing sms = %s; want no sms", got)
	}
	var d decision
	e.must("POST", "/v1/decisions", e.b.key(consentd.RoleCheck), `{"contact_point":"+49 151 23456789","channel":"sms","purpose":"newsletter"}`, 200).decode(t, &d)
	if d.Allowed || d.Reason != "channel_not_offered" {
		t.Errorf("POST /v1/decisions on sms after removing it = %+v; want denied channel_not_offered", d)
	}
	if n := e.logSize(bRead); n != size+1 {
		t.Errorf("PATCH /v1/purposes/newsletter: the log grew from %d to %d; want one entry", size, n)
	}
}

// ---- 7. the document and the routes agree ----

func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newEnv(t)
	r := e.must("GET", "/openapi.json", "", nil, 200)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("GET /openapi.json: Content-Type %q", ct)
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	r.decode(t, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("GET /openapi.json: openapi %q; want 3.1.x", doc.OpenAPI)
	}
	ops := e.api.Operations()
	n := 0
	for _, item := range doc.Paths {
		for m := range item {
			switch m {
			case "get", "put", "post", "patch", "delete", "head", "options", "trace":
				n++
			}
		}
	}
	if n != len(ops) {
		t.Errorf("GET /openapi.json has %d operations; Operations() has %d", n, len(ops))
	}
	have := map[string]bool{}
	for _, op := range ops {
		route := op.Method + " " + op.Path
		have[route] = true
		o, ok := doc.Paths[op.Path][strings.ToLower(op.Method)].(map[string]any)
		if !ok {
			t.Errorf("GET /openapi.json: no %s", route)
			continue
		}
		var roles []string
		if xr, ok := o["x-roles"].([]any); ok {
			for _, v := range xr {
				s, _ := v.(string)
				roles = append(roles, s)
			}
		}
		if !slices.Equal(roles, op.Roles) {
			t.Errorf("GET /openapi.json %s: x-roles %v; the route's roles are %v", route, o["x-roles"], op.Roles)
		}
		if len(roles) == 0 && strings.HasPrefix(op.Path, "/v1/") {
			t.Errorf("GET /openapi.json %s: no x-roles; every /v1 route needs a key of some role", route)
		}
		if _, ok := o["security"]; !ok && strings.HasPrefix(op.Path, "/v1/") {
			t.Errorf("GET /openapi.json %s: no security requirement, so the document calls it public", route)
		}
	}

	// The routes of docs/api.md that this server implements.
	design := []string{
		"GET /v1/workspace", "PATCH /v1/workspace",
		"GET /v1/purposes", "POST /v1/purposes", "GET /v1/purposes/{id}", "PATCH /v1/purposes/{id}", "DELETE /v1/purposes/{id}",
		"GET /v1/topics", "POST /v1/topics", "GET /v1/topics/{id}", "PATCH /v1/topics/{id}", "DELETE /v1/topics/{id}",
		"GET /v1/channel-types",
		"POST /v1/consents", "POST /v1/consents:batch", "GET /v1/consents", "POST /v1/consents:search",
		"GET /v1/consents/{id}", "GET /v1/consents/{id}/history", "GET /v1/consents/{id}/receipt",
		"POST /v1/decisions", "POST /v1/decisions:batch",
		"PUT /v1/parties/{id}", "GET /v1/parties/{id}", "GET /v1/parties/{id}/consents",
		"GET /v1/suppressions", "POST /v1/suppressions", "DELETE /v1/suppressions/{id}",
		"GET /v1/log", "GET /v1/log/verify", "POST /v1/log/checkpoints", "GET /v1/log/checkpoints/latest",
		"GET /v1/keys", "POST /v1/keys", "DELETE /v1/keys/{id}",
	}
	for _, route := range design {
		method, path, _ := strings.Cut(route, " ")
		if !have[route] {
			t.Errorf("Operations() has no %s (docs/api.md)", route)
		}
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("GET /openapi.json has no %s (docs/api.md)", route)
		}
	}
	// The batch decision documents its NDJSON form.
	if o, ok := doc.Paths["/v1/decisions:batch"]["post"].(map[string]any); ok {
		if b, _ := json.Marshal(o["requestBody"]); !strings.Contains(string(b), "application/x-ndjson") {
			t.Errorf("GET /openapi.json POST /v1/decisions:batch: request body %s does not offer application/x-ndjson", b)
		}
	}
	// The operations endpoints answer without a key.
	for _, p := range []string{"/healthz", "/readyz", "/openapi.json"} {
		e.must("GET", p, "", nil, 200)
	}
	// An unknown route is a problem document too.
	if r := e.do("GET", "/v1/nothing-here", e.a.key(consentd.RoleAdmin), nil); r.status != 404 || r.problem(t).Code != consentd.ENOTFOUND {
		t.Errorf("GET /v1/nothing-here = %s; want 404 %s", r, consentd.ENOTFOUND)
	}
}
