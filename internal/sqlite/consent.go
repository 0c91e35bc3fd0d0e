package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/consentd/consentd"
)

// WriteConsents upserts consents in one transaction, in order, each with its
// log entry (DESIGN.md section 3). A refused write gets its error in its
// result and changes nothing; the others go on. When WriteConsents returns
// without error every accepted write is durable.
func (db *DB) WriteConsents(ctx context.Context, wsID string, writes []consentd.ConsentWrite, actor string) ([]consentd.WriteResult, error) {
	results := make([]consentd.WriteResult, len(writes))
	err := db.write(ctx, func(tx *Tx) error {
		c, err := db.loadWS(tx.ctx, tx, wsID)
		if err != nil {
			return err
		}
		for i := range writes {
			res, err := tx.writeConsent(c, &writes[i], actor)
			if err != nil && consentd.ErrorCode(err) == consentd.EINTERNAL {
				return err
			}
			results[i] = res
			results[i].Err = err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

func (tx *Tx) writeConsent(c *wsCache, w *consentd.ConsentWrite, actor string) (consentd.WriteResult, error) {
	ct, cp, err := consentd.PrepareWrite(c.catalog, c.ws.DefaultRegion, w, tx.now)
	if err != nil {
		return consentd.WriteResult{}, err
	}
	kind := consentd.KindOf(ct.Channel)
	return tx.writePrepared(c, w, ct, cp, kind, consentd.ContactPointHash(c.secret, kind, cp), actor)
}

// writePrepared is writeConsent after PrepareWrite: w's channel type, its
// normalized contact point, the kind and hash of it.
func (tx *Tx) writePrepared(c *wsCache, w *consentd.ConsentWrite, ct consentd.ChannelType, cp string, kind consentd.ContactPointKind, hash [32]byte, actor string) (consentd.WriteResult, error) {
	cur, err := tx.consentRow(c.ws.ID, hash[:], ct.ID)
	if err != nil {
		return consentd.WriteResult{}, err
	}
	res, entry, next := consentd.PlanWrite(tx.now, w, ct, cp, hash, cur, actor)
	if next == nil {
		if _, err := tx.appendLog(c.ws.ID, entry); err != nil {
			return consentd.WriteResult{}, err
		}
		return res, nil
	}
	if next.Seq, err = tx.appendLog(c.ws.ID, entry); err != nil {
		return consentd.WriteResult{}, err
	}
	if err := tx.putContactPoint(c.ws.ID, hash[:], kind, cp); err != nil {
		return consentd.WriteResult{}, err
	}
	if next.PartyID != "" {
		if err := tx.linkParty(c.ws.ID, next.PartyID, hash[:], kind); err != nil {
			return consentd.WriteResult{}, err
		}
	}
	_, err = tx.ExecContext(tx.ctx, `INSERT OR REPLACE INTO consents (`+consentInsertCols+`) VALUES (`+consentInsertRow+`)`, consentArgs(c.ws.ID, hash, next)...)
	if err != nil {
		return consentd.WriteResult{}, fmt.Errorf("upsert consent: %w", err)
	}
	return res, nil
}

// The columns of a stored consent, one row of placeholders for them, and
// its arguments.
const (
	consentInsertCols = `workspace_id, cp_hash, channel_type, purpose_id, topic_id, channel, status,
		captured_at, recorded_at, version, source, reason, party_id, jurisdiction, proof, origin, seq`
	consentInsertRow = `?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?`
)

func consentArgs(wsID string, hash [32]byte, next *consentd.Consent) []any {
	var proof any
	if next.Proof != nil {
		proof = mustJSON(next.Proof)
	}
	return []any{wsID, hash[:], next.ChannelType, next.Purpose, next.Topic, next.Channel, string(next.Status), nanos(next.CapturedAt), nanos(next.RecordedAt),
		next.Version, mustJSON(next.Source), next.Reason, next.PartyID, next.Jurisdiction, proof, next.Origin, next.Seq}
}

func (tx *Tx) putContactPoint(wsID string, hash []byte, kind consentd.ContactPointKind, value string) error {
	_, err := tx.ExecContext(tx.ctx, `INSERT INTO contact_points (workspace_id, hash, kind, value) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`, wsID, hash, string(kind), value)
	return err
}

func (tx *Tx) linkParty(wsID, partyID string, hash []byte, kind consentd.ContactPointKind) error {
	if _, err := tx.ExecContext(tx.ctx, `INSERT INTO parties (workspace_id, id, created_at, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		wsID, partyID, nanos(tx.now), nanos(tx.now)); err != nil {
		return err
	}
	_, err := tx.ExecContext(tx.ctx, `INSERT INTO party_contact_points (workspace_id, party_id, hash, kind) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`, wsID, partyID, hash, string(kind))
	return err
}

const consentCols = `c.channel_type, c.purpose_id, c.topic_id, c.channel, c.status, c.captured_at, c.recorded_at, c.version,
	c.source, c.reason, c.party_id, c.jurisdiction, c.proof, c.origin, c.seq`

func scanConsent(row interface{ Scan(...any) error }, extra ...any) (*consentd.Consent, error) {
	c := &consentd.Consent{}
	var status, source string
	var captured, recorded int64
	var proof sql.NullString
	dest := append([]any{&c.ChannelType, &c.Purpose, &c.Topic, &c.Channel, &status, &captured, &recorded, &c.Version,
		&source, &c.Reason, &c.PartyID, &c.Jurisdiction, &proof, &c.Origin, &c.Seq}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	c.Status, c.CapturedAt, c.RecordedAt = consentd.Status(status), fromNanos(captured), fromNanos(recorded)
	if err := json.Unmarshal([]byte(source), &c.Source); err != nil {
		return nil, fmt.Errorf("consent source: %w", err)
	}
	if proof.Valid {
		c.Proof = &consentd.Proof{}
		if err := json.Unmarshal([]byte(proof.String), c.Proof); err != nil {
			return nil, fmt.Errorf("consent proof: %w", err)
		}
	}
	return c, nil
}

// consentRow loads the stored consent or nil; ContactPoint and ID are left
// for the caller, who knows the plaintext.
func (tx *Tx) consentRow(wsID string, hash []byte, ct string) (*consentd.Consent, error) {
	row := tx.QueryRowContext(tx.ctx, `SELECT `+consentCols+` FROM consents c WHERE c.workspace_id = ? AND c.cp_hash = ? AND c.channel_type = ?`, wsID, hash, ct)
	c, err := scanConsent(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return c, err
}

// resolveConsentID turns a public consent id into the workspace, hash,
// normalized contact point and channel type.
func (db *DB) resolveConsentID(ctx context.Context, wsID, id string) (*wsCache, [32]byte, string, consentd.ChannelType, error) {
	var hash [32]byte
	raw, ctID, err := consentd.ParseConsentID(id)
	if err != nil {
		return nil, hash, "", consentd.ChannelType{}, err
	}
	c, err := db.loadWS(ctx, db.r, wsID)
	if err != nil {
		return nil, hash, "", consentd.ChannelType{}, err
	}
	ct, err := c.catalog.ResolveID(ctID)
	if err != nil {
		return nil, hash, "", ct, err
	}
	cp, err := consentd.NormalizeFor(ct.Channel, raw, c.ws.DefaultRegion)
	if err != nil {
		return nil, hash, "", ct, err
	}
	return c, consentd.ContactPointHash(c.secret, consentd.KindOf(ct.Channel), cp), cp, ct, nil
}

// Consent returns one consent by its public id, now, or with asOf non-zero
// the one in effect then by captured_at (ConsentAt). It returns ENOTFOUND
// when there is no record, ENOTINEFFECT when none was in effect at asOf,
// EINVALID or EUNKNOWNCHANNELTYPE for a bad id.
func (db *DB) Consent(ctx context.Context, wsID, id string, asOf time.Time) (*consentd.Consent, error) {
	c, hash, cp, ct, err := db.resolveConsentID(ctx, wsID, id)
	if err != nil {
		return nil, err
	}
	if !asOf.IsZero() {
		return db.consentAt(ctx, c.ws.ID, hash, cp, ct, consentd.Times{AsOf: asOf})
	}
	row := db.r.QueryRowContext(ctx, `SELECT `+consentCols+` FROM consents c WHERE c.workspace_id = ? AND c.cp_hash = ? AND c.channel_type = ?`, c.ws.ID, hash[:], ct.ID)
	con, err := scanConsent(row)
	if err != nil {
		return nil, notFound(err, "consent")
	}
	con.ContactPoint, con.ID = cp, consentd.ConsentID(cp, ct.ID)
	return con, nil
}

// ConsentHistory returns the log entries of one consent, oldest first.
func (db *DB) ConsentHistory(ctx context.Context, wsID, id string) ([]consentd.LogRecord, error) {
	_, hash, _, ct, err := db.resolveConsentID(ctx, wsID, id)
	if err != nil {
		return nil, err
	}
	return db.SubjectLog(ctx, wsID, consentd.HashedConsentID(hash, ct.ID))
}

// ListConsents returns one page of consents matching f, in key order, and
// the token of the next page ("" at the end). It returns EINVALID for a bad
// filter or page token.
func (db *DB) ListConsents(ctx context.Context, wsID string, f consentd.ConsentFilter) ([]*consentd.Consent, string, error) {
	c, err := db.loadWS(ctx, db.r, wsID)
	if err != nil {
		return nil, "", err
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	if f.Status != "" && !f.Status.Valid() {
		return nil, "", consentd.FieldErrorf(consentd.EINVALIDSTATUS, "status", "status must be opted_in, opted_out or pending")
	}
	q := `SELECT ` + consentCols + `, c.cp_hash, COALESCE(p.value, '') FROM consents c
		LEFT JOIN contact_points p ON p.workspace_id = c.workspace_id AND p.hash = c.cp_hash
		WHERE c.workspace_id = ?`
	args := []any{wsID}
	if f.ContactPoint != "" {
		hashes := consentd.CandidateHashes(c.secret, c.ws.DefaultRegion, f.ContactPoint)
		if len(hashes) == 0 {
			return nil, "", consentd.FieldErrorf(consentd.EINVALIDCONTACTPOINT, "contact_point", "the contact point cannot be normalized as an email, phone or custom address")
		}
		q += ` AND c.cp_hash IN (?` + strings.Repeat(`, ?`, len(hashes)-1) + `)`
		for _, h := range hashes {
			args = append(args, h)
		}
	}
	for _, kv := range []struct{ col, v string }{{"c.party_id", f.PartyID}, {"c.purpose_id", f.Purpose}, {"c.channel", f.Channel}, {"c.status", string(f.Status)}} {
		if kv.v != "" {
			q += ` AND ` + kv.col + ` = ?`
			args = append(args, kv.v)
		}
	}
	if f.PageToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(f.PageToken)
		if err != nil || len(b) < 33 {
			return nil, "", consentd.FieldErrorf(consentd.EINVALID, "page_token", "page_token is not one this server gave")
		}
		q += ` AND (c.cp_hash, c.channel_type) > (?, ?)`
		args = append(args, b[:32], string(b[32:]))
	}
	q += ` ORDER BY c.cp_hash, c.channel_type LIMIT ?`
	args = append(args, f.Limit+1)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	out := []*consentd.Consent{}
	var next string
	var prevHash []byte
	for rows.Next() {
		var hash []byte
		var cp string
		con, err := scanConsent(rows, &hash, &cp)
		if err != nil {
			return nil, "", err
		}
		if len(out) == f.Limit {
			last := out[len(out)-1]
			next = base64.RawURLEncoding.EncodeToString(append(prevHash, last.ChannelType...))
			break
		}
		con.ContactPoint, con.ID = cp, consentd.ConsentID(cp, con.ChannelType)
		out = append(out, con)
		prevHash = hash
	}
	return out, next, rows.Err()
}
