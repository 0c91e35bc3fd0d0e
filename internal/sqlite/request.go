package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/consentd/consentd"
)

// CreateRequest stores a pending data-subject request, due by its
// regulation, and logs its receipt (without plaintext). It returns
// EINVALID (also for a party that does not exist), EINVALIDCONTACTPOINT,
// EINVALIDTIME or EFUTURECAPTUREDAT.
func (db *DB) CreateRequest(ctx context.Context, wsID string, in consentd.RequestInput, actor string) (*consentd.Request, error) {
	if err := in.Validate(db.Now().UTC()); err != nil {
		return nil, err
	}
	c, err := db.loadWS(ctx, db.r, wsID)
	if err != nil {
		return nil, err
	}
	r := &consentd.Request{ID: "req_" + randomID(12), WorkspaceID: wsID, Type: in.Type, PartyID: in.PartyID, Regulation: in.Regulation,
		Reference: in.Reference, State: consentd.RequestPending, ReceivedAt: in.ReceivedAt, DueAt: consentd.DueDate(in.Regulation, in.ReceivedAt), CreatedBy: actor}
	var hash [32]byte
	var cpHash []byte
	if in.ContactPoint != "" {
		if r.ContactPoint, err = consentd.NormalizeStored(in.Kind, in.ContactPoint, c.ws.DefaultRegion); err != nil {
			return nil, err
		}
		r.Kind = in.Kind
		hash = consentd.ContactPointHash(c.secret, r.Kind, r.ContactPoint)
		cpHash = hash[:]
	}
	err = db.write(ctx, func(tx *Tx) error {
		r.CreatedAt = tx.now
		if r.PartyID != "" {
			var n int
			if err := tx.QueryRowContext(tx.ctx, `SELECT count(*) FROM parties WHERE workspace_id = ? AND id = ?`, wsID, r.PartyID).Scan(&n); err != nil {
				return err
			} else if n == 0 {
				return consentd.FieldErrorf(consentd.EINVALID, "party_id", "no party with this id")
			}
		}
		logged := map[string]any{"type": r.Type, "regulation": r.Regulation, "received_at": r.ReceivedAt, "due_at": r.DueAt}
		if r.PartyID != "" {
			logged["party_id"] = r.PartyID
		} else {
			logged["contact_point"] = consentd.HashedConsentID(hash, string(r.Kind))
			if err := tx.putContactPoint(wsID, cpHash, r.Kind, r.ContactPoint); err != nil {
				return err
			}
		}
		if _, err := tx.appendLog(wsID, &consentd.LogEntry{Type: consentd.LogRequestReceived, Subject: r.ID, After: logged, Actor: actor}); err != nil {
			return err
		}
		_, err := tx.ExecContext(tx.ctx, `INSERT INTO requests (workspace_id, id, type, party_id, cp_hash, kind, regulation, reference, state,
			received_at, due_at, created_at, created_by, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			wsID, r.ID, r.Type, r.PartyID, cpHash, string(r.Kind), r.Regulation, r.Reference, r.State,
			nanos(r.ReceivedAt), nanos(r.DueAt), nanos(r.CreatedAt), actor, nanos(r.CreatedAt))
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

const requestCols = `r.id, r.workspace_id, r.type, r.party_id, r.cp_hash, COALESCE(p.value, ''), r.kind, r.regulation, r.reference, r.state,
	r.received_at, r.due_at, r.created_at, r.created_by, r.completed_at, r.attempts, r.result, r.errors`

const requestFrom = ` FROM requests r LEFT JOIN contact_points p ON p.workspace_id = r.workspace_id AND p.hash = r.cp_hash`

func scanRequest(row interface{ Scan(...any) error }) (*consentd.Request, []byte, error) {
	r := &consentd.Request{}
	var hash []byte
	var kind, errs string
	var received, due, created int64
	var completed sql.NullInt64
	var result sql.NullString
	if err := row.Scan(&r.ID, &r.WorkspaceID, &r.Type, &r.PartyID, &hash, &r.ContactPoint, &kind, &r.Regulation, &r.Reference, &r.State,
		&received, &due, &created, &r.CreatedBy, &completed, &r.Attempts, &result, &errs); err != nil {
		return nil, nil, err
	}
	r.Kind, r.ReceivedAt, r.DueAt, r.CreatedAt = consentd.ContactPointKind(kind), fromNanos(received), fromNanos(due), fromNanos(created)
	if completed.Valid {
		t := fromNanos(completed.Int64)
		r.CompletedAt = &t
	}
	if result.Valid {
		r.Result = &consentd.RequestResult{}
		if err := json.Unmarshal([]byte(result.String), r.Result); err != nil {
			return nil, nil, err
		}
	}
	if err := json.Unmarshal([]byte(errs), &r.Errors); err != nil {
		return nil, nil, err
	}
	return r, hash, nil
}

// Request returns a data-subject request; ENOTFOUND when there is none in
// the workspace. The consent ids of its result name their contact points
// in plaintext while it is stored, by hash once erased.
func (db *DB) Request(ctx context.Context, wsID, id string) (*consentd.Request, error) {
	r, _, err := scanRequest(db.r.QueryRowContext(ctx, `SELECT `+requestCols+requestFrom+` WHERE r.workspace_id = ? AND r.id = ?`, wsID, id))
	if err != nil {
		return nil, notFound(err, "request")
	}
	if err := db.plainConsentIDs(ctx, wsID, r.Result); err != nil {
		return nil, err
	}
	return r, nil
}

// Requests lists a workspace's data-subject requests in the order they
// were filed, one page at a time, those in f.State if set. It returns
// EINVALID for a bad state or page token.
func (db *DB) Requests(ctx context.Context, wsID string, f consentd.RequestFilter) ([]*consentd.Request, string, error) {
	switch f.State {
	case "", consentd.RequestPending, consentd.RequestCompleted, consentd.RequestFailed:
	default:
		return nil, "", consentd.FieldErrorf(consentd.EINVALID, "state", "state must be pending, completed or failed")
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	q, args := `SELECT `+requestCols+requestFrom+` WHERE r.workspace_id = ?`, []any{wsID}
	if f.State != "" {
		q += ` AND r.state = ?`
		args = append(args, f.State)
	}
	if f.PageToken != "" {
		at, id, err := parsePageToken(f.PageToken)
		if err != nil {
			return nil, "", err
		}
		q += ` AND (r.created_at, r.id) > (?, ?)`
		args = append(args, at, id)
	}
	rows, err := db.r.QueryContext(ctx, q+` ORDER BY r.created_at, r.id LIMIT ?`, append(args, f.Limit+1)...)
	if err != nil {
		return nil, "", err
	}
	out := []*consentd.Request{}
	for rows.Next() {
		r, _, err := scanRequest(rows)
		if err != nil {
			rows.Close()
			return nil, "", err
		}
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	var next string
	if len(out) > f.Limit {
		out = out[:f.Limit]
		last := out[len(out)-1]
		next = pageToken(nanos(last.CreatedAt), last.ID)
	}
	for _, r := range out {
		if err := db.plainConsentIDs(ctx, wsID, r.Result); err != nil {
			return nil, "", err
		}
	}
	return out, next, nil
}

// PendingRequests returns up to limit pending requests of every workspace
// whose next attempt is due at now, the longest waiting first.
func (db *DB) PendingRequests(ctx context.Context, now time.Time, limit int) ([]consentd.RequestRef, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT workspace_id, id FROM requests WHERE state = 'pending' AND next_attempt_at <= ?
		ORDER BY next_attempt_at, workspace_id, id LIMIT ?`, nanos(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []consentd.RequestRef
	for rows.Next() {
		var r consentd.RequestRef
		if err := rows.Scan(&r.WorkspaceID, &r.ID); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ProcessRequest carries out a pending withdraw request in one
// transaction: opted_out, captured when the request was received, with
// source {type: dsr, name: <request id>}, on every channel type of every
// contact point it covers (every contact point of its party, as linked now,
// or its one contact point) on the channels of the contact point's kind; a
// do_not_contact suppression of each contact point on every channel (an
// existing one stands for it); then state completed with the result. Each
// change is logged with the request's creator as actor. A request that is
// no longer pending is returned as it is. When the transaction fails, the
// failed attempt is recorded (the request is tried again after
// consentd.RequestRetryDelay, and fails after consentd.MaxRequestAttempts)
// and the error returned. It returns ENOTFOUND when there is no such
// request.
func (db *DB) ProcessRequest(ctx context.Context, wsID, id string) (*consentd.Request, error) {
	err := db.write(ctx, func(tx *Tx) error {
		r, hash, err := scanRequest(tx.QueryRowContext(tx.ctx, `SELECT `+requestCols+requestFrom+` WHERE r.workspace_id = ? AND r.id = ?`, wsID, id))
		if err != nil {
			return notFound(err, "request")
		}
		if r.State != consentd.RequestPending {
			return nil
		}
		c, err := db.loadWS(tx.ctx, tx, wsID)
		if err != nil {
			return err
		}
		var cps []consentd.PartyContactPoint
		var hashes [][32]byte
		if r.PartyID != "" {
			if cps, hashes, err = tx.partyContactPoints(wsID, r.PartyID); err != nil {
				return err
			}
		} else {
			var h [32]byte
			copy(h[:], hash)
			cps, hashes = []consentd.PartyContactPoint{{Kind: r.Kind, Value: r.ContactPoint}}, [][32]byte{h}
		}
		src := consentd.Source{Type: consentd.SourceDSR, Name: r.ID, Details: json.RawMessage(mustJSON(map[string]string{"type": r.Type, "regulation": r.Regulation}))}
		// A withdraw request suppresses commercial and tracking mail; an
		// erase request every purpose, and deletes the plaintext.
		reason := consentd.SuppressDoNotContact
		if r.Type == consentd.RequestErase {
			reason = consentd.SuppressErased
		}
		res := &consentd.RequestResult{ContactPoints: len(cps), ConsentIDs: []string{}, SuppressionIDs: []string{}}
		if r.Type == consentd.RequestAccess {
			// Nothing changes: the result names what is held, which the
			// report shows as it is when read.
			if err := tx.held(wsID, hashes, res); err != nil {
				return err
			}
			cps = nil
		}
		for _, w := range consentd.OptOutWrites(c.catalog, cps, r.PartyID, src, r.Type, r.ReceivedAt) {
			wr, err := tx.writeConsent(c, &w, r.CreatedBy)
			if err != nil {
				return err
			}
			res.Consents++
			switch {
			case wr.Applied:
				res.Changed++
			case wr.Outcome == consentd.Superseded:
				res.Superseded++
			default:
				res.Unchanged++
			}
			h := consentd.ContactPointHash(c.secret, consentd.KindOf(wr.Consent.Channel), wr.Consent.ContactPoint)
			res.ConsentIDs = append(res.ConsentIDs, consentd.HashedConsentID(h, wr.Consent.ChannelType))
		}
		for i, cp := range cps {
			sup, err := tx.ensureSuppression(wsID, hashes[i], cp.Kind, cp.Value, "", reason, "data-subject request "+r.ID, r.CreatedBy)
			if err != nil {
				return err
			}
			res.SuppressionIDs = append(res.SuppressionIDs, sup.ID)
		}
		if _, err := tx.appendLog(wsID, &consentd.LogEntry{Type: consentd.LogRequestCompleted, Subject: r.ID,
			After: map[string]any{"state": consentd.RequestCompleted, "result": res}, Actor: r.CreatedBy}); err != nil {
			return err
		}
		_, err = tx.ExecContext(tx.ctx, `UPDATE requests SET state = ?, completed_at = ?, attempts = attempts + 1, result = ?
			WHERE workspace_id = ? AND id = ?`, consentd.RequestCompleted, nanos(tx.now), mustJSON(res), wsID, id)
		return err
	})
	if err != nil {
		if ctx.Err() == nil && consentd.ErrorCode(err) != consentd.ENOTFOUND {
			if rerr := db.requestFailed(ctx, wsID, id, err); rerr != nil {
				return nil, errors.Join(err, rerr)
			}
		}
		return nil, err
	}
	return db.Request(ctx, wsID, id)
}

// partyContactPoints returns the contact points linked to a party now,
// with their hashes; the value of one erased since is empty.
func (tx *Tx) partyContactPoints(wsID, partyID string) ([]consentd.PartyContactPoint, [][32]byte, error) {
	rows, err := tx.QueryContext(tx.ctx, `SELECT l.kind, COALESCE(p.value, ''), l.hash FROM party_contact_points l
		LEFT JOIN contact_points p ON p.workspace_id = l.workspace_id AND p.hash = l.hash
		WHERE l.workspace_id = ? AND l.party_id = ? ORDER BY l.kind, l.hash`, wsID, partyID)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var cps []consentd.PartyContactPoint
	var hashes [][32]byte
	for rows.Next() {
		var cp consentd.PartyContactPoint
		var kind string
		var h []byte
		if err := rows.Scan(&kind, &cp.Value, &h); err != nil {
			return nil, nil, err
		}
		var hash [32]byte
		copy(hash[:], h)
		cp.Kind = consentd.ContactPointKind(kind)
		cps, hashes = append(cps, cp), append(hashes, hash)
	}
	return cps, hashes, rows.Err()
}

// requestFailed records a failed attempt at a pending request: its error
// (the message of a consentd error; nothing of an internal one), the time
// of the next attempt, and after consentd.MaxRequestAttempts the state
// failed, logged.
func (db *DB) requestFailed(ctx context.Context, wsID, id string, cause error) error {
	return db.write(ctx, func(tx *Tx) error {
		var state, errs, createdBy string
		var attempts int
		err := tx.QueryRowContext(tx.ctx, `SELECT state, attempts, errors, created_by FROM requests WHERE workspace_id = ? AND id = ?`, wsID, id).
			Scan(&state, &attempts, &errs, &createdBy)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && state != consentd.RequestPending) {
			return nil
		} else if err != nil {
			return err
		}
		var list []consentd.RequestError
		if err := json.Unmarshal([]byte(errs), &list); err != nil {
			return err
		}
		attempts++
		list = appendRequestError(list, consentd.RequestError{At: tx.now, Code: consentd.ErrorCode(cause), Message: consentd.ErrorMessage(cause)})
		if attempts >= consentd.MaxRequestAttempts {
			state = consentd.RequestFailed
			if _, err := tx.appendLog(wsID, &consentd.LogEntry{Type: consentd.LogRequestFailed, Subject: id,
				After: map[string]any{"state": state, "attempts": attempts}, Actor: createdBy}); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(tx.ctx, `UPDATE requests SET state = ?, attempts = ?, errors = ?, next_attempt_at = ? WHERE workspace_id = ? AND id = ?`,
			state, attempts, mustJSON(list), nanos(tx.now.Add(consentd.RequestRetryDelay(attempts))), wsID, id)
		return err
	})
}

// appendRequestError keeps the first error and the latest ones: enough to
// say what went wrong without growing without bound.
func appendRequestError(list []consentd.RequestError, e consentd.RequestError) []consentd.RequestError {
	const keep = 10
	list = append(list, e)
	if len(list) > keep {
		list = append(list[:1], list[len(list)-keep+1:]...)
	}
	return list
}

// plainConsentIDs turns the hashed consent ids of a request's result into
// public ones where the contact point's plaintext is stored.
func (db *DB) plainConsentIDs(ctx context.Context, wsID string, res *consentd.RequestResult) error {
	if res == nil || len(res.ConsentIDs) == 0 {
		return nil
	}
	values := map[string]string{} // base64 hash -> plaintext
	var hashes []any
	for _, id := range res.ConsentIDs {
		h, _, ok := strings.Cut(id, "#")
		if _, seen := values[h]; !ok || seen {
			continue
		}
		b, err := base64.RawURLEncoding.DecodeString(h)
		if err != nil {
			continue
		}
		values[h] = ""
		hashes = append(hashes, b)
	}
	if len(hashes) == 0 {
		return nil
	}
	rows, err := db.r.QueryContext(ctx, `SELECT hash, value FROM contact_points WHERE workspace_id = ? AND hash IN (?`+strings.Repeat(`, ?`, len(hashes)-1)+`)`,
		append([]any{wsID}, hashes...)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var h []byte
		var v string
		if err := rows.Scan(&h, &v); err != nil {
			return err
		}
		values[base64.RawURLEncoding.EncodeToString(h)] = v
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for i, id := range res.ConsentIDs {
		h, ct, _ := strings.Cut(id, "#")
		if v := values[h]; v != "" {
			res.ConsentIDs[i] = consentd.ConsentID(v, ct)
		}
	}
	return nil
}

// held adds to res the consents and suppressions held on the contact
// point hashes: an access request's result.
func (tx *Tx) held(wsID string, hashes [][32]byte, res *consentd.RequestResult) error {
	for _, h := range hashes {
		for _, q := range []struct {
			sql string
			add func(string)
		}{
			{`SELECT channel_type FROM consents WHERE workspace_id = ? AND cp_hash = ? ORDER BY channel_type`,
				func(ct string) { res.ConsentIDs = append(res.ConsentIDs, consentd.HashedConsentID(h, ct)) }},
			{`SELECT id FROM suppressions WHERE workspace_id = ? AND cp_hash = ? ORDER BY created_at, id`,
				func(id string) { res.SuppressionIDs = append(res.SuppressionIDs, id) }},
		} {
			rows, err := tx.QueryContext(tx.ctx, q.sql, wsID, h[:])
			if err != nil {
				return err
			}
			for rows.Next() {
				var v string
				if err := rows.Scan(&v); err != nil {
					rows.Close()
					return err
				}
				q.add(v)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
	}
	return nil
}
