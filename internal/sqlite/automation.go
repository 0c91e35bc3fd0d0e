package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/rules"
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
	return db.write(ctx, func(tx *Tx) error {
		if _, err := db.loadWS(tx.ctx, tx, wsID); err != nil {
			return err
		}
		old, err := tx.rule(wsID, r.ID)
		if err != nil && consentd.ErrorCode(err) != consentd.ENOTFOUND {
			return err
		}
		created := nanos(tx.now)
		if old != nil {
			if mustJSON(old) == mustJSON(r) {
				return nil // the same rule: nothing to log
			}
			if err := tx.QueryRowContext(tx.ctx, `SELECT created_at FROM rules WHERE workspace_id = ? AND id = ?`, wsID, r.ID).Scan(&created); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(tx.ctx, `INSERT OR REPLACE INTO rules (workspace_id, id, record_type, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
			wsID, r.ID, r.On.Record, mustJSON(r), created, nanos(tx.now)); err != nil {
			return err
		}
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
	if err := tx.QueryRowContext(tx.ctx, `SELECT body FROM rules WHERE workspace_id = ? AND id = ?`, wsID, id).Scan(&body); err != nil {
		return nil, notFound(err, "rule")
	}
	r := &consentd.Rule{}
	return r, json.Unmarshal([]byte(body), r)
}

// Rule returns a rule; ENOTFOUND when the workspace has none with this id.
func (db *DB) Rule(ctx context.Context, wsID, id string) (*consentd.Rule, error) {
	var body string
	if err := db.r.QueryRowContext(ctx, `SELECT body FROM rules WHERE workspace_id = ? AND id = ?`, wsID, id).Scan(&body); err != nil {
		return nil, notFound(err, "rule")
	}
	r := &consentd.Rule{}
	return r, json.Unmarshal([]byte(body), r)
}

// Rules returns a workspace's rules by id.
func (db *DB) Rules(ctx context.Context, wsID string) ([]*consentd.Rule, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT body FROM rules WHERE workspace_id = ? ORDER BY id`, wsID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*consentd.Rule{}
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		r := &consentd.Rule{}
		if err := json.Unmarshal([]byte(body), r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeleteRule deletes a rule and logs rule.deleted; ENOTFOUND when there is
// none. Its queued jobs stay, and fail when they run.
func (db *DB) DeleteRule(ctx context.Context, wsID, id, actor string) error {
	return db.write(ctx, func(tx *Tx) error {
		old, err := tx.rule(wsID, id)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(tx.ctx, `DELETE FROM rules WHERE workspace_id = ? AND id = ?`, wsID, id); err != nil {
			return err
		}
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
	var change consentd.RecordChange
	var jobs []*consentd.Job
	err = db.write(ctx, func(tx *Tx) error {
		change, jobs = "", nil
		if _, err := db.loadWS(tx.ctx, tx, wsID); err != nil {
			return err
		}
		var old []byte
		err := tx.QueryRowContext(tx.ctx, `SELECT digest FROM records WHERE workspace_id = ? AND type = ? AND id = ?`, wsID, rec.Type, rec.ID).Scan(&old)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			change = consentd.RecordCreated
		case err != nil:
			return err
		case bytes.Equal(old, digest[:]):
			change = consentd.RecordUnchanged
			return nil
		default:
			change = consentd.RecordUpdated
		}
		if _, err := tx.ExecContext(tx.ctx, `INSERT OR REPLACE INTO records (workspace_id, type, id, digest, updated_at) VALUES (?, ?, ?, ?, ?)`,
			wsID, rec.Type, rec.ID, digest[:], nanos(tx.now)); err != nil {
			return err
		}
		in := consentd.JobInput{Type: rec.Type, ID: rec.ID, Change: change, Fields: rec.Fields, Origin: rec.Origin, ReceivedAt: tx.now}
		input := mustJSON(in)
		for _, t := range triggers {
			if !t.Matches(change) {
				continue
			}
			j := newJob(wsID, t, in, tx.now)
			if _, err := tx.ExecContext(tx.ctx, `INSERT INTO jobs (workspace_id, id, rule_id, kind, state, attempts, max_attempts, run_at, input, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)`, wsID, j.ID, j.RuleID, j.Kind, j.State, j.MaxAttempts, nanos(j.RunAt), input, nanos(j.CreatedAt), nanos(j.UpdatedAt)); err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	return change, jobs, nil
}

// enqueue queues a job of kind (not a rule job) on ref, due at runAt, in
// the transaction. A (kind, ref) that has a job already gets no second
// one. The runner in this process is nudged by the caller (SQLite has one
// writer process).
func (tx *Tx) enqueue(wsID, kind, ref string, maxAttempts int, runAt time.Time) error {
	_, err := tx.ExecContext(tx.ctx, `INSERT INTO jobs (workspace_id, id, rule_id, kind, ref, state, attempts, max_attempts, run_at, created_at, updated_at)
		VALUES (?, ?, '', ?, ?, 'queued', 0, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		wsID, "job_"+randomID(12), kind, ref, maxAttempts, nanos(runAt), nanos(tx.now), nanos(tx.now))
	return err
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

func scanJob(row interface{ Scan(...any) error }) (*consentd.Job, error) {
	j := &consentd.Job{}
	var runAt, created, updated int64
	var input sql.NullString
	if err := row.Scan(&j.WorkspaceID, &j.ID, &j.RuleID, &j.Kind, &j.Ref, &j.State, &j.Attempts, &j.MaxAttempts, &runAt, &j.LastError, &input, &j.Result, &created, &updated); err != nil {
		return nil, err
	}
	j.RunAt, j.CreatedAt, j.UpdatedAt = fromNanos(runAt), fromNanos(created), fromNanos(updated)
	if input.Valid {
		j.Input = &consentd.JobInput{}
		if err := json.Unmarshal([]byte(input.String), j.Input); err != nil {
			return nil, err
		}
	}
	return j, nil
}

// Job returns a job; ENOTFOUND when the workspace has none with this id.
func (db *DB) Job(ctx context.Context, wsID, id string) (*consentd.Job, error) {
	j, err := scanJob(db.r.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE workspace_id = ? AND id = ?`, wsID, id))
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
	q, args := `SELECT `+jobCols+` FROM jobs WHERE workspace_id = ?`, []any{wsID}
	if f.State != "" {
		q += ` AND state = ?`
		args = append(args, f.State)
	}
	if f.PageToken != "" {
		at, id, err := parsePageToken(f.PageToken)
		if err != nil {
			return nil, "", err
		}
		q += ` AND (created_at, id) > (?, ?)`
		args = append(args, at, id)
	}
	rows, err := db.r.QueryContext(ctx, q+` ORDER BY created_at, id LIMIT ?`, append(args, f.Limit+1)...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	out := []*consentd.Job{}
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
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
// for lease, with one more attempt.
func (db *DB) ClaimJobs(ctx context.Context, lease time.Duration, limit int) ([]*consentd.Job, error) {
	var out []*consentd.Job
	err := db.write(ctx, func(tx *Tx) error {
		out = nil
		now := nanos(tx.now)
		rows, err := tx.QueryContext(tx.ctx, `SELECT `+jobCols+` FROM jobs WHERE state = 'queued' AND run_at <= ?
			UNION ALL SELECT `+jobCols+` FROM jobs WHERE state = 'running' AND locked_until <= ? ORDER BY run_at LIMIT ?`, now, now, limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, j)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, j := range out {
			j.State, j.Attempts, j.UpdatedAt = consentd.JobRunning, j.Attempts+1, tx.now
			if _, err := tx.ExecContext(tx.ctx, `UPDATE jobs SET state = 'running', attempts = ?, locked_until = ?, updated_at = ? WHERE workspace_id = ? AND id = ?`,
				j.Attempts, nanos(tx.now.Add(lease)), now, j.WorkspaceID, j.ID); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// NextJobAt returns when a job is next due: the earliest run_at of a
// queued job or locked_until of a running one (zero: none).
func (db *DB) NextJobAt(ctx context.Context) (time.Time, error) {
	var n sql.NullInt64
	if err := db.r.QueryRowContext(ctx, `SELECT min(t) FROM (SELECT min(run_at) AS t FROM jobs WHERE state = 'queued' UNION ALL SELECT min(locked_until) FROM jobs WHERE state = 'running') x`).Scan(&n); err != nil || !n.Valid {
		return time.Time{}, err
	}
	return fromNanos(n.Int64), nil
}

// FinishJob marks a running job succeeded with a result summary and clears
// its input. ECONFLICT when the job is not running (another runner took
// it over after its lease expired and finished it).
func (db *DB) FinishJob(ctx context.Context, wsID, id, result string) error {
	return db.write(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(tx.ctx, `UPDATE jobs SET state = 'succeeded', input = NULL, result = ?, last_error = '', locked_until = NULL, updated_at = ?
			WHERE workspace_id = ? AND id = ? AND state = 'running'`, result, nanos(tx.now), wsID, id)
		return affected(res, err)
	})
}

// FailJob records a failed run of a running job: with retryAt set it is
// queued again for then; with a zero retryAt it is failed for good, its
// input kept for a retry. ECONFLICT when the job is not running.
func (db *DB) FailJob(ctx context.Context, wsID, id, msg string, retryAt time.Time) error {
	return db.write(ctx, func(tx *Tx) error {
		var res sql.Result
		var err error
		if retryAt.IsZero() {
			res, err = tx.ExecContext(tx.ctx, `UPDATE jobs SET state = 'failed', last_error = ?, locked_until = NULL, updated_at = ?
				WHERE workspace_id = ? AND id = ? AND state = 'running'`, msg, nanos(tx.now), wsID, id)
		} else {
			res, err = tx.ExecContext(tx.ctx, `UPDATE jobs SET state = 'queued', last_error = ?, run_at = ?, locked_until = NULL, updated_at = ?
				WHERE workspace_id = ? AND id = ? AND state = 'running'`, msg, nanos(retryAt), nanos(tx.now), wsID, id)
		}
		return affected(res, err)
	})
}

func affected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return consentd.Errorf(consentd.ECONFLICT, "the job is not running")
	}
	return nil
}

// RetryJob queues a failed job again, due now, with its attempts reset.
// ENOTFOUND when there is no such job, ECONFLICT when it is not failed.
func (db *DB) RetryJob(ctx context.Context, wsID, id string) (*consentd.Job, error) {
	var j *consentd.Job
	err := db.write(ctx, func(tx *Tx) error {
		var err error
		if j, err = scanJob(tx.QueryRowContext(tx.ctx, `SELECT `+jobCols+` FROM jobs WHERE workspace_id = ? AND id = ?`, wsID, id)); err != nil {
			return notFound(err, "job")
		}
		if j.State != consentd.JobFailed {
			return consentd.Errorf(consentd.ECONFLICT, "only a failed job can be retried; this one is %s", j.State)
		}
		j.State, j.Attempts, j.RunAt, j.UpdatedAt = consentd.JobQueued, 0, tx.now, tx.now
		if _, err = tx.ExecContext(tx.ctx, `UPDATE jobs SET state = 'queued', attempts = 0, run_at = ?, updated_at = ? WHERE workspace_id = ? AND id = ?`,
			nanos(tx.now), nanos(tx.now), wsID, id); err != nil {
			return err
		}
		if j.Kind == consentd.JobKindRequest {
			// The request failed with its job: pending again, with attempts
			// reset as the job's are (its errors stay), for the job
			// to carry it out.
			_, err = tx.ExecContext(tx.ctx, `UPDATE requests SET state = 'pending', attempts = 0 WHERE workspace_id = ? AND id = ? AND state = 'failed'`, wsID, j.Ref)
		}
		return err
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
	err := db.write(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(tx.ctx, `UPDATE requests SET state = 'pending', attempts = 0 WHERE workspace_id = ? AND state = 'failed'
			AND id IN (SELECT ref FROM jobs WHERE workspace_id = ? AND kind = 'request' AND state = 'failed')`, wsID, wsID); err != nil {
			return err
		}
		res, err := tx.ExecContext(tx.ctx, `UPDATE jobs SET state = 'queued', attempts = 0, run_at = ?, updated_at = ? WHERE workspace_id = ? AND state = 'failed'`,
			nanos(tx.now), nanos(tx.now), wsID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// PurgeJobInput clears a job's input (the record's fields) because it
// names an erased contact point; a job that has not succeeded is failed
// with the reason, so that it never runs on data that was erased.
// ENOTFOUND when there is no such job.
func (db *DB) PurgeJobInput(ctx context.Context, wsID, id, reason string) error {
	return db.write(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(tx.ctx, `UPDATE jobs SET input = NULL,
			last_error = CASE WHEN state = 'succeeded' THEN last_error ELSE ? END,
			state = CASE WHEN state = 'succeeded' THEN state ELSE 'failed' END,
			locked_until = NULL, updated_at = ? WHERE workspace_id = ? AND id = ?`, reason, nanos(tx.now), wsID, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return consentd.Errorf(consentd.ENOTFOUND, "job not found")
		}
		return nil
	})
}

// Erased reports whether the contact point hash carries an `erased`
// suppression.
func (db *DB) Erased(ctx context.Context, wsID string, hash [32]byte) (bool, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM suppressions WHERE workspace_id = ? AND cp_hash = ? AND reason = 'erased'`, wsID, hash[:]).Scan(&n)
	return n > 0, err
}
