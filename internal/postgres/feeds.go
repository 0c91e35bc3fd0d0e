package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/consentd/consentd"
	"github.com/jackc/pgx/v5"
)

// This file stores provider feeds and applies their events.

const feedColumns = `id, provider, name, public_key, username, secret, secret_env, settings, soft_limit, soft_window, created_at, updated_at`

func scanFeed(wsID string, row interface{ Scan(...any) error }) (*consentd.Feed, error) {
	f := &consentd.Feed{}
	var created, updated int64
	var settings string
	if err := row.Scan(&f.ID, &f.Provider, &f.Name, &f.PublicKey, &f.Username, &f.StoredSecret, &f.SecretEnv, &settings,
		&f.SoftBounce.Limit, &f.SoftBounce.Window, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(settings), &f.Settings); err != nil {
		return nil, fmt.Errorf("feed %s settings: %w", f.ID, err)
	}
	f.CreatedAt, f.UpdatedAt = fromNanos(created), fromNanos(updated)
	f.URL = consentd.FeedPath(wsID, f.Provider, f.ID)
	return f, nil
}

// feedSettings is f's settings as stored: a JSON object.
func feedSettings(f *consentd.Feed) string {
	if len(f.Settings) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(f.Settings)
	return string(b)
}

// PutFeed stores f, which the caller validated (StoredSecret set). With
// create it returns ECONFLICT when the id exists; without, it creates or
// replaces (consentd apply). It sets f's times and URL. ENOTFOUND for an
// unknown workspace.
func (db *DB) PutFeed(ctx context.Context, wsID string, f *consentd.Feed, create bool) error {
	if _, err := db.currentWS(ctx, wsID); err != nil {
		return err
	}
	var out *consentd.Feed
	err := db.write(ctx, "", func(tx *Tx) error {
		var n int
		if err := tx.QueryRow(tx.ctx, `SELECT count(*) FROM feeds WHERE workspace_id = $1 AND id = $2`, wsID, f.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 && create {
			return consentd.FieldErrorf(consentd.ECONFLICT, "id", "a feed with this id exists")
		}
		now := nanos(tx.now)
		if _, err := tx.Exec(tx.ctx, `INSERT INTO feeds (workspace_id, id, provider, name, public_key, username, secret, secret_env, settings, soft_limit, soft_window, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			ON CONFLICT (workspace_id, id) DO UPDATE SET provider = excluded.provider, name = excluded.name, public_key = excluded.public_key,
			username = excluded.username, secret = excluded.secret, secret_env = excluded.secret_env, settings = excluded.settings, soft_limit = excluded.soft_limit,
			soft_window = excluded.soft_window, updated_at = excluded.updated_at`,
			wsID, f.ID, string(f.Provider), f.Name, f.PublicKey, f.Username, f.StoredSecret, f.SecretEnv, feedSettings(f), f.SoftBounce.Limit, f.SoftBounce.Window, now, now); err != nil {
			return err
		}
		var err error
		out, err = scanFeed(wsID, tx.QueryRow(tx.ctx, `SELECT `+feedColumns+` FROM feeds WHERE workspace_id = $1 AND id = $2`, wsID, f.ID))
		return err
	})
	if err != nil {
		return dbError(err)
	}
	secret := f.Secret
	*f = *out
	f.Secret = secret
	return nil
}

// Feed returns one feed with its stored secret; ENOTFOUND.
func (db *DB) Feed(ctx context.Context, wsID, id string) (*consentd.Feed, error) {
	f, err := scanFeed(wsID, db.pool.QueryRow(ctx, `SELECT `+feedColumns+` FROM feeds WHERE workspace_id = $1 AND id = $2`, wsID, id))
	return f, notFound(err, "feed")
}

// Feeds returns the workspace's feeds by id, stored secrets included.
func (db *DB) Feeds(ctx context.Context, wsID string) ([]*consentd.Feed, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+feedColumns+` FROM feeds WHERE workspace_id = $1 ORDER BY id`, wsID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*consentd.Feed{}
	for rows.Next() {
		f, err := scanFeed(wsID, rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// DeleteFeed deletes a feed and the event ids it kept; ENOTFOUND.
func (db *DB) DeleteFeed(ctx context.Context, wsID, id string) error {
	return db.write(ctx, "", func(tx *Tx) error {
		res, err := tx.Exec(tx.ctx, `DELETE FROM feeds WHERE workspace_id = $1 AND id = $2`, wsID, id)
		if err != nil {
			return err
		}
		if res.RowsAffected() == 0 {
			return consentd.Errorf(consentd.ENOTFOUND, "feed not found")
		}
		_, err = tx.Exec(tx.ctx, `DELETE FROM feed_events WHERE workspace_id = $1 AND feed_id = $2`, wsID, id)
		return err
	})
}

// addFeedSuppression adds and logs a suppression that the caller knows is
// not there, as ensureSuppression does when it finds none; s.Reason is
// never erased.
func (tx *Tx) addFeedSuppression(wsID string, hash [32]byte, cp string, s *consentd.SuppressionInput, actor string) error {
	sup := consentd.Suppression{ID: "sup_" + randomID(12), Kind: s.Kind, Channel: s.Channel, Reason: s.Reason, Note: s.Note, CreatedAt: tx.now}
	seq, err := tx.appendLog(wsID, &consentd.LogEntry{Type: consentd.LogSuppressionAdded, Subject: consentd.HashedConsentID(hash, "*"), After: sup, Actor: actor})
	if err != nil {
		return err
	}
	tx.queue(`INSERT INTO contact_points (workspace_id, hash, kind, value) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, wsID, hash[:], string(s.Kind), cp)
	tx.queue(`INSERT INTO suppressions (workspace_id, id, cp_hash, kind, channel, reason, note, created_at, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		wsID, sup.ID, hash[:], string(s.Kind), s.Channel, string(s.Reason), s.Note, nanos(tx.now), seq)
	return nil
}

// ApplyFeedEvents applies a batch of provider events in one transaction:
// each act whose event id the feed has not processed is recorded with it
// and does what it says (suppressions unless one stands, consent writes
// that change something); an act seen before does nothing. A soft bounce
// is counted under its recipient's hash, and when the count within the
// policy's window reaches the limit, its Escalate suppression is added. A
// ReplayKey seen before gives ECONFLICT and changes nothing. Event ids
// older than consentd.FeedEventRetention are pruned.
func (db *DB) ApplyFeedEvents(ctx context.Context, wsID string, in consentd.FeedApply, actor string) (*consentd.FeedOutcome, error) {
	out := &consentd.FeedOutcome{}
	err := db.writeLog(ctx, wsID, max(1, len(in.Acts)), func(tx *Tx) error {
		*out = consentd.FeedOutcome{}
		c, err := tx.lockedWS(wsID) // the log lock: event ids are checked under it
		if err != nil {
			return err
		}
		now := nanos(tx.now)
		if in.ReplayKey != "" {
			res, err := tx.Exec(tx.ctx, `INSERT INTO feed_events (workspace_id, feed_id, event_id, kind, occurred_at, processed_at)
				VALUES ($1, $2, $3, 'replay_key', $4, $5) ON CONFLICT DO NOTHING`, wsID, in.FeedID, "replay:"+in.ReplayKey, now, now)
			if err != nil {
				return err
			}
			if res.RowsAffected() == 0 {
				return consentd.Errorf(consentd.ECONFLICT, "this request was processed before")
			}
		}
		ids := make([]string, len(in.Acts))
		for i := range in.Acts {
			ids[i] = in.Acts[i].EventID
		}
		rows, err := tx.Query(tx.ctx, `SELECT event_id FROM feed_events WHERE workspace_id = $1 AND feed_id = $2 AND event_id = ANY($3)`, wsID, in.FeedID, ids)
		if err != nil {
			return err
		}
		seenIDs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		seen := make(map[string]bool, len(seenIDs))
		for _, id := range seenIDs {
			seen[id] = true
		}
		// The suppressions that stand for the batch's addresses, read at
		// once under the log lock: a new one is added without a query of
		// its own. An erased address stays erased: its events are recorded
		// (a replay does nothing) but store no plaintext and act on nothing.
		hashes := make([][]byte, len(in.Acts))
		for i := range in.Acts {
			hashes[i] = in.Acts[i].Hash[:]
		}
		rows, err = tx.Query(tx.ctx, `SELECT DISTINCT cp_hash, channel, reason FROM suppressions WHERE workspace_id = $1 AND cp_hash = ANY($2::bytea[])`, wsID, hashes)
		if err != nil {
			return err
		}
		stand := map[string]bool{} // hash, channel, reason
		erased := map[[32]byte]bool{}
		key := func(hash []byte, channel string, reason consentd.SuppressionReason) string {
			return string(hash) + "\x00" + channel + "\x00" + string(reason)
		}
		var h []byte
		var channel, reason string
		if _, err := pgx.ForEachRow(rows, []any{&h, &channel, &reason}, func() error {
			stand[key(h, channel, consentd.SuppressionReason(reason))] = true
			if reason == string(consentd.SuppressErased) {
				erased[[32]byte(h)] = true
			}
			return nil
		}); err != nil {
			return err
		}
		ensure := func(hash [32]byte, cp string, s *consentd.SuppressionInput) error {
			k := key(hash[:], s.Channel, s.Reason)
			if stand[k] {
				return nil
			}
			stand[k] = true
			out.Suppressions++
			return tx.addFeedSuppression(wsID, hash, cp, s, actor)
		}
		var writes []consentd.ConsentWrite
		for i := range in.Acts {
			a := &in.Acts[i]
			out.Events++
			if seen[a.EventID] {
				out.Duplicates++
				continue
			}
			seen[a.EventID] = true
			var hash []byte
			if a.Hash != ([32]byte{}) {
				hash = a.Hash[:]
			}
			tx.queue(`INSERT INTO feed_events (workspace_id, feed_id, event_id, kind, cp_hash, occurred_at, processed_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, wsID, in.FeedID, a.EventID, string(a.Kind), hash, nanos(a.OccurredAt), now)
			if erased[a.Hash] {
				out.Erased++
				continue
			}
			for j := range a.Suppressions {
				if err := ensure(a.Hash, a.ContactPoint, &a.Suppressions[j]); err != nil {
					return err
				}
			}
			if a.Kind == consentd.FeedSoftBounce && a.Escalate != nil && in.SoftBounce.Limit > 0 {
				var n int
				since := a.OccurredAt.Add(-in.SoftBounce.WindowDuration())
				if err := tx.QueryRow(tx.ctx, `SELECT count(*) FROM feed_events WHERE workspace_id = $1 AND feed_id = $2 AND cp_hash = $3
					AND kind = 'soft_bounce' AND occurred_at >= $4 AND occurred_at <= $5`, wsID, in.FeedID, a.Hash[:], nanos(since), nanos(a.OccurredAt)).Scan(&n); err != nil {
					return err
				}
				if n >= in.SoftBounce.Limit {
					out.Escalations++
					if err := ensure(a.Hash, a.ContactPoint, a.Escalate); err != nil {
						return err
					}
				}
			}
			writes = append(writes, a.Writes...)
		}
		if len(writes) > 0 {
			results, err := tx.writeLocked(c, writes, actor)
			if err != nil {
				return err
			}
			for _, r := range results {
				if r.Err == nil && r.Applied {
					out.Consents++
				}
			}
		}
		tx.queue(`DELETE FROM feed_events WHERE workspace_id = $1 AND feed_id = $2 AND processed_at < $3`,
			wsID, in.FeedID, nanos(tx.now.Add(-consentd.FeedEventRetention)))
		return nil
	})
	if err != nil {
		return nil, dbError(err)
	}
	return out, nil
}
