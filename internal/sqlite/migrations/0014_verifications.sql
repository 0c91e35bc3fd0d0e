-- The newest verification of each workspace's log (GET /v1/log/verify,
-- the console, consentd log verify): when (nanoseconds), what ran it,
-- whether the log verified, and the report as JSON.
CREATE TABLE log_verifications (
	workspace_id TEXT PRIMARY KEY,
	verified_at  INTEGER NOT NULL,
	verified_by  TEXT NOT NULL,
	ok           INTEGER NOT NULL,
	report       TEXT NOT NULL
);
