-- Times are Unix nanoseconds (UTC); contact points are HMAC hashes except in
-- contact_points, the one table that holds plaintext. Ids and other ordered
-- text use the "C" collation, so that orders and page tokens are bytewise as
-- in the SQLite backend, whatever the database's locale.
CREATE TABLE workspaces (
	id              TEXT COLLATE "C" PRIMARY KEY,
	name            TEXT COLLATE "C" NOT NULL CONSTRAINT workspaces_name_key UNIQUE,
	default_region  TEXT NOT NULL DEFAULT '',
	secret          BYTEA NOT NULL,
	created_at      BIGINT NOT NULL,
	-- Bumped by every change of the settings or the catalog, so that each
	-- process can tell whether its cached copy is current.
	catalog_version BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE api_keys (
	id           TEXT COLLATE "C" PRIMARY KEY,
	workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
	role         TEXT NOT NULL,
	name         TEXT NOT NULL DEFAULT '',
	hash         BYTEA NOT NULL CONSTRAINT api_keys_hash_key UNIQUE,
	created_at   BIGINT NOT NULL
);
CREATE INDEX api_keys_workspace ON api_keys (workspace_id);

CREATE TABLE purposes (
	workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
	id           TEXT COLLATE "C" NOT NULL,
	body         TEXT NOT NULL,
	PRIMARY KEY (workspace_id, id)
);

CREATE TABLE topics (
	workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
	id           TEXT COLLATE "C" NOT NULL,
	purpose_id   TEXT COLLATE "C" NOT NULL,
	body         TEXT NOT NULL,
	PRIMARY KEY (workspace_id, id)
);

CREATE TABLE contact_points (
	workspace_id TEXT COLLATE "C" NOT NULL,
	hash         BYTEA NOT NULL,
	kind         TEXT COLLATE "C" NOT NULL,
	value        TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (workspace_id, hash)
);

CREATE TABLE parties (
	workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
	id           TEXT COLLATE "C" NOT NULL,
	external_ids TEXT NOT NULL DEFAULT '{}',
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, id)
);

CREATE TABLE party_contact_points (
	workspace_id TEXT COLLATE "C" NOT NULL,
	party_id     TEXT COLLATE "C" NOT NULL,
	hash         BYTEA NOT NULL,
	kind         TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (workspace_id, party_id, hash)
);
CREATE INDEX party_contact_points_hash ON party_contact_points (workspace_id, hash);

CREATE TABLE consents (
	workspace_id TEXT COLLATE "C" NOT NULL,
	cp_hash      BYTEA NOT NULL,
	channel_type TEXT COLLATE "C" NOT NULL,
	purpose_id   TEXT COLLATE "C" NOT NULL,
	topic_id     TEXT COLLATE "C" NOT NULL DEFAULT '',
	channel      TEXT COLLATE "C" NOT NULL,
	status       TEXT NOT NULL,
	captured_at  BIGINT NOT NULL,
	recorded_at  BIGINT NOT NULL,
	version      BIGINT NOT NULL,
	source       TEXT NOT NULL,
	reason       TEXT NOT NULL DEFAULT '',
	party_id     TEXT COLLATE "C" NOT NULL DEFAULT '',
	jurisdiction TEXT NOT NULL DEFAULT '',
	proof        TEXT,
	origin       TEXT NOT NULL DEFAULT '',
	seq          BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, cp_hash, channel_type)
);
CREATE INDEX consents_purpose ON consents (workspace_id, purpose_id, channel);
CREATE INDEX consents_party ON consents (workspace_id, party_id) WHERE party_id != '';

CREATE TABLE suppressions (
	workspace_id TEXT COLLATE "C" NOT NULL,
	id           TEXT COLLATE "C" NOT NULL,
	cp_hash      BYTEA NOT NULL,
	kind         TEXT COLLATE "C" NOT NULL,
	channel      TEXT COLLATE "C" NOT NULL DEFAULT '',
	reason       TEXT NOT NULL,
	note         TEXT NOT NULL DEFAULT '',
	created_at   BIGINT NOT NULL,
	seq          BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, id)
);
CREATE INDEX suppressions_hash ON suppressions (workspace_id, cp_hash);

-- data is the exact leaf data hashed into the Merkle tree: bytes, not JSON.
CREATE TABLE log_entries (
	workspace_id TEXT COLLATE "C" NOT NULL,
	seq          BIGINT NOT NULL,
	at           BIGINT NOT NULL,
	type         TEXT COLLATE "C" NOT NULL,
	subject      TEXT COLLATE "C" NOT NULL,
	data         BYTEA NOT NULL,
	leaf_hash    BYTEA NOT NULL,
	PRIMARY KEY (workspace_id, seq)
);
CREATE INDEX log_entries_subject ON log_entries (workspace_id, subject, seq);

-- tlog stored hashes, indexed by tlog.StoredHashIndex.
CREATE TABLE log_hashes (
	workspace_id TEXT COLLATE "C" NOT NULL,
	idx          BIGINT NOT NULL,
	hash         BYTEA NOT NULL,
	PRIMARY KEY (workspace_id, idx)
);

CREATE TABLE checkpoints (
	workspace_id TEXT COLLATE "C" NOT NULL,
	size         BIGINT NOT NULL,
	signed       TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, size)
);
