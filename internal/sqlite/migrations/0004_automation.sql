-- Record-triggered automation (issue 5). Rules are stored as JSON; records
-- only as a digest of their fields, to tell created from updated from
-- unchanged; the fields live in the input of the jobs that need them and
-- are cleared when a job succeeds.
CREATE TABLE rules (
	workspace_id TEXT NOT NULL,
	id           TEXT NOT NULL,
	record_type  TEXT NOT NULL,
	body         TEXT NOT NULL,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	PRIMARY KEY (workspace_id, id)
) WITHOUT ROWID;

CREATE TABLE records (
	workspace_id TEXT NOT NULL,
	type         TEXT NOT NULL,
	id           TEXT NOT NULL,
	digest       BLOB NOT NULL,
	updated_at   INTEGER NOT NULL,
	PRIMARY KEY (workspace_id, type, id)
) WITHOUT ROWID;

CREATE TABLE jobs (
	workspace_id TEXT NOT NULL,
	id           TEXT NOT NULL,
	rule_id      TEXT NOT NULL,
	kind         TEXT NOT NULL,
	state        TEXT NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	max_attempts INTEGER NOT NULL,
	run_at       INTEGER NOT NULL,
	locked_until INTEGER,
	last_error   TEXT NOT NULL DEFAULT '',
	input        TEXT,          -- JSON record snapshot; NULL once succeeded
	result       TEXT NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	PRIMARY KEY (workspace_id, id)
) WITHOUT ROWID;
CREATE INDEX jobs_due ON jobs (run_at) WHERE state = 'queued';
CREATE INDEX jobs_lease ON jobs (locked_until) WHERE state = 'running';
CREATE INDEX jobs_list ON jobs (workspace_id, created_at, id);
CREATE INDEX jobs_state ON jobs (workspace_id, state, created_at, id);
