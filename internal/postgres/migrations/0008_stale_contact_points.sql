-- Contact points stored by an earlier release that the current normalization
-- no longer returns as they are: refused (their consents stay reachable by
-- the stored-form lookup, consentd.NormalizeStored) or changed (normalized to
-- another value, so another key). They are kept as they are, since their
-- hashes are in the log; this table lists them by hash, without plaintext, for
-- operators. The program fills it right after this migration.
CREATE TABLE stale_contact_points (
	workspace_id TEXT COLLATE "C" NOT NULL,
	hash         BYTEA NOT NULL,
	kind         TEXT COLLATE "C" NOT NULL,
	outcome      TEXT COLLATE "C" NOT NULL, -- refused or changed
	found_at     BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, hash)
);
