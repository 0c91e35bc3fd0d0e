package api

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ratelimit"
	"golang.org/x/time/rate"
)

// Limits are the API's rate limits: token buckets per API key and per
// client address, answered with 429 rate_limited and Retry-After. A rate of
// 0 turns that limit off. Keys of role check (send pipelines asking for
// decisions) are not limited unless CheckKeys is set: a send must never
// wait for a limit nobody asked for.
type Limits struct {
	PerKey    rate.Limit // requests per second of one API key
	KeyBurst  int
	PerIP     rate.Limit // requests per second from one client address
	IPBurst   int
	CheckKeys bool // limit check keys too
	Entries   int  // keys and addresses remembered, least recently used dropped
}

// DefaultLimits are the limits of consentd serve: generous for one
// integration (the batch routes carry 10,000 items a request), tight
// enough to stop a runaway client or a key-guessing flood.
func DefaultLimits() Limits {
	return Limits{PerKey: 200, KeyBurst: 400, PerIP: 400, IPBurst: 800, Entries: 100000}
}

// limiters holds the buckets of the limits in force.
type limiters struct {
	Limits
	byKey, byIP *ratelimit.Limiter
}

// SetLimits sets the API's rate limits; the zero Limits (the default of
// New) limits nothing. Call it before serving.
func (s *Server) SetLimits(l Limits) {
	lim := &limiters{Limits: l}
	if l.PerKey > 0 {
		lim.byKey = ratelimit.New(l.PerKey, max(l.KeyBurst, 1), l.Entries)
	}
	if l.PerIP > 0 {
		lim.byIP = ratelimit.New(l.PerIP, max(l.IPBurst, 1), l.Entries)
	}
	s.limits = lim
}

// clientIP is the request's client address: Server.ClientIP, or the
// connection's.
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

// admit authenticates r within the rate limits. The address's bucket is
// taken from before the key is looked up, so that guessing keys costs a
// guesser tokens, not the database lookups; a known check key skips it
// (unless CheckKeys). Then the key's own bucket.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) (*consentd.APIKey, error) {
	lim := s.limits
	if lim == nil || (lim.byIP == nil && lim.byKey == nil) {
		return s.authenticate(r)
	}
	now := time.Now()
	if lim.byIP != nil && (lim.CheckKeys || !s.cachedCheckKey(r)) {
		if ok, wait := lim.byIP.Take(s.clientIP(r), now); !ok {
			return nil, limited(w, wait, "address")
		}
	}
	k, err := s.authenticate(r)
	if err != nil || lim.byKey == nil || (k.Role == consentd.RoleCheck && !lim.CheckKeys) {
		return k, err
	}
	if ok, wait := lim.byKey.Take(k.ID, now); !ok {
		return nil, limited(w, wait, "API key")
	}
	return k, nil
}

// cachedCheckKey reports whether r carries a check key this server has
// authenticated recently.
func (s *Server) cachedCheckKey(r *http.Request) bool {
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	c, ok := s.keys.Load(secret)
	return ok && c.(cachedKey).key.Role == consentd.RoleCheck && time.Now().Before(c.(cachedKey).expires)
}

// limited sets Retry-After (whole seconds, at least 1) and returns the
// rate_limited error.
func limited(w http.ResponseWriter, wait time.Duration, what string) error {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return consentd.Errorf(consentd.ERATELIMITED, "too many requests from this %s: try again in %d s", what, secs)
}
