package postgres

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/jackc/pgx/v5"
)

// CreateRequest stores a pending data-subject request, due by its
// regulation, and logs its receipt (without plaintext). It returns
// EINVALID (also for a party that does not exist), EINVALIDCONTACTPOINT,
// EINVALIDTIME or EFUTURECAPTUREDAT.
func (db *DB) CreateRequest(ctx context.Context, wsID string, in consentd.RequestInput, actor string) (*consentd.Request, error) {
	if err := in.Validate(db.Now().UTC()); err != nil {
		return nil, err
	}
	c, err := db.currentWS(ctx, wsID)
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
	err = db.write(ctx, wsID, func(tx *Tx) error {
		if r.PartyID != "" {
			var n int
			if err := tx.QueryRow(tx.ctx, `SELECT count(*) FROM parties WHERE workspace_id = $1 AND id = $2`, wsID, r.PartyID).Scan(&n); err != nil {
				return err
			} else if n == 0 {
				return consentd.FieldErrorf(consentd.EINVALID, "party_id", "no party with this id")
			}
		}
		if _, err := tx.log(wsID); err != nil { // the lock, which fixes tx.now
			return err
		}
		r.CreatedAt = tx.now
		logged := map[string]any{"type": r.Type, "regulation": r.Regulation, "received_at": r.ReceivedAt, "due_at": r.DueAt}
		if r.PartyID != "" {
			logged["party_id"] = r.PartyID
		} else {
			logged["contact_point"] = consentd.HashedConsentID(hash, string(r.Kind))
			tx.queue(`INSERT INTO contact_points (workspace_id, hash, kind, value) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, wsID, cpHash, string(r.Kind), r.ContactPoint)
		}
		if _, err := tx.appendLog(wsID, &consentd.LogEntry{Type: consentd.LogRequestReceived, Subject: r.ID, After: logged, Actor: actor}); err != nil {
			return err
		}
		tx.queue(`INSERT INTO requests (workspace_id, id, type, party_id, cp_hash, kind, regulation, reference, state,
			received_at, due_at, created_at, created_by, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			wsID, r.ID, r.Type, r.PartyID, cpHash, string(r.Kind), r.Regulation, r.Reference, r.State,
			nanos(r.ReceivedAt), nanos(r.DueAt), nanos(r.CreatedAt), actor, nanos(r.CreatedAt))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

const requestCols = `r.id, r.workspace_id, r.type, r.party_id, r.cp_hash, COALESCE(p.value, ''), r.kind, r.regulation, r.reference, r.state,
	r.received_at, r.due_at, r.created_at, r.created_by, r.completed_at, r.attempts, r.result, r.errors`

const requestFrom = ` FROM requests r LEFT JOIN contact_points p ON p.workspace_id = r.workspace_id AND p.hash = r.cp_hash`

func scanRequest(row pgx.Row) (*consentd.Request, []byte, error) {
	r := &consentd.Request{}
	var hash []byte
	var kind, errs string
	var received, due, created int64
	var completed *int64
	var result *string
	if err := row.Scan(&r.ID, &r.WorkspaceID, &r.Type, &r.PartyID, &hash, &r.ContactPoint, &kind, &r.Regulation, &r.Reference, &r.State,
		&received, &due, &created, &r.CreatedBy, &completed, &r.Attempts, &result, &errs); err != nil {
		return nil, nil, err
	}
	r.Kind, r.ReceivedAt, r.DueAt, r.CreatedAt = consentd.ContactPointKind(kind), fromNanos(received), fromNanos(due), fromNanos(created)
	if completed != nil {
		t := fromNanos(*completed)
		r.CompletedAt = &t
	}
	if result != nil {
		r.Result = &consentd.RequestResult{}
		if err := json.Unmarshal([]byte(*result), r.Result); err != nil {
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
	r, _, err := scanRequest(db.pool.QueryRow(ctx, `SELECT `+requestCols+requestFrom+` WHERE r.workspace_id = $1 AND r.id = $2`, wsID, id))
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
	q, args := `SELECT `+requestCols+requestFrom+` WHERE r.workspace_id = $1`, []any{wsID}
	if f.State != "" {
		args = append(args, f.State)
		q += ` AND r.state = $2`
	}
	if f.PageToken != "" {
		at, id, err := parsePageToken(f.PageToken)
		if err != nil {
			return nil, "", err
		}
		args = append(args, at, id)
		q += ` AND (r.created_at, r.id) > ($` + strconv.Itoa(len(args)-1) + `, $` + strconv.Itoa(len(args)) + `)`
	}
	args = append(args, f.Limit+1)
	rows, err := db.pool.Query(ctx, q+` ORDER BY r.created_at, r.id LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, "", err
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*consentd.Request, error) {
		r, _, err := scanRequest(row)
		return r, err
	})
	if err != nil {
		return nil, "", err
	}
	if out == nil {
		out = []*consentd.Request{}
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
	rows, err := db.pool.Query(ctx, `SELECT workspace_id, id FROM requests WHERE state = 'pending' AND next_attempt_at <= $1
		ORDER BY next_attempt_at, workspace_id, id LIMIT $2`, nanos(now), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (consentd.RequestRef, error) {
		var r consentd.RequestRef
		err := row.Scan(&r.WorkspaceID, &r.ID)
		return r, err
	})
}

// ProcessRequest carries out a pending withdraw request in one
// transaction, under the workspace's log lock, so that replicas running
// the worker at once carry it out once: opted_out, captured when the
// request was received, with source {type: dsr, name: <request id>}, on
// every channel type of every contact point it covers (every contact point
// of its party, as linked now, or its one contact point) on the channels
// of the contact point's kind; a do_not_contact suppression of each
// contact point on every channel (an existing one stands for it); then
// state completed with the result. Each change is logged with the
// request's creator as actor. A request that is no longer pending is
// returned as it is. When the transaction fails, the failed attempt is
// recorded (the request is tried again after consentd.RequestRetryDelay,
// and fails after consentd.MaxRequestAttempts) and the error returned. It
// returns ENOTFOUND when there is no such request.
func (db *DB) ProcessRequest(ctx context.Context, wsID, id string) (*consentd.Request, error) {
	err := db.write(ctx, wsID, func(tx *Tx) error {
		r, hash, err := scanRequest(tx.QueryRow(tx.ctx, `SELECT `+requestCols+requestFrom+` WHERE r.workspace_id = $1 AND r.id = $2`, wsID, id))
		if err != nil {
			return notFound(err, "request")
		}
		if r.State != consentd.RequestPending {
			return nil
		}
		c, err := tx.lockedWS(wsID)
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
		results, err := tx.writeLocked(c, consentd.OptOutWrites(c.catalog, cps, r.PartyID, src, r.Type, r.ReceivedAt), r.CreatedBy)
		if err != nil {
			return err
		}
		for _, wr := range results {
			if wr.Err != nil {
				return wr.Err
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
		tx.queue(`UPDATE requests SET state = $1, completed_at = $2, attempts = attempts + 1, result = $3
			WHERE workspace_id = $4 AND id = $5`, consentd.RequestCompleted, nanos(tx.now), mustJSON(res), wsID, id)
		return nil
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
	rows, err := tx.Query(tx.ctx, `SELECT l.kind, COALESCE(p.value, ''), l.hash FROM party_contact_points l
		LEFT JOIN contact_points p ON p.workspace_id = l.workspace_id AND p.hash = l.hash
		WHERE l.workspace_id = $1 AND l.party_id = $2 ORDER BY l.kind, l.hash`, wsID, partyID)
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
	return db.write(ctx, wsID, func(tx *Tx) error {
		var state, errs, createdBy string
		var attempts int
		err := tx.QueryRow(tx.ctx, `SELECT state, attempts, errors, created_by FROM requests WHERE workspace_id = $1 AND id = $2`, wsID, id).
			Scan(&state, &attempts, &errs, &createdBy)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && state != consentd.RequestPending) {
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
		tx.queue(`UPDATE requests SET state = $1, attempts = $2, errors = $3, next_attempt_at = $4 WHERE workspace_id = $5 AND id = $6`,
			state, attempts, mustJSON(list), nanos(tx.now.Add(consentd.RequestRetryDelay(attempts))), wsID, id)
		return nil
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
	var hashes [][]byte
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
	rows, err := db.pool.Query(ctx, `SELECT hash, value FROM contact_points WHERE workspace_id = $1 AND hash = ANY($2::bytea[])`, wsID, hashes)
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
		rows, err := tx.Query(tx.ctx, `SELECT channel_type FROM consents WHERE workspace_id = $1 AND cp_hash = $2 ORDER BY channel_type`, wsID, h[:])
		if err != nil {
			return err
		}
		cts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, ct := range cts {
			res.ConsentIDs = append(res.ConsentIDs, consentd.HashedConsentID(h, ct))
		}
		rows, err = tx.Query(tx.ctx, `SELECT id FROM suppressions WHERE workspace_id = $1 AND cp_hash = $2 ORDER BY created_at, id`, wsID, h[:])
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		res.SuppressionIDs = append(res.SuppressionIDs, ids...)
	}
	return nil
}
