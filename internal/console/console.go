// Package console serves the operator console under /admin/: server-
// rendered pages (html/template, assets embedded, no JavaScript) for the
// people who run a workspace. An operator signs in with an API key of the
// workspace (any role but check); the console then keeps a session in a
// cookie, never the key. Screens today: sign-in; the overview, where
// sign-in lands (consents captured in a period against the one before,
// with server-drawn SVG charts and a table per breakdown); "a person" (every
// consent, decision and suppression of a contact point or party, each
// consent's receipt and history; opting out on the person's behalf,
// suppressing and lifting, starting a data-subject request, mailing a
// preference link); blocked sends
// (decisions allowed and blocked by reason, against the previous period);
// the log (size, newest checkpoint, verification); and queues
// (data-subject requests with their days left, retrying and failed jobs
// with retry, webhooks with their lag, last error and resume, imports with
// their rejects, and SMS replies to review).
//
// Every form carries the session's CSRF token and passes Go's
// cross-origin protection; pages are never cached, framed or sniffed, and
// their CSP allows no script. Contact points never reach the logs: errors
// are logged by route pattern.
package console

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/ratelimit"
	"github.com/consentd/consentd/internal/reqcheck"
	"golang.org/x/time/rate"
)

//go:embed templates
var files embed.FS

// Store is what the console needs of a storage backend (internal/sqlite,
// internal/postgres): the methods the API reads and writes with.
type Store interface {
	Authenticate(ctx context.Context, secret string) (*consentd.APIKey, error)
	Keys(ctx context.Context, wsID string) ([]*consentd.APIKey, error)
	Workspace(ctx context.Context, id string) (*consentd.Workspace, error)
	Catalog(ctx context.Context, wsID string) (*consentd.Catalog, error)
	Consent(ctx context.Context, wsID, id string, asOf time.Time) (*consentd.Consent, error)
	ListConsents(ctx context.Context, wsID string, f consentd.ConsentFilter) ([]*consentd.Consent, string, error)
	Decide(ctx context.Context, wsID string, req *consentd.DecisionRequest) (*consentd.DecisionResult, error)
	Party(ctx context.Context, wsID, id string) (*consentd.Party, error)
	PartyConsents(ctx context.Context, wsID, id string) ([]*consentd.Consent, error)
	Suppressions(ctx context.Context, wsID string) ([]*consentd.Suppression, error)
	WriteConsents(ctx context.Context, wsID string, writes []consentd.ConsentWrite, actor string) ([]consentd.WriteResult, error)
}

// Receipts builds a consent's receipt as GET /v1/consents/{id}/receipt
// answers it (api.Server has it).
type Receipts interface {
	Receipt(ctx context.Context, wsID, id string) (*ledger.Receipt, error)
}

// Role sets, the API's: any key but a check key reads (internal/api
// "readers"), and opting out on a person's behalf is an agent's act
// (internal/api "agents"). The tests compare them with the API's document.
var (
	readers = []consentd.Role{consentd.RoleAdmin, consentd.RoleWrite, consentd.RoleRead, consentd.RoleAgent}
	agents  = []consentd.Role{consentd.RoleAdmin, consentd.RoleWrite, consentd.RoleAgent}
)

// Failed sign-ins per client address: signInBurst, then one every 6
// seconds. A key is too long to guess; the limit keeps a client from
// trying keys leaked elsewhere by the thousand, and an operator who
// mistypes a few times never meets it.
const (
	signInRate  = rate.Limit(1.0 / 6)
	signInBurst = 10
)

// cookieName is the session cookie's name.
const cookieName = "consentd_console"

// Server is the console. Set its exported fields, if at all, before
// serving.
type Server struct {
	DB       Store
	Receipts Receipts
	Log      *slog.Logger
	Now      func() time.Time
	// ClientIP returns the client's address, for the sign-in rate limit;
	// nil: the connection's. serve sets it to honour --trusted-proxies.
	ClientIP func(r *http.Request) string

	signIns *ratelimit.Limiter // failed sign-ins per client address

	mux      *http.ServeMux
	pages    map[string]*template.Template
	style    template.HTML
	csp      string
	cop      *http.CrossOriginProtection
	sessions *sessions
}

// New returns the console.
func New(db Store, receipts Receipts, log *slog.Logger) *Server {
	s := &Server{DB: db, Receipts: receipts, Log: log, Now: time.Now, mux: http.NewServeMux(),
		cop: http.NewCrossOriginProtection(), sessions: newSessions(),
		signIns: ratelimit.New(signInRate, signInBurst, 10000)}
	s.parseTemplates()
	s.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.message(w, r, http.StatusForbidden, nil, "Refused", "This form was sent from another site, so it was refused.")
	}))
	s.mux.HandleFunc("GET /admin/{$}", s.home)
	s.mux.HandleFunc("POST /admin/sign-in", s.signIn)
	s.mux.HandleFunc("POST /admin/sign-out", s.signOut)
	s.mux.HandleFunc("GET /admin/person", s.person)
	s.mux.HandleFunc("POST /admin/opt-out", s.optOut)
	s.mux.HandleFunc("GET /admin/receipt", s.receipt)
	s.mountPersonActions() // personacts.go
	s.mountQueues()
	s.addReportScreens() // blocked.go
	s.addOverview()      // overview.go
	s.mux.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) {
		s.message(w, r, http.StatusNotFound, nil, "Not found", "There is no such page in the console.")
	})
	return s
}

// Mount serves the console on mux under /admin/ (the mux redirects
// /admin there).
func (s *Server) Mount(mux *http.ServeMux) { mux.Handle("/admin/", s) }

// AddTrustedOrigin lets the console's forms be posted from origin
// (scheme://host[:port]) as well as from its own.
func (s *Server) AddTrustedOrigin(origin string) error { return s.cop.AddTrustedOrigin(origin) }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store") // pages name people
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Robots-Tag", "noindex, nofollow")
	h.Set("Content-Security-Policy", s.csp)
	if reqcheck.Path(r) != nil || reqcheck.Query(r) != nil {
		s.message(w, r, http.StatusBadRequest, nil, "Bad request", "The address holds text that cannot be read.")
		return
	}
	s.cop.Handler(s.mux).ServeHTTP(w, r)
}

func (s *Server) parseTemplates() {
	css, err := files.ReadFile("templates/style.css")
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(css)
	s.style = template.HTML("<style>" + string(css) + "</style>")
	s.csp = "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	s.pages = map[string]*template.Template{}
	for _, name := range []string{"signin", "home", "person", "message"} {
		s.pages[name] = template.Must(template.New("layout.html").ParseFS(files, "templates/layout.html", "templates/"+name+".html"))
	}
}

// operator is who is signed in, for the layout: the workspace every screen
// names, the role, and the CSRF token of the sign-out form.
type operator struct {
	Workspace *consentd.Workspace
	Role      consentd.Role
	CSRF      string
}

// view is what the layout gets.
type view struct {
	Style template.HTML
	Op    *operator // nil when signed out
	Page  any
}

// render writes a page. A template error is a bug: logged, bare 500.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, op *operator, page any) {
	var b strings.Builder
	if err := s.pages[name].Execute(&b, view{Style: s.style, Op: op, Page: page}); err != nil {
		s.Log.Error("console: render page", "route", r.Pattern, "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

type messagePage struct{ Title, Text string }

// message writes a page of one title and one sentence.
func (s *Server) message(w http.ResponseWriter, r *http.Request, status int, op *operator, title, text string) {
	s.render(w, r, status, "message", op, messagePage{title, text})
}

// fail answers a store error: logged by route (never the query, which
// names a person), and a 500 page.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, op *operator, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	s.Log.Error("console", "method", r.Method, "route", r.Pattern, "err", err)
	s.message(w, r, http.StatusInternalServerError, op, "Something went wrong", "The server could not answer. Try again; if it keeps failing, the server's log says why.")
}

// signedIn returns the request's session and its operator. A missing,
// expired or unknown session, or one whose key was deleted since, answers
// the sign-in page (401) and ok is false.
func (s *Server) signedIn(w http.ResponseWriter, r *http.Request) (*session, *operator, bool) {
	c, err := r.Cookie(cookieName)
	if err == nil {
		if v, ok := s.sessions.get(c.Value, s.Now()); ok {
			op, live, err := s.operator(r.Context(), v)
			if err != nil {
				s.fail(w, r, nil, err)
				return nil, nil, false
			}
			if live {
				return v, op, true
			}
			s.sessions.end(v.id)
		}
	}
	s.render(w, r, http.StatusUnauthorized, "signin", nil, signinPage{Error: "Sign in to see this page."})
	return nil, nil, false
}

// operator looks up the session's workspace; live is false when its key
// is gone (a deleted key ends its sessions at their next request).
func (s *Server) operator(ctx context.Context, v *session) (*operator, bool, error) {
	keys, err := s.DB.Keys(ctx, v.workspace)
	if err != nil {
		return nil, false, fmt.Errorf("list keys: %w", err)
	}
	found := false
	for _, k := range keys {
		if k.ID == v.keyID {
			found = true
			break
		}
	}
	if !found {
		return nil, false, nil
	}
	ws, err := s.DB.Workspace(ctx, v.workspace)
	if err != nil {
		return nil, false, fmt.Errorf("read workspace: %w", err)
	}
	return &operator{Workspace: ws, Role: v.role, CSRF: v.csrf}, true, nil
}

// allowedForm starts a form's action: signed in, the form read with its
// CSRF token, and the session's role one of set (the API route's). It
// answers (401, 403 naming the roles that may, or 400) and returns ok
// false otherwise. what names the act for the refusal: "retry a job".
func (s *Server) allowedForm(w http.ResponseWriter, r *http.Request, set []consentd.Role, what string) (*session, *operator, bool) {
	v, op, ok := s.signedIn(w, r)
	if !ok || !s.postForm(w, r, v, op) {
		return nil, nil, false
	}
	if !hasRole(set, v.role) {
		names := make([]string, len(set))
		for i, r := range set {
			names[i] = string(r)
		}
		s.message(w, r, http.StatusForbidden, op, "Not allowed", aKey(v.role)+" may not "+what+": sign in with a key of role "+strings.Join(names, " or ")+".")
		return nil, nil, false
	}
	return v, op, true
}

// postForm reads a form body of at most 64 KiB and checks the session's
// CSRF token in it; false when it answered (400 or 403).
func (s *Server) postForm(w http.ResponseWriter, r *http.Request, v *session, op *operator) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil || reqcheck.Values(r.PostForm, "form field") != nil {
		s.message(w, r, http.StatusBadRequest, op, "Bad request", "The form could not be read.")
		return false
	}
	if !v.checkCSRF(r.PostForm.Get("csrf")) {
		s.message(w, r, http.StatusForbidden, op, "Refused", "This form is out of date or did not come from this console. Go back, reload the page and try again.")
		return false
	}
	return true
}

func hasRole(set []consentd.Role, r consentd.Role) bool {
	for _, x := range set {
		if x == r {
			return true
		}
	}
	return false
}

// aKey names a key by its role with its article, for a sentence's start:
// "A read key", "An agent key".
func aKey(role consentd.Role) string {
	if strings.ContainsRune("aeiou", rune(string(role)[0])) {
		return "An " + string(role) + " key"
	}
	return "A " + string(role) + " key"
}
