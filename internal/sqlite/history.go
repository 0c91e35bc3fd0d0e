package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
)

// This file reads consents at the two times of docs/decisions.md from
// the log (consentd.InEffect decides which write was in effect), and the
// snapshot that `log verify` replays (ledger.VerifyState compares).
//
// Every read of the log here goes through its subject index, named with
// INDEXED BY: without statistics SQLite plans "subject = ?" as a scan of
// the workspace's whole log by primary key (tens of milliseconds at 200k
// entries, instead of tens of microseconds), and the subject-ordered reads
// must never turn into a sort of the whole log.

// entryCols are the columns of a log entry that scanEntry reads.
const entryCols = `seq, at, type, subject, data, evidence`

// scanEntry reads a log entry as its view (ledger.Row.Read: the leaf with
// its evidence put back, or marked erased or unreadable when the leaf
// holds no state), the one thing this file reads of an entry.
func scanEntry(row interface{ Scan(...any) error }) (consentd.SubjectEntry, error) {
	var r ledger.Row
	var at int64
	if err := row.Scan(&r.Seq, &at, &r.Type, &r.Subject, &r.Leaf, &r.Evidence); err != nil {
		return consentd.SubjectEntry{}, err
	}
	r.At, r.Subject = fromNanos(at), consentd.SubjectFromStored(r.Subject)
	rec, err := r.Read()
	if err != nil {
		return consentd.SubjectEntry{}, fmt.Errorf("log entry %d: %w", r.Seq, err)
	}
	return consentd.SubjectEntry{Subject: r.Subject, Seq: r.Seq, View: rec.Entry}, nil
}

// ConsentAt returns one consent by its public id as of t: the write in
// effect at t.AsOf by captured_at, among the log entries recorded by
// t.KnownAt (consentd.InEffect), proved by its log entry. The zero t
// answers the stored state, like Consent. It returns ENOTFOUND when the
// consent was never written, ENOTINEFFECT when no write of it is in effect
// at t, EINVALID or EUNKNOWNCHANNELTYPE for a bad id.
func (db *DB) ConsentAt(ctx context.Context, wsID, id string, t consentd.Times) (*consentd.Consent, error) {
	if t.IsZero() {
		return db.Consent(ctx, wsID, id, time.Time{})
	}
	c, hash, cp, ct, err := db.resolveConsentID(ctx, wsID, id)
	if err != nil {
		return nil, err
	}
	return db.consentAt(ctx, c.ws.ID, hash, cp, ct, t)
}

// consentAt folds every consent entry of one subject; the few that one
// consent has are all read, so that a consent written only after t
// answers ENOTINEFFECT rather than ENOTFOUND.
func (db *DB) consentAt(ctx context.Context, wsID string, hash [32]byte, cp string, ct consentd.ChannelType, t consentd.Times) (*consentd.Consent, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+entryCols+` FROM log_entries INDEXED BY log_entries_subject WHERE workspace_id = ? AND subject = ? AND type IN (?, ?, ?) ORDER BY seq`,
		wsID, consentd.StoredSubject(consentd.HashedConsentID(hash, ct.ID)), consentd.LogConsentChanged, consentd.LogConsentSuperseded, consentd.LogConsentUnchanged)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	f := consentd.InEffect{Times: t}
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		if err := f.AddView(e.View); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return f.Consent(cp, ct)
}

// exportAt calls fn with each consent in effect at t, in subject order: the
// log is read through its subject index and folded one subject at a time,
// so memory stays flat. A consent whose contact point was erased, or whose
// channel type is gone from the catalog, is left out.
func (db *DB) exportAt(ctx context.Context, c *wsCache, t consentd.Times, fn func(*consentd.Consent) error) error {
	rows, err := db.r.QueryContext(ctx, `SELECT `+entryCols+` FROM log_entries INDEXED BY log_entries_subject
		WHERE workspace_id = ? AND type IN (?, ?, ?) AND at <= ? ORDER BY subject, seq`,
		c.ws.ID, consentd.LogConsentChanged, consentd.LogConsentSuperseded, consentd.LogConsentUnchanged, t.KnownBefore())
	if err != nil {
		return err
	}
	defer rows.Close()
	fold := consentd.SubjectFold{Times: t, Emit: func(subject string, w consentd.LoggedWrite) error {
		hash, ctID, ok := consentd.ParseHashedConsentID(subject)
		if !ok {
			return nil
		}
		ct, err := c.catalog.ResolveID(ctID)
		if err != nil {
			return nil
		}
		var cp string
		err = db.r.QueryRowContext(ctx, `SELECT value FROM contact_points WHERE workspace_id = ? AND hash = ?`, c.ws.ID, hash[:]).Scan(&cp)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		} else if err != nil {
			return fmt.Errorf("contact point: %w", err)
		}
		return fn(w.Consent(cp, ct))
	}}
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return err
		}
		if err := fold.Add(e.Subject, e.View); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return fold.Close()
}

// StateSnapshot calls fn with a reader over one snapshot of the workspace:
// its log and its stored consents and suppressions, for ledger.VerifyState.
func (db *DB) StateSnapshot(ctx context.Context, wsID string, fn func(consentd.StateReader) error) error {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(&stateReader{tx: tx, wsID: wsID})
}

// stateReader reads pages of one snapshot (a read transaction).
type stateReader struct {
	tx   *sql.Tx
	wsID string
}

// SubjectEntries implements consentd.StateReader.
func (r *stateReader) SubjectEntries(ctx context.Context, subject string, seq int64, limit int) ([]consentd.SubjectEntry, error) {
	rows, err := r.tx.QueryContext(ctx, `SELECT `+entryCols+` FROM log_entries INDEXED BY log_entries_subject
		WHERE workspace_id = ? AND (subject, seq) > (?, ?) AND type IN (?, ?, ?, ?, ?) ORDER BY subject, seq LIMIT ?`,
		r.wsID, consentd.StoredSubject(subject), seq, consentd.LogConsentChanged, consentd.LogConsentSuperseded, consentd.LogConsentUnchanged,
		consentd.LogSuppressionAdded, consentd.LogSuppressionLifted, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []consentd.SubjectEntry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

const stateConsentCols = `cp_hash, channel_type, status, captured_at, version, seq`

func scanStateConsent(row interface{ Scan(...any) error }) (consentd.StoredConsent, error) {
	var c consentd.StoredConsent
	var hash []byte
	var status string
	var captured int64
	if err := row.Scan(&hash, &c.ChannelType, &status, &captured, &c.Version, &c.Seq); err != nil {
		return c, err
	}
	copy(c.Hash[:], hash)
	c.Status, c.CapturedAt = consentd.Status(status), fromNanos(captured)
	return c, nil
}

// Consents implements consentd.StateReader: one primary key probe each.
func (r *stateReader) Consents(ctx context.Context, keys []consentd.ConsentKey) ([]consentd.StoredConsent, error) {
	stmt, err := r.tx.PrepareContext(ctx, `SELECT `+stateConsentCols+` FROM consents WHERE workspace_id = ? AND cp_hash = ? AND channel_type = ?`)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	var out []consentd.StoredConsent
	for _, k := range keys {
		c, err := scanStateConsent(stmt.QueryRowContext(ctx, r.wsID, k.Hash[:], k.ChannelType))
		if errors.Is(err, sql.ErrNoRows) {
			continue
		} else if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// ConsentsAfter implements consentd.StateReader.
func (r *stateReader) ConsentsAfter(ctx context.Context, after *consentd.ConsentKey, limit int) ([]consentd.StoredConsent, error) {
	q, args := `SELECT `+stateConsentCols+` FROM consents WHERE workspace_id = ?`, []any{r.wsID}
	if after != nil {
		q += ` AND (cp_hash, channel_type) > (?, ?)`
		args = append(args, after.Hash[:], after.ChannelType)
	}
	rows, err := r.tx.QueryContext(ctx, q+` ORDER BY cp_hash, channel_type LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []consentd.StoredConsent
	for rows.Next() {
		c, err := scanStateConsent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

const stateSuppressionCols = `cp_hash, id, kind, channel, reason, seq`

func scanStateSuppressions(rows *sql.Rows, out []consentd.StoredSuppression) ([]consentd.StoredSuppression, error) {
	defer rows.Close()
	for rows.Next() {
		var s consentd.StoredSuppression
		var hash []byte
		var kind, reason string
		if err := rows.Scan(&hash, &s.ID, &kind, &s.Channel, &reason, &s.Seq); err != nil {
			return nil, err
		}
		copy(s.Hash[:], hash)
		s.Kind, s.Reason = consentd.ContactPointKind(kind), consentd.SuppressionReason(reason)
		out = append(out, s)
	}
	return out, rows.Err()
}

// Suppressions implements consentd.StateReader.
func (r *stateReader) Suppressions(ctx context.Context, hashes [][32]byte) ([]consentd.StoredSuppression, error) {
	var out []consentd.StoredSuppression
	for _, h := range hashes {
		rows, err := r.tx.QueryContext(ctx, `SELECT `+stateSuppressionCols+` FROM suppressions WHERE workspace_id = ? AND cp_hash = ?`, r.wsID, h[:])
		if err != nil {
			return nil, err
		}
		if out, err = scanStateSuppressions(rows, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SuppressionsAfter implements consentd.StateReader.
func (r *stateReader) SuppressionsAfter(ctx context.Context, id string, limit int) ([]consentd.StoredSuppression, error) {
	rows, err := r.tx.QueryContext(ctx, `SELECT `+stateSuppressionCols+` FROM suppressions WHERE workspace_id = ? AND id > ? ORDER BY id LIMIT ?`, r.wsID, id, limit)
	if err != nil {
		return nil, err
	}
	return scanStateSuppressions(rows, nil)
}

// Logged implements consentd.StateReader.
func (r *stateReader) Logged(ctx context.Context, subjects []string) ([]string, error) {
	var out []string
	for len(subjects) > 0 {
		n := min(len(subjects), 200)
		args := []any{r.wsID, consentd.LogConsentChanged, consentd.LogConsentSuperseded, consentd.LogConsentUnchanged,
			consentd.LogSuppressionAdded, consentd.LogSuppressionLifted}
		for _, s := range subjects[:n] {
			args = append(args, consentd.StoredSubject(s))
		}
		subjects = subjects[n:]
		rows, err := r.tx.QueryContext(ctx, `SELECT DISTINCT subject FROM log_entries INDEXED BY log_entries_subject WHERE workspace_id = ? AND type IN (?, ?, ?, ?, ?)
			AND subject IN (?`+strings.Repeat(`, ?`, n-1)+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, consentd.SubjectFromStored(s))
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
