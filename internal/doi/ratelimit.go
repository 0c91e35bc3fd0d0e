package doi

import (
	"crypto/sha256"
	"github.com/consentd/consentd/internal/ratelimit"
	"net/http"
)

// SetLimits replaces the rate limits (and forgets the buckets so far);
// they are the other public pages' (ratelimit.DefaultLimits by default).
// Call it before serving.
func (h *Handler) SetLimits(l ratelimit.Limits) { h.byIP, h.byToken = l.Limiters() }

// retryAfter is the Retry-After of a 429, in seconds.
const retryAfter = "60"

// admit applies the per-address limit to a request whose token verified
// (ok) or did not. It answers 429, or for an invalid token what invalid
// answers, and returns false when the request goes no further.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request, ok bool) bool {
	if !h.byIP.Allow(h.clientIP(r), h.Now()) {
		h.limited(w, r)
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
		h.limited(w, r)
		return
	}
	h.render(w, http.StatusNotFound, "invalid", page{loc: requestLocale(r)})
}

// limited answers 429 with a plain page.
func (h *Handler) limited(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", retryAfter)
	p := page{loc: requestLocale(r)}
	p.Title, p.Heading, p.Message = p.T("confirm.limited.title"), p.T("confirm.limited.title"), p.T("confirm.limited.message")
	h.render(w, http.StatusTooManyRequests, "result", p)
}
