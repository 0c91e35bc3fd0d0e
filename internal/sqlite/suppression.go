package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/consentd/consentd"
)

// AddSuppression suppresses a contact point and logs it; an `erased`
// suppression also deletes the contact point's plaintext. It returns
// EINVALID or EINVALIDCONTACTPOINT for bad input.
func (db *DB) AddSuppression(ctx context.Context, wsID string, in consentd.SuppressionInput, actor string) (*consentd.Suppression, error) {
	if !in.Reason.Valid() {
		return nil, consentd.FieldErrorf(consentd.EINVALID, "reason", "reason must be erased, do_not_contact, hard_bounce, complaint or sms_stop")
	}
	if in.Channel != "" && !consentd.ValidID(in.Channel) {
		return nil, consentd.FieldErrorf(consentd.EINVALID, "channel", "channel must be a channel id")
	}
	if in.Kind == "" {
		in.Kind = consentd.GuessKind(in.Channel, in.ContactPoint)
	} else if !in.Kind.Valid() {
		return nil, consentd.FieldErrorf(consentd.EINVALID, "kind", "kind must be email, phone or custom")
	}
	c, err := db.loadWS(ctx, db.r, wsID)
	if err != nil {
		return nil, err
	}
	cp, err := consentd.NormalizeStored(in.Kind, in.ContactPoint, c.ws.DefaultRegion)
	if err != nil {
		return nil, err
	}
	hash := consentd.ContactPointHash(c.secret, in.Kind, cp)
	s := &consentd.Suppression{ID: "sup_" + randomID(12), ContactPoint: cp, Kind: in.Kind, Channel: in.Channel, Reason: in.Reason, Note: in.Note}
	err = db.write(ctx, func(tx *Tx) error {
		if in.OnlyIfNone {
			var err error
			s, err = tx.ensureSuppression(wsID, hash, in.Kind, cp, in.Channel, in.Reason, in.Note, actor)
			return err
		}
		s.CreatedAt = tx.now
		logged := *s
		logged.ContactPoint = ""
		var err error
		if s.Seq, err = tx.appendLog(wsID, &consentd.LogEntry{Type: consentd.LogSuppressionAdded, Subject: consentd.HashedConsentID(hash, "*"), After: logged, Actor: actor}); err != nil {
			return err
		}
		// Erasure deletes the plaintext and keeps the proof (docs/decisions.md
		// and docs/operations.md): the hash in the log, the consents and the suppression.
		if s.Reason == consentd.SuppressErased {
			err = tx.erase(wsID, hash, cp)
		} else {
			err = tx.putContactPoint(wsID, hash[:], in.Kind, cp)
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(tx.ctx, `INSERT INTO suppressions (workspace_id, id, cp_hash, kind, channel, reason, note, created_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			wsID, s.ID, hash[:], string(s.Kind), s.Channel, string(s.Reason), s.Note, nanos(tx.now), s.Seq)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Suppressions lists the workspace's suppressions, newest first.
func (db *DB) Suppressions(ctx context.Context, wsID string) ([]*consentd.Suppression, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT s.id, s.kind, s.channel, s.reason, s.note, s.created_at, s.seq, COALESCE(p.value, '')
		FROM suppressions s LEFT JOIN contact_points p ON p.workspace_id = s.workspace_id AND p.hash = s.cp_hash
		WHERE s.workspace_id = ? ORDER BY s.created_at DESC, s.id`, wsID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*consentd.Suppression{}
	for rows.Next() {
		s := &consentd.Suppression{}
		var kind, reason string
		var created int64
		if err := rows.Scan(&s.ID, &kind, &s.Channel, &reason, &s.Note, &created, &s.Seq, &s.ContactPoint); err != nil {
			return nil, err
		}
		s.Kind, s.Reason, s.CreatedAt = consentd.ContactPointKind(kind), consentd.SuppressionReason(reason), fromNanos(created)
		out = append(out, s)
	}
	return out, rows.Err()
}

// DeleteSuppression lifts a suppression and logs it; ENOTFOUND when there is
// none.
func (db *DB) DeleteSuppression(ctx context.Context, wsID, id, actor string) error {
	return db.write(ctx, func(tx *Tx) error {
		return tx.liftSuppression(wsID, id, actor)
	})
}

// liftSuppression deletes a suppression and logs its lifting; ENOTFOUND
// when there is none.
func (tx *Tx) liftSuppression(wsID, id, actor string) error {
	var hash []byte
	var kind, channel, reason string
	err := tx.QueryRowContext(tx.ctx, `SELECT cp_hash, kind, channel, reason FROM suppressions WHERE workspace_id = ? AND id = ?`, wsID, id).Scan(&hash, &kind, &channel, &reason)
	if err != nil {
		return notFound(err, "suppression")
	}
	if _, err := tx.ExecContext(tx.ctx, `DELETE FROM suppressions WHERE workspace_id = ? AND id = ?`, wsID, id); err != nil {
		return err
	}
	var h [32]byte
	copy(h[:], hash)
	before := consentd.Suppression{ID: id, Kind: consentd.ContactPointKind(kind), Channel: channel, Reason: consentd.SuppressionReason(reason)}
	_, err = tx.appendLog(wsID, &consentd.LogEntry{Type: consentd.LogSuppressionLifted, Subject: consentd.HashedConsentID(h, "*"), Before: before, Actor: actor})
	return err
}

// erase deletes what is held of a contact point's plaintext: its row in
// contact_points, and the fields of import rejects that name it (matched
// case-insensitively as the address was written; a phone number written
// another way than its normalized form is not found).
func (tx *Tx) erase(wsID string, hash [32]byte, cp string) error {
	if _, err := tx.ExecContext(tx.ctx, `DELETE FROM contact_points WHERE workspace_id = ? AND hash = ?`, wsID, hash[:]); err != nil {
		return err
	}
	// The evidence of the address's log entries and the bytes of its old
	// (JSON) leaves go; the leaves' hashes stay in the tree. Proof held
	// with the consents and confirmations goes too. secure_delete zeroes
	// the freed space, and the WAL is checkpointed after the commit.
	lo, hi := consentd.SubjectRange(hash)
	for _, q := range []string{
		`UPDATE log_entries INDEXED BY log_entries_subject SET evidence = NULL, opening = NULL WHERE workspace_id = ? AND subject >= ? AND subject < ? AND evidence IS NOT NULL`,
		`UPDATE log_entries INDEXED BY log_entries_subject SET data = X'' WHERE workspace_id = ? AND subject >= ? AND subject < ? AND substr(data, 1, 1) = X'7B'`,
	} {
		if _, err := tx.ExecContext(tx.ctx, q, wsID, lo, hi); err != nil {
			return fmt.Errorf("erase evidence: %w", err)
		}
	}
	for _, q := range []string{
		`UPDATE confirmations SET confirm_ip = '', confirm_user_agent = '', proof = NULL WHERE workspace_id = ? AND cp_hash = ?`,
		`UPDATE consents SET proof = NULL, reason = '' WHERE workspace_id = ? AND cp_hash = ?`,
	} {
		if _, err := tx.ExecContext(tx.ctx, q, wsID, hash[:]); err != nil {
			return fmt.Errorf("erase proof: %w", err)
		}
	}
	tx.after = append(tx.after, tx.db.checkpointWAL)
	if cp == "" {
		return nil
	}
	_, err := tx.ExecContext(tx.ctx, `UPDATE import_rejects SET raw = '' WHERE workspace_id = ? AND raw != '' AND lower(raw) LIKE ? ESCAPE '\'`,
		wsID, likeContains(strings.ToLower(cp)))
	return err
}

// likeContains is a LIKE pattern (ESCAPE '\') that matches strings
// containing s.
func likeContains(s string) string {
	return "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s) + "%"
}

// liftHardBounces lifts the hard_bounce suppressions of a contact point on
// email (or on every channel) and logs each: a double opt-in confirmed
// from a link in a mail proves that the address receives mail again.
func (tx *Tx) liftHardBounces(wsID string, hash [32]byte, actor string) error {
	rows, err := tx.QueryContext(tx.ctx, `SELECT id FROM suppressions WHERE workspace_id = ? AND cp_hash = ? AND reason = ? AND channel IN (?, '') ORDER BY id`,
		wsID, hash[:], string(consentd.SuppressHardBounce), consentd.ChannelEmail)
	if err != nil {
		return fmt.Errorf("read hard bounces: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		if err := tx.liftSuppression(wsID, id, actor); err != nil {
			return err
		}
	}
	return nil
}
