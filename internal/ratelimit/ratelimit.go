// Package ratelimit keeps token buckets per key (a client address, a bad
// token) in a bounded LRU map, for the public pages.
package ratelimit

import (
	"container/list"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is a bounded LRU map of token buckets. It is safe for concurrent
// use.
type Limiter struct {
	every rate.Limit
	burst int
	max   int

	mu   sync.Mutex
	lru  *list.List // of *bucket, most recently used first
	keys map[string]*list.Element
}

type bucket struct {
	key string
	lim *rate.Limiter
}

// New returns a limiter whose buckets refill at every and hold burst
// tokens, remembering at most max keys (the least recently used go first).
func New(every rate.Limit, burst, max int) *Limiter {
	if max < 1 {
		max = 1
	}
	return &Limiter{every: every, burst: burst, max: max, lru: list.New(), keys: map[string]*list.Element{}}
}

// Allow takes a token from key's bucket at now, reporting whether there
// was one.
func (l *Limiter) Allow(key string, now time.Time) bool {
	ok, _ := l.Take(key, now)
	return ok
}

// Take takes a token from key's bucket at now. When there is none it
// takes nothing and says how long until there is one (for Retry-After).
func (l *Limiter) Take(key string, now time.Time) (ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var lim *rate.Limiter
	if e, found := l.keys[key]; found {
		l.lru.MoveToFront(e)
		lim = e.Value.(*bucket).lim
	} else {
		if l.lru.Len() >= l.max {
			old := l.lru.Back()
			l.lru.Remove(old)
			delete(l.keys, old.Value.(*bucket).key)
		}
		b := &bucket{key: key, lim: rate.NewLimiter(l.every, l.burst)}
		l.keys[key] = l.lru.PushFront(b)
		lim = b.lim
	}
	if lim.AllowN(now, 1) {
		return true, 0
	}
	if l.every <= 0 {
		return false, time.Hour // a bucket that never refills
	}
	// The time until one token is back, from what is left now.
	need := 1 - lim.TokensAt(now)
	return false, time.Duration(need / float64(l.every) * float64(time.Second))
}

// Wait says how long until key's bucket holds a token at now, taking
// nothing: 0 when it holds one (or key has no bucket yet). For limits
// that count failures only: check Wait first, Take on a failure.
func (l *Limiter) Wait(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, found := l.keys[key]
	if !found {
		return 0
	}
	have := e.Value.(*bucket).lim.TokensAt(now)
	if have >= 1 {
		return 0
	}
	if l.every <= 0 {
		return time.Hour // a bucket that never refills
	}
	return time.Duration((1 - have) / float64(l.every) * float64(time.Second))
}

// Len is the number of keys remembered.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

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

// DefaultLimits let a person, or an office behind one address, browse
// freely (2 requests a second, 40 at once), and an invalid token have a
// handful of tries a minute. The pages never limit the POST of a valid
// token (one-click unsubscribe, Confirm): mail providers send many from few
// addresses.
func DefaultLimits() Limits {
	return Limits{PerIP: 2, IPBurst: 40, PerBadToken: rate.Every(time.Minute), BadTokenBurst: 5, Entries: 10000}
}

// Limiters returns new per-address and per-invalid-token limiters for l.
func (l Limits) Limiters() (byIP, byToken *Limiter) {
	return New(l.PerIP, l.IPBurst, l.Entries), New(l.PerBadToken, l.BadTokenBurst, l.Entries)
}
