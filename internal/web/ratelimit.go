package web

import (
	"github.com/consentd/consentd/internal/ratelimit"
)

// SetLimits replaces the rate limits (and forgets the buckets so far).
// Call it before serving.
func (s *Server) SetLimits(l ratelimit.Limits) { s.byIP, s.byToken = l.Limiters() }
