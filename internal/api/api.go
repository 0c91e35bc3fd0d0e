// Package api serves consentd's HTTP API v1: JSON handlers, API key
// authentication and roles, and the one problem+json error writer. Its
// routes live in one table that both the mux and /openapi.json are built
// from, so the document cannot drift from the code.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/openapi"
	"github.com/consentd/consentd/internal/reqcheck"
	"github.com/consentd/consentd/internal/tally"
)

// Version is the API document's version.
const Version = "1.0.0"

// Server is the HTTP API.
type Server struct {
	DB     Store
	Ledger ledger.Store // the log's checkpoints: DB, or a ledger.Mirror of it
	// Decider answers decisions: the DB, or an in-memory index.Index fed
	// from it.
	Decider Decider
	Signer  *ledger.Signer
	Log     *slog.Logger
	Now     func() time.Time
	// WebhookAllowPrivate lets webhooks target loopback, private and
	// link-local addresses (--webhook-allow-private).
	WebhookAllowPrivate bool

	// JobsNudge, when set, is called when a job may be due now (a record
	// enqueued one, a job was retried): the automation runner's wake-up.
	JobsNudge func()
	// AfterErasure, when set, runs after an address was erased (an erase
	// request, or an `erased` suppression): it deletes what else still
	// names erased addresses (automation job inputs:
	// automation.PurgeErased).
	AfterErasure func(ctx context.Context, wsID string) error
	// JobMaxAttempts is how many runs a rule job gets before it is failed
	// (0: consentd.DefaultJobMaxAttempts).
	JobMaxAttempts int
	// ClientIP returns the client's address, for the rate limits; the
	// default is the host of r.RemoteAddr. Behind a reverse proxy, set it
	// to read the address the proxy adds (clientip.Resolver).
	ClientIP func(r *http.Request) string
	// Tally, when set, counts every decision answered, for the reports
	// (internal/tally); serve flushes it to the DB.
	Tally *tally.Counter
	// MetricsToken, when set, is the bearer token GET /metrics requires
	// (--metrics-token); empty: /metrics is open, as /healthz is.
	MetricsToken string

	mux *http.ServeMux
	doc *openapi.Document
	// decisionRoute is POST /v1/decisions' handler, which ServeHTTP calls
	// without the mux.
	decisionRoute http.HandlerFunc
	links         atomic.Pointer[linkMaker]  // set by EnableLinks
	linkMail      atomic.Pointer[linkMailer] // set by EnableLinkMail
	keys          sync.Map                   // key hash -> cachedKey

	imports importsConfig // imports.go: set by EnableImports
	limits  *limiters     // limits.go: set by SetLimits
}

// Decider answers one decision.
type Decider interface {
	Decide(ctx context.Context, wsID string, req *consentd.DecisionRequest) (*consentd.DecisionResult, error)
}

// route is one row of the route table.
type route struct {
	op      openapi.Operation
	roles   []consentd.Role
	handler func(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error
}

// Role sets.
var (
	everyone = []consentd.Role{consentd.RoleAdmin, consentd.RoleWrite, consentd.RoleCheck, consentd.RoleRead, consentd.RoleAgent}
	readers  = []consentd.Role{consentd.RoleAdmin, consentd.RoleWrite, consentd.RoleRead, consentd.RoleAgent}
	writers  = []consentd.Role{consentd.RoleAdmin, consentd.RoleWrite}
	agents   = []consentd.Role{consentd.RoleAdmin, consentd.RoleWrite, consentd.RoleAgent}
	admins   = []consentd.Role{consentd.RoleAdmin}
)

// New builds the server and its routes.
func New(db Store, signer *ledger.Signer, log *slog.Logger) *Server {
	s := &Server{DB: db, Ledger: db, Decider: db, Signer: signer, Log: log, Now: time.Now, mux: http.NewServeMux(),
		doc: openapi.New("consentd API", Version, "Consent ledger and send-time decisions. See docs/api.md in the repository.")}
	for _, rt := range s.routes() {
		s.handle(rt)
	}
	s.doc.SetLicense("Apache License 2.0", "Apache-2.0")
	for name, d := range tagDocs {
		s.doc.DescribeTag(name, d)
	}
	s.doc.Add(problemOps())
	s.doc.Add(logoOp())
	s.mux.HandleFunc("GET "+logoPath, s.serveLogo) // public: pages and mails show it
	s.mux.HandleFunc("GET "+problemPath+"{code}", s.serveProblem)
	s.mux.HandleFunc("GET /openapi.json", s.serveOpenAPI)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	s.mux.HandleFunc("GET /readyz", s.ready)
	s.mux.Handle("GET /metrics", s.serveMetrics())
	// The catch-all answers problem JSON instead of the mux's plain text;
	// it also takes the requests the mux would answer 405 itself (a known
	// path, another method), so it tells those apart from unknown paths.
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if allow := s.allowed(r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			s.writeError(w, r, consentd.Errorf(consentd.EMETHODNOTALLOWED, "%s is not allowed on this path; allowed: %s", r.Method, strings.Join(allow, ", ")))
			return
		}
		s.writeError(w, r, consentd.Errorf(consentd.ENOTFOUND, "no such route"))
	})
	return s
}

// probeMethods are the methods allowed tries on a path.
var probeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// allowed returns the methods that have a route for r's path, asking the
// mux itself (so wildcards match as they do for real requests): a method
// is allowed when a probe with it finds a pattern other than the
// catch-all.
func (s *Server) allowed(r *http.Request) []string {
	var allow []string
	for _, m := range probeMethods {
		if m == r.Method {
			continue
		}
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	return allow
}

// ServeHTTP implements http.Handler. No API answer may be cached (some
// show a new key's secret once, all of them name contact points) or
// sniffed into another type.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// A single decision, the most frequent request, goes to its handler
	// without the mux's search through every pattern: a POST to exactly
	// this clean, unescaped path is one the mux gives that route (the most
	// specific pattern, no wildcards, no host), so the request gets the
	// Pattern the mux would set (metrics and the access log read it).
	if s.decisionRoute != nil && IsDecision(r) {
		r.Pattern = http.MethodPost + " " + DecisionPath
		s.decisionRoute(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// DecisionPath is the single decision's route, which ServeHTTP serves
// without the mux.
const DecisionPath = "/v1/decisions"

// IsDecision reports whether r is a POST to exactly DecisionPath: clean and
// unescaped, so that the mux would give it that route (or redirect or
// unescape it otherwise; such requests go through the mux).
func IsDecision(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Path == DecisionPath && r.URL.RawPath == ""
}

// decide answers one decision through the Decider, records its latency
// and counts it for the reports.
func (s *Server) decide(r *http.Request, wsID string, req *consentd.DecisionRequest) (*consentd.DecisionResult, error) {
	start := time.Now()
	d, err := s.Decider.Decide(r.Context(), wsID, req)
	if err == nil {
		s.counted(wsID, req, d, start)
	}
	return d, err
}

// counted records a decision's latency (from start) and counts it for the
// reports.
func (s *Server) counted(wsID string, req *consentd.DecisionRequest, d *consentd.DecisionResult, start time.Time) {
	observeDecision(start, d.Allowed)
	s.Tally.Count(wsID, req.Purpose, req.Channel, d.Allowed, d.Reason, start)
}

// Operations lists the API's operations, as documented in /openapi.json.
func (s *Server) Operations() []openapi.Operation { return s.doc.Operations() }

func (s *Server) handle(rt route) {
	roles := make([]string, len(rt.roles))
	for i, r := range rt.roles {
		roles[i] = string(r)
	}
	op := rt.op
	op.Roles = roles
	op.Errors = append(defaultErrors(op), op.Errors...)
	if op.Description == "" {
		op.Description = descriptions[op.Method+" "+op.Path]
	}
	s.doc.Add(op)
	allowed := rt.roles
	params := wildcards(op.Path)
	h := func(w http.ResponseWriter, r *http.Request) {
		k, err := s.admit(w, r)
		if err == nil && !hasRole(allowed, k.Role) {
			err = consentd.Errorf(consentd.EFORBIDDEN, "a key with role %s may not do this; allowed: %s", k.Role, strings.Join(roles, ", "))
		}
		if err == nil {
			err = checkRequestText(r, params)
		}
		if err == nil {
			err = rt.handler(w, r, k)
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	}
	s.mux.HandleFunc(op.Method+" "+muxPath(op.Path), h)
	if op.Method == http.MethodPost && op.Path == DecisionPath {
		s.decisionRoute = h
	}
}

// defaultErrors are the error statuses every operation may answer: 400
// (malformed), 401 and 403 (key and role), 404, 422 (validation), 429
// (rate limited) and 500;
// 409 for a write (a conflict with the stored state, or on PostgreSQL with
// a write at the same time); 413 for one that reads a body (over its size
// limit).
func defaultErrors(op openapi.Operation) []int {
	errs := []int{400, 401, 403, 404, 422, 429, 500}
	if op.Method != "GET" {
		errs = append(errs, 409)
	}
	if op.Request != nil || len(op.RequestTypes) > 0 {
		errs = append(errs, 413)
	}
	return errs
}

// muxPath turns "/v1/parties/{id}:opt-out-all" into a ServeMux pattern:
// a wildcard must be a whole segment, so such routes are registered on the
// segment and the handler checks the suffix.
func muxPath(p string) string {
	if i := strings.LastIndex(p, "}:"); i >= 0 {
		return p[:i+1]
	}
	return p
}

// checkRequestText refuses, before any handler reads them, path
// parameters and query parameters that are not storable text (invalid
// UTF-8, NUL, control characters) or too long: 400 malformed_request, or
// 422 for a value over reqcheck.MaxParamLen, naming the parameter.
func checkRequestText(r *http.Request, params []string) error {
	if err := reqcheck.PathValues(r, params...); err != nil {
		return err
	}
	if err := reqcheck.Path(r); err != nil {
		return err
	}
	return reqcheck.Query(r)
}

// wildcards returns the names of the {name} parameters of a route's path.
func wildcards(path string) []string {
	var names []string
	for {
		i := strings.IndexByte(path, '{')
		j := strings.IndexByte(path, '}')
		if i < 0 || j < i {
			return names
		}
		names = append(names, path[i+1:j])
		path = path[j+1:]
	}
}

func hasRole(allowed []consentd.Role, r consentd.Role) bool {
	for _, a := range allowed {
		if a == r {
			return true
		}
	}
	return false
}

type cachedKey struct {
	key     *consentd.APIKey
	expires time.Time
}

// keyCacheTTL bounds how long a key deleted by another process still works
// here; deletions through this server take effect at once.
const keyCacheTTL = 10 * time.Second

func (s *Server) authenticate(r *http.Request) (*consentd.APIKey, error) {
	h := r.Header.Get("Authorization")
	secret, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || secret == "" {
		return nil, consentd.Errorf(consentd.EUNAUTHORIZED, "send an API key as Authorization: Bearer <key>")
	}
	if c, ok := s.keys.Load(secret); ok && time.Now().Before(c.(cachedKey).expires) {
		return c.(cachedKey).key, nil
	}
	k, err := s.DB.Authenticate(r.Context(), secret)
	if err != nil {
		return nil, err
	}
	s.keys.Store(secret, cachedKey{k, time.Now().Add(keyCacheTTL)})
	return k, nil
}

func (s *Server) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	b, err := s.Document()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.DB.Ping(ctx); err != nil {
		s.writeError(w, r, consentd.Errorf(consentd.EINTERNAL, "database not ready"))
		return
	}
	writeJSON(w, 200, map[string]string{"status": "ready"})
}
