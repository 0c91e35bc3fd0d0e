-- Decisions answered, counted per workspace, UTC day (YYYY-MM-DD),
-- purpose, channel, outcome and reason: aggregates for the reports, never
-- a contact point. The API counts in memory and adds its deltas here every
-- few seconds.
CREATE TABLE decision_counts (
	workspace_id TEXT NOT NULL,
	day          TEXT NOT NULL,
	purpose      TEXT NOT NULL,
	channel      TEXT NOT NULL,
	allowed      INTEGER NOT NULL,
	reason       TEXT NOT NULL,
	count        INTEGER NOT NULL,
	PRIMARY KEY (workspace_id, day, purpose, channel, allowed, reason)
) WITHOUT ROWID;

-- The consent report groups a workspace's consents by captured_at.
CREATE INDEX consents_captured ON consents (workspace_id, captured_at);
