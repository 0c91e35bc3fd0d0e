-- Decisions answered, counted per workspace, UTC day, purpose, channel,
-- outcome and reason: aggregates for the reports, never a contact point.
-- The API counts in memory and adds its deltas here every few seconds.
CREATE TABLE decision_counts (
	workspace_id TEXT COLLATE "C" NOT NULL,
	day          DATE NOT NULL,
	purpose      TEXT COLLATE "C" NOT NULL,
	channel      TEXT COLLATE "C" NOT NULL,
	allowed      BOOLEAN NOT NULL,
	reason       TEXT COLLATE "C" NOT NULL,
	count        BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, day, purpose, channel, allowed, reason)
);

-- The consent report groups a workspace's consents by captured_at.
CREATE INDEX consents_captured ON consents (workspace_id, captured_at);
