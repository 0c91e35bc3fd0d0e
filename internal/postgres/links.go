package postgres

import (
	"context"

	"github.com/consentd/consentd"
)

// PutContactPoint normalizes raw as a contact point of kind (phone numbers
// with the workspace's default region), stores its plaintext so that the
// public pages of a signed link can show it, and returns the normalized
// value and its hash. Nothing is logged: no consent changes. It normalizes
// with NormalizeStored, so that a contact point an earlier release stored
// gets links (to opt out; an opt-in through them still needs Normalize).
// It returns EINVALIDCONTACTPOINT, ENOTFOUND for an unknown workspace, or
// ECONFLICT when the contact point was erased (its plaintext must not come
// back).
func (db *DB) PutContactPoint(ctx context.Context, wsID string, kind consentd.ContactPointKind, raw string) (string, [32]byte, error) {
	var hash [32]byte
	if !kind.Valid() {
		return "", hash, consentd.FieldErrorf(consentd.EINVALID, "kind", "kind must be email, phone or custom")
	}
	c, err := db.currentWS(ctx, wsID)
	if err != nil {
		return "", hash, err
	}
	cp, err := consentd.NormalizeStored(kind, raw, c.ws.DefaultRegion)
	if err != nil {
		return "", hash, err
	}
	hash = consentd.ContactPointHash(c.secret, kind, cp)
	// One statement: the plaintext goes in unless an erased suppression
	// names the hash; the answer says which.
	var erased bool
	err = db.pool.QueryRow(ctx, `WITH e AS (SELECT EXISTS (SELECT 1 FROM suppressions WHERE workspace_id = $1 AND cp_hash = $2 AND reason = $5) AS erased),
		ins AS (INSERT INTO contact_points (workspace_id, hash, kind, value) SELECT $1, $2, $3, $4 FROM e WHERE NOT e.erased ON CONFLICT DO NOTHING)
		SELECT erased FROM e`, wsID, hash[:], string(kind), cp, string(consentd.SuppressErased)).Scan(&erased)
	if err != nil {
		return "", hash, dbError(err)
	}
	if erased {
		return "", hash, consentd.FieldErrorf(consentd.ECONFLICT, "contact_point", "the contact point was erased")
	}
	return cp, hash, nil
}

// LinkedContactPoints returns the person behind a contact point hash: the
// contact point itself first and then, when it belongs to parties, the
// other contact points of those parties (by kind and value; erased ones,
// whose plaintext is gone, are left out), with the suppressions of all of
// them (ContactPoint set). It returns ENOTFOUND when the hash has no stored
// plaintext.
func (db *DB) LinkedContactPoints(ctx context.Context, wsID string, hash [32]byte) ([]consentd.PartyContactPoint, []*consentd.Suppression, error) {
	var kind, value string
	err := db.pool.QueryRow(ctx, `SELECT kind, value FROM contact_points WHERE workspace_id = $1 AND hash = $2`, wsID, hash[:]).Scan(&kind, &value)
	if err != nil {
		return nil, nil, notFound(err, "contact point")
	}
	cps := []consentd.PartyContactPoint{{Kind: consentd.ContactPointKind(kind), Value: value}}
	hashes := [][]byte{hash[:]}
	byHash := map[string]string{string(hash[:]): value}
	rows, err := db.pool.Query(ctx, `SELECT DISTINCT o.hash, o.kind, c.value FROM party_contact_points l
		JOIN party_contact_points o ON o.workspace_id = l.workspace_id AND o.party_id = l.party_id
		JOIN contact_points c ON c.workspace_id = o.workspace_id AND c.hash = o.hash
		WHERE l.workspace_id = $1 AND l.hash = $2 AND o.hash <> l.hash
		ORDER BY o.kind, c.value`, wsID, hash[:])
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var h []byte
		var cp consentd.PartyContactPoint
		if err := rows.Scan(&h, &kind, &cp.Value); err != nil {
			rows.Close()
			return nil, nil, err
		}
		cp.Kind = consentd.ContactPointKind(kind)
		cps = append(cps, cp)
		hashes = append(hashes, h)
		byHash[string(h)] = cp.Value
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	srows, err := db.pool.Query(ctx, `SELECT id, cp_hash, kind, channel, reason, note, created_at, seq FROM suppressions
		WHERE workspace_id = $1 AND cp_hash = ANY($2) ORDER BY created_at, id`, wsID, hashes)
	if err != nil {
		return nil, nil, err
	}
	defer srows.Close()
	sups := []*consentd.Suppression{}
	for srows.Next() {
		s := &consentd.Suppression{}
		var h []byte
		var kind, reason string
		var created int64
		if err := srows.Scan(&s.ID, &h, &kind, &s.Channel, &reason, &s.Note, &created, &s.Seq); err != nil {
			return nil, nil, err
		}
		s.ContactPoint, s.Kind, s.Reason, s.CreatedAt = byHash[string(h)], consentd.ContactPointKind(kind), consentd.SuppressionReason(reason), fromNanos(created)
		sups = append(sups, s)
	}
	return cps, sups, srows.Err()
}

// EnqueueJob queues a job of kind (not a rule job) on ref, due now, and
// returns its id; the runners are notified when it commits. A (kind, ref)
// that has a job already gets no second one, and its id is returned.
func (db *DB) EnqueueJob(ctx context.Context, wsID, kind, ref string, maxAttempts int) (string, error) {
	var id string
	err := db.write(ctx, "", func(tx *Tx) error {
		tx.enqueue(wsID, kind, ref, maxAttempts, tx.now)
		return tx.QueryRow(tx.ctx, `SELECT id FROM jobs WHERE workspace_id = $1 AND kind = $2 AND ref = $3`, wsID, kind, ref).Scan(&id)
	})
	return id, err
}
