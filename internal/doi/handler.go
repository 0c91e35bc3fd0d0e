package doi

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"github.com/consentd/consentd/internal/ratelimit"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/consentd/consentd"
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
	h.csp = "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
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
		h.render(w, http.StatusBadRequest, "invalid", page{})
		return
	}
	h.h.ServeHTTP(w, r)
}

// page is what the templates show.
type page struct {
	Title   string
	Style   template.CSS
	Heading string
	Message string
	Note    string
	// What the person agrees to (Address masked); Who is "" on pages
	// that name no confirmation.
	agreement
	// After the confirmation: when it was confirmed (the captured time of
	// the opt-in the log recorded), that log entry's number, and the link
	// to the person's record.
	Confirmed string
	Seq       int64
	RecordURL string
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

// lookup loads the confirmation of a verified token and the catalog; ok
// is false when the token names no confirmation (or another one). An
// internal error has been answered when err is set.
func (h *Handler) lookup(w http.ResponseWriter, r *http.Request, c *signedlink.Claims) (f *consentd.Confirmation, cat *consentd.Catalog, who string, ok bool, err error) {
	f, err = h.DB.Confirmation(r.Context(), c.Workspace, c.Nonce)
	if consentd.ErrorCode(err) == consentd.ENOTFOUND {
		return nil, nil, "", false, nil
	} else if err != nil {
		h.fail(w, r, err)
		return nil, nil, "", false, err
	}
	if base64.RawURLEncoding.EncodeToString(f.CPHash[:]) != c.Hash || f.ChannelType != c.ChannelType {
		return nil, nil, "", false, nil
	}
	if cat, err = h.DB.Catalog(r.Context(), c.Workspace); err == nil {
		who, err = workspaceName(r.Context(), h.DB, c.Workspace)
	}
	if err != nil {
		h.fail(w, r, err)
		return nil, nil, "", false, err
	}
	return f, cat, who, true, nil
}

// get shows the Confirm button. It changes nothing. Every GET counts
// against the client's address; one with an invalid token against that
// token too.
func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	c, ok := h.verify(r)
	if !h.admit(w, r, ok) {
		return
	}
	f, cat, who, ok, err := h.lookup(w, r, c)
	if err != nil {
		return
	}
	if !ok || !h.Now().Before(f.ExpiresAt) {
		h.invalid(w, r)
		return
	}
	p := h.describe(f, cat, who)
	if f.UsedAt != nil {
		if err := h.confirmedAt(r, f, &p, nil); err != nil {
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
// invalid one is limited like a GET.
func (h *Handler) post(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	c, ok := h.verify(r)
	if !ok {
		h.admit(w, r, false)
		return
	}
	f, cat, who, ok, err := h.lookup(w, r, c)
	if err != nil {
		return
	}
	if !ok {
		h.admit(w, r, false)
		return
	}
	res, err := h.DB.ConfirmConsent(r.Context(), f.WorkspaceID, f.Nonce, consentd.ConfirmRequest{IP: h.clientIP(r), UserAgent: r.UserAgent()}, Actor)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p := h.describe(f, cat, who)
	switch res.Outcome {
	case consentd.ConfirmConfirmed:
		if err := h.confirmedAt(r, res.Confirmation, &p, res.Consent); err != nil {
			h.fail(w, r, err)
			return
		}
		p.Title, p.Heading = "Subscription confirmed", "Thank you: your subscription is confirmed"
		p.Message = "You will receive " + p.Name + " by " + p.Channel + " at " + p.Address + "."
		p.Note = "You can unsubscribe at any time."
		h.render(w, http.StatusOK, "result", p)
	case consentd.ConfirmUsed:
		if err := h.confirmedAt(r, res.Confirmation, &p, nil); err != nil {
			h.fail(w, r, err)
			return
		}
		h.render(w, http.StatusOK, "result", alreadyConfirmed(p))
	case consentd.ConfirmStale:
		p.Title, p.Heading = "Link no longer valid", "This link can no longer be used"
		p.Message = "Your subscription settings changed after this link was sent, so it was not applied. Nothing was changed."
		p.Note = "If you want to subscribe, please sign up again: you will get a new link."
		h.render(w, http.StatusConflict, "result", p)
	default: // expired, not found
		h.invalid(w, r)
	}
}

// channelName is a channel as a page names it.
func channelName(ch string) string {
	switch ch {
	case consentd.ChannelSMS:
		return "SMS"
	case consentd.ChannelWhatsApp:
		return "WhatsApp"
	case consentd.ChannelVoice:
		return "phone call"
	case consentd.ChannelPush:
		return "push notification"
	}
	return ch
}

func alreadyConfirmed(p page) page {
	p.Title, p.Heading = "Already confirmed", "Already confirmed"
	p.Message = "This subscription was confirmed before. There is nothing more to do."
	return p
}

// describe fills what a page says about f: the agreement, with the
// address masked.
func (h *Handler) describe(f *consentd.Confirmation, cat *consentd.Catalog, who string) page {
	a, _ := agreementOf(f, cat, who)
	a.Address = consentd.MaskContactPoint(f.ContactPoint)
	if f.ContactPoint == "" {
		a.Address = "an address that was erased"
	}
	return page{Title: "Confirm your subscription", agreement: a}
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
	p.Seq, p.Confirmed = f.ConfirmedSeq, showTime(*f.UsedAt)
	if cur != nil && cur.Seq == f.ConfirmedSeq {
		p.Confirmed = showTime(cur.CapturedAt)
	}
	if f.ContactPoint == "" {
		return nil // erased: there is no record to show
	}
	var err error
	p.RecordURL, err = h.recordLink(f)
	return err
}

func (h *Handler) render(w http.ResponseWriter, status int, name string, p page) {
	if p.Title == "" {
		p.Title = "Link not valid"
	}
	p.Style = h.style
	var b bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&b, "layout", p); err != nil {
		h.Log.Error("confirmation page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Robots-Tag", "noindex, nofollow")
	hd.Set("Content-Security-Policy", h.csp)
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// fail answers an internal error with a page that says to try again, and
// logs it by route, never by path (the path holds the token).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.Log.Error("confirmation page", "method", r.Method, "route", r.Pattern, "err", err)
	h.render(w, http.StatusInternalServerError, "result", page{Title: "Something went wrong", Heading: "Something went wrong",
		Message: "Your request could not be handled just now. Nothing was changed. Please try again in a few minutes."})
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
