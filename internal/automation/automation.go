// Package automation runs rule jobs (docs/architecture.md (automation)): it claims due
// jobs from the store, across workspaces, with a lease, runs the current
// version of each job's rule on the record snapshot the job holds, writes
// the consents through the API's double-opt-in-aware write path, and
// finishes the job, or schedules a retry with exponential backoff and full
// jitter, or fails it for good once it is out of attempts.
package automation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/rules"
)

// Store is what the runner needs of a backend.
type Store interface {
	Rule(ctx context.Context, wsID, id string) (*consentd.Rule, error)
	ClaimJobs(ctx context.Context, lease time.Duration, limit int) ([]*consentd.Job, error)
	// NextJobAt is when a job is next due: the earliest run_at of a
	// queued job or locked_until of a running one (zero: none).
	NextJobAt(ctx context.Context) (time.Time, error)
	FinishJob(ctx context.Context, wsID, id, result string) error
	FailJob(ctx context.Context, wsID, id, msg string, retryAt time.Time) error
}

// Writer writes consents as the API does: double opt-in hold, write,
// confirmations (api.Server.WriteConsents).
type Writer interface {
	WriteConsents(ctx context.Context, wsID string, writes []consentd.ConsentWrite, actor string) ([]consentd.WriteResult, error)
}

// Runner runs rule jobs. Set its fields before Run.
type Runner struct {
	Store  Store
	Writer Writer
	Log    *slog.Logger
	Now    func() time.Time // default time.Now

	Base  time.Duration // first retry delay (upper bound of its jitter); default 10s
	Cap   time.Duration // longest retry delay; default 1h
	Poll  time.Duration // longest sleep between looks for due jobs; default 1s
	Lease time.Duration // how long a claimed job is the runner's; default 5m
	Batch int           // jobs claimed at once; default 32

	nudge chan struct{}
}

// New returns a runner with the default settings.
func New(store Store, w Writer, log *slog.Logger) *Runner {
	return &Runner{Store: store, Writer: w, Log: log, nudge: make(chan struct{}, 1)}
}

// Nudge wakes the runner: a job may be due. It never blocks.
func (r *Runner) Nudge() {
	select {
	case r.nudge <- struct{}{}:
	default:
	}
}

func (r *Runner) defaults() {
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Base <= 0 {
		r.Base = 10 * time.Second
	}
	if r.Cap <= 0 {
		r.Cap = time.Hour
	}
	if r.Poll <= 0 {
		r.Poll = time.Second
	}
	if r.Lease <= 0 {
		r.Lease = 5 * time.Minute
	}
	if r.Batch <= 0 {
		r.Batch = 32
	}
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
	if r.nudge == nil {
		r.nudge = make(chan struct{}, 1)
	}
}

// Run claims and runs jobs until ctx is done. Between claims it sleeps
// until the next job is due (or a lease expires), the poll interval
// passes, or Nudge is called; it claims only when something is due, so an
// idle runner writes nothing.
func (r *Runner) Run(ctx context.Context) {
	r.defaults()
	for ctx.Err() == nil {
		wait := r.Poll
		next, err := r.Store.NextJobAt(ctx)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				r.Log.Error("automation: next job", "err", err)
			}
		case next.IsZero():
		case !next.After(r.Now()):
			n, err := r.RunOnce(ctx)
			if err != nil && ctx.Err() == nil {
				r.Log.Error("automation: claim jobs", "err", err)
			}
			if err == nil && n > 0 {
				continue // there may be more
			}
		default:
			wait = min(wait, next.Sub(r.Now())+time.Millisecond)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-r.nudge:
		case <-t.C:
		}
		t.Stop()
	}
}

// RunOnce claims the due jobs (one batch of up to Batch) and runs them
// concurrently; it returns how many it ran.
func (r *Runner) RunOnce(ctx context.Context) (int, error) {
	r.defaults()
	jobs, err := r.Store.ClaimJobs(ctx, r.Lease, r.Batch)
	if err != nil {
		return 0, err
	}
	// Run the batch concurrently: the store commits their writes together
	// (group commit). Order does not matter: writes are ordered by
	// captured_at, the record's arrival, whatever the order they run in.
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.runJob(ctx, j)
		}()
	}
	wg.Wait()
	return len(jobs), nil
}

// permanent marks an error that no retry can mend (the job's own input is
// unusable): the job fails at once.
type permanent struct{ error }

// maxErrorLen bounds a job's stored last_error.
const maxErrorLen = 2000

func (r *Runner) runJob(ctx context.Context, j *consentd.Job) {
	// The outcome is recorded even when ctx ends meanwhile (shutdown): a
	// job that ran is finished, not left to its lease and run again.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if j.Attempts > j.MaxAttempts {
		// Claimed again and again without an outcome: the process died
		// while running it, each time. Give up rather than crash forever.
		jobsTotal.WithLabelValues("failed").Inc()
		r.fail(sctx, j, fmt.Sprintf("gave up after %d runs that did not finish (did the process stop while running it?)", j.Attempts-1), time.Time{})
		return
	}
	result, err := r.execute(ctx, j)
	if err == nil {
		jobsTotal.WithLabelValues("succeeded").Inc()
		if ferr := r.Store.FinishJob(sctx, j.WorkspaceID, j.ID, result); ferr != nil {
			r.Log.Error("automation: finish job", "workspace", j.WorkspaceID, "job", j.ID, "err", ferr)
		}
		return
	}
	if ctx.Err() != nil {
		// Interrupted by shutdown: due again at once, for the next start.
		r.fail(sctx, j, "interrupted: the runner stopped", r.Now())
		return
	}
	msg := consentd.ErrorMessage(err)
	if consentd.ErrorCode(err) == consentd.EINTERNAL {
		msg = err.Error() // the operator reads it; it names no contact point
	}
	var retryAt time.Time
	var p permanent
	if j.Attempts < j.MaxAttempts && !errors.As(err, &p) {
		retryAt = r.Now().Add(r.Backoff(j.Attempts))
	}
	if retryAt.IsZero() {
		jobsTotal.WithLabelValues("failed").Inc()
	} else {
		jobsTotal.WithLabelValues("retry").Inc()
	}
	r.Log.Warn("automation: job failed", "workspace", j.WorkspaceID, "job", j.ID, "rule", j.RuleID, "attempt", j.Attempts, "final", retryAt.IsZero(), "code", consentd.ErrorCode(err))
	r.fail(sctx, j, msg, retryAt)
}

func (r *Runner) fail(ctx context.Context, j *consentd.Job, msg string, retryAt time.Time) {
	if len(msg) > maxErrorLen {
		msg = strings.ToValidUTF8(msg[:maxErrorLen], "")
	}
	if err := r.Store.FailJob(ctx, j.WorkspaceID, j.ID, msg, retryAt); err != nil {
		r.Log.Error("automation: fail job", "workspace", j.WorkspaceID, "job", j.ID, "err", err)
	}
}

// Backoff is the delay before retry n (n >= 1 runs done): full jitter, a
// uniform draw from [0, min(Cap, Base*2^(n-1))].
func (r *Runner) Backoff(n int) time.Duration {
	r.defaults()
	d := r.Base
	for i := 1; i < n && d < r.Cap; i++ {
		d *= 2
	}
	d = min(d, r.Cap)
	return time.Duration(rand.Int64N(int64(d) + 1))
}

// execute runs a job's rule on its input; it returns the result summary.
func (r *Runner) execute(ctx context.Context, j *consentd.Job) (string, error) {
	if j.Input == nil {
		return "", permanent{errors.New("the job has no input")}
	}
	rule, err := r.Store.Rule(ctx, j.WorkspaceID, j.RuleID)
	if err != nil {
		if consentd.ErrorCode(err) == consentd.ENOTFOUND {
			return "", consentd.Errorf(consentd.ENOTFOUND, "rule %q does not exist (deleted?)", j.RuleID)
		}
		return "", err
	}
	p, err := rules.Compile(rule)
	if err != nil {
		return "", err
	}
	ok, err := p.When(j.Input.Fields)
	if err != nil {
		return "", err
	}
	if !ok {
		return "condition false", nil
	}
	writes, err := p.Writes(j.Input.Fields, j.Input.Origin, j.Input.ReceivedAt)
	if err != nil {
		return "", err
	}
	if len(writes) == 0 {
		return "no consent to write", nil
	}
	res, err := r.Writer.WriteConsents(ctx, j.WorkspaceID, writes, "rule:"+rule.ID)
	if err != nil {
		return "", err
	}
	counts := map[string]int{}
	for i, wr := range res {
		if wr.Err != nil {
			return "", consentd.Errorf(consentd.ErrorCode(wr.Err), "rule %q: consents[%d] (%s): %s", rule.ID, i, writes[i].ChannelType, consentd.ErrorMessage(wr.Err))
		}
		o := string(wr.Outcome)
		if wr.Consent != nil && wr.Consent.Status == consentd.Pending && writes[i].Status == consentd.Pending {
			o += " pending"
		}
		counts[o]++
	}
	var parts []string
	for _, o := range []string{"created", "created pending", "changed", "changed pending", "unchanged", "unchanged pending", "superseded", "superseded pending"} {
		if n := counts[o]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, o))
		}
	}
	return "wrote " + strings.Join(parts, ", "), nil
}
