package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/consentd/consentd"
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
	if _, err := db.loadWS(ctx, db.r, wsID); err != nil {
		return err
	}
	var out *consentd.Feed
	err := db.write(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRowContext(tx.ctx, `SELECT count(*) FROM feeds WHERE workspace_id = ? AND id = ?`, wsID, f.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 && create {
			return consentd.FieldErrorf(consentd.ECONFLICT, "id", "a feed with this id exists")
		}
		now := nanos(tx.now)
		if _, err := tx.ExecContext(tx.ctx, `INSERT INTO feeds (workspace_id, id, provider, name, public_key, username, secret, secret_env, settings, soft_limit, soft_window, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (workspace_id, id) DO UPDATE SET provider = excluded.provider, name = excluded.name, public_key = excluded.public_key,
			username = excluded.username, secret = excluded.secret, secret_env = excluded.secret_env, settings = excluded.settings, soft_limit = excluded.soft_limit,
			soft_window = excluded.soft_window, updated_at = excluded.updated_at`,
			wsID, f.ID, string(f.Provider), f.Name, f.PublicKey, f.Username, f.StoredSecret, f.SecretEnv, feedSettings(f), f.SoftBounce.Limit, f.SoftBounce.Window, now, now); err != nil {
			return err
		}
		var err error
		out, err = scanFeed(wsID, tx.QueryRowContext(tx.ctx, `SELECT `+feedColumns+` FROM feeds WHERE workspace_id = ? AND id = ?`, wsID, f.ID))
		return err
	})
	if err != nil {
		return err
	}
	secret := f.Secret
	*f = *out
	f.Secret = secret
	return nil
}

// Feed returns one feed with its stored secret; ENOTFOUND.
func (db *DB) Feed(ctx context.Context, wsID, id string) (*consentd.Feed, error) {
	f, err := scanFeed(wsID, db.r.QueryRowContext(ctx, `SELECT `+feedColumns+` FROM feeds WHERE workspace_id = ? AND id = ?`, wsID, id))
	return f, notFound(err, "feed")
}

// Feeds returns the workspace's feeds by id, stored secrets included.
func (db *DB) Feeds(ctx context.Context, wsID string) ([]*consentd.Feed, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+feedColumns+` FROM feeds WHERE workspace_id = ? ORDER BY id`, wsID)
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
	return db.write(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(tx.ctx, `DELETE FROM feeds WHERE workspace_id = ? AND id = ?`, wsID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return consentd.Errorf(consentd.ENOTFOUND, "feed not found")
		}
		_, err = tx.ExecContext(tx.ctx, `DELETE FROM feed_events WHERE workspace_id = ? AND feed_id = ?`, wsID, id)
		return err
	})
}

// ApplyFeedEvents applies a batch of provider events in one transaction:
// each act whose event id the feed has not processed is recorded with it
// and does what it says (suppressions unless one stands, consent writes
// that change something); an act seen before does nothing, and so does one
// about an erased address (recorded, so that a replay does nothing too). A
// soft bounce is counted under its recipient's hash, and when the count
// within the policy's window reaches the limit, its Escalate suppression is
// added. A ReplayKey seen before gives ECONFLICT and changes nothing.
// Event ids older than consentd.FeedEventRetention are pruned.
func (db *DB) ApplyFeedEvents(ctx context.Context, wsID string, in consentd.FeedApply, actor string) (*consentd.FeedOutcome, error) {
	out := &consentd.FeedOutcome{}
	write := db.write
	if len(in.Acts) > aloneWrites {
		write = db.writeAlone
	}
	err := write(ctx, func(tx *Tx) error {
		*out = consentd.FeedOutcome{}
		c, err := db.loadWS(tx.ctx, tx, wsID)
		if err != nil {
			return err
		}
		now := nanos(tx.now)
		if in.ReplayKey != "" {
			res, err := tx.ExecContext(tx.ctx, `INSERT INTO feed_events (workspace_id, feed_id, event_id, kind, occurred_at, processed_at)
				VALUES (?, ?, ?, 'replay_key', ?, ?) ON CONFLICT DO NOTHING`, wsID, in.FeedID, "replay:"+in.ReplayKey, now, now)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return consentd.Errorf(consentd.ECONFLICT, "this request was processed before")
			}
		}
		// What the batch needs to know, read at once: the event ids the
		// feed has processed, and the suppressions that stand for its
		// addresses (an erased address stays erased: its events store no
		// plaintext and act on nothing).
		ids := make([]any, len(in.Acts))
		hashes := make([]any, len(in.Acts))
		for i := range in.Acts {
			ids[i], hashes[i] = in.Acts[i].EventID, in.Acts[i].Hash[:]
		}
		seen := map[string]bool{}
		if err := tx.queryIn(`SELECT event_id FROM feed_events WHERE workspace_id = ? AND feed_id = ? AND event_id IN `, []any{wsID, in.FeedID}, ids,
			func(rows *sql.Rows) error {
				var id string
				err := rows.Scan(&id)
				seen[id] = true
				return err
			}); err != nil {
			return err
		}
		key := func(hash []byte, channel string, reason consentd.SuppressionReason) string {
			return string(hash) + "\x00" + channel + "\x00" + string(reason)
		}
		stand := map[string]bool{} // hash, channel, reason
		erased := map[[32]byte]bool{}
		if err := tx.queryIn(`SELECT cp_hash, channel, reason FROM suppressions WHERE workspace_id = ? AND cp_hash IN `, []any{wsID}, hashes,
			func(rows *sql.Rows) error {
				var h []byte
				var channel, reason string
				if err := rows.Scan(&h, &channel, &reason); err != nil {
					return err
				}
				stand[key(h, channel, consentd.SuppressionReason(reason))] = true
				if reason == string(consentd.SuppressErased) {
					erased[[32]byte(h)] = true
				}
				return nil
			}); err != nil {
			return err
		}
		ensure := func(a *consentd.FeedAct, s *consentd.SuppressionInput) error {
			k := key(a.Hash[:], s.Channel, s.Reason)
			if stand[k] {
				return nil
			}
			stand[k] = true
			out.Suppressions++
			return tx.addFeedSuppression(wsID, a.Hash, a.ContactPoint, s, actor)
		}
		// The event rows go in with multi-row statements, flushed before a
		// soft bounce is counted so that the count sees the batch's own.
		var rows []any
		flush := func() error {
			err := tx.insertRows(`INSERT INTO feed_events (workspace_id, feed_id, event_id, kind, cp_hash, occurred_at, processed_at) VALUES `,
				`(?, ?, ?, ?, ?, ?, ?)`, ``, 7, rows)
			rows = rows[:0]
			return err
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
			var hash any
			if a.Hash != ([32]byte{}) {
				hash = a.Hash[:]
			}
			rows = append(rows, wsID, in.FeedID, a.EventID, string(a.Kind), hash, nanos(a.OccurredAt), now)
			if erased[a.Hash] {
				out.Erased++
				continue
			}
			for j := range a.Suppressions {
				if err := ensure(a, &a.Suppressions[j]); err != nil {
					return err
				}
			}
			if a.Kind == consentd.FeedSoftBounce && a.Escalate != nil && in.SoftBounce.Limit > 0 {
				if err := flush(); err != nil {
					return err
				}
				var n int
				since := a.OccurredAt.Add(-in.SoftBounce.WindowDuration())
				if err := tx.QueryRowContext(tx.ctx, `SELECT count(*) FROM feed_events WHERE workspace_id = ? AND feed_id = ? AND cp_hash = ?
					AND kind = 'soft_bounce' AND occurred_at >= ? AND occurred_at <= ?`, wsID, in.FeedID, a.Hash[:], nanos(since), nanos(a.OccurredAt)).Scan(&n); err != nil {
					return err
				}
				if n >= in.SoftBounce.Limit {
					out.Escalations++
					if err := ensure(a, a.Escalate); err != nil {
						return err
					}
				}
			}
			writes = append(writes, a.Writes...)
		}
		if err := flush(); err != nil {
			return err
		}
		if len(writes) > 0 {
			results, err := tx.writeConsents(c, writes, actor, nil)
			if err != nil {
				return err
			}
			for _, r := range results {
				if r.Err == nil && r.Applied {
					out.Consents++
				}
			}
		}
		_, err = tx.ExecContext(tx.ctx, `DELETE FROM feed_events WHERE workspace_id = ? AND feed_id = ? AND processed_at < ?`,
			wsID, in.FeedID, nanos(tx.now.Add(-consentd.FeedEventRetention)))
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// queryIn runs query, which ends in "IN ", with args and then the values
// of in as the list, up to 500 at a time, calling fn on each row.
func (tx *Tx) queryIn(query string, args []any, in []any, fn func(*sql.Rows) error) error {
	for len(in) > 0 {
		chunk := in[:min(len(in), 500)]
		in = in[len(chunk):]
		// Not prepared (tx.Tx): the last chunk's length varies.
		rows, err := tx.Tx.QueryContext(tx.ctx, query+`(?`+strings.Repeat(`, ?`, len(chunk)-1)+`)`, append(append([]any(nil), args...), chunk...)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := fn(rows); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
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
	if err := tx.putContactPoint(wsID, hash[:], s.Kind, cp); err != nil {
		return err
	}
	_, err = tx.ExecContext(tx.ctx, `INSERT INTO suppressions (workspace_id, id, cp_hash, kind, channel, reason, note, created_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		wsID, sup.ID, hash[:], string(s.Kind), s.Channel, string(s.Reason), s.Note, nanos(tx.now), seq)
	return err
}
