package sqlite

import (
	"context"
	"encoding/json"

	"github.com/consentd/consentd"
)

// PutParty creates or replaces a party: its contact points (normalized) and
// external ids. It returns EINVALID or EINVALIDCONTACTPOINT.
func (db *DB) PutParty(ctx context.Context, wsID string, p *consentd.Party, actor string) error {
	if !consentd.ValidPartyID(p.ID) {
		return consentd.FieldErrorf(consentd.EINVALID, "id", "a party id is 1 to 200 printable characters without /")
	}
	lang, err := consentd.CanonicalLanguage("language", p.Language)
	if err != nil {
		return err
	}
	p.Language = lang
	c, err := db.loadWS(ctx, db.r, wsID)
	if err != nil {
		return err
	}
	hashes := make([][32]byte, len(p.ContactPoints))
	for i := range p.ContactPoints {
		cp := &p.ContactPoints[i]
		if !cp.Kind.Valid() {
			return consentd.FieldErrorf(consentd.EINVALID, "contact_points.kind", "kind must be email, phone or custom")
		}
		if cp.Value, err = consentd.Normalize(cp.Kind, cp.Value, c.ws.DefaultRegion); err != nil {
			return err
		}
		hashes[i] = consentd.ContactPointHash(c.secret, cp.Kind, cp.Value)
	}
	if p.ExternalIDs == nil {
		p.ExternalIDs = map[string]string{}
	}
	return db.write(ctx, func(tx *Tx) error {
		p.UpdatedAt, p.CreatedAt = tx.now, tx.now
		var created int64
		if err := tx.QueryRowContext(tx.ctx, `SELECT created_at FROM parties WHERE workspace_id = ? AND id = ?`, wsID, p.ID).Scan(&created); err == nil {
			p.CreatedAt = fromNanos(created)
		}
		if _, err := tx.ExecContext(tx.ctx, `INSERT OR REPLACE INTO parties (workspace_id, id, external_ids, language, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
			wsID, p.ID, mustJSON(p.ExternalIDs), p.Language, nanos(p.CreatedAt), nanos(p.UpdatedAt)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(tx.ctx, `DELETE FROM party_contact_points WHERE workspace_id = ? AND party_id = ?`, wsID, p.ID); err != nil {
			return err
		}
		logged := make([]string, len(hashes))
		for i, cp := range p.ContactPoints {
			if err := tx.putContactPoint(wsID, hashes[i][:], cp.Kind, cp.Value); err != nil {
				return err
			}
			if err := tx.linkParty(wsID, p.ID, hashes[i][:], cp.Kind); err != nil {
				return err
			}
			logged[i] = consentd.HashedConsentID(hashes[i], string(cp.Kind))
		}
		_, err := tx.appendLog(wsID, &consentd.LogEntry{Type: consentd.LogPartyChanged, Subject: consentd.HashedPartyID(c.secret, p.ID),
			After: consentd.PartyLogged(p, logged), Actor: actor})
		return err
	})
}

// Party returns a party with its contact points; ENOTFOUND when none.
func (db *DB) Party(ctx context.Context, wsID, id string) (*consentd.Party, error) {
	p := &consentd.Party{ID: id, ContactPoints: []consentd.PartyContactPoint{}}
	var ext string
	var created, updated int64
	err := db.r.QueryRowContext(ctx, `SELECT external_ids, language, created_at, updated_at FROM parties WHERE workspace_id = ? AND id = ?`, wsID, id).Scan(&ext, &p.Language, &created, &updated)
	if err != nil {
		return nil, notFound(err, "party")
	}
	p.CreatedAt, p.UpdatedAt = fromNanos(created), fromNanos(updated)
	if err := json.Unmarshal([]byte(ext), &p.ExternalIDs); err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT l.kind, COALESCE(c.value, '') FROM party_contact_points l
		LEFT JOIN contact_points c ON c.workspace_id = l.workspace_id AND c.hash = l.hash
		WHERE l.workspace_id = ? AND l.party_id = ? ORDER BY l.kind, c.value`, wsID, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var cp consentd.PartyContactPoint
		var kind string
		if err := rows.Scan(&kind, &cp.Value); err != nil {
			return nil, err
		}
		cp.Kind = consentd.ContactPointKind(kind)
		p.ContactPoints = append(p.ContactPoints, cp)
	}
	return p, rows.Err()
}

// PartyConsents returns the consents of every contact point of a party;
// ENOTFOUND when the party does not exist.
func (db *DB) PartyConsents(ctx context.Context, wsID, id string) ([]*consentd.Consent, error) {
	if _, err := db.Party(ctx, wsID, id); err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+consentCols+`, COALESCE(p.value, '') FROM consents c
		JOIN party_contact_points l ON l.workspace_id = c.workspace_id AND l.hash = c.cp_hash
		LEFT JOIN contact_points p ON p.workspace_id = c.workspace_id AND p.hash = c.cp_hash
		WHERE l.workspace_id = ? AND l.party_id = ? ORDER BY p.value, c.channel_type`, wsID, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*consentd.Consent{}
	for rows.Next() {
		var cp string
		con, err := scanConsent(rows, &cp)
		if err != nil {
			return nil, err
		}
		con.ContactPoint, con.ID = cp, consentd.ConsentID(cp, con.ChannelType)
		out = append(out, con)
	}
	return out, rows.Err()
}
