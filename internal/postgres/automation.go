package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/rules"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ---- Rules ----

// PutRule creates or replaces a rule by id (the rule must compile; else
// EINVALIDRULE), with its defaults filled in (in r too), and logs
// rule.changed.
func (db *DB) PutRule(ctx context.Context, wsID string, r *consentd.Rule, actor string) error {
	p, err := rules.Compile(r)
	if err != nil {
		return err
	}
	*r = p.Rule() // with its defaults: source, change
	return db.write(ctx, wsID, func(tx *Tx) error {
		if _, err := db.loadWS(tx.ctx, tx, wsID); err != nil {
			return err
		}
		if _, err := tx.log(wsID); err != nil { // the lock, which fixes tx.now
			return err
		}
		old, err := tx.rule(wsID, r.ID)
		if err != nil && consentd.ErrorCode(err) != consentd.ENOTFOUND {
			return err
		}
		if old != nil && mustJSON(old) == mustJSON(r) {
			return nil // the same rule: nothing to log
		}
		tx.queue(`INSERT INTO rules (workspace_id, id, record_type, body, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)
			ON CONFLICT (workspace_id, id) DO UPDATE SET record_type = excluded.record_type, body = excluded.body, updated_at = excluded.updated_at`,
			wsID, r.ID, r.On.Record, mustJSON(r), nanos(tx.now))
		var before any
		if old != nil {
			before = old
		}
		_, err = tx.appendLog(wsID, &consentd.LogEntry{Type: consentd.LogRuleChanged, Subject: r.ID, Before: before, After: r, Actor: actor})
		return err
	})
}

func (tx *Tx) rule(wsID, id string) (*consentd.Rule, error) {
	var body string
	if err := tx.QueryRow(tx.ctx, `SELECT body FROM rules WHERE workspace_id = $1 AND id = $2`, wsID, id).Scan(&body); err != nil {
		return nil, notFound(err, "rule")
	}
	r := &consentd.Rule{}
	return r, json.Unmarshal([]byte(body), r)
}

// Rule returns a rule; ENOTFOUND when the workspace has none with this id.
func (db *DB) Rule(ctx context.Context, wsID, id string) (*consentd.Rule, error) {
	var body string
	if err := db.pool.QueryRow(ctx, `SELECT body FROM rules WHERE workspace_id = $1 AND id = $2`, wsID, id).Scan(&body); err != nil {
		return nil, notFound(err, "rule")
	}
	r := &consentd.Rule{}
	return r, json.Unmarshal([]byte(body), r)
}

// Rules returns a workspace's rules by id.
func (db *DB) Rules(ctx context.Context, wsID string) ([]*consentd.Rule, error) {
	rows, err := db.pool.Query(ctx, `SELECT body FROM rules WHERE workspace_id = $1 ORDER BY id`, wsID)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*consentd.Rule, error) {
		var body string
		if err := row.Scan(&body); err != nil {
			return nil, err
		}
		r := &consentd.Rule{}
		return r, json.Unmarshal([]byte(body), r)
	})
	if out == nil {
		out = []*consentd.Rule{}
	}
	return out, err
}

// DeleteRule deletes a rule and logs rule.deleted; ENOTFOUND when there is
// none. Its queued jobs stay, and fail when they run.
func (db *DB) DeleteRule(ctx context.Context, wsID, id, actor string) error {
	return db.write(ctx, wsID, func(tx *Tx) error {
		if _, err := tx.log(wsID); err != nil {
			return err
		}
		old, err := tx.rule(wsID, id)
		if err != nil {
			return err
		}
		tx.queue(`DELETE FROM rules WHERE workspace_id = $1 AND id = $2`, wsID, id)
		_, err = tx.appendLog(wsID, &consentd.LogEntry{Type: consentd.LogRuleDeleted, Subject: id, Before: old, Actor: actor})
		return err
	})
}

// ---- Records ----

// PutRecord stores the digest of a record's fields and, in the same
// transaction, enqueues a job for each trigger that matches the change it
// found: created (no digest before), updated (another digest) or
// unchanged (the same: no job). The jobs' input is the record, received
// now (the transaction's clock).
func (db *DB) PutRecord(ctx context.Context, wsID string, rec consentd.Record, triggers []consentd.JobTrigger) (consentd.RecordChange, []*consentd.Job, error) {
	digest, err := consentd.RecordDigest(rec.Fields)
	if err != nil {
		return "", nil, consentd.Errorf(consentd.EMALFORMED, "record fields are not JSON")
	}
	if _, err := db.currentWS(ctx, wsID); err != nil {
		return "", nil, err
	}
	var change consentd.RecordChange
	var jobs []*consentd.Job
	err = db.write(ctx, "", func(tx *Tx) error {
		// Insert first: of two concurrent first PUTs one inserts, the
		// other waits for its row and then compares.
		tag, err := tx.Exec(tx.ctx, `INSERT INTO records (workspace_id, type, id, digest, updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
			wsID, rec.Type, rec.ID, digest[:], nanos(tx.now))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			change = consentd.RecordCreated
		} else {
			var old []byte
			if err := tx.QueryRow(tx.ctx, `SELECT digest FROM records WHERE workspace_id = $1 AND type = $2 AND id = $3 FOR UPDATE`, wsID, rec.Type, rec.ID).Scan(&old); err != nil {
				return err
			}
			if bytes.Equal(old, digest[:]) {
				change = consentd.RecordUnchanged
				return nil
			}
			change = consentd.RecordUpdated
			tx.queue(`UPDATE records SET digest = $4, updated_at = $5 WHERE workspace_id = $1 AND type = $2 AND id = $3`, wsID, rec.Type, rec.ID, digest[:], nanos(tx.now))
		}
		in := consentd.JobInput{Type: rec.Type, ID: rec.ID, Change: change, Fields: rec.Fields, Origin: rec.Origin, ReceivedAt: tx.now}
		input := mustJSON(in)
		jobs = nil
		for _, t := range triggers {
			if !t.Matches(change) {
				continue
			}
			j := newJob(wsID, t, in, tx.now)
			tx.queue(`INSERT INTO jobs (workspace_id, id, rule_id, kind, state, attempts, max_attempts, run_at, input, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9, $9)`, wsID, j.ID, j.RuleID, j.Kind, string(j.State), j.MaxAttempts, nanos(j.RunAt), input, nanos(j.CreatedAt))
			jobs = append(jobs, j)
		}
		if len(jobs) > 0 {
			tx.notifyJobs() // wake the runners of every replica
		}
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	return change, jobs, nil
}

// enqueue queues a job of kind (not a rule job) on ref, due at runAt, in
// the transaction, and notifies the runners when it commits. A (kind, ref)
// that has a job already gets no second one.
func (tx *Tx) enqueue(wsID, kind, ref string, maxAttempts int, runAt time.Time) {
	tx.queue(`INSERT INTO jobs (workspace_id, id, rule_id, kind, ref, state, attempts, max_attempts, run_at, created_at, updated_at)
		VALUES ($1, $2, '', $3, $4, 'queued', 0, $5, $6, $7, $7) ON CONFLICT DO NOTHING`,
		wsID, "job_"+randomID(12), kind, ref, maxAttempts, nanos(runAt), nanos(tx.now))
	tx.notifyJobs()
}

// notifyJobs makes the transaction notify consentd_jobs when it commits:
// the runners that LISTEN wake at once (NOTIFY is delivered on commit,
// and only then).
func (tx *Tx) notifyJobs() {
	tx.queue(`SELECT pg_notify($1, '')`, consentd.JobNotifyChannel)
}

func newJob(wsID string, t consentd.JobTrigger, in consentd.JobInput, now time.Time) *consentd.Job {
	max := t.MaxAttempts
	if max <= 0 {
		max = consentd.DefaultJobMaxAttempts
	}
	return &consentd.Job{ID: "job_" + randomID(12), WorkspaceID: wsID, RuleID: t.RuleID, Kind: consentd.JobKindRule, State: consentd.JobQueued,
		MaxAttempts: max, RunAt: now.Add(t.Delay), Input: &in, CreatedAt: now, UpdatedAt: now}
}

// ---- Jobs ----

const jobCols = `workspace_id, id, rule_id, kind, ref, state, attempts, max_attempts, run_at, last_error, input, result, created_at, updated_at`

func scanJob(row pgx.Row) (*consentd.Job, error) {
	j := &consentd.Job{}
	var runAt, created, updated int64
	var input *string
	var state string
	if err := row.Scan(&j.WorkspaceID, &j.ID, &j.RuleID, &j.Kind, &j.Ref, &state, &j.Attempts, &j.MaxAttempts, &runAt, &j.LastError, &input, &j.Result, &created, &updated); err != nil {
		return nil, err
	}
	j.State = consentd.JobState(state)
	j.RunAt, j.CreatedAt, j.UpdatedAt = fromNanos(runAt), fromNanos(created), fromNanos(updated)
	if input != nil {
		j.Input = &consentd.JobInput{}
		if err := json.Unmarshal([]byte(*input), j.Input); err != nil {
			return nil, err
		}
	}
	return j, nil
}

func collectJobs(rows pgx.Rows) ([]*consentd.Job, error) {
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*consentd.Job, error) { return scanJob(row) })
	if out == nil {
		out = []*consentd.Job{}
	}
	return out, err
}

// Job returns a job; ENOTFOUND when the workspace has none with this id.
func (db *DB) Job(ctx context.Context, wsID, id string) (*consentd.Job, error) {
	j, err := scanJob(db.pool.QueryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE workspace_id = $1 AND id = $2`, wsID, id))
	return j, notFound(err, "job")
}

// Jobs lists a workspace's jobs in the order they were enqueued, those in
// f.State if set, one page at a time. EINVALID for a bad state or token.
func (db *DB) Jobs(ctx context.Context, wsID string, f consentd.JobFilter) ([]*consentd.Job, string, error) {
	if f.State != "" && !f.State.Valid() {
		return nil, "", consentd.FieldErrorf(consentd.EINVALID, "state", "state must be queued, running, succeeded or failed")
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	q, args := `SELECT `+jobCols+` FROM jobs WHERE workspace_id = $1`, []any{wsID}
	if f.State != "" {
		args = append(args, string(f.State))
		q += ` AND state = $2`
	}
	if f.PageToken != "" {
		at, id, err := parsePageToken(f.PageToken)
		if err != nil {
			return nil, "", err
		}
		args = append(args, at, id)
		q += ` AND (created_at, id) > ($` + strconv.Itoa(len(args)-1) + `, $` + strconv.Itoa(len(args)) + `)`
	}
	args = append(args, f.Limit+1)
	rows, err := db.pool.Query(ctx, q+` ORDER BY created_at, id LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, "", err
	}
	out, err := collectJobs(rows)
	if err != nil {
		return nil, "", err
	}
	var next string
	if len(out) > f.Limit {
		out = out[:f.Limit]
		last := out[len(out)-1]
		next = pageToken(nanos(last.CreatedAt), last.ID)
	}
	return out, next, nil
}

// ClaimJobs claims up to limit jobs of any workspace that are due (queued
// with run_at <= now) or whose lease expired (running with locked_until
// <= now: the process that ran them died): each becomes running, locked
// for lease, with one more attempt. Concurrent claimers, in this or other
// processes, skip each other's rows.
func (db *DB) ClaimJobs(ctx context.Context, lease time.Duration, limit int) ([]*consentd.Job, error) {
	var out []*consentd.Job
	err := db.write(ctx, "", func(tx *Tx) error {
		now := nanos(tx.now)
		rows, err := tx.Query(tx.ctx, `UPDATE jobs j SET state = 'running', attempts = j.attempts + 1, locked_until = $2, updated_at = $1
			FROM (SELECT workspace_id, id FROM jobs WHERE (state = 'queued' AND run_at <= $1) OR (state = 'running' AND locked_until <= $1)
				ORDER BY run_at LIMIT $3 FOR UPDATE SKIP LOCKED) d
			WHERE j.workspace_id = d.workspace_id AND j.id = d.id
			RETURNING j.workspace_id, j.id, j.rule_id, j.kind, j.ref, j.state, j.attempts, j.max_attempts, j.run_at, j.last_error, j.input, j.result, j.created_at, j.updated_at`,
			now, nanos(tx.now.Add(lease)), limit)
		if err != nil {
			return err
		}
		out, err = collectJobs(rows)
		return err
	})
	return out, err
}

// NextJobAt returns when a job is next due: the earliest run_at of a
// queued job or locked_until of a running one (zero: none).
func (db *DB) NextJobAt(ctx context.Context) (time.Time, error) {
	var n *int64
	if err := db.pool.QueryRow(ctx, `SELECT min(t) FROM (SELECT min(run_at) AS t FROM jobs WHERE state = 'queued' UNION ALL SELECT min(locked_until) FROM jobs WHERE state = 'running') x`).Scan(&n); err != nil || n == nil {
		return time.Time{}, err
	}
	return fromNanos(*n), nil
}

func affected(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return consentd.Errorf(consentd.ECONFLICT, "the job is not running")
	}
	return nil
}

// FinishJob marks a running job succeeded with a result summary and clears
// its input. ECONFLICT when the job is not running.
func (db *DB) FinishJob(ctx context.Context, wsID, id, result string) error {
	return db.write(ctx, "", func(tx *Tx) error {
		return affected(tx.Exec(tx.ctx, `UPDATE jobs SET state = 'succeeded', input = NULL, result = $3, last_error = '', locked_until = NULL, updated_at = $4
			WHERE workspace_id = $1 AND id = $2 AND state = 'running'`, wsID, id, result, nanos(tx.now)))
	})
}

// FailJob records a failed run of a running job: with retryAt set it is
// queued again for then; with a zero retryAt it is failed for good, its
// input kept for a retry. ECONFLICT when the job is not running.
func (db *DB) FailJob(ctx context.Context, wsID, id, msg string, retryAt time.Time) error {
	return db.write(ctx, "", func(tx *Tx) error {
		if retryAt.IsZero() {
			return affected(tx.Exec(tx.ctx, `UPDATE jobs SET state = 'failed', last_error = $3, locked_until = NULL, updated_at = $4
				WHERE workspace_id = $1 AND id = $2 AND state = 'running'`, wsID, id, msg, nanos(tx.now)))
		}
		return affected(tx.Exec(tx.ctx, `UPDATE jobs SET state = 'queued', last_error = $3, run_at = $5, locked_until = NULL, updated_at = $4
			WHERE workspace_id = $1 AND id = $2 AND state = 'running'`, wsID, id, msg, nanos(tx.now), nanos(retryAt)))
	})
}

// RetryJob queues a failed job again, due now, with its attempts reset.
// ENOTFOUND when there is no such job, ECONFLICT when it is not failed.
func (db *DB) RetryJob(ctx context.Context, wsID, id string) (*consentd.Job, error) {
	var j *consentd.Job
	err := db.write(ctx, "", func(tx *Tx) error {
		var err error
		if j, err = scanJob(tx.QueryRow(tx.ctx, `SELECT `+jobCols+` FROM jobs WHERE workspace_id = $1 AND id = $2 FOR UPDATE`, wsID, id)); err != nil {
			if errors.Is(err, pgx.ErrNoRows) || j == nil {
				return consentd.Errorf(consentd.ENOTFOUND, "job not found")
			}
			return err
		}
		if j.State != consentd.JobFailed {
			return consentd.Errorf(consentd.ECONFLICT, "only a failed job can be retried; this one is %s", j.State)
		}
		j.State, j.Attempts, j.RunAt, j.UpdatedAt = consentd.JobQueued, 0, tx.now, tx.now
		tx.queue(`UPDATE jobs SET state = 'queued', attempts = 0, run_at = $3, updated_at = $3 WHERE workspace_id = $1 AND id = $2`, wsID, id, nanos(tx.now))
		if j.Kind == consentd.JobKindRequest {
			// The request failed with its job: pending again, with attempts
			// reset as the job's are (its errors stay), for the job
			// to carry it out.
			tx.queue(`UPDATE requests SET state = 'pending', attempts = 0 WHERE workspace_id = $1 AND id = $2 AND state = 'failed'`, wsID, j.Ref)
		}
		tx.notifyJobs()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return j, nil
}

// RetryFailedJobs queues every failed job of the workspace again and
// returns how many.
func (db *DB) RetryFailedJobs(ctx context.Context, wsID string) (int, error) {
	var n int64
	err := db.write(ctx, "", func(tx *Tx) error {
		if _, err := tx.Exec(tx.ctx, `UPDATE requests r SET state = 'pending', attempts = 0 FROM jobs j
			WHERE j.workspace_id = $1 AND j.kind = 'request' AND j.state = 'failed' AND r.workspace_id = j.workspace_id AND r.id = j.ref AND r.state = 'failed'`, wsID); err != nil {
			return err
		}
		tag, err := tx.Exec(tx.ctx, `UPDATE jobs SET state = 'queued', attempts = 0, run_at = $2, updated_at = $2 WHERE workspace_id = $1 AND state = 'failed'`,
			wsID, nanos(tx.now))
		n = tag.RowsAffected()
		if n > 0 {
			tx.notifyJobs()
		}
		return err
	})
	return int(n), err
}

// PurgeJobInput clears a job's input (the record's fields) because it
// names an erased contact point; a job that has not succeeded is failed
// with the reason, so that it never runs on data that was erased.
// ENOTFOUND when there is no such job.
func (db *DB) PurgeJobInput(ctx context.Context, wsID, id, reason string) error {
	return db.write(ctx, "", func(tx *Tx) error {
		tag, err := tx.Exec(tx.ctx, `UPDATE jobs SET input = NULL,
			last_error = CASE WHEN state = 'succeeded' THEN last_error ELSE $3 END,
			state = CASE WHEN state = 'succeeded' THEN state ELSE 'failed' END,
			locked_until = NULL, updated_at = $4 WHERE workspace_id = $1 AND id = $2`, wsID, id, reason, nanos(tx.now))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return consentd.Errorf(consentd.ENOTFOUND, "job not found")
		}
		return nil
	})
}

// Erased reports whether the contact point hash carries an `erased`
// suppression.
func (db *DB) Erased(ctx context.Context, wsID string, hash [32]byte) (bool, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM suppressions WHERE workspace_id = $1 AND cp_hash = $2 AND reason = 'erased'`, wsID, hash[:]).Scan(&n)
	return n > 0, err
}
