-- Inbound SMS replies and data-subject requests (issue 4). Senders and
-- requested contact points are HMAC hashes; their plaintext is in
-- contact_points, so that erasing it there erases it here too.
CREATE TABLE inbound_sms (
	workspace_id   TEXT NOT NULL,
	id             TEXT NOT NULL,
	cp_hash        BLOB NOT NULL, -- the sender, a phone contact point
	recipient      TEXT NOT NULL DEFAULT '',
	body           TEXT NOT NULL,
	provider       TEXT NOT NULL DEFAULT '',
	message_id     TEXT NOT NULL DEFAULT '',
	received_at    INTEGER NOT NULL,
	recorded_at    INTEGER NOT NULL,
	action         TEXT NOT NULL,
	keyword        TEXT NOT NULL DEFAULT '',
	state          TEXT NOT NULL,
	suppression_id TEXT NOT NULL DEFAULT '',
	resolved_at    INTEGER,
	resolved_by    TEXT NOT NULL DEFAULT '',
	resolution     TEXT NOT NULL DEFAULT '',
	note           TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (workspace_id, id)
) WITHOUT ROWID;
-- A provider's message id is handled once.
CREATE UNIQUE INDEX inbound_sms_message ON inbound_sms (workspace_id, provider, message_id) WHERE message_id != '';
CREATE INDEX inbound_sms_state ON inbound_sms (workspace_id, state, recorded_at, id);
CREATE INDEX inbound_sms_list ON inbound_sms (workspace_id, recorded_at, id);

CREATE TABLE requests (
	workspace_id    TEXT NOT NULL,
	id              TEXT NOT NULL,
	type            TEXT NOT NULL,
	party_id        TEXT NOT NULL DEFAULT '',
	cp_hash         BLOB,          -- the contact point of a request for one
	kind            TEXT NOT NULL DEFAULT '',
	regulation      TEXT NOT NULL,
	reference       TEXT NOT NULL DEFAULT '',
	state           TEXT NOT NULL,
	received_at     INTEGER NOT NULL,
	due_at          INTEGER NOT NULL,
	created_at      INTEGER NOT NULL,
	created_by      TEXT NOT NULL,
	completed_at    INTEGER,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	result          TEXT,          -- JSON; consent ids name contact points by hash
	errors          TEXT NOT NULL DEFAULT '[]',
	PRIMARY KEY (workspace_id, id)
) WITHOUT ROWID;
CREATE INDEX requests_pending ON requests (next_attempt_at) WHERE state = 'pending';
CREATE INDEX requests_list ON requests (workspace_id, created_at, id);
