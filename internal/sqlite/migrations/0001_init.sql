-- Times are Unix nanoseconds (UTC); contact points are HMAC hashes except in
-- contact_points, the one table that holds plaintext.
CREATE TABLE workspaces (
	id             TEXT PRIMARY KEY,
	name           TEXT NOT NULL UNIQUE,
	default_region TEXT NOT NULL DEFAULT '',
	secret         BLOB NOT NULL,
	created_at     INTEGER NOT NULL
);

CREATE TABLE api_keys (
	id           TEXT PRIMARY KEY,
	workspace_id TEXT NOT NULL REFERENCES workspaces (id),
	role         TEXT NOT NULL,
	name         TEXT NOT NULL DEFAULT '',
	hash         BLOB NOT NULL UNIQUE,
	created_at   INTEGER NOT NULL
);

CREATE TABLE purposes (
	workspace_id TEXT NOT NULL REFERENCES workspaces (id),
	id           TEXT NOT NULL,
	body         TEXT NOT NULL,
	PRIMARY KEY (workspace_id, id)
) WITHOUT ROWID;

CREATE TABLE topics (
	workspace_id TEXT NOT NULL REFERENCES workspaces (id),
	id           TEXT NOT NULL,
	purpose_id   TEXT NOT NULL,
	body         TEXT NOT NULL,
	PRIMARY KEY (workspace_id, id)
) WITHOUT ROWID;

CREATE TABLE contact_points (
	workspace_id TEXT NOT NULL,
	hash         BLOB NOT NULL,
	kind         TEXT NOT NULL,
	value        TEXT NOT NULL,
	PRIMARY KEY (workspace_id, hash)
) WITHOUT ROWID;

CREATE TABLE parties (
	workspace_id TEXT NOT NULL REFERENCES workspaces (id),
	id           TEXT NOT NULL,
	external_ids TEXT NOT NULL DEFAULT '{}',
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	PRIMARY KEY (workspace_id, id)
) WITHOUT ROWID;

CREATE TABLE party_contact_points (
	workspace_id TEXT NOT NULL,
	party_id     TEXT NOT NULL,
	hash         BLOB NOT NULL,
	kind         TEXT NOT NULL,
	PRIMARY KEY (workspace_id, party_id, hash)
) WITHOUT ROWID;
CREATE INDEX party_contact_points_hash ON party_contact_points (workspace_id, hash);

CREATE TABLE consents (
	workspace_id TEXT NOT NULL,
	cp_hash      BLOB NOT NULL,
	channel_type TEXT NOT NULL,
	purpose_id   TEXT NOT NULL,
	topic_id     TEXT NOT NULL DEFAULT '',
	channel      TEXT NOT NULL,
	status       TEXT NOT NULL,
	captured_at  INTEGER NOT NULL,
	recorded_at  INTEGER NOT NULL,
	version      INTEGER NOT NULL,
	source       TEXT NOT NULL,
	reason       TEXT NOT NULL DEFAULT '',
	party_id     TEXT NOT NULL DEFAULT '',
	jurisdiction TEXT NOT NULL DEFAULT '',
	proof        TEXT,
	origin       TEXT NOT NULL DEFAULT '',
	seq          INTEGER NOT NULL,
	PRIMARY KEY (workspace_id, cp_hash, channel_type)
) WITHOUT ROWID;
CREATE INDEX consents_purpose ON consents (workspace_id, purpose_id, channel);
CREATE INDEX consents_party ON consents (workspace_id, party_id) WHERE party_id != '';

CREATE TABLE suppressions (
	workspace_id TEXT NOT NULL,
	id           TEXT NOT NULL,
	cp_hash      BLOB NOT NULL,
	kind         TEXT NOT NULL,
	channel      TEXT NOT NULL DEFAULT '',
	reason       TEXT NOT NULL,
	note         TEXT NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	seq          INTEGER NOT NULL,
	PRIMARY KEY (workspace_id, id)
) WITHOUT ROWID;
CREATE INDEX suppressions_hash ON suppressions (workspace_id, cp_hash);

CREATE TABLE log_entries (
	workspace_id TEXT NOT NULL,
	seq          INTEGER NOT NULL,
	at           INTEGER NOT NULL,
	type         TEXT NOT NULL,
	subject      TEXT NOT NULL,
	data         BLOB NOT NULL,
	leaf_hash    BLOB NOT NULL,
	PRIMARY KEY (workspace_id, seq)
) WITHOUT ROWID;
CREATE INDEX log_entries_subject ON log_entries (workspace_id, subject, seq);

-- tlog stored hashes, indexed by tlog.StoredHashIndex.
CREATE TABLE log_hashes (
	workspace_id TEXT NOT NULL,
	idx          INTEGER NOT NULL,
	hash         BLOB NOT NULL,
	PRIMARY KEY (workspace_id, idx)
) WITHOUT ROWID;

CREATE TABLE checkpoints (
	workspace_id TEXT NOT NULL,
	size         INTEGER NOT NULL,
	signed       TEXT NOT NULL,
	created_at   INTEGER NOT NULL,
	PRIMARY KEY (workspace_id, size)
) WITHOUT ROWID;
