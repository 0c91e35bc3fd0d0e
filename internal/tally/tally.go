// Package tally counts the decisions the API answers, in memory, per
// workspace, UTC day, purpose, channel, outcome and reason, and flushes the
// counts to a backend now and then. Counting takes a mutex held for one map
// increment, so the decision path does not wait on the database; the
// counts of decisions answered since the last flush are lost if the process
// dies without shutting down.
package tally

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/consentd/consentd"
)

type key struct {
	ws, purpose, channel string
	reason               consentd.Reason
	day                  int64 // days since 1970-01-01 UTC
	allowed              bool
}

// Counter holds the counts not yet flushed. A nil *Counter counts nothing.
type Counter struct {
	mu sync.Mutex
	m  map[key]int64
}

// New returns an empty Counter.
func New() *Counter { return &Counter{m: make(map[key]int64)} }

// Count counts one decision answered at now.
func (c *Counter) Count(wsID, purpose, channel string, allowed bool, reason consentd.Reason, now time.Time) {
	if c == nil {
		return
	}
	k := key{ws: wsID, purpose: purpose, channel: channel, reason: reason, allowed: allowed, day: floorDiv(now.Unix(), 86400)}
	c.mu.Lock()
	c.m[k]++
	c.mu.Unlock()
}

// CountN counts n decisions of one kind at once: a stream's lines.
func (c *Counter) CountN(wsID, purpose, channel string, allowed bool, reason consentd.Reason, now time.Time, n int64) {
	if c == nil || n == 0 {
		return
	}
	k := key{ws: wsID, purpose: purpose, channel: channel, reason: reason, allowed: allowed, day: floorDiv(now.Unix(), 86400)}
	c.mu.Lock()
	c.m[k] += n
	c.mu.Unlock()
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// Take returns the counts since the last Take and forgets them, ordered
// (so that flushes write rows in one order and do not deadlock each other
// on PostgreSQL).
func (c *Counter) Take() []consentd.DecisionCount {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	m := c.m
	if len(m) == 0 {
		c.mu.Unlock()
		return nil
	}
	c.m = make(map[key]int64, len(m))
	c.mu.Unlock()
	out := make([]consentd.DecisionCount, 0, len(m))
	for k, n := range m {
		out = append(out, consentd.DecisionCount{WorkspaceID: k.ws, Day: time.Unix(k.day*86400, 0).UTC().Format(time.DateOnly),
			Purpose: k.purpose, Channel: k.channel, Allowed: k.allowed, Reason: k.reason, Count: n})
	}
	sort.Slice(out, func(i, j int) bool { return less(&out[i], &out[j]) })
	return out
}

func less(a, b *consentd.DecisionCount) bool {
	switch {
	case a.WorkspaceID != b.WorkspaceID:
		return a.WorkspaceID < b.WorkspaceID
	case a.Day != b.Day:
		return a.Day < b.Day
	case a.Purpose != b.Purpose:
		return a.Purpose < b.Purpose
	case a.Channel != b.Channel:
		return a.Channel < b.Channel
	case a.Allowed != b.Allowed:
		return !a.Allowed
	}
	return a.Reason < b.Reason
}

// putBack adds counts that could not be flushed back, to go with the next
// flush.
func (c *Counter) putBack(counts []consentd.DecisionCount) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range counts {
		d, err := time.Parse(time.DateOnly, n.Day)
		if err != nil {
			continue // made by Take: cannot happen
		}
		c.m[key{ws: n.WorkspaceID, purpose: n.Purpose, channel: n.Channel, reason: n.Reason, allowed: n.Allowed, day: floorDiv(d.Unix(), 86400)}] += n.Count
	}
}

// Sink stores counts, adding them to those stored: the backends'
// AddDecisionCounts.
type Sink func(ctx context.Context, counts []consentd.DecisionCount) error

// Flush writes the counts since the last flush to sink; on failure it
// keeps them for the next one and returns the error.
func (c *Counter) Flush(ctx context.Context, sink Sink) error {
	counts := c.Take()
	if len(counts) == 0 {
		return nil
	}
	if err := sink(ctx, counts); err != nil {
		c.putBack(counts)
		return err
	}
	return nil
}

// Run flushes every interval until ctx is done, then once more with a
// short deadline of its own (the shutdown's flush). Errors are logged and
// the counts kept for the next try.
func (c *Counter) Run(ctx context.Context, every time.Duration, sink Sink, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := c.Flush(ctx, sink); err != nil && ctx.Err() == nil {
				log.Warn("flushing decision counts", "err", err)
			}
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := c.Flush(fctx, sink); err != nil {
				log.Error("flushing decision counts at shutdown", "err", err)
			}
			cancel()
			return
		}
	}
}
