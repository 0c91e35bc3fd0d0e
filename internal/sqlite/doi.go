package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/consentd/consentd"
)

// This file holds double opt-in confirmations (table confirmations,
// migration 0003): issuing them for pending consents, confirming them, and
// the outbox of their mail.

const confirmationCols = `f.workspace_id, f.nonce, f.cp_hash, f.cp_kind, f.channel_type, f.consent_version, f.consent_seq, f.proof,
	f.issued_at, f.expires_at, f.used_at, f.confirm_ip, f.confirm_user_agent, f.confirmed_seq,
	f.sent_at, f.send_attempts, f.send_error, f.next_send_at, COALESCE(p.value, '')`

const confirmationFrom = ` FROM confirmations f LEFT JOIN contact_points p ON p.workspace_id = f.workspace_id AND p.hash = f.cp_hash`

func scanConfirmation(row interface{ Scan(...any) error }) (*consentd.Confirmation, error) {
	f := &consentd.Confirmation{}
	var hash []byte
	var kind string
	var proof sql.NullString
	var issued, expires int64
	var used, sent, next sql.NullInt64
	if err := row.Scan(&f.WorkspaceID, &f.Nonce, &hash, &kind, &f.ChannelType, &f.ConsentVersion, &f.ConsentSeq, &proof,
		&issued, &expires, &used, &f.ConfirmIP, &f.ConfirmUserAgent, &f.ConfirmedSeq,
		&sent, &f.SendAttempts, &f.SendError, &next, &f.ContactPoint); err != nil {
		return nil, err
	}
	copy(f.CPHash[:], hash)
	f.CPKind = consentd.ContactPointKind(kind)
	f.IssuedAt, f.ExpiresAt = fromNanos(issued), fromNanos(expires)
	f.UsedAt, f.SentAt, f.NextSendAt = nullTime(used), nullTime(sent), nullTime(next)
	if proof.Valid {
		f.Proof = &consentd.Proof{}
		if err := json.Unmarshal([]byte(proof.String), f.Proof); err != nil {
			return nil, fmt.Errorf("confirmation proof: %w", err)
		}
	}
	return f, nil
}

func nullTime(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}

// CreateConfirmations records a confirmation for each pending consent that
// a write has just stored, and returns them in order. It is idempotent: a
// consent version has at most one confirmation, and asking again returns
// the one there is (with its nonce, not the new one). An item whose
// consent is no longer pending at that version gets nil: it has moved on.
// Each new one queues, in the same transaction, the job that sends it
// (confirmation_mail, confirmation_sms). It returns ENOTFOUND for
// an unknown workspace, EUNKNOWNCHANNELTYPE or EINVALIDCONTACTPOINT for a
// bad item (and then records none).
func (db *DB) CreateConfirmations(ctx context.Context, wsID string, in []consentd.ConfirmationInput) ([]*consentd.Confirmation, error) {
	out := make([]*consentd.Confirmation, len(in))
	err := db.write(ctx, func(tx *Tx) error {
		c, err := db.loadWS(tx.ctx, tx, wsID)
		if err != nil {
			return err
		}
		for i, x := range in {
			out[i] = nil
			ct, err := c.catalog.ResolveID(x.ChannelType)
			if err != nil {
				return err
			}
			cp, err := consentd.NormalizeFor(ct.Channel, x.ContactPoint, c.ws.DefaultRegion)
			if err != nil {
				return err
			}
			kind := consentd.KindOf(ct.Channel)
			hash := consentd.ContactPointHash(c.secret, kind, cp)
			cur, err := tx.consentRow(wsID, hash[:], ct.ID)
			if err != nil {
				return err
			}
			if cur == nil || cur.Status != consentd.Pending || cur.Version != x.ConsentVersion {
				continue
			}
			expires := x.ExpiresAt
			if expires.IsZero() {
				expires = tx.now.Add(consentd.ConfirmationTTL)
			}
			var proof any
			if x.Proof != nil {
				proof = mustJSON(x.Proof)
			}
			if _, err := tx.ExecContext(tx.ctx, `INSERT INTO confirmations (workspace_id, nonce, cp_hash, cp_kind, channel_type,
				consent_version, consent_seq, proof, issued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (workspace_id, cp_hash, channel_type, consent_version) DO NOTHING`,
				wsID, x.Nonce, hash[:], string(kind), ct.ID, cur.Version, cur.Seq, proof, nanos(tx.now), nanos(expires)); err != nil {
				return fmt.Errorf("insert confirmation: %w", err)
			}
			row := tx.QueryRowContext(tx.ctx, `SELECT `+confirmationCols+confirmationFrom+`
				WHERE f.workspace_id = ? AND f.cp_hash = ? AND f.channel_type = ? AND f.consent_version = ?`, wsID, hash[:], ct.ID, cur.Version)
			if out[i], err = scanConfirmation(row); err != nil {
				return fmt.Errorf("read confirmation: %w", err)
			}
			if out[i].Nonce == x.Nonce { // this one is new: queue its message
				if k := consentd.ConfirmationJobKind(kind); k != "" {
					if err := tx.enqueue(wsID, k, x.Nonce, consentd.ConfirmationJobMaxAttempts, tx.now); err != nil {
						return fmt.Errorf("queue the confirmation's message: %w", err)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Confirmation returns one confirmation by its nonce, with the plaintext
// contact point ("" once erased). It returns ENOTFOUND when there is none
// in the workspace.
func (db *DB) Confirmation(ctx context.Context, wsID, nonce string) (*consentd.Confirmation, error) {
	row := db.r.QueryRowContext(ctx, `SELECT `+confirmationCols+confirmationFrom+` WHERE f.workspace_id = ? AND f.nonce = ?`, wsID, nonce)
	f, err := scanConfirmation(row)
	if err != nil {
		return nil, notFound(err, "confirmation")
	}
	return f, nil
}

// ConfirmConsent confirms a double opt-in request, in one transaction: when
// the confirmation exists, is unused and unexpired, and the consent is
// still the pending version it was issued for, it writes the opt-in (see
// consentd.Confirmation.ConfirmationWrite) with its log entry and marks the
// confirmation used. Any other outcome writes nothing. A confirmation
// whose channel type left the catalog is stale. Errors are internal only.
func (db *DB) ConfirmConsent(ctx context.Context, wsID, nonce string, req consentd.ConfirmRequest, actor string) (*consentd.ConfirmResult, error) {
	var res confirmOutcome
	err := db.write(ctx, func(tx *Tx) error {
		res = confirmOutcome{}
		row := tx.QueryRowContext(tx.ctx, `SELECT `+confirmationCols+confirmationFrom+` WHERE f.workspace_id = ? AND f.nonce = ?`, wsID, nonce)
		f, err := scanConfirmation(row)
		if errors.Is(err, sql.ErrNoRows) {
			res.Outcome = consentd.ConfirmNotFound
			return nil
		} else if err != nil {
			return err
		}
		res = tx.confirm(wsID, f, req, actor)
		return res.err
	})
	if err != nil {
		return nil, err
	}
	return &res.ConfirmResult, nil
}

// confirmOutcome is a ConfirmResult with the error that stopped it.
type confirmOutcome struct {
	consentd.ConfirmResult
	err error
}

// confirm confirms f in tx, as ConfirmConsent says: used, expired, stale
// or confirmed, with the opt-in written and f marked used.
func (tx *Tx) confirm(wsID string, f *consentd.Confirmation, req consentd.ConfirmRequest, actor string) confirmOutcome {
	res := confirmOutcome{ConfirmResult: consentd.ConfirmResult{Confirmation: f}}
	switch {
	case f.UsedAt != nil:
		res.Outcome = consentd.ConfirmUsed
		return res
	case !tx.now.Before(f.ExpiresAt):
		res.Outcome = consentd.ConfirmExpired
		return res
	}
	res.Outcome = consentd.ConfirmStale
	cur, err := tx.consentRow(wsID, f.CPHash[:], f.ChannelType)
	if err != nil {
		res.err = err
		return res
	}
	if !f.Confirms(cur) || f.ContactPoint == "" {
		return res
	}
	c, err := tx.db.loadWS(tx.ctx, tx, wsID)
	if err != nil {
		res.err = err
		return res
	}
	w := f.ConfirmationWrite(cur, req, tx.now)
	wr, err := tx.writeConsent(c, &w, actor)
	if consentd.ErrorCode(err) != consentd.EINTERNAL && err != nil {
		return res // the catalog changed under it: stale
	} else if err != nil {
		res.err = err
		return res
	}
	if !wr.Applied {
		return res
	}
	if _, err := tx.ExecContext(tx.ctx, `UPDATE confirmations SET used_at = ?, confirm_ip = ?, confirm_user_agent = ?, confirmed_seq = ?,
		next_send_at = NULL WHERE workspace_id = ? AND nonce = ? AND used_at IS NULL`,
		nanos(tx.now), req.IP, req.UserAgent, wr.Consent.Seq, wsID, f.Nonce); err != nil {
		res.err = fmt.Errorf("mark confirmation used: %w", err)
		return res
	}
	now := tx.now
	f.UsedAt, f.ConfirmIP, f.ConfirmUserAgent, f.ConfirmedSeq, f.NextSendAt = &now, req.IP, req.UserAgent, wr.Consent.Seq, nil
	if wr.Consent.Channel == consentd.ChannelEmail && req.Reply == nil {
		// The person opened a link from a mail to this address: it is
		// not the address that bounced hard any more.
		if err := tx.liftHardBounces(wsID, f.CPHash, actor); err != nil {
			res.err = err
			return res
		}
	}
	res.Outcome, res.Consent = consentd.ConfirmConfirmed, wr.Consent
	return res
}

// smsConfirm confirms, with the SMS reply m as the proof, the most recent
// of the sender's double opt-in confirmations for an SMS channel type that
// is unused, unexpired and still names its pending consent. It fills in
// res and m (action and state confirmed) and reports whether it confirmed
// one; with none to confirm it changes nothing.
func (tx *Tx) smsConfirm(wsID string, hash [32]byte, m *consentd.InboundMessage, res *consentd.InboundResult, actor string) (bool, error) {
	c, err := tx.db.loadWS(tx.ctx, tx, wsID)
	if err != nil {
		return false, err
	}
	rows, err := tx.QueryContext(tx.ctx, `SELECT `+confirmationCols+confirmationFrom+`
		WHERE f.workspace_id = ? AND f.cp_hash = ? AND f.used_at IS NULL AND f.expires_at > ? ORDER BY f.issued_at DESC, f.nonce`,
		wsID, hash[:], nanos(tx.now))
	if err != nil {
		return false, fmt.Errorf("read confirmations: %w", err)
	}
	var fs []*consentd.Confirmation
	for rows.Next() {
		f, err := scanConfirmation(rows)
		if err != nil {
			rows.Close()
			return false, err
		}
		if ct, err := c.catalog.ResolveID(f.ChannelType); err == nil && ct.Channel == consentd.ChannelSMS {
			fs = append(fs, f)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	for _, f := range fs {
		out := tx.confirm(wsID, f, consentd.ConfirmRequest{Reply: m}, actor)
		if out.err != nil {
			return false, out.err
		}
		if out.Outcome == consentd.ConfirmConfirmed {
			m.Action, m.State, res.Action = consentd.InboundConfirmed, consentd.InboundConfirmed, consentd.InboundConfirmed
			res.Consents = append(res.Consents, consentd.WrittenConsent{Consent: out.Consent, Applied: true, Outcome: consentd.Changed})
			return true, nil
		}
	}
	return false, nil
}

// ConfirmationMailed records an attempt to send a confirmation's mail:
// sent when sendErr is "", else failed, to be tried again after retry (a
// retry of zero or less gives up). A confirmation used meanwhile is not
// tried again. It returns ENOTFOUND when there is no such confirmation.
func (db *DB) ConfirmationMailed(ctx context.Context, wsID, nonce, sendErr string, retry time.Duration) error {
	return db.write(ctx, func(tx *Tx) error {
		var res sql.Result
		var err error
		if sendErr == "" {
			res, err = tx.ExecContext(tx.ctx, `UPDATE confirmations SET sent_at = ?, send_attempts = send_attempts + 1, send_error = '', next_send_at = NULL
				WHERE workspace_id = ? AND nonce = ?`, nanos(tx.now), wsID, nonce)
		} else {
			var next any
			if retry > 0 {
				next = nanos(tx.now.Add(retry))
			}
			res, err = tx.ExecContext(tx.ctx, `UPDATE confirmations SET send_attempts = send_attempts + 1, send_error = ?,
				next_send_at = CASE WHEN used_at IS NULL THEN ? END WHERE workspace_id = ? AND nonce = ?`, sendErr, next, wsID, nonce)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return consentd.Errorf(consentd.ENOTFOUND, "confirmation not found")
		}
		return nil
	})
}
