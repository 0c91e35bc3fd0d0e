package doi

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/i18n"
	"github.com/consentd/consentd/internal/ratelimit"
	"github.com/consentd/consentd/internal/reqcheck"
	"github.com/consentd/consentd/internal/signedlink"
)

//go:embed templates
var files embed.FS

// Handler serves the confirmation page, GET and POST /c/{token}. Mount it
// at "/c/". Set its exported fields, if at all, before serving.
//
// Requests are rate limited like the other public pages' (internal/web):
// per client address, and per invalid token, answering 429 with
// Retry-After and a plain page. A POST of a valid token, the Confirm
// button, is never refused: it is not counted, and it confirms however
// many requests its address made before.
type Handler struct {
	DB    Store
	Links *signedlink.Keyring
	Log   *slog.Logger
	// Now is the clock.
	Now func() time.Time
	// ClientIP returns the client's address, for rate limits and the
	// proof of a confirmation; the default is the host of r.RemoteAddr.
	// Behind a reverse proxy, set it to read the address the proxy adds.
	ClientIP func(r *http.Request) string

	h       http.Handler
	pages   map[string]*template.Template
	style   template.CSS
	csp     string
	byIP    *ratelimit.Limiter
	byToken *ratelimit.Limiter
}

// NewHandler returns the confirmation page's handler, with ratelimit.DefaultLimits.
func NewHandler(db Store, links *signedlink.Keyring, log *slog.Logger) *Handler {
	h := &Handler{DB: db, Links: links, Log: log, Now: time.Now, pages: map[string]*template.Template{}}
	h.SetLimits(ratelimit.DefaultLimits())
	for _, name := range []string{"confirm", "result", "invalid"} {
		h.pages[name] = template.Must(template.ParseFS(files, "templates/layout.html", "templates/"+name+".html"))
	}
	css, err := files.ReadFile("templates/style.css")
	if err != nil {
		panic(err)
	}
	h.style = template.CSS(css)
	sum := sha256.Sum256(css)
	// Images only from this server: the workspace's logo, which consentd
	// serves, never hotlinked.
	h.csp = "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	mux := http.NewServeMux()
	mux.HandleFunc("GET /c/{token}", h.get)
	mux.HandleFunc("POST /c/{token}", h.post)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { h.admit(w, r, false) })
	// The Confirm button posts from this page, same origin: a POST from
	// another site is refused.
	h.h = http.NewCrossOriginProtection().Handler(mux)
	return h
}

// ServeHTTP implements http.Handler. Text that is not storable (invalid
// UTF-8, NUL, control characters) is refused before the token is read, the
// same on every backend: in the path, the token, it is an invalid link like
// any other (the one generic answer, rate limited); in the query, the
// invalid-link page with 400.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if reqcheck.Path(r) != nil {
		h.admit(w, r, false)
		return
	}
	if reqcheck.Query(r) != nil {
		h.render(w, http.StatusBadRequest, "invalid", page{loc: requestLocale(r)})
		return
	}
	h.h.ServeHTTP(w, r)
}

// page is what the templates show: the texts come from the page's locale
// (T), the brand from the workspace.
type page struct {
	Title      string
	Style      template.CSS
	BrandStyle template.CSS // the accent colour, a second <style>
	Heading    string
	Message    string
	Note       string
	// What the person agrees to (Address masked); Who is "" on pages
	// that name no confirmation. Statement is its sentence, the first
	// line of the text the proof of a confirmation records.
	agreement
	Statement string
	// After the confirmation: when it was confirmed (the captured time of
	// the opt-in the log recorded), that log entry's number, and the link
	// to the person's record.
	Confirmed string
	Seq       int64
	RecordURL string

	// The language: its locale (texts, direction), and the brand of the
	// workspace asking (none on pages that name no confirmation).
	loc   *i18n.Locale
	Brand brand
}

// T returns the text of key in the page's language.
func (p page) T(key string, args ...string) string { return p.locale().T(key, args...) }

// Lang and Dir are the page's <html lang> and dir.
func (p page) Lang() string { return p.locale().Lang }
func (p page) Dir() string  { return p.locale().Dir }

func (p page) locale() *i18n.Locale {
	if p.loc == nil {
		return i18n.Get(i18n.Fallback)
	}
	return p.loc
}

// brand is how the workspace asking presents itself on the page: its
// sender name, logo (served by consentd), accent colour, privacy policy
// and footer.
type brand struct {
	Sender     string
	LogoURL    string
	LogoWidth  int // pixels, so that the page does not move as the logo loads
	LogoHeight int
	Accent     string // #rrggbb, or "" for the page's own
	PrivacyURL string
	Footer     string
}

var hexColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// brandOf is ws's brand; nil gives none.
func brandOf(ws *consentd.Workspace) brand {
	if ws == nil {
		return brand{}
	}
	b := brand{Sender: ws.Sender(), PrivacyURL: ws.PrivacyURL, Footer: ws.Footer}
	if hexColor.MatchString(ws.AccentColor) {
		b.Accent = strings.ToLower(ws.AccentColor)
	}
	if ws.Logo != nil && strings.HasPrefix(ws.Logo.URL, "/") && !strings.HasPrefix(ws.Logo.URL, "//") {
		b.LogoURL, b.LogoWidth, b.LogoHeight = ws.Logo.URL, ws.Logo.Width, ws.Logo.Height
	}
	return b
}

// verify checks the request's token: signature, kind and expiry. Whatever
// is wrong with it, the answer is the same: ok is false. It reads nothing
// from the store, so that an invalid token is refused (and rate limited)
// before it costs a query.
func (h *Handler) verify(r *http.Request) (*signedlink.Claims, bool) {
	c, err := h.Links.Verify(r.PathValue("token"), h.Now())
	if err != nil || c.Kind != signedlink.Confirm || c.Nonce == "" || c.Workspace == "" {
		return nil, false
	}
	return c, true
}

// found is a confirmation with what its page needs: the catalog, the
// workspace and the page's locale.
type found struct {
	f   *consentd.Confirmation
	cat *consentd.Catalog
	ws  *consentd.Workspace
	loc *i18n.Locale
}

// lookup loads the confirmation of a verified token, the catalog and the
// workspace, and chooses the page's language; ok is false when the token
// names no confirmation (or another one). An internal error has been
// answered when err is set.
func (h *Handler) lookup(w http.ResponseWriter, r *http.Request, c *signedlink.Claims) (x found, ok bool, err error) {
	f, err := h.DB.Confirmation(r.Context(), c.Workspace, c.Nonce)
	if consentd.ErrorCode(err) == consentd.ENOTFOUND {
		return x, false, nil
	} else if err != nil {
		h.fail(w, r, err)
		return x, false, err
	}
	if base64.RawURLEncoding.EncodeToString(f.CPHash[:]) != c.Hash || f.ChannelType != c.ChannelType {
		return x, false, nil
	}
	x.f = f
	if x.cat, err = h.DB.Catalog(r.Context(), c.Workspace); err == nil {
		x.ws, err = workspaceOf(r.Context(), h.DB, c.Workspace)
	}
	if err != nil {
		h.fail(w, r, err)
		return x, false, err
	}
	lang := Language(r.Context(), h.DB, x.ws, f, explicitLang(r), r.Header.Get("Accept-Language"))
	x.loc = localeOf(x.ws, lang)
	return x, true, nil
}

// explicitLang is the language the person chose: ?lang= on the page, the
// form's lang field on its POST (the language the page was shown in).
func explicitLang(r *http.Request) string {
	if r.Method == http.MethodPost {
		if l := r.PostFormValue("lang"); l != "" {
			return l
		}
	}
	return r.URL.Query().Get("lang")
}

// get shows the Confirm button. It changes nothing. Every GET counts
// against the client's address; one with an invalid token against that
// token too.
func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	c, ok := h.verify(r)
	if !h.admit(w, r, ok) {
		return
	}
	x, ok, err := h.lookup(w, r, c)
	if err != nil {
		return
	}
	if !ok || !h.Now().Before(x.f.ExpiresAt) {
		h.invalid(w, r)
		return
	}
	p := h.describe(x)
	if x.f.UsedAt != nil {
		if err := h.confirmedAt(r, x.f, &p, nil); err != nil {
			h.fail(w, r, err)
			return
		}
		h.render(w, http.StatusOK, "result", alreadyConfirmed(p))
		return
	}
	h.render(w, http.StatusOK, "confirm", p)
}

// post confirms. A valid token is never rate limited (nor counted): the
// person pressing Confirm may share an address with many others. An
// invalid one is limited like a GET. The opt-in's proof records the
// language of the page and the statement it showed.
func (h *Handler) post(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	c, ok := h.verify(r)
	if !ok {
		h.admit(w, r, false)
		return
	}
	x, ok, err := h.lookup(w, r, c)
	if err != nil {
		return
	}
	if !ok {
		h.admit(w, r, false)
		return
	}
	p := h.describe(x)
	res, err := h.DB.ConfirmConsent(r.Context(), x.f.WorkspaceID, x.f.Nonce, consentd.ConfirmRequest{IP: h.clientIP(r), UserAgent: r.UserAgent(),
		Language: x.loc.Lang, Text: p.agreement.statement(x.loc)}, Actor)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	switch res.Outcome {
	case consentd.ConfirmConfirmed:
		if err := h.confirmedAt(r, res.Confirmation, &p, res.Consent); err != nil {
			h.fail(w, r, err)
			return
		}
		p.Title, p.Heading = p.T("confirm.done.title"), p.T("confirm.done.heading")
		p.Message = p.T("confirm.done.message", "name", p.Name, "channel", p.Channel, "address", p.Address)
		p.Note = p.T("confirm.done.note")
		h.render(w, http.StatusOK, "result", p)
	case consentd.ConfirmUsed:
		if err := h.confirmedAt(r, res.Confirmation, &p, nil); err != nil {
			h.fail(w, r, err)
			return
		}
		h.render(w, http.StatusOK, "result", alreadyConfirmed(p))
	case consentd.ConfirmStale:
		p.Title, p.Heading = p.T("confirm.stale.title"), p.T("confirm.stale.heading")
		p.Message = p.T("confirm.stale.message")
		p.Note = p.T("confirm.stale.note")
		h.render(w, http.StatusConflict, "result", p)
	default: // expired, not found
		h.invalid(w, r)
	}
}

func alreadyConfirmed(p page) page {
	p.Title, p.Heading = p.T("confirm.already.title"), p.T("confirm.already.title")
	p.Message = p.T("confirm.already.message")
	return p
}

// describe fills what a page says about a confirmation: the agreement in
// the page's language, with the address masked, and the brand.
func (h *Handler) describe(x found) page {
	masked := *x.f
	masked.ContactPoint = consentd.MaskContactPoint(x.f.ContactPoint)
	if x.f.ContactPoint == "" {
		masked.ContactPoint = x.loc.T("confirm.address_erased")
	}
	a, _ := agreementOf(&masked, x.cat, x.ws.Sender(), x.loc)
	p := page{agreement: a, loc: x.loc, Brand: brandOf(x.ws)}
	p.Title = p.T("confirm.title")
	p.Statement = a.sentence(x.loc)
	return p
}

// confirmedAt fills what the page says after f was confirmed: the
// captured time of the opt-in the confirmation wrote, as the log
// recorded it, that entry's number, and a link to the person's record.
// cur is that opt-in when the caller has it; otherwise it is read, and
// when the consent changed since, the time the confirmation was used
// stands in for it.
func (h *Handler) confirmedAt(r *http.Request, f *consentd.Confirmation, p *page, cur *consentd.Consent) error {
	if f == nil || f.UsedAt == nil {
		return nil
	}
	if cur == nil && f.ContactPoint != "" {
		c, err := h.DB.Consent(r.Context(), f.WorkspaceID, consentd.ConsentID(f.ContactPoint, f.ChannelType), time.Time{})
		if err != nil && consentd.ErrorCode(err) != consentd.ENOTFOUND {
			return err
		}
		cur = c
	}
	loc := p.locale()
	p.Seq, p.Confirmed = f.ConfirmedSeq, loc.DateTime(*f.UsedAt)
	if cur != nil && cur.Seq == f.ConfirmedSeq {
		p.Confirmed = loc.DateTime(cur.CapturedAt)
	}
	if f.ContactPoint == "" {
		return nil // erased: there is no record to show
	}
	var err error
	p.RecordURL, err = h.recordLink(f)
	return err
}

// requestLocale is the locale of a page that names no confirmation (an
// invalid link, too many requests): the ?lang= choice, else the
// browser's.
func requestLocale(r *http.Request) *i18n.Locale {
	if r == nil {
		return i18n.Get(i18n.Fallback)
	}
	return i18n.Get(i18n.Choose(r.URL.Query().Get("lang"), "", r.Header.Get("Accept-Language"), ""))
}

func (h *Handler) render(w http.ResponseWriter, status int, name string, p page) {
	if p.Title == "" {
		p.Title = p.T("confirm.invalid.title")
	}
	p.Style = h.style
	csp := h.csp
	if p.Brand.Accent != "" {
		// The accent colour is a second stylesheet, allowed by its hash:
		// the page's own sets the dark scheme's colours, and the brand's
		// button keeps its colour there (white on it reads as on white).
		a := p.Brand.Accent
		css := ":root{--accent:" + a + ";--accent-fg:#fff}@media (prefers-color-scheme:dark){:root{--accent:#8ab4f8;--accent-fg:#0b1a33}button{background:" + a + ";border-color:" + a + ";color:#fff}}"
		p.BrandStyle = template.CSS(css)
		sum := sha256.Sum256([]byte(css))
		csp = strings.Replace(csp, "style-src ", "style-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"' ", 1)
	}
	var b bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&b, "layout", p); err != nil {
		h.Log.Error("confirmation page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Language", p.Lang())
	hd.Set("Cache-Control", "no-store")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Robots-Tag", "noindex, nofollow")
	hd.Set("Content-Security-Policy", csp)
	hd.Add("Vary", "Accept-Language")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// fail answers an internal error with a page that says to try again, and
// logs it by route, never by path (the path holds the token).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.Log.Error("confirmation page", "method", r.Method, "route", r.Pattern, "err", err)
	p := page{loc: requestLocale(r)}
	p.Title, p.Heading, p.Message = p.T("confirm.error.title"), p.T("confirm.error.title"), p.T("confirm.error.message")
	h.render(w, http.StatusInternalServerError, "result", p)
}

func (h *Handler) clientIP(r *http.Request) string {
	if h.ClientIP != nil {
		return h.ClientIP(r)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
