package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/consentd/consentd"
	"github.com/jackc/pgx/v5"
)

// This file stores webhooks, their delivery logs and the positions of the
// log consumers (webhooks, the NATS publisher).

const webhookColumns = `workspace_id, id, url, events, secret, secret_env, origin, disabled_reason, created_at, updated_at, position, failures, next_attempt_at`

func scanWebhook(row interface{ Scan(...any) error }) (*consentd.Webhook, error) {
	w := &consentd.Webhook{}
	var events string
	var created, updated, next int64
	if err := row.Scan(&w.WorkspaceID, &w.ID, &w.URL, &events, &w.Secret, &w.SecretEnv, &w.Origin, &w.DisabledReason, &created, &updated,
		&w.Position, &w.Failures, &next); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(events), &w.Events); err != nil {
		return nil, err
	}
	w.Disabled = w.DisabledReason != ""
	w.CreatedAt, w.UpdatedAt = fromNanos(created), fromNanos(updated)
	if next != 0 {
		w.NextAttemptAt = fromNanos(next)
	}
	return w, nil
}

func webhookEvents(w *consentd.Webhook) string {
	if w.Events == nil {
		return "[]"
	}
	b, _ := json.Marshal(w.Events)
	return string(b)
}

func disabledReason(w *consentd.Webhook) string {
	if !w.Disabled {
		return ""
	}
	if w.DisabledReason == "" {
		return "disabled"
	}
	return w.DisabledReason
}

// PutWebhook stores w, which the caller validated (its secret set). With
// create, it returns ECONFLICT when the id exists; without, it creates or
// replaces (consentd apply, PATCH). A new webhook starts at the current
// end of the log; a replaced one keeps its position, and re-enabling one
// clears its failures. It sets w's times and state. ENOTFOUND for an
// unknown workspace.
func (db *DB) PutWebhook(ctx context.Context, wsID string, w *consentd.Webhook, create bool) error {
	if _, err := db.currentWS(ctx, wsID); err != nil {
		return err
	}
	var out *consentd.Webhook
	err := db.write(ctx, "", func(tx *Tx) error {
		var n int
		if err := tx.QueryRow(tx.ctx, `SELECT count(*) FROM webhooks WHERE workspace_id = $1 AND id = $2`, wsID, w.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 && create {
			return consentd.FieldErrorf(consentd.ECONFLICT, "id", "a webhook with this id exists")
		}
		now := nanos(tx.now)
		if n == 0 {
			var end int64
			if err := tx.QueryRow(tx.ctx, `SELECT COALESCE(MAX(seq), 0) FROM log_entries WHERE workspace_id = $1`, wsID).Scan(&end); err != nil {
				return err
			}
			if _, err := tx.Exec(tx.ctx, `INSERT INTO webhooks (workspace_id, id, url, events, secret, secret_env, origin, disabled_reason, created_at, updated_at, position)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, wsID, w.ID, w.URL, webhookEvents(w), w.Secret, w.SecretEnv, w.Origin, disabledReason(w), now, now, end); err != nil {
				return err
			}
		} else if _, err := tx.Exec(tx.ctx, `UPDATE webhooks SET url = $1, events = $2, secret = $3, secret_env = $4, origin = $5,
				failures = CASE WHEN disabled_reason <> '' AND $6 = '' THEN 0 ELSE failures END,
				next_attempt_at = CASE WHEN disabled_reason <> '' AND $7 = '' THEN 0 ELSE next_attempt_at END,
				disabled_reason = $8, updated_at = $9 WHERE workspace_id = $10 AND id = $11`,
			w.URL, webhookEvents(w), w.Secret, w.SecretEnv, w.Origin, disabledReason(w), disabledReason(w), disabledReason(w), now, wsID, w.ID); err != nil {
			return err
		}
		var err error
		out, err = scanWebhook(tx.QueryRow(tx.ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE workspace_id = $1 AND id = $2`, wsID, w.ID))
		return err
	})
	if err != nil {
		return dbError(err)
	}
	secret := w.Secret
	*w = *out
	w.Secret = secret
	return nil
}

// Webhook returns one webhook, its secret included; ENOTFOUND.
func (db *DB) Webhook(ctx context.Context, wsID, id string) (*consentd.Webhook, error) {
	w, err := scanWebhook(db.pool.QueryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE workspace_id = $1 AND id = $2`, wsID, id))
	return w, notFound(err, "webhook")
}

// Webhooks returns the workspace's webhooks by id, secrets included.
func (db *DB) Webhooks(ctx context.Context, wsID string) ([]*consentd.Webhook, error) {
	return db.webhooks(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE workspace_id = $1 ORDER BY id`, wsID)
}

// ActiveWebhooks returns the enabled webhooks of every workspace, with
// WorkspaceID and secrets: what the deliverer works on.
func (db *DB) ActiveWebhooks(ctx context.Context) ([]*consentd.Webhook, error) {
	return db.webhooks(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE disabled_reason = '' ORDER BY workspace_id, id`)
}

func (db *DB) webhooks(ctx context.Context, query string, args ...any) ([]*consentd.Webhook, error) {
	rows, err := db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*consentd.Webhook{}
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// DeleteWebhook deletes a webhook and its delivery log; ENOTFOUND.
func (db *DB) DeleteWebhook(ctx context.Context, wsID, id string) error {
	return db.write(ctx, "", func(tx *Tx) error {
		tag, err := tx.Exec(tx.ctx, `DELETE FROM webhooks WHERE workspace_id = $1 AND id = $2`, wsID, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return consentd.Errorf(consentd.ENOTFOUND, "webhook not found")
		}
		_, err = tx.Exec(tx.ctx, `DELETE FROM webhook_deliveries WHERE workspace_id = $1 AND webhook_id = $2`, wsID, id)
		return err
	})
}

// RecordWebhookAttempt stores the outcome of a delivery attempt (or of
// skipped events): the webhook's new state, its delivery row (numbered on,
// rows beyond the newest keep pruned), and when a.Disable is set, the
// webhook disabled with that reason. It returns ECONFLICT, changing
// nothing, when the webhook's position is no longer from or it was
// disabled meanwhile, and ENOTFOUND when it was deleted.
func (db *DB) RecordWebhookAttempt(ctx context.Context, wsID, id string, from int64, a consentd.WebhookAttempt, keep int) error {
	return db.write(ctx, "", func(tx *Tx) error {
		var pos, n int64
		var reason string
		err := tx.QueryRow(tx.ctx, `SELECT position, deliveries, disabled_reason FROM webhooks WHERE workspace_id = $1 AND id = $2 FOR UPDATE`, wsID, id).Scan(&pos, &n, &reason)
		if err != nil {
			return notFound(err, "webhook")
		}
		if pos != from || reason != "" {
			return consentd.Errorf(consentd.ECONFLICT, "the webhook changed meanwhile")
		}
		for _, d := range a.Deliveries {
			n++
			d.N = n
			if _, err := tx.Exec(tx.ctx, `INSERT INTO webhook_deliveries (workspace_id, webhook_id, n, event_id, seq, type, attempt, status_code, error, duration_ms, at, next_attempt_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, wsID, id, n, d.EventID, d.Seq, d.Type, d.Attempt, d.StatusCode, d.Error, d.DurationMS, nanos(d.At), zeroNanos(d.NextAttemptAt)); err != nil {
				return err
			}
		}
		if len(a.Deliveries) > 0 {
			if _, err := tx.Exec(tx.ctx, `DELETE FROM webhook_deliveries WHERE workspace_id = $1 AND webhook_id = $2 AND n <= $3`, wsID, id, n-int64(keep)); err != nil {
				return err
			}
		}
		_, err = tx.Exec(tx.ctx, `UPDATE webhooks SET position = $1, failures = $2, next_attempt_at = $3, deliveries = $4, disabled_reason = $5 WHERE workspace_id = $6 AND id = $7`,
			a.State.Position, a.State.Failures, zeroNanos(a.State.NextAttemptAt), n, a.Disable, wsID, id)
		return err
	})
}

func zeroNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// WebhookDeliveries pages a webhook's delivery log, newest first; the
// page token is the number of the last row given. ENOTFOUND for an
// unknown webhook, EINVALID for a bad token.
func (db *DB) WebhookDeliveries(ctx context.Context, wsID, id string, f consentd.DeliveryFilter) ([]*consentd.WebhookDelivery, string, error) {
	var one int
	if err := db.pool.QueryRow(ctx, `SELECT 1 FROM webhooks WHERE workspace_id = $1 AND id = $2`, wsID, id).Scan(&one); err != nil {
		return nil, "", notFound(err, "webhook")
	}
	before, limit, err := f.Bounds()
	if err != nil {
		return nil, "", err
	}
	rows, err := db.pool.Query(ctx, `SELECT n, event_id, seq, type, attempt, status_code, error, duration_ms, at, next_attempt_at FROM webhook_deliveries
		WHERE workspace_id = $1 AND webhook_id = $2 AND n < $3 ORDER BY n DESC LIMIT $4`, wsID, id, before, limit+1)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	out := []*consentd.WebhookDelivery{}
	for rows.Next() {
		d := &consentd.WebhookDelivery{}
		var at, next int64
		if err := rows.Scan(&d.N, &d.EventID, &d.Seq, &d.Type, &d.Attempt, &d.StatusCode, &d.Error, &d.DurationMS, &at, &next); err != nil {
			return nil, "", err
		}
		d.At = fromNanos(at)
		if next != 0 {
			d.NextAttemptAt = fromNanos(next)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	out, next := consentd.DeliveryPage(out, limit)
	return out, next, nil
}

// EventCursor returns a consumer's stored position in a workspace's log
// (0 when it has none).
func (db *DB) EventCursor(ctx context.Context, wsID, name string) (int64, error) {
	var seq int64
	err := db.pool.QueryRow(ctx, `SELECT seq FROM event_cursors WHERE workspace_id = $1 AND name = $2`, wsID, name).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return seq, err
}

// SetEventCursor stores a consumer's position; it never moves back.
// ENOTFOUND for an unknown workspace.
func (db *DB) SetEventCursor(ctx context.Context, wsID, name string, seq int64) error {
	if _, err := db.currentWS(ctx, wsID); err != nil {
		return err
	}
	return db.write(ctx, "", func(tx *Tx) error {
		_, err := tx.Exec(tx.ctx, `INSERT INTO event_cursors (workspace_id, name, seq) VALUES ($1, $2, $3)
			ON CONFLICT (workspace_id, name) DO UPDATE SET seq = GREATEST(event_cursors.seq, excluded.seq)`, wsID, name, seq)
		return err
	})
}

// ContactPointByHash returns the plaintext of a contact point hash:
// ENOTFOUND when none is stored (never stored, or erased).
func (db *DB) ContactPointByHash(ctx context.Context, wsID string, hash [32]byte) (consentd.ContactPointKind, string, error) {
	var kind, value string
	err := db.pool.QueryRow(ctx, `SELECT kind, value FROM contact_points WHERE workspace_id = $1 AND hash = $2`, wsID, hash[:]).Scan(&kind, &value)
	return consentd.ContactPointKind(kind), value, notFound(err, "contact point")
}
