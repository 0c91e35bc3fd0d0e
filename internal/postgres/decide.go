package postgres

import (
	"context"

	"github.com/consentd/consentd"
)

// decideSQL reads everything a decision needs in one statement, so in one
// snapshot and one round trip: the catalog version (to check the cached
// catalog), the log size, the purpose's and the topic's consent status, and
// the contact point's suppressions.
const decideSQL = `SELECT w.catalog_version,
	(SELECT COALESCE(MAX(seq), 0) FROM log_entries WHERE workspace_id = $1),
	(SELECT status FROM consents WHERE workspace_id = $1 AND cp_hash = $2 AND channel_type = $3),
	(SELECT status FROM consents WHERE workspace_id = $1 AND cp_hash = $2 AND channel_type = $4),
	ARRAY(SELECT channel || ' ' || reason FROM suppressions WHERE workspace_id = $1 AND cp_hash = $2 ORDER BY id)
	FROM workspaces w WHERE w.id = $1`

// Decide answers one decision from the committed state, reading the
// consents, the suppressions and the log size in one snapshot. It returns
// EINVALIDCONTACTPOINT, EUNKNOWNPURPOSE or EUNKNOWNTOPIC for bad input,
// ENOTFOUND for an unknown workspace; a purpose not offered on the channel
// is a denial, not an error.
func (db *DB) Decide(ctx context.Context, wsID string, req *consentd.DecisionRequest) (*consentd.DecisionResult, error) {
	c, err := db.cachedWS(ctx, wsID)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		last := attempt == 2
		res, version, err := db.decide(ctx, c, req, last)
		switch {
		case err == nil && version == c.version, last:
			return res, err
		case err != nil:
			// Bad input, or input the cached catalog does not know yet.
			fresh, ferr := db.currentWS(ctx, wsID)
			if ferr != nil {
				return nil, ferr
			}
			if fresh.version == c.version {
				return nil, err
			}
			c = fresh
		default:
			// The catalog changed since it was cached: decide again on the
			// new one.
			if c, err = db.loadWS(ctx, db.pool, wsID); err != nil {
				return nil, err
			}
		}
	}
}

// decide decides on catalog c. When the workspace's catalog version is not
// c's, it returns that version and no result, unless anyVersion is set.
func (db *DB) decide(ctx context.Context, c *wsCache, req *consentd.DecisionRequest, anyVersion bool) (*consentd.DecisionResult, int64, error) {
	p := c.catalog.Purposes[req.Purpose]
	if p == nil {
		return nil, c.version, consentd.FieldErrorf(consentd.EUNKNOWNPURPOSE, "purpose", "no purpose with this id")
	}
	in := consentd.DecisionInput{Purpose: p, Channel: req.Channel}
	subscription := p.ID
	if req.Topic != "" {
		if in.Topic = c.catalog.Topics[req.Topic]; in.Topic == nil || in.Topic.Purpose != p.ID {
			return nil, c.version, consentd.FieldErrorf(consentd.EUNKNOWNTOPIC, "topic", "no topic with this id under the purpose")
		}
		subscription = in.Topic.ID
	}
	if req.Channel == "" || !consentd.ValidID(req.Channel) {
		return nil, c.version, consentd.FieldErrorf(consentd.EINVALID, "channel", "channel is required")
	}
	kind := consentd.KindOf(req.Channel)
	cp, err := consentd.NormalizeStored(kind, req.ContactPoint, c.ws.DefaultRegion)
	if err != nil {
		return nil, c.version, err
	}
	hash := consentd.ContactPointHash(c.secret, kind, cp)
	res := &consentd.DecisionResult{ContactPoint: cp, ConsentID: consentd.ConsentID(cp, consentd.ChannelTypeID(subscription, req.Channel))}

	purposeCT, topicCT := consentd.ChannelTypeID(p.ID, req.Channel), consentd.ChannelTypeID(subscription, req.Channel)
	var version int64
	var purposeState, topicState *string
	var sups []string
	err = db.pool.QueryRow(ctx, decideSQL, c.ws.ID, hash[:], purposeCT, topicCT).Scan(&version, &res.Seq, &purposeState, &topicState, &sups)
	if err != nil {
		return nil, 0, notFound(err, "workspace")
	}
	if version != c.version && !anyVersion {
		return nil, version, nil
	}
	if purposeState != nil {
		in.PurposeState = consentd.Status(*purposeState)
	}
	if in.Topic != nil && topicState != nil {
		in.TopicState = consentd.Status(*topicState)
	}
	for _, s := range sups {
		// channel is a slug or "", so the first space ends it.
		for i := 0; i < len(s); i++ {
			if s[i] == ' ' {
				in.Suppressions = append(in.Suppressions, consentd.Suppression{Channel: s[:i], Reason: consentd.SuppressionReason(s[i+1:])})
				break
			}
		}
	}
	res.Decision = consentd.Decide(&in)
	return res, version, nil
}
