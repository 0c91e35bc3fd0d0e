package doi

import (
	"crypto/sha256"
	"github.com/consentd/consentd/internal/ratelimit"
	"net/http"
	"time"

	"golang.org/x/time/rate"
)

// The confirmation page's rate limits are those of the other public pages
// (internal/web: ratelimit.go), with the same defaults: the limiter is
// small enough to keep a copy here rather than have this package import
// the pages' one, or the pages export their internals.

// Limits are the confirmation page's rate limits: token buckets per client
// address and per invalid token, each kept for the most recently seen
// Entries keys (least recently seen forgotten first), so memory is bounded
// whatever the traffic.
type Limits struct {
	PerIP         rate.Limit // requests per second per client address
	IPBurst       int
	PerBadToken   rate.Limit // tries per second of one invalid token
	BadTokenBurst int
	Entries       int
}

// DefaultLimits are the limits NewHandler sets, as internal/web's: a
// person, or an office behind one address, can open links freely (2
// requests a second, 40 at once), and an invalid token has a handful of
// tries a minute. A POST of a valid token, the Confirm button, is never
// limited.
func DefaultLimits() Limits {
	return Limits{PerIP: 2, IPBurst: 40, PerBadToken: rate.Every(time.Minute), BadTokenBurst: 5, Entries: 10000}
}

// SetLimits replaces the rate limits (and forgets the buckets so far).
// Call it before serving.
func (h *Handler) SetLimits(l Limits) {
	h.byIP = ratelimit.New(l.PerIP, l.IPBurst, l.Entries)
	h.byToken = ratelimit.New(l.PerBadToken, l.BadTokenBurst, l.Entries)
}

// retryAfter is the Retry-After of a 429, in seconds.
const retryAfter = "60"

// admit applies the per-address limit to a request whose token verified
// (ok) or did not. It answers 429, or for an invalid token what invalid
// answers, and returns false when the request goes no further.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request, ok bool) bool {
	if !h.byIP.Allow(h.clientIP(r), h.Now()) {
		h.limited(w)
		return false
	}
	if ok {
		return true
	}
	h.invalid(w, r)
	return false
}

// invalid answers a token that is no good, whatever is wrong with it, with
// the one generic invalid-link page; or with 429 once that token (the
// request's path) has had its tries. It does not count against the
// client's address: admit does that.
func (h *Handler) invalid(w http.ResponseWriter, r *http.Request) {
	sum := sha256.Sum256([]byte(r.URL.Path))
	if !h.byToken.Allow(string(sum[:16]), h.Now()) {
		h.limited(w)
		return
	}
	h.render(w, http.StatusNotFound, "invalid", page{})
}

// limited answers 429 with a plain page.
func (h *Handler) limited(w http.ResponseWriter) {
	w.Header().Set("Retry-After", retryAfter)
	h.render(w, http.StatusTooManyRequests, "result", page{Title: "Too many requests", Heading: "Too many requests",
		Message: "Please wait a minute, then try again. Nothing was changed."})
}
