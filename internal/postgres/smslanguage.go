package postgres

import (
	"context"
	"encoding/json"

	"github.com/consentd/consentd"
)

// ContactPointLanguage is the recorded language of the contact point hash
// (consentd.RecordedLanguage): the newest of its consents whose proof
// records one, else the language of a party it belongs to; "" when none
// is recorded or it cannot be read (the caller then uses the browser's
// or the workspace's default language). It is the language of the keyword
// replies to a number, and of the public pages when the consents they
// show record none.
func (db *DB) ContactPointLanguage(ctx context.Context, wsID string, hash [32]byte) string {
	rows, err := db.pool.Query(ctx, `SELECT captured_at, proof FROM consents
		WHERE workspace_id = $1 AND cp_hash = $2 AND proof IS NOT NULL`, wsID, hash[:])
	if err != nil {
		return ""
	}
	var consents []*consentd.Consent
	for rows.Next() {
		var at int64
		var proof *string
		if err := rows.Scan(&at, &proof); err != nil {
			rows.Close()
			return ""
		}
		c := &consentd.Consent{CapturedAt: fromNanos(at), Proof: &consentd.Proof{}}
		if proof != nil && json.Unmarshal([]byte(*proof), c.Proof) == nil {
			consents = append(consents, c)
		}
	}
	rows.Close()
	party := &consentd.Party{}
	if err := db.pool.QueryRow(ctx, `SELECT p.language FROM parties p JOIN party_contact_points pc
		ON pc.workspace_id = p.workspace_id AND pc.party_id = p.id
		WHERE pc.workspace_id = $1 AND pc.hash = $2 AND p.language != '' ORDER BY p.updated_at DESC LIMIT 1`, wsID, hash[:]).Scan(&party.Language); err != nil {
		party = nil
	}
	return consentd.RecordedLanguage(consents, party)
}
