-- Provider feeds: a mailbox or SMS provider posts its delivery events
-- (bounces, complaints, unsubscribes) to a feed's public URL. secret is the
-- stored form of the provider credential: a password's hash (postmark) or
-- the signing key (mailgun), as webhook secrets are kept.
CREATE TABLE feeds (
	workspace_id TEXT NOT NULL REFERENCES workspaces (id),
	id           TEXT NOT NULL,
	provider     TEXT NOT NULL,
	name         TEXT NOT NULL DEFAULT '',
	public_key   TEXT NOT NULL DEFAULT '',
	username     TEXT NOT NULL DEFAULT '',
	secret       TEXT NOT NULL DEFAULT '',
	secret_env   TEXT NOT NULL DEFAULT '',
	settings     TEXT NOT NULL DEFAULT '{}', -- JSON object of other provider settings
	soft_limit   INTEGER NOT NULL DEFAULT 0,
	soft_window  TEXT NOT NULL DEFAULT '',
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, id)
);

-- The provider events a feed processed, by the provider's id, so that a
-- replay acts once; soft bounces are counted here by the recipient's keyed
-- hash (never the address). Rows older than the retention are pruned.
CREATE TABLE feed_events (
	workspace_id TEXT NOT NULL,
	feed_id      TEXT NOT NULL,
	event_id     TEXT NOT NULL,
	kind         TEXT NOT NULL,
	cp_hash      BYTEA,
	occurred_at  BIGINT NOT NULL,
	processed_at BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, feed_id, event_id)
);
CREATE INDEX feed_events_soft ON feed_events (workspace_id, feed_id, cp_hash, occurred_at) WHERE kind = 'soft_bounce';
CREATE INDEX feed_events_age ON feed_events (processed_at);
