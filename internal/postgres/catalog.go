package postgres

import (
	"context"

	"github.com/consentd/consentd"
)

// Catalog returns the workspace's purposes and topics as committed now;
// ENOTFOUND for an unknown workspace. The result is shared: do not modify
// it.
func (db *DB) Catalog(ctx context.Context, wsID string) (*consentd.Catalog, error) {
	c, err := db.currentWS(ctx, wsID)
	if err != nil {
		return nil, err
	}
	return c.catalog, nil
}

// PutPurpose creates (create true) or replaces a purpose after normalizing
// and validating it, and logs the change. It returns EINVALID, ECONFLICT
// (create of an existing id, or an id used by a topic), ENOTFOUND (replace
// of a missing purpose, or an unknown workspace).
func (db *DB) PutPurpose(ctx context.Context, wsID string, p *consentd.Purpose, create bool, actor string) error {
	p.Normalize()
	if err := p.Validate(); err != nil {
		return err
	}
	return db.write(ctx, wsID, func(tx *Tx) error {
		c, err := db.loadWS(tx.ctx, tx, wsID) // under the log lock: no other catalog change interleaves
		if err != nil {
			return err
		}
		old := c.catalog.Purposes[p.ID]
		switch {
		case create && old != nil:
			return consentd.FieldErrorf(consentd.ECONFLICT, "id", "a purpose with this id exists")
		case create && c.catalog.Topics[p.ID] != nil:
			return consentd.FieldErrorf(consentd.ECONFLICT, "id", "a topic has this id; purpose and topic ids share one namespace")
		case !create && old == nil:
			return consentd.Errorf(consentd.ENOTFOUND, "purpose not found")
		}
		if err := checkExternalIDs(c.catalog, p.ID, p); err != nil {
			return err
		}
		p.UpdatedAt = tx.now
		p.CreatedAt = tx.now
		if old != nil {
			p.CreatedAt = old.CreatedAt
		}
		tx.queue(`INSERT INTO purposes (workspace_id, id, body) VALUES ($1, $2, $3)
			ON CONFLICT (workspace_id, id) DO UPDATE SET body = excluded.body`, wsID, p.ID, mustJSON(p))
		if _, err := tx.appendLog(wsID, &consentd.LogEntry{Type: consentd.LogPurposeChanged, Subject: p.ID, Before: old, After: p, Actor: actor}); err != nil {
			return err
		}
		tx.changed(wsID)
		return nil
	})
}

// checkExternalIDs refuses a channel external id that another channel type
// of the workspace already uses.
func checkExternalIDs(cat *consentd.Catalog, id string, p *consentd.Purpose) error {
	for ch, s := range p.Channels {
		if s.ExternalID == "" {
			continue
		}
		if ct, err := cat.ResolveID(s.ExternalID); err == nil && ct.ID != consentd.ChannelTypeID(id, ch) {
			return consentd.FieldErrorf(consentd.ECONFLICT, "channels."+ch+".external_id", "channel type %s already uses this external id", ct.ID)
		}
	}
	return nil
}

// DeletePurpose deletes a purpose and logs it. It returns ENOTFOUND, or
// ECONFLICT while topics belong to it. Consent records stay (and the log
// keeps their history); decisions on the purpose answer unknown_purpose.
func (db *DB) DeletePurpose(ctx context.Context, wsID, id, actor string) error {
	return db.write(ctx, wsID, func(tx *Tx) error {
		c, err := db.loadWS(tx.ctx, tx, wsID)
		if err != nil {
			return err
		}
		old := c.catalog.Purposes[id]
		if old == nil {
			return consentd.Errorf(consentd.ENOTFOUND, "purpose not found")
		}
		for _, t := range c.catalog.Topics {
			if t.Purpose == id {
				return consentd.Errorf(consentd.ECONFLICT, "topic %s belongs to this purpose; delete it first", t.ID)
			}
		}
		tx.queue(`DELETE FROM purposes WHERE workspace_id = $1 AND id = $2`, wsID, id)
		if _, err := tx.appendLog(wsID, &consentd.LogEntry{Type: consentd.LogPurposeDeleted, Subject: id, Before: old, Actor: actor}); err != nil {
			return err
		}
		tx.changed(wsID)
		return nil
	})
}

// PutTopic creates (create true) or replaces a topic and logs it. It returns
// EINVALID, EUNKNOWNPURPOSE, ECHANNELNOTOFFERED, ECONFLICT or ENOTFOUND.
func (db *DB) PutTopic(ctx context.Context, wsID string, t *consentd.Topic, create bool, actor string) error {
	if err := t.Validate(); err != nil {
		return err
	}
	return db.write(ctx, wsID, func(tx *Tx) error {
		c, err := db.loadWS(tx.ctx, tx, wsID)
		if err != nil {
			return err
		}
		old := c.catalog.Topics[t.ID]
		switch {
		case create && old != nil:
			return consentd.FieldErrorf(consentd.ECONFLICT, "id", "a topic with this id exists")
		case create && c.catalog.Purposes[t.ID] != nil:
			return consentd.FieldErrorf(consentd.ECONFLICT, "id", "a purpose has this id; purpose and topic ids share one namespace")
		case !create && old == nil:
			return consentd.Errorf(consentd.ENOTFOUND, "topic not found")
		case c.catalog.Purposes[t.Purpose] == nil:
			return consentd.FieldErrorf(consentd.EUNKNOWNPURPOSE, "purpose", "no purpose with this id")
		}
		for ch, ext := range t.ChannelExternalIDs {
			if _, ok := c.catalog.Purposes[t.Purpose].Channels[ch]; !ok {
				return consentd.FieldErrorf(consentd.ECHANNELNOTOFFERED, "channel_external_ids."+ch, "the topic's purpose is not offered on this channel")
			}
			if ct, err := c.catalog.ResolveID(ext); err == nil && ct.ID != consentd.ChannelTypeID(t.ID, ch) {
				return consentd.FieldErrorf(consentd.ECONFLICT, "channel_external_ids."+ch, "channel type %s already uses this external id", ct.ID)
			}
		}
		t.UpdatedAt, t.CreatedAt = tx.now, tx.now
		if old != nil {
			t.CreatedAt = old.CreatedAt
		}
		tx.queue(`INSERT INTO topics (workspace_id, id, purpose_id, body) VALUES ($1, $2, $3, $4)
			ON CONFLICT (workspace_id, id) DO UPDATE SET purpose_id = excluded.purpose_id, body = excluded.body`, wsID, t.ID, t.Purpose, mustJSON(t))
		if _, err := tx.appendLog(wsID, &consentd.LogEntry{Type: consentd.LogTopicChanged, Subject: t.ID, Before: old, After: t, Actor: actor}); err != nil {
			return err
		}
		tx.changed(wsID)
		return nil
	})
}

// DeleteTopic deletes a topic and logs it; ENOTFOUND when there is none.
func (db *DB) DeleteTopic(ctx context.Context, wsID, id, actor string) error {
	return db.write(ctx, wsID, func(tx *Tx) error {
		c, err := db.loadWS(tx.ctx, tx, wsID)
		if err != nil {
			return err
		}
		old := c.catalog.Topics[id]
		if old == nil {
			return consentd.Errorf(consentd.ENOTFOUND, "topic not found")
		}
		tx.queue(`DELETE FROM topics WHERE workspace_id = $1 AND id = $2`, wsID, id)
		if _, err := tx.appendLog(wsID, &consentd.LogEntry{Type: consentd.LogTopicDeleted, Subject: id, Before: old, Actor: actor}); err != nil {
			return err
		}
		tx.changed(wsID)
		return nil
	})
}
