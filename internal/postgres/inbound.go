package postgres

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/consentd/consentd"
	"github.com/jackc/pgx/v5"
)

// InboundSMS handles an SMS reply in one transaction, under the
// workspace's log lock, so that a message id is handled once across
// processes, as its keyword (consentd.InboundSMS.Command: the text, or
// the kind a provider read it as) says. YES from a number with an SMS
// double opt-in waiting confirms the most recent one, with the reply as
// the proof (smsConfirm); only without one is it read as START. STOP and its
// synonyms add an sms_stop suppression of the number on channel sms,
// unless one stands, and write opted_out, captured at the reply's time
// with source {type: api, name: sms_stop}, on each of the number's
// existing SMS consents. START, UNSTOP and YES lift the number's sms_stop
// suppressions and opt in again the SMS consents a STOP opted out
// (smsStart); with nothing to lift they are kept for review. HELP and INFO
// change nothing. Any other text is stored for review. The reply is
// stored either way, and the result carries the text to answer with
// (consentd.InboundReplyIn, in the number's recorded language). A
// provider's message id seen before answers the stored reply with
// Duplicate set and changes nothing. It returns
// EINVALIDCONTACTPOINT (field from), EINVALID, EINVALIDTIME or
// EFUTURECAPTUREDAT for bad input.
func (db *DB) InboundSMS(ctx context.Context, wsID string, in consentd.InboundSMS, actor string) (*consentd.InboundResult, error) {
	if err := in.Validate(db.Now().UTC()); err != nil {
		return nil, err
	}
	c, err := db.currentWS(ctx, wsID) // the default region as it is now
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
	err = db.write(ctx, wsID, func(tx *Tx) error {
		if in.MessageID != "" {
			m, _, err := tx.inboundMessage(`s.workspace_id = $1 AND s.provider = $2 AND s.message_id = $3`, wsID, in.Provider, in.MessageID)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			} else if err == nil {
				res = &consentd.InboundResult{Action: m.Action, Duplicate: true, Message: m, Reply: consentd.InboundReplyIn(m, c.ws, lang)}
				return nil
			}
		}
		if _, err := tx.log(wsID); err != nil { // the lock, which fixes tx.now
			return err
		}
		m := &consentd.InboundMessage{ID: "msg_" + randomID(12), From: from, To: in.To, Text: in.Text, Provider: in.Provider, MessageID: in.MessageID,
			ReceivedAt: in.ReceivedAt, RecordedAt: tx.now, Action: consentd.InboundReview, State: consentd.InboundReview}
		res = &consentd.InboundResult{Action: consentd.InboundReview, Message: m}
		tx.queue(`INSERT INTO contact_points (workspace_id, hash, kind, value) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, wsID, hash[:], string(consentd.KindPhone), from)
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
		tx.queue(`INSERT INTO inbound_sms (workspace_id, id, cp_hash, recipient, body, provider, message_id,
			received_at, recorded_at, action, keyword, state, suppression_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			wsID, m.ID, hash[:], m.To, m.Text, m.Provider, m.MessageID, nanos(m.ReceivedAt), nanos(m.RecordedAt), m.Action, m.Keyword, m.State, m.SuppressionID)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// lockedWS returns the workspace and its catalog as committed under the
// log lock that tx holds (with tx's own changes): the cached copy when it
// is current.
func (tx *Tx) lockedWS(wsID string) (*wsCache, error) {
	l, err := tx.log(wsID)
	if err != nil {
		return nil, err
	}
	if c, err := tx.db.cachedWS(tx.ctx, wsID); err == nil && c.version == l.version {
		return c, nil
	}
	return tx.db.loadWS(tx.ctx, tx, wsID)
}

// writeLocked writes consents in tx, which holds the workspace's log lock,
// as WriteConsents does: each with its log entry, a refused one with its
// error in its result. c must be current under the lock (lockedWS).
func (tx *Tx) writeLocked(c *wsCache, writes []consentd.ConsentWrite, actor string) ([]consentd.WriteResult, error) {
	prep := prepareWrites(c, writes, tx.now)
	stored, err := tx.consentRows(c.ws.ID, prep)
	if err != nil {
		return nil, err
	}
	cw := &consentWriter{tx: tx, c: c, actor: actor, state: stored, cps: map[[32]byte]bool{}, links: map[partyLink]bool{}, upserts: map[consentKey]int{}}
	results := make([]consentd.WriteResult, len(writes))
	for i := range writes {
		if prep[i].err != nil {
			results[i].Err = prep[i].err
			continue
		}
		if results[i], err = cw.write(&writes[i], &prep[i]); err != nil {
			return nil, err
		}
	}
	cw.queue()
	return results, nil
}

// smsStop opts the sender of m out of SMS, as of m.ReceivedAt: an sms_stop
// suppression on channel sms (an existing one stands for it), and opted_out
// on each of the number's existing SMS consents. It fills in res and
// m.SuppressionID.
func (tx *Tx) smsStop(wsID string, hash [32]byte, m *consentd.InboundMessage, res *consentd.InboundResult, actor string) error {
	c, err := tx.lockedWS(wsID)
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
	rows, err := tx.Query(tx.ctx, `SELECT channel_type, purpose_id, topic_id FROM consents
		WHERE workspace_id = $1 AND cp_hash = $2 AND channel = $3 ORDER BY channel_type`, wsID, hash[:], consentd.ChannelSMS)
	if err != nil {
		return err
	}
	existing, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (consentd.ChannelType, error) {
		var ct consentd.ChannelType
		err := row.Scan(&ct.ID, &ct.Purpose, &ct.Topic)
		return ct, err
	})
	if err != nil {
		return err
	}
	src := consentd.Source{Type: consentd.SourceSMSKeyword, Name: "sms_stop", Details: json.RawMessage(mustJSON(map[string]string{
		"inbound_id": m.ID, "keyword": m.Keyword, "provider": m.Provider, "message_id": m.MessageID}))}
	results, err := tx.writeLocked(c, consentd.SMSStopWrites(m.From, existing, m.ReceivedAt, src), actor)
	if err != nil {
		return err
	}
	for _, r := range results {
		if r.Err != nil {
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
	c, err := tx.lockedWS(wsID)
	if err != nil {
		return err
	}
	rows, err := tx.Query(tx.ctx, `SELECT id FROM suppressions WHERE workspace_id = $1 AND cp_hash = $2 AND reason = $3 AND channel IN ('', $4)
		ORDER BY created_at, id`, wsID, hash[:], string(consentd.SuppressSMSStop), consentd.ChannelSMS)
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	rows, err = tx.Query(tx.ctx, `SELECT channel_type, purpose_id, topic_id, status, source FROM consents
		WHERE workspace_id = $1 AND cp_hash = $2 AND channel = $3 ORDER BY channel_type`, wsID, hash[:], consentd.ChannelSMS)
	if err != nil {
		return err
	}
	type row struct {
		ct     consentd.ChannelType
		status string
		source string
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		err := r.Scan(&x.ct.ID, &x.ct.Purpose, &x.ct.Topic, &x.status, &x.source)
		return x, err
	})
	if err != nil {
		return err
	}
	var stopped []consentd.ChannelType
	for _, x := range all {
		var src consentd.Source
		if err := json.Unmarshal([]byte(x.source), &src); err != nil {
			return fmt.Errorf("consent %s source: %w", x.ct.ID, err)
		}
		if consentd.StoppedBySMS(consentd.Status(x.status), src) {
			stopped = append(stopped, x.ct)
		}
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
	results, err := tx.writeLocked(c, consentd.SMSStartWrites(m.From, stopped, m.ReceivedAt, src), actor)
	if err != nil {
		return err
	}
	for _, r := range results {
		if r.Err != nil {
			continue // its purpose or topic left the catalog, or no longer offers sms
		}
		res.Consents = append(res.Consents, consentd.WrittenConsent{Consent: r.Consent, Applied: r.Applied, Outcome: r.Outcome})
	}
	return nil
}

// ensureSuppression returns the suppression of the contact point with this
// channel and reason, adding and logging it, as AddSuppression does, when
// there is none. tx holds the workspace's log lock.
func (tx *Tx) ensureSuppression(wsID string, hash [32]byte, kind consentd.ContactPointKind, cp, channel string,
	reason consentd.SuppressionReason, note, actor string) (*consentd.Suppression, error) {
	s := &consentd.Suppression{ContactPoint: cp, Kind: kind, Channel: channel, Reason: reason}
	var created int64
	if reason == consentd.SuppressErased {
		// Erasure deletes the plaintext, also when the address was erased
		// before and given again since.
		tx.erase(wsID, hash, cp)
		cp, s.ContactPoint = "", ""
	}
	err := tx.QueryRow(tx.ctx, `SELECT id, note, created_at, seq FROM suppressions
		WHERE workspace_id = $1 AND cp_hash = $2 AND channel = $3 AND reason = $4 ORDER BY created_at, id LIMIT 1`,
		wsID, hash[:], channel, string(reason)).Scan(&s.ID, &s.Note, &created, &s.Seq)
	if err == nil {
		s.CreatedAt = fromNanos(created)
		return s, nil
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	}
	s.ID, s.Note, s.CreatedAt = "sup_"+randomID(12), note, tx.now
	logged := *s
	logged.ContactPoint = ""
	if s.Seq, err = tx.appendLog(wsID, &consentd.LogEntry{Type: consentd.LogSuppressionAdded, Subject: consentd.HashedConsentID(hash, "*"), After: logged, Actor: actor}); err != nil {
		return nil, err
	}
	if cp != "" {
		tx.queue(`INSERT INTO contact_points (workspace_id, hash, kind, value) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, wsID, hash[:], string(kind), cp)
	}
	tx.queue(`INSERT INTO suppressions (workspace_id, id, cp_hash, kind, channel, reason, note, created_at, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		wsID, s.ID, hash[:], string(kind), channel, string(reason), note, nanos(tx.now), s.Seq)
	return s, nil
}

const inboundCols = `s.id, COALESCE(p.value, ''), s.cp_hash, s.recipient, s.body, s.provider, s.message_id, s.received_at, s.recorded_at,
	s.action, s.keyword, s.state, s.suppression_id, s.resolved_at, s.resolved_by, s.resolution, s.note`

const inboundFrom = ` FROM inbound_sms s LEFT JOIN contact_points p ON p.workspace_id = s.workspace_id AND p.hash = s.cp_hash`

func scanInbound(row pgx.Row) (*consentd.InboundMessage, [32]byte, error) {
	m := &consentd.InboundMessage{}
	var hash [32]byte
	var h []byte
	var received, recorded int64
	var resolved *int64
	if err := row.Scan(&m.ID, &m.From, &h, &m.To, &m.Text, &m.Provider, &m.MessageID, &received, &recorded,
		&m.Action, &m.Keyword, &m.State, &m.SuppressionID, &resolved, &m.ResolvedBy, &m.Resolution, &m.Note); err != nil {
		return nil, hash, err
	}
	copy(hash[:], h)
	m.ReceivedAt, m.RecordedAt = fromNanos(received), fromNanos(recorded)
	if resolved != nil {
		t := fromNanos(*resolved)
		m.ResolvedAt = &t
	}
	return m, hash, nil
}

// inboundMessage reads one stored reply in tx; pgx.ErrNoRows when none.
func (tx *Tx) inboundMessage(where string, args ...any) (*consentd.InboundMessage, [32]byte, error) {
	return scanInbound(tx.QueryRow(tx.ctx, `SELECT `+inboundCols+inboundFrom+` WHERE `+where, args...))
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
	q, args := `SELECT `+inboundCols+inboundFrom+` WHERE s.workspace_id = $1`, []any{wsID}
	if f.State != "all" {
		args = append(args, f.State)
		q += ` AND s.state = $2`
	}
	if f.PageToken != "" {
		at, id, err := parsePageToken(f.PageToken)
		if err != nil {
			return nil, "", err
		}
		args = append(args, at, id)
		q += ` AND (s.recorded_at, s.id) > ($` + strconv.Itoa(len(args)-1) + `, $` + strconv.Itoa(len(args)) + `)`
	}
	args = append(args, f.Limit+1)
	rows, err := db.pool.Query(ctx, q+` ORDER BY s.recorded_at, s.id LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, "", err
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*consentd.InboundMessage, error) {
		m, _, err := scanInbound(row)
		return m, err
	})
	if err != nil {
		return nil, "", err
	}
	if out == nil {
		out = []*consentd.InboundMessage{}
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
	err := db.write(ctx, wsID, func(tx *Tx) error {
		m, hash, err := tx.inboundMessage(`s.workspace_id = $1 AND s.id = $2`, wsID, id)
		if err != nil {
			return notFound(err, "inbound message")
		}
		if m.State != consentd.InboundReview {
			return consentd.Errorf(consentd.ECONFLICT, "this reply is not waiting for review: its state is %s", m.State)
		}
		if _, err := tx.log(wsID); err != nil { // the lock, which fixes tx.now
			return err
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
		tx.queue(`UPDATE inbound_sms SET state = $1, resolved_at = $2, resolved_by = $3, resolution = $4, note = $5, suppression_id = $6
			WHERE workspace_id = $7 AND id = $8`, m.State, nanos(now), m.ResolvedBy, m.Resolution, m.Note, m.SuppressionID, wsID, id)
		return nil
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
