package web

import (
	"github.com/consentd/consentd/internal/ratelimit"
	"time"

	"golang.org/x/time/rate"
)

// Limits are the public pages' rate limits: token buckets per client
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

// DefaultLimits are the limits New sets. They let a person, or an office
// behind one address, browse freely (2 requests a second, 40 at once), and
// an invalid token have a handful of tries a minute. A valid one-click
// unsubscribe is never limited: mail providers send many from few
// addresses.
func DefaultLimits() Limits {
	return Limits{PerIP: 2, IPBurst: 40, PerBadToken: rate.Every(time.Minute), BadTokenBurst: 5, Entries: 10000}
}

// SetLimits replaces the rate limits (and forgets the buckets so far).
// Call it before serving.
func (s *Server) SetLimits(l Limits) {
	s.byIP = ratelimit.New(l.PerIP, l.IPBurst, l.Entries)
	s.byToken = ratelimit.New(l.PerBadToken, l.BadTokenBurst, l.Entries)
}
