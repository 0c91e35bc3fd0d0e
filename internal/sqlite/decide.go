package sqlite

import (
	"context"

	"github.com/consentd/consentd"
)

// Decide answers one decision from the committed state, reading the
// consents, the suppressions and the log size in one snapshot. It returns
// EINVALIDCONTACTPOINT, EUNKNOWNPURPOSE or EUNKNOWNTOPIC for bad input; a
// purpose not offered on the channel is a denial, not an error.
func (db *DB) Decide(ctx context.Context, wsID string, req *consentd.DecisionRequest) (*consentd.DecisionResult, error) {
	c, err := db.loadWS(ctx, db.r, wsID)
	if err != nil {
		return nil, err
	}
	p := c.catalog.Purposes[req.Purpose]
	if p == nil {
		return nil, consentd.FieldErrorf(consentd.EUNKNOWNPURPOSE, "purpose", "no purpose with this id")
	}
	in := consentd.DecisionInput{Purpose: p, Channel: req.Channel}
	subscription := p.ID
	if req.Topic != "" {
		if in.Topic = c.catalog.Topics[req.Topic]; in.Topic == nil || in.Topic.Purpose != p.ID {
			return nil, consentd.FieldErrorf(consentd.EUNKNOWNTOPIC, "topic", "no topic with this id under the purpose")
		}
		subscription = in.Topic.ID
	}
	if req.Channel == "" || !consentd.ValidID(req.Channel) {
		return nil, consentd.FieldErrorf(consentd.EINVALID, "channel", "channel is required")
	}
	kind := consentd.KindOf(req.Channel)
	cp, err := consentd.NormalizeStored(kind, req.ContactPoint, c.ws.DefaultRegion)
	if err != nil {
		return nil, err
	}
	hash := consentd.ContactPointHash(c.secret, kind, cp)
	res := &consentd.DecisionResult{ContactPoint: cp, ConsentID: consentd.ConsentID(cp, consentd.ChannelTypeID(subscription, req.Channel))}

	tx, err := db.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	purposeCT, topicCT := consentd.ChannelTypeID(p.ID, req.Channel), consentd.ChannelTypeID(subscription, req.Channel)
	rows, err := tx.QueryContext(ctx, `SELECT channel_type, status FROM consents WHERE workspace_id = ? AND cp_hash = ? AND channel_type IN (?, ?)`,
		wsID, hash[:], purposeCT, topicCT)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var ct, status string
		if err := rows.Scan(&ct, &status); err != nil {
			rows.Close()
			return nil, err
		}
		if ct == purposeCT {
			in.PurposeState = consentd.Status(status)
		}
		if in.Topic != nil && ct == topicCT {
			in.TopicState = consentd.Status(status)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = tx.QueryContext(ctx, `SELECT channel, reason FROM suppressions WHERE workspace_id = ? AND cp_hash = ?`, wsID, hash[:])
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var s consentd.Suppression
		var reason string
		if err := rows.Scan(&s.Channel, &reason); err != nil {
			rows.Close()
			return nil, err
		}
		s.Reason = consentd.SuppressionReason(reason)
		in.Suppressions = append(in.Suppressions, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM log_entries WHERE workspace_id = ?`, wsID).Scan(&res.Seq); err != nil {
		return nil, err
	}
	res.Decision = consentd.Decide(&in)
	return res, nil
}
