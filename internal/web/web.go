// Package web serves consentd's public pages, the ones a person reaches
// from a signed link in a message, with no API key, login or cookie:
//
//   - /u/{token}: unsubscribe from one channel type. GET and HEAD show a
//     page with a button and change nothing (link scanners fetch links);
//     POST opts out at once: RFC 8058 one-click (a body
//     List-Unsubscribe=One-Click, urlencoded or multipart, from a mail
//     client on its own origin) as well as the page's own button.
//   - /p/{token}: the preference center: every purpose and topic on every
//     channel for the person's contact points, opt-in and opt-out, and
//     "unsubscribe from all". Its POST carries a CSRF token bound to the
//     link token; a Sec-GPC: 1 header is recorded as an opt-out of the
//     purposes flagged sale_or_share.
//   - /p/{token}/record and /p/{token}/record.json: the person's record
//     of consents, to read and to download with a receipt for each
//     (record.go).
//
// Pages are html/template with embed.FS, one template per page, and work
// without JavaScript. Tokens and addresses never reach the logs: routes
// are logged by pattern ("POST /u/{token}"). Requests are rate limited per
// client address and per invalid token; a valid one-click POST never is.
package web

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"github.com/consentd/consentd/internal/ratelimit"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/reqcheck"
	"github.com/consentd/consentd/internal/signedlink"
)

//go:embed templates
var files embed.FS

// Store is what the pages need of a storage backend (internal/sqlite,
// internal/postgres).
type Store interface {
	Catalog(ctx context.Context, wsID string) (*consentd.Catalog, error)
	Consent(ctx context.Context, wsID, id string, asOf time.Time) (*consentd.Consent, error)
	ListConsents(ctx context.Context, wsID string, f consentd.ConsentFilter) ([]*consentd.Consent, string, error)
	WriteConsents(ctx context.Context, wsID string, writes []consentd.ConsentWrite, actor string) ([]consentd.WriteResult, error)
	AddSuppression(ctx context.Context, wsID string, in consentd.SuppressionInput, actor string) (*consentd.Suppression, error)
	LinkedContactPoints(ctx context.Context, wsID string, hash [32]byte) ([]consentd.PartyContactPoint, []*consentd.Suppression, error)
	// CreateConfirmations records double opt-in confirmations and queues
	// their mail: the page's opt-ins go through doi.Write, as the API's do.
	CreateConfirmations(ctx context.Context, wsID string, in []consentd.ConfirmationInput) ([]*consentd.Confirmation, error)
	// Workspace gives the brand of every page of a workspace: the sender's
	// name, logo, accent colour, privacy policy, footer, default language
	// and text overrides.
	Workspace(ctx context.Context, id string) (*consentd.Workspace, error)
	// ContactPointLanguage is the recorded language of a contact point
	// hash: its newest consent's proof language, else its party's; "" when
	// none is recorded. Pages use it when the consents they show record
	// no language.
	ContactPointLanguage(ctx context.Context, wsID string, hash [32]byte) string
}

// Server serves the public pages. Set its exported fields, if at all,
// before serving.
type Server struct {
	DB    Store
	Links *signedlink.Keyring
	Log   *slog.Logger
	// Now is the clock.
	Now func() time.Time
	// ClientIP returns the client's address, for rate limits and the proof
	// of a consent; the default is the host of r.RemoteAddr. Behind a
	// reverse proxy, set it to read the address the proxy adds.
	ClientIP func(r *http.Request) string
	// JobsNudge, when set, wakes the job runner after the page queued a
	// job (a confirmation mail).
	JobsNudge func()
	// Receipts builds the receipts of the record download (record.go);
	// serve sets it to the API server.
	Receipts Receipts

	mux       *http.ServeMux
	pages     map[string]*template.Template
	style     template.HTML
	styleHash string // the CSP source of style.css: 'sha256-...'
	csp       string
	cop       *http.CrossOriginProtection
	byIP      *ratelimit.Limiter
	byToken   *ratelimit.Limiter
}

// Actors of the log entries the pages write.
const (
	actorUnsubscribe = "link:unsubscribe"
	actorPreferences = "link:preferences"
)

// New returns the pages' handler, with ratelimit.DefaultLimits.
func New(db Store, links *signedlink.Keyring, log *slog.Logger) *Server {
	s := &Server{DB: db, Links: links, Log: log, Now: time.Now, mux: http.NewServeMux(), cop: http.NewCrossOriginProtection()}
	s.parseTemplates()
	s.SetLimits(ratelimit.DefaultLimits())
	s.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.render(w, r, http.StatusForbidden, "crossorigin", nil, nil)
	}))
	// GET patterns answer HEAD too. The patterns are what the access log
	// and the metrics name a request by: never the token.
	s.mux.HandleFunc("GET /u/{token}", s.unsubscribePage)
	s.mux.HandleFunc("POST /u/{token}", s.unsubscribe)
	s.mux.HandleFunc("GET /p/{token}", s.preferencesPage)
	s.mux.HandleFunc("POST /p/{token}", s.savePreferences)
	s.mux.HandleFunc("GET /p/{token}/record", s.recordPage)
	s.mux.HandleFunc("GET /p/{token}/record.json", s.recordJSON)
	s.mux.HandleFunc("/u/", s.noSuchPage)
	s.mux.HandleFunc("/p/", s.noSuchPage)
	return s
}

// Mount serves the pages on mux, under /u/ and /p/. The API or anything
// else may have the rest of mux.
func (s *Server) Mount(mux *http.ServeMux) {
	mux.Handle("/u/", s)
	mux.Handle("/p/", s)
}

// AddTrustedOrigin lets the preference center's form be posted from origin
// (scheme://host[:port]) as well as from its own: the public URL, when a
// proxy in front changes the Host header.
func (s *Server) AddTrustedOrigin(origin string) error { return s.cop.AddTrustedOrigin(origin) }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer") // the URL is a credential
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Robots-Tag", "noindex, nofollow")
	h.Set("Content-Security-Policy", s.csp)
	// Text that is not storable (invalid UTF-8, NUL, control characters)
	// is refused before a handler reads it, the same on every backend: in
	// the path, the token, it is an invalid link like any other (the one
	// generic answer, rate limited); in the query, a 400 page.
	if reqcheck.Path(r) != nil {
		s.admit(w, r, false)
		return
	}
	if reqcheck.Query(r) != nil {
		s.render(w, r, http.StatusBadRequest, "invalid", nil, nil)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) parseTemplates() {
	css, err := files.ReadFile("templates/style.css")
	if err != nil {
		panic(err)
	}
	s.style = template.HTML("<style>" + string(css) + "</style>")
	s.styleHash = styleSource(string(css))
	s.csp = cspWith(s.styleHash)
	s.pages = map[string]*template.Template{}
	for _, name := range []string{"unsubscribe", "unsubscribed", "preferences", "record", "invalid", "limited", "crossorigin", "error"} {
		s.pages[name] = template.Must(template.New("layout.html").ParseFS(files, "templates/layout.html", "templates/"+name+".html"))
	}
}

// render writes a page in the language and brand of pc; a nil pc is a
// page without a workspace (an invalid link, a refused form), in the
// language of the browser's Accept-Language. A template error is a bug;
// it is logged and the client gets a bare 500.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, pc *pageCtx, page any) {
	if pc == nil {
		pc = bare(r)
	}
	v := pc.view(page)
	v.Style = s.style
	csp := s.csp
	if pc.accent != "" {
		css := accentCSS(pc.accent)
		v.Accent = template.HTML("<style>" + css + "</style>")
		csp = cspWith(s.styleHash + " " + styleSource(css))
	}
	var b strings.Builder
	if err := s.pages[name].Execute(&b, v); err != nil {
		s.Log.Error("render page", "route", r.Pattern, "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", pc.L.Lang)
	if status == http.StatusTooManyRequests {
		h.Set("Retry-After", "60")
	}
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

// styleSource is the CSP source that admits one inline style element.
func styleSource(css string) string {
	sum := sha256.Sum256([]byte(css))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// cspWith is the pages' Content-Security-Policy with styles: no script,
// no frames, images (the workspace's logo) and forms only from this
// server.
func cspWith(styles string) string {
	return "default-src 'none'; style-src " + styles + "; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

// fail answers an error of the store: a link whose contact point, channel
// type or workspace is gone gets the invalid-link page; anything else is
// logged (by route pattern, never the token) and gets the error page.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch consentd.ErrorCode(err) {
	case consentd.ENOTFOUND, consentd.EUNKNOWNCHANNELTYPE, consentd.EUNKNOWNPURPOSE, consentd.EUNKNOWNTOPIC,
		consentd.ECHANNELNOTOFFERED, consentd.EINVALIDCONTACTPOINT:
		s.render(w, r, http.StatusNotFound, "invalid", nil, nil)
		return
	}
	if errors.Is(err, context.Canceled) {
		return // the client went away
	}
	s.Log.Error("public page", "method", r.Method, "route", r.Pattern, "err", err)
	s.render(w, r, http.StatusInternalServerError, "error", nil, nil)
}

// noSuchPage answers any other path or method under the prefixes like an
// invalid token.
func (s *Server) noSuchPage(w http.ResponseWriter, r *http.Request) { s.admit(w, r, false) }

// link is a verified token: its claims and contact point hash.
type link struct {
	token  string
	claims *signedlink.Claims
	hash   [32]byte
}

// verify checks the request's token for kind. Whatever is wrong with it
// (tampered, unknown key, expired, another kind of token), the answer is
// the same: ok is false.
func (s *Server) verify(r *http.Request, kind string) (*link, bool) {
	tok := r.PathValue("token")
	c, err := s.Links.Verify(tok, s.Now())
	if err != nil || c.Kind != kind || c.Workspace == "" || (kind == signedlink.Unsubscribe && c.ChannelType == "") {
		return nil, false
	}
	h, err := base64.RawURLEncoding.DecodeString(c.Hash)
	if err != nil || len(h) != 32 {
		return nil, false
	}
	l := &link{token: tok, claims: c}
	copy(l.hash[:], h)
	return l, true
}

// admit applies the rate limits to a request whose token verified (ok) or
// did not. It answers 429, or for an invalid token the invalid-link page,
// and returns false when the request goes no further.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, ok bool) bool {
	now := s.Now()
	if !s.byIP.Allow(s.clientIP(r), now) {
		s.render(w, r, http.StatusTooManyRequests, "limited", nil, nil)
		return false
	}
	if ok {
		return true
	}
	sum := sha256.Sum256([]byte(r.URL.Path))
	if !s.byToken.Allow(string(sum[:16]), now) {
		s.render(w, r, http.StatusTooManyRequests, "limited", nil, nil)
		return false
	}
	s.render(w, r, http.StatusNotFound, "invalid", nil, nil)
	return false
}

func (s *Server) clientIP(r *http.Request) string {
	if s.ClientIP != nil {
		return s.ClientIP(r)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// proof is the evidence a page records with a consent: the client's
// address and user agent, the form that was used, and the words: the
// page's language and the exact statement shown for the choice, with its
// SHA-256, so that the receipt of the consent proves what was read.
func (s *Server) proof(r *http.Request, form, lang, text string) *consentd.Proof {
	p := consentd.CapturedProof(s.clientIP(r), r.UserAgent(), form)
	p.Language = lang
	if text != "" {
		sum := sha256.Sum256([]byte(text))
		p.Text, p.TextSHA256 = text, hex.EncodeToString(sum[:])
	}
	return p
}

// parseForm reads a urlencoded or multipart body of at most 64 KiB into
// r.PostForm. A body it cannot read leaves PostForm empty. It returns
// false, having answered 400, when a field's name or value is not
// storable text (reqcheck.Values).
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		err = r.ParseMultipartForm(64 << 10)
	} else {
		err = r.ParseForm()
	}
	if err != nil && r.PostForm == nil {
		r.PostForm = map[string][]string{}
	}
	if reqcheck.Values(r.PostForm, "form field") != nil {
		s.render(w, r, http.StatusBadRequest, "invalid", nil, nil)
		return false
	}
	return true
}
