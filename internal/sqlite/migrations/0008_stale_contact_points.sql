-- Contact points stored by an earlier release that the current normalization
-- no longer returns as they are: refused (their consents stay reachable by
-- the stored-form lookup, consentd.NormalizeStored) or changed (normalized to
-- another value, so another key). They are kept as they are, since their
-- hashes are in the log; this table lists them by hash, without plaintext, for
-- operators. The program fills it right after this migration.
CREATE TABLE stale_contact_points (
	workspace_id TEXT NOT NULL,
	hash         BLOB NOT NULL,
	kind         TEXT NOT NULL,
	outcome      TEXT NOT NULL, -- refused or changed
	found_at     INTEGER NOT NULL,
	PRIMARY KEY (workspace_id, hash)
) WITHOUT ROWID;
