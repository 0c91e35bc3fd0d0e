package feeds_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/feeds"
	"github.com/consentd/consentd/internal/signedlink"
	"github.com/consentd/consentd/internal/sqlite"
)

// env is a real SQLite store with two workspaces (ws and other), each with
// a newsletter (commercial) and orders (transactional) purpose on email,
// and the feed endpoint served on loopback.
type env struct {
	t     *testing.T
	ctx   context.Context
	db    *sqlite.DB
	ws    string
	other string
	links *signedlink.Keyring
	srv   *httptest.Server
	now   time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(filepath.Join(dir, "consentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{t: t, ctx: context.Background(), db: db, now: time.Now().UTC()}
	for _, name := range []string{"a", "b"} {
		ws, err := db.CreateWorkspace(e.ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []*consentd.Purpose{
			{ID: "newsletter", Name: "Newsletter", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"email": {}}},
			{ID: "orders", Name: "Orders", Type: consentd.Transactional, Channels: map[string]consentd.ChannelSetting{"email": {Enforcement: consentd.NonRestrictive}}},
		} {
			if err := db.PutPurpose(e.ctx, ws.ID, p, true, "test"); err != nil {
				t.Fatal(err)
			}
		}
		if name == "a" {
			e.ws = ws.ID
		} else {
			e.other = ws.ID
		}
	}
	if e.links, err = signedlink.LoadOrCreate(filepath.Join(dir, "links.json")); err != nil {
		t.Fatal(err)
	}
	h := feeds.NewHandler(db, e.links, slog.New(slog.DiscardHandler))
	h.Now = func() time.Time { return e.now }
	mux := http.NewServeMux()
	h.Mount(mux)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

// feed configures and stores a feed in workspace ws; it returns the
// secret shown once, if any.
func (e *env) feed(ws string, f *consentd.Feed) string {
	e.t.Helper()
	shown, err := feeds.Configure(f)
	if err != nil {
		e.t.Fatalf("Configure(%s) = %v", f.ID, err)
	}
	if err := e.db.PutFeed(e.ctx, ws, f, true); err != nil {
		e.t.Fatal(err)
	}
	return shown
}

// ref is the message reference a sender attaches: the token of an
// unsubscribe link for cp from the newsletter on email.
func (e *env) ref(ws, cp string) string {
	e.t.Helper()
	secret, err := e.db.WorkspaceSecret(e.ctx, ws)
	if err != nil {
		e.t.Fatal(err)
	}
	h := consentd.ContactPointHash(secret, consentd.KindEmail, cp)
	tok, err := e.links.Sign(signedlink.Claims{Kind: signedlink.Unsubscribe, Workspace: ws, Hash: base64.RawURLEncoding.EncodeToString(h[:]),
		CPKind: "email", ChannelType: "newsletter:email"})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// optIn opts cp in to the newsletter, long before any fixture's events.
func (e *env) optIn(ws, cp string) {
	e.t.Helper()
	res, err := e.db.WriteConsents(e.ctx, ws, []consentd.ConsentWrite{{ContactPoint: cp, Channel: "email", Purpose: "newsletter",
		Status: consentd.OptedIn, CapturedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Source: consentd.Source{Type: "form"}}}, "test")
	if err != nil || res[0].Err != nil {
		e.t.Fatalf("opt in: %v %v", err, res[0].Err)
	}
}

// fixture reads a testdata file, replacing {{NAME}} placeholders.
func fixture(t *testing.T, name string, repl ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.NewReplacer(repl...).Replace(string(b)))
}

// post sends a JSON body to a feed path and returns the status and answer.
func (e *env) post(path string, body []byte, header http.Header) (int, map[string]any) {
	e.t.Helper()
	return e.postType(path, body, "application/json", header)
}

// postType sends body of a content type to a feed path and returns the
// status and answer.
func (e *env) postType(path string, body []byte, contentType string, header http.Header) (int, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var ans map[string]any
	json.Unmarshal(b, &ans)
	return resp.StatusCode, ans
}

func (e *env) logSize(ws string) int64 {
	e.t.Helper()
	n, err := e.db.LogSize(e.ctx, ws)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// allowed decides a message of purpose to cp by email.
func (e *env) allowed(ws, cp, purpose string) bool {
	e.t.Helper()
	d, err := e.db.Decide(e.ctx, ws, &consentd.DecisionRequest{ContactPoint: cp, Channel: "email", Purpose: purpose})
	if err != nil {
		e.t.Fatalf("Decide(%s, %s) = %v", cp, purpose, err)
	}
	return d.Allowed
}

// status is cp's newsletter consent status ("" when none).
func (e *env) status(ws, cp string) consentd.Status {
	e.t.Helper()
	c, err := e.db.Consent(e.ctx, ws, cp+"#newsletter:email", time.Time{})
	if consentd.ErrorCode(err) == consentd.ENOTFOUND {
		return ""
	} else if err != nil {
		e.t.Fatal(err)
	}
	return c.Status
}

// suppressions lists the reasons cp is suppressed for.
func (e *env) suppressions(ws, cp string) []consentd.SuppressionReason {
	e.t.Helper()
	l, err := e.db.Suppressions(e.ctx, ws)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []consentd.SuppressionReason
	for _, s := range l {
		if s.ContactPoint == cp {
			out = append(out, s.Reason)
		}
	}
	return out
}

// unchanged fails the test when fn changes the workspace's log.
func (e *env) unchanged(ws, what string, fn func()) {
	e.t.Helper()
	before := e.logSize(ws)
	fn()
	if after := e.logSize(ws); after != before {
		e.t.Errorf("%s: the log grew by %d; want no change", what, after-before)
	}
}
