// Package statemetrics exposes the state of the store as Prometheus
// gauges, read when /metrics is scraped: each workspace's log size and
// newest checkpoint's age, each webhook's lag behind the log and whether
// it is disabled, the NATS publisher's lag, the job queue and the
// data-subject requests. A scrape reads the store at most once per TTL;
// scrapes in between get the same reading. Labels carry workspace and
// webhook ids and job kinds, never a contact point.
package statemetrics

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/consentd/consentd"
	"github.com/prometheus/client_golang/prometheus"
)

// Store is what the gauges read.
type Store interface {
	Workspaces(ctx context.Context) ([]*consentd.Workspace, error)
	LogSize(ctx context.Context, wsID string) (int64, error)
	LatestCheckpoint(ctx context.Context, wsID string) (signed string, n int64, err error)
	CheckpointsBetween(ctx context.Context, wsID string, from, to int64, limit int) ([]consentd.CheckpointRecord, error)
	Webhooks(ctx context.Context, wsID string) ([]*consentd.Webhook, error)
	EventCursor(ctx context.Context, wsID, name string) (int64, error)
	QueueCounts(ctx context.Context, now time.Time) (*consentd.QueueCounts, error)
}

var (
	upDesc = prometheus.NewDesc("consentd_state_up",
		"1 when the last reading of the store's state for these gauges succeeded, 0 when it failed or timed out (the other state gauges are then absent).", nil, nil)
	logSizeDesc = prometheus.NewDesc("consentd_log_size_entries",
		"Entries in the workspace's log.", []string{"workspace_id"}, nil)
	checkpointAgeDesc = prometheus.NewDesc("consentd_checkpoint_age_seconds",
		"Seconds since the workspace's newest checkpoint was stored; absent while it has none.", []string{"workspace_id"}, nil)
	checkpointLagDesc = prometheus.NewDesc("consentd_checkpoint_lag_entries",
		"Log entries not yet covered by the workspace's newest checkpoint.", []string{"workspace_id"}, nil)
	webhookLagDesc = prometheus.NewDesc("consentd_webhook_lag_entries",
		"Log entries after the webhook's position (delivered or skipped): its backlog.", []string{"workspace_id", "webhook_id"}, nil)
	webhookDisabledDesc = prometheus.NewDesc("consentd_webhook_disabled",
		"1 when the webhook is disabled (by hand or after failing for too long), 0 otherwise.", []string{"workspace_id", "webhook_id"}, nil)
	natsLagDesc = prometheus.NewDesc("consentd_nats_lag_entries",
		"Log entries not yet acknowledged by NATS JetStream; present only with --nats-url.", []string{"workspace_id"}, nil)
	jobsQueuedDesc = prometheus.NewDesc("consentd_jobs_queued",
		"Queued automation jobs, due or not, by kind.", []string{"workspace_id", "kind"}, nil)
	jobsDueDesc = prometheus.NewDesc("consentd_jobs_due",
		"Queued automation jobs whose run time has come, waiting for a runner, by kind.", []string{"workspace_id", "kind"}, nil)
	jobsFailedDesc = prometheus.NewDesc("consentd_jobs_failed",
		"Automation jobs out of attempts, waiting for a retry by hand, by kind.", []string{"workspace_id", "kind"}, nil)
	requestsPendingDesc = prometheus.NewDesc("consentd_requests_pending",
		"Data-subject requests not carried out yet.", []string{"workspace_id"}, nil)
	requestsOverdueDesc = prometheus.NewDesc("consentd_requests_overdue",
		"Pending data-subject requests past their due date.", []string{"workspace_id"}, nil)
)

// Collector is a prometheus.Collector of the store's state.
type Collector struct {
	DB  Store
	Log *slog.Logger
	// NATSCursor is the event cursor of the NATS publisher (natspub.Cursor)
	// when one runs; "" leaves consentd_nats_lag_entries out.
	NATSCursor string
	TTL        time.Duration // how long a reading is reused; default 5 s
	Timeout    time.Duration // the longest a reading may take; default 2 s
	Now        func() time.Time

	mu   sync.Mutex
	at   time.Time // when last was read; zero: never
	last *reading  // nil when the last reading failed
}

// reading is one read of the store.
type reading struct {
	workspaces []wsState
	queues     *consentd.QueueCounts
}

type wsState struct {
	id           string
	logSize      int64
	checkpointAt time.Time // zero: no checkpoint
	checkpointN  int64
	webhooks     []*consentd.Webhook
	nats         int64 // the NATS publisher's position
}

// New returns a collector of db's state.
func New(db Store, log *slog.Logger) *Collector {
	return &Collector{DB: db, Log: log, TTL: 5 * time.Second, Timeout: 2 * time.Second, Now: time.Now}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{upDesc, logSizeDesc, checkpointAgeDesc, checkpointLagDesc, webhookLagDesc, webhookDisabledDesc,
		natsLagDesc, jobsQueuedDesc, jobsDueDesc, jobsFailedDesc, requestsPendingDesc, requestsOverdueDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it reads the store unless the
// last reading is younger than TTL, then sends the gauges.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	r := c.current()
	if r == nil {
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 1)
	now := c.Now()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, ws := range r.workspaces {
		gauge(logSizeDesc, float64(ws.logSize), ws.id)
		if !ws.checkpointAt.IsZero() {
			gauge(checkpointAgeDesc, max(0, now.Sub(ws.checkpointAt).Seconds()), ws.id)
			gauge(checkpointLagDesc, float64(max(0, ws.logSize-ws.checkpointN)), ws.id)
		}
		for _, wh := range ws.webhooks {
			gauge(webhookLagDesc, float64(wh.Lag(ws.logSize)), ws.id, wh.ID)
			disabled := 0.0
			if wh.Disabled {
				disabled = 1
			}
			gauge(webhookDisabledDesc, disabled, ws.id, wh.ID)
		}
		if c.NATSCursor != "" {
			gauge(natsLagDesc, float64(max(0, ws.logSize-ws.nats)), ws.id)
		}
	}
	for _, j := range r.queues.Jobs {
		gauge(jobsQueuedDesc, float64(j.Queued), j.WorkspaceID, j.Kind)
		gauge(jobsDueDesc, float64(j.Due), j.WorkspaceID, j.Kind)
		gauge(jobsFailedDesc, float64(j.Failed), j.WorkspaceID, j.Kind)
	}
	for _, q := range r.queues.Requests {
		gauge(requestsPendingDesc, float64(q.Pending), q.WorkspaceID)
		gauge(requestsOverdueDesc, float64(q.Overdue), q.WorkspaceID)
	}
}

// current returns the last reading when it is younger than TTL, else
// reads the store again; nil when that failed. Concurrent scrapes wait
// for one reading.
func (c *Collector) current() *reading {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.Now()
	if !c.at.IsZero() && now.Sub(c.at) < c.TTL {
		return c.last
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	r, err := c.read(ctx, now)
	if err != nil && c.Log != nil {
		c.Log.Warn("metrics: reading the store's state", "err", err)
	}
	c.at, c.last = now, r
	return r
}

// read reads the state of every workspace, then the queue counts.
func (c *Collector) read(ctx context.Context, now time.Time) (*reading, error) {
	wss, err := c.DB.Workspaces(ctx)
	if err != nil {
		return nil, fmt.Errorf("workspaces: %w", err)
	}
	r := &reading{}
	for _, ws := range wss {
		st := wsState{id: ws.ID}
		if st.logSize, err = c.DB.LogSize(ctx, ws.ID); err != nil {
			return nil, fmt.Errorf("log size of %s: %w", ws.ID, err)
		}
		_, n, err := c.DB.LatestCheckpoint(ctx, ws.ID)
		switch {
		case consentd.ErrorCode(err) == consentd.ENOTFOUND:
		case err != nil:
			return nil, fmt.Errorf("latest checkpoint of %s: %w", ws.ID, err)
		default:
			cps, err := c.DB.CheckpointsBetween(ctx, ws.ID, n, n, 1)
			if err != nil {
				return nil, fmt.Errorf("checkpoint %d of %s: %w", n, ws.ID, err)
			}
			if len(cps) == 1 {
				st.checkpointAt, st.checkpointN = cps[0].CreatedAt, n
			}
		}
		if st.webhooks, err = c.DB.Webhooks(ctx, ws.ID); err != nil {
			return nil, fmt.Errorf("webhooks of %s: %w", ws.ID, err)
		}
		for _, wh := range st.webhooks {
			wh.Secret = "" // not kept in memory longer than needed
		}
		if c.NATSCursor != "" {
			if st.nats, err = c.DB.EventCursor(ctx, ws.ID, c.NATSCursor); err != nil {
				return nil, fmt.Errorf("NATS position in %s: %w", ws.ID, err)
			}
		}
		r.workspaces = append(r.workspaces, st)
	}
	if r.queues, err = c.DB.QueueCounts(ctx, now); err != nil {
		return nil, fmt.Errorf("queue counts: %w", err)
	}
	return r, nil
}
