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
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.keys[key]; ok {
		l.lru.MoveToFront(e)
		return e.Value.(*bucket).lim.AllowN(now, 1)
	}
	if l.lru.Len() >= l.max {
		old := l.lru.Back()
		l.lru.Remove(old)
		delete(l.keys, old.Value.(*bucket).key)
	}
	b := &bucket{key: key, lim: rate.NewLimiter(l.every, l.burst)}
	l.keys[key] = l.lru.PushFront(b)
	return b.lim.AllowN(now, 1)
}

// Len is the number of keys remembered.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}
