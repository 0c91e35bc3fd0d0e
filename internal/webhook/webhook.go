// Package webhook delivers the consent log's events to webhooks: CloudEvents
// JSON signed per the Standard Webhooks spec, in log order per webhook, at
// least once, each with a stable id. A webhook's position in its
// workspace's log is stored and advanced only after its endpoint accepted
// the event (2xx), so that a crash or an endpoint that is down for hours
// loses nothing.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/events"
)

// Store is what delivery needs of a backend.
type Store interface {
	events.Store
	ActiveWebhooks(ctx context.Context) ([]*consentd.Webhook, error)
	LogSize(ctx context.Context, wsID string) (int64, error)
	Webhook(ctx context.Context, wsID, id string) (*consentd.Webhook, error)
	RecordWebhookAttempt(ctx context.Context, wsID, id string, from int64, a consentd.WebhookAttempt, keep int) error
}

// DefaultBackoff is the wait after each failed attempt at an event, close
// to the Standard Webhooks recommendation: 5 s, 5 min, 30 min, 2 h, 5 h,
// 10 h, 10 h (27 h 35 min in all, 8 attempts). When it is exhausted the
// webhook is disabled, its position kept.
var DefaultBackoff = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// ContentType is the media type of the requests: a structured CloudEvent.
const ContentType = "application/cloudevents+json"

// Deliverer sends events to every enabled webhook of every workspace: one
// loop that looks for work every Poll (and when nudged), and one goroutine
// per webhook with events to send, so that webhooks are served
// concurrently, each in log order (a failing event holds back the later
// ones of its webhook).
type Deliverer struct {
	DB      Store
	Log     *slog.Logger
	Client  *http.Client
	Backoff []time.Duration // wait after the nth failure; jittered by up to ±10 %
	Poll    time.Duration   // how often to look for new entries and due retries
	Timeout time.Duration   // per attempt
	Keep    int             // delivery rows kept per webhook
	Batch   int             // log entries read at once
	Now     func() time.Time

	nudge chan struct{}
	mu    sync.Mutex
	busy  map[string]bool // workspace id "/" webhook id
}

// New returns a deliverer with the default schedule: poll every 250 ms
// (a poll costs one query, plus one per workspace with webhooks),
// 10 s per attempt, the newest 1000 delivery rows kept per webhook.
func New(db Store, allowPrivate bool, log *slog.Logger) *Deliverer {
	return &Deliverer{DB: db, Log: log, Client: NewClient(allowPrivate), Backoff: DefaultBackoff, Poll: 250 * time.Millisecond,
		Timeout: 10 * time.Second, Keep: 1000, Batch: 100, Now: time.Now, nudge: make(chan struct{}, 1), busy: map[string]bool{}}
}

// Nudge makes the deliverer look for work now (a commit, a new webhook).
func (d *Deliverer) Nudge() {
	select {
	case d.nudge <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is done, and returns once every delivery it
// started has ended.
func (d *Deliverer) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(d.Poll)
	defer t.Stop()
	for {
		d.pass(ctx, &wg)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.nudge:
		}
	}
}

// pass starts a delivery goroutine for each enabled webhook that is due and
// not being served.
func (d *Deliverer) pass(ctx context.Context, wg *sync.WaitGroup) {
	whs, err := d.DB.ActiveWebhooks(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.Log.Error("webhooks: list", "err", err)
		}
		return
	}
	now := d.Now()
	sizes := map[string]int64{} // the log sizes of the workspaces with webhooks
	for _, w := range whs {
		if now.Before(w.NextAttemptAt) {
			continue
		}
		size, ok := sizes[w.WorkspaceID]
		if !ok {
			if size, err = d.DB.LogSize(ctx, w.WorkspaceID); err != nil {
				if ctx.Err() == nil {
					d.Log.Error("webhooks: log size", "workspace", w.WorkspaceID, "err", err)
				}
				continue
			}
			sizes[w.WorkspaceID] = size
		}
		if w.Position >= size {
			continue // caught up
		}
		k := w.WorkspaceID + "/" + w.ID
		d.mu.Lock()
		busy := d.busy[k]
		d.busy[k] = true
		d.mu.Unlock()
		if busy {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { d.mu.Lock(); delete(d.busy, k); d.mu.Unlock() }()
			if err := d.serve(ctx, w.WorkspaceID, w.ID); err != nil && ctx.Err() == nil {
				d.Log.Error("webhook delivery", "workspace", w.WorkspaceID, "webhook", w.ID, "err", err)
			}
		}()
	}
}

// errStop ends serving a webhook without an error: it changed, was
// disabled or deleted meanwhile, or waits for a retry.
var errStop = errors.New("stop")

// serve sends one webhook's pending events in log order until it is caught
// up, fails (and must wait), or changed.
func (d *Deliverer) serve(ctx context.Context, wsID, id string) error {
	feed, err := events.Open(ctx, d.DB, wsID)
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		w, err := d.DB.Webhook(ctx, wsID, id)
		if consentd.ErrorCode(err) == consentd.ENOTFOUND {
			return nil
		} else if err != nil {
			return err
		}
		if w.Disabled || d.Now().Before(w.NextAttemptAt) {
			return nil
		}
		evs, err := feed.Read(ctx, w.Position, d.Batch)
		if err != nil || len(evs) == 0 {
			return err
		}
		if err := d.send(ctx, w, evs); errors.Is(err, errStop) {
			return nil
		} else if err != nil {
			return err
		}
	}
	return nil
}

// send delivers evs, which follow w's position, one at a time; it returns
// errStop after a failed attempt. Accepted events are recorded together
// (with the position after them) at the end of evs, before a failure's
// record, or after a second: one commit for many deliveries. A crash in
// between sends them again, with the same ids.
func (d *Deliverer) send(ctx context.Context, w *consentd.Webhook, evs []*consentd.CloudEvent) error {
	key, err := consentd.WebhookKey(w.Secret)
	if err != nil {
		return fmt.Errorf("webhook secret: %w", err)
	}
	pos := w.Position // delivered or skipped, not yet recorded
	fails := w.Failures
	var done []*consentd.WebhookDelivery
	var since time.Time
	record := func(a consentd.WebhookAttempt) error {
		// Recorded also when shutdown began meanwhile, so that accepted
		// events are not sent again after a restart.
		err := d.DB.RecordWebhookAttempt(context.WithoutCancel(ctx), w.WorkspaceID, w.ID, w.Position, a, d.Keep)
		switch consentd.ErrorCode(err) {
		case "":
			w.WebhookState = a.State
			done = nil
			return nil
		case consentd.ECONFLICT, consentd.ENOTFOUND:
			return errStop
		}
		return err
	}
	flush := func() error {
		if pos == w.Position {
			return nil
		}
		return record(consentd.WebhookAttempt{State: consentd.WebhookState{Position: pos}, Deliveries: done})
	}
	for _, ev := range evs {
		if !w.Wants(ev.Type) || (w.Origin != "" && consentd.EventOrigin(ev.Data) == w.Origin) {
			pos = ev.Data.Seq
			continue
		}
		del := d.attempt(ctx, w, key, ev, fails+1)
		if ctx.Err() != nil && del.StatusCode == 0 {
			// Shutting down: the attempt says nothing of the endpoint.
			return errors.Join(ctx.Err(), flush())
		}
		if del.Succeeded() {
			if len(done) == 0 {
				since = d.Now()
			}
			pos, done, fails = ev.Data.Seq, append(done, del), 0
			if ctx.Err() != nil || d.Now().Sub(since) >= time.Second {
				if err := flush(); err != nil {
					return err
				}
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue
		}
		a := consentd.WebhookAttempt{State: consentd.WebhookState{Position: pos, Failures: del.Attempt}, Deliveries: append(done, del)}
		switch {
		case del.StatusCode == http.StatusGone:
			a.Disable = "the endpoint answered 410 Gone"
		case del.Attempt > len(d.Backoff):
			a.Disable = fmt.Sprintf("%d attempts at event %s failed", del.Attempt, ev.ID)
		default:
			a.State.NextAttemptAt = del.At.Add(jitter(d.Backoff[del.Attempt-1]))
			del.NextAttemptAt = a.State.NextAttemptAt
		}
		if a.Disable != "" {
			d.Log.Warn("webhook disabled", "workspace", w.WorkspaceID, "webhook", w.ID, "seq", ev.Data.Seq, "reason", a.Disable)
		}
		if err := record(a); err != nil {
			return err
		}
		return errStop
	}
	return flush()
}

// attempt POSTs one event and describes the attempt.
func (d *Deliverer) attempt(ctx context.Context, w *consentd.Webhook, key []byte, ev *consentd.CloudEvent, n int) *consentd.WebhookDelivery {
	start := d.Now()
	del := &consentd.WebhookDelivery{EventID: ev.ID, Seq: ev.Data.Seq, Type: ev.Type, Attempt: n, At: start.UTC()}
	defer func() {
		del.DurationMS = d.Now().Sub(start).Milliseconds()
		if del.StatusCode/100 == 2 {
			attemptsTotal.WithLabelValues("delivered").Inc()
		} else {
			attemptsTotal.WithLabelValues("failed").Inc()
		}
	}()
	body, err := json.Marshal(ev)
	if err != nil {
		del.Error = err.Error()
		return del
	}
	ctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		del.Error = err.Error()
		return del
	}
	ts := start.Unix()
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("User-Agent", "consentd-webhook")
	req.Header.Set("webhook-id", ev.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Sign(key, ev.ID, ts, body))
	res, err := d.Client.Do(req)
	if err != nil {
		del.Error = attemptError(err)
		return del
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	del.StatusCode = res.StatusCode
	return del
}

// attemptError describes a failed request: the code of a refused target,
// else the transport's error.
func attemptError(err error) string {
	var e *consentd.Error
	if errors.As(err, &e) {
		return e.Code + ": " + e.Message
	}
	return err.Error()
}

func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}
