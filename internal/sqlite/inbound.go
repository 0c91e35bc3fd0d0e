package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/consentd/consentd"
)

// InboundSMS handles an SMS reply in one transaction, as its keyword
// (consentd.InboundSMS.Command: the text, or the kind a provider read it
// as) says. YES from a number with an SMS double opt-in waiting confirms
// the most recent one, with the reply as the proof (smsConfirm); only
// without one is it read as START. STOP and its synonyms add an sms_stop
// suppression of the number on channel sms, unless one stands, and write
// opted_out, captured at the reply's time with source {type: api, name:
// sms_stop}, on each of the number's existing SMS consents. START, UNSTOP
// and YES lift the number's sms_stop suppressions and opt in again the SMS
// consents a STOP opted out (smsStart); with nothing to lift they are kept
// for review. HELP and INFO change nothing. Any other text is stored for
// review. The reply is stored either way, and the result carries the text
// to answer with (consentd.InboundReplyIn, in the number's recorded
// language). A provider's message id seen before answers the stored
// reply with Duplicate set and changes nothing. It returns
// EINVALIDCONTACTPOINT (field from), EINVALID, EINVALIDTIME or
// EFUTURECAPTUREDAT for bad input.
func (db *DB) InboundSMS(ctx context.Context, wsID string, in consentd.InboundSMS, actor string) (*consentd.InboundResult, error) {
	if err := in.Validate(db.Now().UTC()); err != nil {
		return nil, err
	}
	c, err := db.loadWS(ctx, db.r, wsID)
	if err != nil {
		return nil, err
	}
	from, err := consentd.NormalizeSender(in.From, c.ws.DefaultRegion)
	if err != nil {
		return nil, err
	}
	hash := consentd.ContactPointHash(c.secret, consentd.KindPhone, from)
	keyword, kind := in.Command()
	// The replies are in the number's recorded language.
	lang := db.ContactPointLanguage(ctx, wsID, hash)
	var res *consentd.InboundResult
	err = db.write(ctx, func(tx *Tx) error {
		if in.MessageID != "" {
			m, _, err := tx.inboundMessage(`s.workspace_id = ? AND s.provider = ? AND s.message_id = ?`, wsID, in.Provider, in.MessageID)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			} else if err == nil {
				res = &consentd.InboundResult{Action: m.Action, Duplicate: true, Message: m, Reply: consentd.InboundReplyIn(m, c.ws, lang)}
				return nil
			}
		}
		m := &consentd.InboundMessage{ID: "msg_" + randomID(12), From: from, To: in.To, Text: in.Text, Provider: in.Provider, MessageID: in.MessageID,
			ReceivedAt: in.ReceivedAt, RecordedAt: tx.now, Action: consentd.InboundReview, State: consentd.InboundReview}
		res = &consentd.InboundResult{Action: consentd.InboundReview, Message: m}
		if err := tx.putContactPoint(wsID, hash[:], consentd.KindPhone, from); err != nil {
			return err
		}
		m.Keyword = keyword
		switch kind {
		case consentd.SMSStop:
			m.Action, m.State = consentd.InboundOptedOut, consentd.InboundOptedOut
			if err := tx.smsStop(wsID, hash, m, res, actor); err != nil {
				return err
			}
		case consentd.SMSStart:
			if keyword == consentd.SMSConfirmKeyword {
				// YES answers a double opt-in text when one waits.
				if ok, err := tx.smsConfirm(wsID, hash, m, res, actor); err != nil {
					return err
				} else if ok {
					break
				}
			}
			if err := tx.smsStart(wsID, hash, m, res, actor); err != nil {
				return err
			}
		case consentd.SMSHelp:
			m.Action, m.State, res.Action = consentd.InboundHelp, consentd.InboundHelp, consentd.InboundHelp
		}
		res.Reply = consentd.InboundReplyIn(m, c.ws, lang)
		_, err := tx.ExecContext(tx.ctx, `INSERT INTO inbound_sms (workspace_id, id, cp_hash, recipient, body, provider, message_id,
			received_at, recorded_at, action, keyword, state, suppression_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			wsID, m.ID, hash[:], m.To, m.Text, m.Provider, m.MessageID, nanos(m.ReceivedAt), nanos(m.RecordedAt), m.Action, m.Keyword, m.State, m.SuppressionID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// smsStop opts the sender of m out of SMS, as of m.ReceivedAt: an sms_stop
// suppression on channel sms (an existing one stands for it), and opted_out
// on each of the number's existing SMS consents. It fills in res and
// m.SuppressionID.
func (tx *Tx) smsStop(wsID string, hash [32]byte, m *consentd.InboundMessage, res *consentd.InboundResult, actor string) error {
	c, err := tx.db.loadWS(tx.ctx, tx, wsID)
	if err != nil {
		return err
	}
	note := "SMS reply " + m.ID
	if m.Keyword != "" {
		note = "SMS " + m.Keyword + " " + m.ID
	}
	sup, err := tx.ensureSuppression(wsID, hash, consentd.KindPhone, m.From, consentd.ChannelSMS, consentd.SuppressSMSStop, note, actor)
	if err != nil {
		return err
	}
	m.SuppressionID, res.Suppression, res.Action = sup.ID, sup, consentd.InboundOptedOut
	rows, err := tx.QueryContext(tx.ctx, `SELECT channel_type, purpose_id, topic_id FROM consents
		WHERE workspace_id = ? AND cp_hash = ? AND channel = ? ORDER BY channel_type`, wsID, hash[:], consentd.ChannelSMS)
	if err != nil {
		return err
	}
	var existing []consentd.ChannelType
	for rows.Next() {
		var ct consentd.ChannelType
		if err := rows.Scan(&ct.ID, &ct.Purpose, &ct.Topic); err != nil {
			rows.Close()
			return err
		}
		existing = append(existing, ct)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	src := consentd.Source{Type: consentd.SourceSMSKeyword, Name: "sms_stop", Details: json.RawMessage(mustJSON(map[string]string{
		"inbound_id": m.ID, "keyword": m.Keyword, "provider": m.Provider, "message_id": m.MessageID}))}
	for _, w := range consentd.SMSStopWrites(m.From, existing, m.ReceivedAt, src) {
		r, err := tx.writeConsent(c, &w, actor)
		if consentd.ErrorCode(err) == consentd.EINTERNAL {
			return err
		} else if err != nil {
			continue // its purpose or topic left the catalog, or no longer offers sms: the suppression covers it
		}
		res.Consents = append(res.Consents, consentd.WrittenConsent{Consent: r.Consent, Applied: r.Applied, Outcome: r.Outcome})
	}
	return nil
}

// smsStart answers START (or UNSTOP, YES) from the sender of m, as of
// m.ReceivedAt: it lifts the number's sms_stop suppressions on channel sms
// or on every channel, each logged as DeleteSuppression logs it, and
// writes opted_in, with source {type: api, name: sms_start} and the
// message in its details, on each of the number's SMS consents that a
// STOP left opted out and nothing changed since (consentd.StoppedBySMS).
// A consent opted out another way stays as it is. When there is neither a
// suppression to lift nor a consent to opt in, m stays for review (a YES
// may answer a question a person asked). It fills in res and
// m.SuppressionID (the first suppression lifted).
func (tx *Tx) smsStart(wsID string, hash [32]byte, m *consentd.InboundMessage, res *consentd.InboundResult, actor string) error {
	c, err := tx.db.loadWS(tx.ctx, tx, wsID)
	if err != nil {
		return err
	}
	ids, err := tx.strings(`SELECT id FROM suppressions WHERE workspace_id = ? AND cp_hash = ? AND reason = ? AND channel IN ('', ?)
		ORDER BY created_at, id`, wsID, hash[:], string(consentd.SuppressSMSStop), consentd.ChannelSMS)
	if err != nil {
		return err
	}
	rows, err := tx.QueryContext(tx.ctx, `SELECT channel_type, purpose_id, topic_id, status, source FROM consents
		WHERE workspace_id = ? AND cp_hash = ? AND channel = ? ORDER BY channel_type`, wsID, hash[:], consentd.ChannelSMS)
	if err != nil {
		return err
	}
	var stopped []consentd.ChannelType
	for rows.Next() {
		var ct consentd.ChannelType
		var status, source string
		var src consentd.Source
		if err := rows.Scan(&ct.ID, &ct.Purpose, &ct.Topic, &status, &source); err != nil {
			rows.Close()
			return err
		}
		if err := json.Unmarshal([]byte(source), &src); err != nil {
			rows.Close()
			return fmt.Errorf("consent %s source: %w", ct.ID, err)
		}
		if consentd.StoppedBySMS(consentd.Status(status), src) {
			stopped = append(stopped, ct)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(ids) == 0 && len(stopped) == 0 {
		return nil
	}
	m.Action, m.State, res.Action, res.Lifted = consentd.InboundOptedIn, consentd.InboundOptedIn, consentd.InboundOptedIn, ids
	for _, id := range ids {
		if err := tx.liftSuppression(wsID, id, actor); err != nil {
			return err
		}
	}
	if len(ids) > 0 {
		m.SuppressionID = ids[0]
	}
	src := consentd.Source{Type: consentd.SourceSMSKeyword, Name: "sms_start", Details: json.RawMessage(mustJSON(map[string]string{
		"inbound_id": m.ID, "keyword": m.Keyword, "provider": m.Provider, "message_id": m.MessageID,
		"received_at": m.ReceivedAt.Format(time.RFC3339Nano)}))}
	for _, w := range consentd.SMSStartWrites(m.From, stopped, m.ReceivedAt, src) {
		r, err := tx.writeConsent(c, &w, actor)
		if consentd.ErrorCode(err) == consentd.EINTERNAL {
			return err
		} else if err != nil {
			continue // its purpose or topic left the catalog, or no longer offers sms
		}
		res.Consents = append(res.Consents, consentd.WrittenConsent{Consent: r.Consent, Applied: r.Applied, Outcome: r.Outcome})
	}
	return nil
}

// strings runs a query of one text column in tx and returns its values.
func (tx *Tx) strings(query string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(tx.ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ensureSuppression returns the suppression of the contact point with this
// channel and reason, adding and logging it, as AddSuppression does, when
// there is none.
func (tx *Tx) ensureSuppression(wsID string, hash [32]byte, kind consentd.ContactPointKind, cp, channel string,
	reason consentd.SuppressionReason, note, actor string) (*consentd.Suppression, error) {
	s := &consentd.Suppression{ContactPoint: cp, Kind: kind, Channel: channel, Reason: reason}
	var created int64
	if reason == consentd.SuppressErased {
		// Erasure deletes the plaintext, also when the address was erased
		// before and given again since.
		if err := tx.erase(wsID, hash, cp); err != nil {
			return nil, err
		}
		cp, s.ContactPoint = "", ""
	}
	err := tx.QueryRowContext(tx.ctx, `SELECT id, note, created_at, seq FROM suppressions
		WHERE workspace_id = ? AND cp_hash = ? AND channel = ? AND reason = ? ORDER BY created_at, id LIMIT 1`,
		wsID, hash[:], channel, string(reason)).Scan(&s.ID, &s.Note, &created, &s.Seq)
	if err == nil {
		s.CreatedAt = fromNanos(created)
		return s, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	s.ID, s.Note, s.CreatedAt = "sup_"+randomID(12), note, tx.now
	logged := *s
	logged.ContactPoint = ""
	if s.Seq, err = tx.appendLog(wsID, &consentd.LogEntry{Type: consentd.LogSuppressionAdded, Subject: consentd.HashedConsentID(hash, "*"), After: logged, Actor: actor}); err != nil {
		return nil, err
	}
	if cp != "" {
		if err := tx.putContactPoint(wsID, hash[:], kind, cp); err != nil {
			return nil, err
		}
	}
	_, err = tx.ExecContext(tx.ctx, `INSERT INTO suppressions (workspace_id, id, cp_hash, kind, channel, reason, note, created_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		wsID, s.ID, hash[:], string(kind), channel, string(reason), note, nanos(tx.now), s.Seq)
	return s, err
}

const inboundCols = `s.id, COALESCE(p.value, ''), s.cp_hash, s.recipient, s.body, s.provider, s.message_id, s.received_at, s.recorded_at,
	s.action, s.keyword, s.state, s.suppression_id, s.resolved_at, s.resolved_by, s.resolution, s.note`

const inboundFrom = ` FROM inbound_sms s LEFT JOIN contact_points p ON p.workspace_id = s.workspace_id AND p.hash = s.cp_hash`

func scanInbound(row interface{ Scan(...any) error }) (*consentd.InboundMessage, [32]byte, error) {
	m := &consentd.InboundMessage{}
	var hash [32]byte
	var h []byte
	var received, recorded int64
	var resolved sql.NullInt64
	if err := row.Scan(&m.ID, &m.From, &h, &m.To, &m.Text, &m.Provider, &m.MessageID, &received, &recorded,
		&m.Action, &m.Keyword, &m.State, &m.SuppressionID, &resolved, &m.ResolvedBy, &m.Resolution, &m.Note); err != nil {
		return nil, hash, err
	}
	copy(hash[:], h)
	m.ReceivedAt, m.RecordedAt = fromNanos(received), fromNanos(recorded)
	if resolved.Valid {
		t := fromNanos(resolved.Int64)
		m.ResolvedAt = &t
	}
	return m, hash, nil
}

// inboundMessage reads one stored reply in tx; sql.ErrNoRows when none.
func (tx *Tx) inboundMessage(where string, args ...any) (*consentd.InboundMessage, [32]byte, error) {
	return scanInbound(tx.QueryRowContext(tx.ctx, `SELECT `+inboundCols+inboundFrom+` WHERE `+where, args...))
}

// InboundMessages lists stored SMS replies in the order they arrived, one
// page at a time: those of f.State (review when empty; all for every
// state). It returns EINVALID for a bad state or page token.
func (db *DB) InboundMessages(ctx context.Context, wsID string, f consentd.InboundFilter) ([]*consentd.InboundMessage, string, error) {
	if f.State == "" {
		f.State = consentd.InboundReview
	}
	if !consentd.ValidInboundState(f.State) {
		return nil, "", consentd.FieldErrorf(consentd.EINVALID, "state", "state must be review, resolved, opted_out, opted_in, confirmed, help or all")
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	q, args := `SELECT `+inboundCols+inboundFrom+` WHERE s.workspace_id = ?`, []any{wsID}
	if f.State != "all" {
		q += ` AND s.state = ?`
		args = append(args, f.State)
	}
	if f.PageToken != "" {
		at, id, err := parsePageToken(f.PageToken)
		if err != nil {
			return nil, "", err
		}
		q += ` AND (s.recorded_at, s.id) > (?, ?)`
		args = append(args, at, id)
	}
	rows, err := db.r.QueryContext(ctx, q+` ORDER BY s.recorded_at, s.id LIMIT ?`, append(args, f.Limit+1)...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	out := []*consentd.InboundMessage{}
	for rows.Next() {
		m, _, err := scanInbound(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	var next string
	if len(out) > f.Limit {
		out = out[:f.Limit]
		last := out[len(out)-1]
		next = pageToken(nanos(last.RecordedAt), last.ID)
	}
	return out, next, nil
}

// ResolveInboundMessage marks a reply waiting for review as resolved; with
// action opt_out it first opts the sender out as a keyword does, as of the
// reply's time. It returns ENOTFOUND, ECONFLICT when the reply is not
// waiting for review, or EINVALID.
func (db *DB) ResolveInboundMessage(ctx context.Context, wsID, id string, r consentd.InboundResolution, actor string) (*consentd.InboundResult, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	var res *consentd.InboundResult
	err := db.write(ctx, func(tx *Tx) error {
		m, hash, err := tx.inboundMessage(`s.workspace_id = ? AND s.id = ?`, wsID, id)
		if err != nil {
			return notFound(err, "inbound message")
		}
		if m.State != consentd.InboundReview {
			return consentd.Errorf(consentd.ECONFLICT, "this reply is not waiting for review: its state is %s", m.State)
		}
		res = &consentd.InboundResult{Action: m.Action, Message: m}
		if r.Action == consentd.ResolveOptOut {
			if m.From == "" {
				return consentd.Errorf(consentd.ECONFLICT, "the sender's number was erased")
			}
			if err := tx.smsStop(wsID, hash, m, res, actor); err != nil {
				return err
			}
		}
		now := tx.now
		m.State, m.ResolvedAt, m.ResolvedBy, m.Resolution, m.Note = consentd.InboundResolved, &now, actor, r.Action, r.Note
		_, err = tx.ExecContext(tx.ctx, `UPDATE inbound_sms SET state = ?, resolved_at = ?, resolved_by = ?, resolution = ?, note = ?, suppression_id = ?
			WHERE workspace_id = ? AND id = ?`, m.State, nanos(now), m.ResolvedBy, m.Resolution, m.Note, m.SuppressionID, wsID, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// pageToken encodes a (time, id) position in a list.
func pageToken(at int64, id string) string {
	b := binary.BigEndian.AppendUint64(nil, uint64(at))
	return base64.RawURLEncoding.EncodeToString(append(b, id...))
}

func parsePageToken(tok string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 9 {
		return 0, "", consentd.FieldErrorf(consentd.EINVALID, "page_token", "page_token is not one this server gave")
	}
	return int64(binary.BigEndian.Uint64(b)), string(b[8:]), nil
}
