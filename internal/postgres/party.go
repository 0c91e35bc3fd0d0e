package postgres

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
	c, err := db.currentWS(ctx, wsID)
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
	return db.write(ctx, wsID, func(tx *Tx) error {
		var created *int64
		if err := tx.QueryRow(tx.ctx, `SELECT (SELECT created_at FROM parties WHERE workspace_id = $1 AND id = $2)`, wsID, p.ID).Scan(&created); err != nil {
			return err
		}
		p.UpdatedAt, p.CreatedAt = tx.now, tx.now
		if created != nil {
			p.CreatedAt = fromNanos(*created)
		}
		tx.queue(`INSERT INTO parties (workspace_id, id, external_ids, language, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (workspace_id, id) DO UPDATE SET external_ids = excluded.external_ids, language = excluded.language,
				created_at = excluded.created_at, updated_at = excluded.updated_at`,
			wsID, p.ID, mustJSON(p.ExternalIDs), p.Language, nanos(p.CreatedAt), nanos(p.UpdatedAt))
		tx.queue(`DELETE FROM party_contact_points WHERE workspace_id = $1 AND party_id = $2`, wsID, p.ID)
		logged := make([]string, len(hashes))
		for i, cp := range p.ContactPoints {
			tx.queue(`INSERT INTO contact_points (workspace_id, hash, kind, value) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, wsID, hashes[i][:], string(cp.Kind), cp.Value)
			tx.queue(`INSERT INTO party_contact_points (workspace_id, party_id, hash, kind) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, wsID, p.ID, hashes[i][:], string(cp.Kind))
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
	err := db.pool.QueryRow(ctx, `SELECT external_ids, language, created_at, updated_at FROM parties WHERE workspace_id = $1 AND id = $2`, wsID, id).Scan(&ext, &p.Language, &created, &updated)
	if err != nil {
		return nil, notFound(err, "party")
	}
	p.CreatedAt, p.UpdatedAt = fromNanos(created), fromNanos(updated)
	if err := json.Unmarshal([]byte(ext), &p.ExternalIDs); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT l.kind, COALESCE(c.value, '') FROM party_contact_points l
		LEFT JOIN contact_points c ON c.workspace_id = l.workspace_id AND c.hash = l.hash
		WHERE l.workspace_id = $1 AND l.party_id = $2 ORDER BY l.kind, c.value NULLS FIRST`, wsID, id)
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
	rows, err := db.pool.Query(ctx, `SELECT `+consentCols+`, COALESCE(p.value, '') FROM consents c
		JOIN party_contact_points l ON l.workspace_id = c.workspace_id AND l.hash = c.cp_hash
		LEFT JOIN contact_points p ON p.workspace_id = c.workspace_id AND p.hash = c.cp_hash
		WHERE l.workspace_id = $1 AND l.party_id = $2 ORDER BY p.value NULLS FIRST, c.channel_type`, wsID, id)
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
