package sqlite

import (
	"context"
	"strings"

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
	c, err := db.loadWS(ctx, db.r, wsID)
	if err != nil {
		return "", hash, err
	}
	cp, err := consentd.NormalizeStored(kind, raw, c.ws.DefaultRegion)
	if err != nil {
		return "", hash, err
	}
	hash = consentd.ContactPointHash(c.secret, kind, cp)
	err = db.write(ctx, func(tx *Tx) error {
		var erased int
		if err := tx.QueryRowContext(tx.ctx, `SELECT count(*) FROM suppressions WHERE workspace_id = ? AND cp_hash = ? AND reason = ?`,
			wsID, hash[:], string(consentd.SuppressErased)).Scan(&erased); err != nil {
			return err
		}
		if erased > 0 {
			return consentd.FieldErrorf(consentd.ECONFLICT, "contact_point", "the contact point was erased")
		}
		return tx.putContactPoint(wsID, hash[:], kind, cp)
	})
	if err != nil {
		return "", hash, err
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
	err := db.r.QueryRowContext(ctx, `SELECT kind, value FROM contact_points WHERE workspace_id = ? AND hash = ?`, wsID, hash[:]).Scan(&kind, &value)
	if err != nil {
		return nil, nil, notFound(err, "contact point")
	}
	cps := []consentd.PartyContactPoint{{Kind: consentd.ContactPointKind(kind), Value: value}}
	hashes := [][]byte{hash[:]}
	byHash := map[string]string{string(hash[:]): value}
	rows, err := db.r.QueryContext(ctx, `SELECT DISTINCT o.hash, o.kind, c.value FROM party_contact_points l
		JOIN party_contact_points o ON o.workspace_id = l.workspace_id AND o.party_id = l.party_id
		JOIN contact_points c ON c.workspace_id = o.workspace_id AND c.hash = o.hash
		WHERE l.workspace_id = ? AND l.hash = ? AND o.hash != l.hash
		ORDER BY o.kind, c.value`, wsID, hash[:])
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var h []byte
		var cp consentd.PartyContactPoint
		if err := rows.Scan(&h, &kind, &cp.Value); err != nil {
			return nil, nil, err
		}
		cp.Kind = consentd.ContactPointKind(kind)
		cps = append(cps, cp)
		hashes = append(hashes, h)
		byHash[string(h)] = cp.Value
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	args := []any{wsID}
	for _, h := range hashes {
		args = append(args, h)
	}
	srows, err := db.r.QueryContext(ctx, `SELECT id, cp_hash, kind, channel, reason, note, created_at, seq FROM suppressions
		WHERE workspace_id = ? AND cp_hash IN (?`+strings.Repeat(`, ?`, len(hashes)-1)+`) ORDER BY created_at, id`, args...)
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
// returns its id. A (kind, ref) that has a job already gets no second one,
// and its id is returned.
func (db *DB) EnqueueJob(ctx context.Context, wsID, kind, ref string, maxAttempts int) (string, error) {
	var id string
	err := db.write(ctx, func(tx *Tx) error {
		if err := tx.enqueue(wsID, kind, ref, maxAttempts, tx.now); err != nil {
			return err
		}
		return tx.QueryRowContext(tx.ctx, `SELECT id FROM jobs WHERE workspace_id = ? AND kind = ? AND ref = ?`, wsID, kind, ref).Scan(&id)
	})
	return id, err
}
