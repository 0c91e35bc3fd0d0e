package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/jackc/pgx/v5"
)

// This file reads consents at the two times of docs/decisions.md from
// the log (consentd.InEffect decides which write was in effect), and the
// snapshot that `log verify` replays (ledger.VerifyState compares).

// entryCols are the columns of a log entry that scanEntry reads.
const entryCols = `l.seq, l.at, l.type, l.subject, l.data, l.evidence`

// scanEntry reads a log entry as its view (ledger.Row.Read: the leaf with
// its evidence put back, or marked erased or unreadable when the leaf
// holds no state), the one thing this file reads of an entry. extra are
// scanned after the entry's columns.
func scanEntry(row pgx.Row, extra ...any) (consentd.SubjectEntry, error) {
	var r ledger.Row
	var at int64
	if err := row.Scan(append([]any{&r.Seq, &at, &r.Type, &r.Subject, &r.Leaf, &r.Evidence}, extra...)...); err != nil {
		return consentd.SubjectEntry{}, err
	}
	r.At, r.Subject = fromNanos(at), consentd.SubjectFromStored(r.Subject)
	rec, err := r.Read()
	if err != nil {
		return consentd.SubjectEntry{}, fmt.Errorf("log entry %d: %w", r.Seq, err)
	}
	return consentd.SubjectEntry{Subject: r.Subject, Seq: r.Seq, View: rec.Entry}, nil
}

// consentTypes and stateTypes are the log entry types of consent writes,
// and those and the suppression ones: what the replay reads.
func consentTypes() []string {
	return []string{consentd.LogConsentChanged, consentd.LogConsentSuperseded, consentd.LogConsentUnchanged}
}

func stateTypes() []string {
	return append(consentTypes(), consentd.LogSuppressionAdded, consentd.LogSuppressionLifted)
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
	rows, err := db.pool.Query(ctx, `SELECT `+entryCols+` FROM log_entries l WHERE l.workspace_id = $1 AND l.subject = $2 AND l.type = ANY($3) ORDER BY l.seq`,
		wsID, consentd.StoredSubject(consentd.HashedConsentID(hash, ct.ID)), consentTypes())
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
// channel type is gone from the catalog, is left out. The contact point of
// each entry is a subquery on the subject's hash, so that the plan keeps
// the index order.
func (db *DB) exportAt(ctx context.Context, c *wsCache, t consentd.Times, fn func(*consentd.Consent) error) error {
	rows, err := db.pool.Query(ctx, `SELECT `+entryCols+`, COALESCE((SELECT p.value FROM contact_points p WHERE p.workspace_id = l.workspace_id
				AND p.hash = decode(translate(split_part(l.subject, '#', 1), $4, $5) || '=', 'base64')), '')
		FROM log_entries l WHERE l.workspace_id = $1 AND l.type = ANY($2) AND l.at <= $3 ORDER BY l.subject, l.seq`,
		c.ws.ID, consentTypes(), t.KnownBefore(), consentd.Base64SortedAlphabet, stdBase64Alphabet)
	if err != nil {
		return err
	}
	defer rows.Close()
	var subjectCP string
	fold := consentd.SubjectFold{Times: t, Emit: func(subject string, w consentd.LoggedWrite) error {
		_, ctID, ok := consentd.ParseHashedConsentID(subject)
		if !ok || subjectCP == "" {
			return nil
		}
		ct, err := c.catalog.ResolveID(ctID)
		if err != nil {
			return nil
		}
		return fn(w.Consent(subjectCP, ct))
	}}
	for rows.Next() {
		var cp string
		e, err := scanEntry(rows, &cp)
		if err != nil {
			return err
		}
		// Add emits the previous subject before it takes this one's
		// entry: its contact point is the one read with it.
		if err := fold.Add(e.Subject, e.View); err != nil {
			return err
		}
		subjectCP = cp
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return fold.Close()
}

// StateSnapshot calls fn with a reader over one snapshot of the workspace:
// its log and its stored consents and suppressions, for ledger.VerifyState.
func (db *DB) StateSnapshot(ctx context.Context, wsID string, fn func(consentd.StateReader) error) error {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	return fn(&stateReader{tx: tx, wsID: wsID})
}

// stateReader reads pages of one snapshot (a repeatable read transaction).
type stateReader struct {
	tx   pgx.Tx
	wsID string
}

// SubjectEntries implements consentd.StateReader.
func (r *stateReader) SubjectEntries(ctx context.Context, subject string, seq int64, limit int) ([]consentd.SubjectEntry, error) {
	rows, err := r.tx.Query(ctx, `SELECT `+entryCols+` FROM log_entries l
		WHERE l.workspace_id = $1 AND (l.subject, l.seq) > ($2, $3) AND l.type = ANY($4) ORDER BY l.subject, l.seq LIMIT $5`,
		r.wsID, consentd.StoredSubject(subject), seq, stateTypes(), limit)
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

const stateConsentCols = `c.cp_hash, c.channel_type, c.status, c.captured_at, c.version, c.seq`

func collectStateConsents(rows pgx.Rows) ([]consentd.StoredConsent, error) {
	var out []consentd.StoredConsent
	var hash []byte
	var ct, status string
	var captured, version, seq int64
	_, err := pgx.ForEachRow(rows, []any{&hash, &ct, &status, &captured, &version, &seq}, func() error {
		c := consentd.StoredConsent{ConsentKey: consentd.ConsentKey{ChannelType: ct}, Status: consentd.Status(status),
			CapturedAt: fromNanos(captured), Version: version, Seq: seq}
		copy(c.Hash[:], hash)
		out = append(out, c)
		return nil
	})
	return out, err
}

// Consents implements consentd.StateReader: a primary key probe per key
// (the lateral subquery keeps it one, whatever the statistics say).
func (r *stateReader) Consents(ctx context.Context, keys []consentd.ConsentKey) ([]consentd.StoredConsent, error) {
	hashes, cts := make([][]byte, len(keys)), make([]string, len(keys))
	for i := range keys {
		hashes[i], cts[i] = keys[i].Hash[:], keys[i].ChannelType
	}
	rows, err := r.tx.Query(ctx, `SELECT `+stateConsentCols+` FROM unnest($2::bytea[], $3::text[]) AS k(h, ct)
		CROSS JOIN LATERAL (SELECT * FROM consents c WHERE c.workspace_id = $1 AND c.cp_hash = k.h AND c.channel_type = k.ct OFFSET 0) c`,
		r.wsID, hashes, cts)
	if err != nil {
		return nil, err
	}
	return collectStateConsents(rows)
}

// ConsentsAfter implements consentd.StateReader.
func (r *stateReader) ConsentsAfter(ctx context.Context, after *consentd.ConsentKey, limit int) ([]consentd.StoredConsent, error) {
	q, args := `SELECT `+stateConsentCols+` FROM consents c WHERE c.workspace_id = $1`, []any{r.wsID, limit}
	if after != nil {
		q += ` AND (c.cp_hash, c.channel_type) > ($3, $4)`
		args = append(args, after.Hash[:], after.ChannelType)
	}
	rows, err := r.tx.Query(ctx, q+` ORDER BY c.cp_hash, c.channel_type LIMIT $2`, args...)
	if err != nil {
		return nil, err
	}
	return collectStateConsents(rows)
}

const stateSuppressionCols = `s.cp_hash, s.id, s.kind, s.channel, s.reason, s.seq`

func collectStateSuppressions(rows pgx.Rows) ([]consentd.StoredSuppression, error) {
	var out []consentd.StoredSuppression
	var hash []byte
	var id, kind, channel, reason string
	var seq int64
	_, err := pgx.ForEachRow(rows, []any{&hash, &id, &kind, &channel, &reason, &seq}, func() error {
		s := consentd.StoredSuppression{ID: id, Kind: consentd.ContactPointKind(kind), Channel: channel, Reason: consentd.SuppressionReason(reason), Seq: seq}
		copy(s.Hash[:], hash)
		out = append(out, s)
		return nil
	})
	return out, err
}

// Suppressions implements consentd.StateReader.
func (r *stateReader) Suppressions(ctx context.Context, hashes [][32]byte) ([]consentd.StoredSuppression, error) {
	hs := make([][]byte, len(hashes))
	for i := range hashes {
		hs[i] = hashes[i][:]
	}
	rows, err := r.tx.Query(ctx, `SELECT `+stateSuppressionCols+` FROM unnest($2::bytea[]) AS k(h)
		CROSS JOIN LATERAL (SELECT * FROM suppressions s WHERE s.workspace_id = $1 AND s.cp_hash = k.h OFFSET 0) s`, r.wsID, hs)
	if err != nil {
		return nil, err
	}
	return collectStateSuppressions(rows)
}

// SuppressionsAfter implements consentd.StateReader.
func (r *stateReader) SuppressionsAfter(ctx context.Context, id string, limit int) ([]consentd.StoredSuppression, error) {
	rows, err := r.tx.Query(ctx, `SELECT `+stateSuppressionCols+` FROM suppressions s WHERE s.workspace_id = $1 AND s.id > $2 ORDER BY s.id LIMIT $3`,
		r.wsID, id, limit)
	if err != nil {
		return nil, err
	}
	return collectStateSuppressions(rows)
}

// Logged implements consentd.StateReader.
func (r *stateReader) Logged(ctx context.Context, subjects []string) ([]string, error) {
	stored := make([]string, len(subjects))
	for i, s := range subjects {
		stored[i] = consentd.StoredSubject(s)
	}
	rows, err := r.tx.Query(ctx, `SELECT k.s FROM unnest($2::text[]) AS k(s)
		WHERE EXISTS (SELECT 1 FROM log_entries l WHERE l.workspace_id = $1 AND l.subject = k.s AND l.type = ANY($3))`, r.wsID, stored, stateTypes())
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	for i := range out {
		out[i] = consentd.SubjectFromStored(out[i])
	}
	return out, err
}

// stdBase64Alphabet is standard base64's alphabet, which PostgreSQL's
// decode(..., 'base64') reads.
const stdBase64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
