package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/api"
	"github.com/consentd/consentd/internal/apitest"
	"github.com/consentd/consentd/internal/doi"
	"github.com/consentd/consentd/internal/index"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/pgtest"
	"github.com/consentd/consentd/internal/postgres"
	"github.com/consentd/consentd/internal/signedlink"
	"github.com/consentd/consentd/internal/sqlite"
	"github.com/consentd/consentd/internal/web"
)

// env is a server as serve builds it: the API and the public pages on one
// mux on loopback, real SQLite in t.TempDir(), decisions from the index.
type env struct {
	t        *testing.T
	db       envDB
	api      *api.Server
	pages    *web.Server
	links    *signedlink.Keyring
	signer   *ledger.Signer // the log's checkpoint key
	srv      *httptest.Server
	ws       string
	admin    string // admin key
	check    string // check key
	logs     *lockedBuffer
	patterns *patternLog
	// client checks every API exchange against /openapi.json
	// (internal/apitest); the public pages are not in it and pass as they
	// are.
	client *http.Client
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

// patternLog records what an access log keyed on r.Pattern would see.
type patternLog struct {
	mu  sync.Mutex
	got []string
}

func (p *patternLog) add(s string) {
	p.mu.Lock()
	p.got = append(p.got, s)
	p.mu.Unlock()
}

func (p *patternLog) all() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.got...)
}

// The catalog every env has: newsletter (commercial; email
// non_restrictive, sms restrictive) with topic weekly; partners
// (commercial, email, sale_or_share); orders (transactional, email
// disabled).
var catalog = []struct{ path, body string }{
	{"/v1/purposes", `{"id":"newsletter","name":"Newsletter","description":"News about our products, once a month.","type":"commercial","channels":{"email":{"enforcement":"non_restrictive","external_id":"0eB000000000001"},"sms":{}}}`},
	{"/v1/topics", `{"id":"weekly","purpose":"newsletter","name":"Weekly digest","description":"The week's best articles."}`},
	{"/v1/purposes", `{"id":"partners","name":"Partner offers","type":"commercial","sale_or_share":true,"channels":{"email":{}}}`},
	{"/v1/purposes", `{"id":"orders","name":"Order updates","type":"transactional","channels":{"email":{"enforcement":"disabled"}}}`},
}

// envDB is what env needs of a backend: both of them have it.
type envDB interface {
	api.Store
	web.Store
	doi.Store
	index.Source
	CreateWorkspace(ctx context.Context, name string) (*consentd.Workspace, error)
	CreateKey(ctx context.Context, wsID string, role consentd.Role, name, secret string) (*consentd.APIKey, string, error)
	SetOnCommit(f func(map[string][]consentd.LogRecord))
	Close() error
}

// backends runs f on an env on SQLite and on one on PostgreSQL (skipped
// when the server is not reachable, unless CI=true).
func backends(t *testing.T, f func(t *testing.T, e *env)) {
	t.Run("sqlite", func(t *testing.T) { f(t, newEnv(t)) })
	t.Run("postgres", func(t *testing.T) {
		db, err := postgres.Open(t.Context(), pgtest.FreshDB(t))
		if err != nil {
			t.Fatal(err)
		}
		f(t, newEnvOn(t, db))
	})
}

// newEnv is an env on a new SQLite database.
func newEnv(t *testing.T) *env {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "consentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	return newEnvOn(t, db)
}

// newEnvOn is an env on db, which it closes at the end of the test.
func newEnvOn(t *testing.T, db envDB) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	t.Cleanup(func() { db.Close() })
	signer, err := ledger.LoadOrCreateKey(filepath.Join(dir, "checkpoint.key"), "consentd")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := signedlink.LoadOrCreate(filepath.Join(dir, "link-keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := api.New(db, signer, log)
	idx := index.New(db, log)
	db.SetOnCommit(func(m map[string][]consentd.LogRecord) { idx.Apply(context.Background(), m) })
	a.Decider = idx
	pages := web.New(db, keys, log)
	pages.Receipts = a // as serve has it

	srv := httptest.NewUnstartedServer(nil)
	if err := a.EnableLinks(keys, "http://"+srv.Listener.Addr().String()); err != nil {
		t.Fatal(err)
	}
	// The mounting serve does.
	mux := http.NewServeMux()
	mux.Handle("/", a)
	pages.Mount(mux)
	mux.Handle("/c/", doi.NewHandler(db, keys, log)) // confirmation links
	patterns := &patternLog{}
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		patterns.add(r.Method + " " + r.Pattern) // what the access log sees
	})
	srv.Start()
	t.Cleanup(srv.Close)

	e := &env{t: t, db: db, api: a, pages: pages, links: keys, signer: signer, srv: srv, logs: logs, patterns: patterns,
		client: &http.Client{Transport: apitest.Transport(t, nil)}}
	w, err := db.CreateWorkspace(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	e.ws = w.ID
	if _, e.admin, err = db.CreateKey(ctx, w.ID, consentd.RoleAdmin, "admin", ""); err != nil {
		t.Fatal(err)
	}
	if _, e.check, err = db.CreateKey(ctx, w.ID, consentd.RoleCheck, "check", ""); err != nil {
		t.Fatal(err)
	}
	for _, c := range catalog {
		e.api201(c.path, c.body)
	}
	t.Cleanup(func() {
		if l := logs.String(); strings.Contains(l, "level=ERROR") {
			t.Errorf("the server logged errors:\n%s", l)
		}
	})
	return e
}

// call makes an API request with the admin key and decodes the answer.
func (e *env) call(method, path, body string, out any) int {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	if resp.StatusCode >= 300 && resp.StatusCode != 404 {
		e.t.Logf("%s %s = %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

func (e *env) api201(path, body string) {
	e.t.Helper()
	if st := e.call("POST", path, body, nil); st != 201 && st != 200 {
		e.t.Fatalf("POST %s = %d", path, st)
	}
}

type linkAnswer struct {
	URL                 string `json:"url"`
	Token               string `json:"token"`
	ListUnsubscribe     string `json:"list_unsubscribe"`
	ListUnsubscribePost string `json:"list_unsubscribe_post"`
}

// link makes a link through POST /v1/links.
func (e *env) link(kind, contactPoint, channelType string) linkAnswer {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"kind": kind, "contact_point": contactPoint, "channel_type": channelType})
	var a linkAnswer
	if st := e.call("POST", "/v1/links", string(body), &a); st != 200 {
		e.t.Fatalf("POST /v1/links %s = %d", body, st)
	}
	return a
}

// decide asks POST /v1/decisions with the check key, as a send pipeline
// would.
func (e *env) decide(cp, channel, purpose, topic string) consentd.DecisionResult {
	e.t.Helper()
	body, _ := json.Marshal(consentd.DecisionRequest{ContactPoint: cp, Channel: channel, Purpose: purpose, Topic: topic})
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/decisions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.check)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var d consentd.DecisionResult
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || resp.StatusCode != 200 {
		e.t.Fatalf("POST /v1/decisions = %d, %v", resp.StatusCode, err)
	}
	return d
}

// consent reads one consent through the API; nil when there is none.
func (e *env) consent(cp, channelType string) *consentd.Consent {
	e.t.Helper()
	var c consentd.Consent
	if st := e.call("GET", "/v1/consents/"+url.PathEscape(consentd.ConsentID(cp, channelType)), "", &c); st == 404 {
		return nil
	} else if st != 200 {
		e.t.Fatalf("GET consent = %d", st)
	}
	return &c
}

func (e *env) write(cp, channelType string, status consentd.Status, at time.Time) {
	e.t.Helper()
	body, _ := json.Marshal(consentd.ConsentWrite{ContactPoint: cp, ChannelType: channelType, Status: status, CapturedAt: at, Source: consentd.Source{Type: "api"}})
	e.api201("/v1/consents", string(body))
}

func (e *env) logSize() int64 {
	e.t.Helper()
	n, err := e.db.LogSize(context.Background(), e.ws)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// lastEntry is the type of the newest log entry.
func (e *env) lastEntry() string {
	e.t.Helper()
	n := e.logSize()
	recs, err := e.db.Log(context.Background(), e.ws, n-1, 1)
	if err != nil || len(recs) != 1 {
		e.t.Fatalf("log entry %d: %v", n, err)
	}
	var entry consentd.LogEntry
	json.Unmarshal(recs[0].Entry, &entry)
	return entry.Type
}

type page struct {
	status int
	header http.Header
	body   string
}

// do sends a request to a public page, with no API key and no cookie jar.
func (e *env) do(method, rawURL, contentType, body string, header ...string) page {
	e.t.Helper()
	req, err := http.NewRequest(method, rawURL, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", "consentd-test/1")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{Transport: e.client.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, resp.Header, string(b)}
}
