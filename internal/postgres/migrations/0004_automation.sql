-- Record-triggered automation (issue 5). Rules are stored as JSON; records
-- only as a digest of their fields, to tell created from updated from
-- unchanged; the fields live in the input of the jobs that need them and
-- are cleared when a job succeeds.
CREATE TABLE rules (
	workspace_id TEXT COLLATE "C" NOT NULL,
	id           TEXT COLLATE "C" NOT NULL,
	record_type  TEXT COLLATE "C" NOT NULL,
	body         TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, id)
);

CREATE TABLE records (
	workspace_id TEXT COLLATE "C" NOT NULL,
	type         TEXT COLLATE "C" NOT NULL,
	id           TEXT COLLATE "C" NOT NULL,
	digest       BYTEA NOT NULL,
	updated_at   BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, type, id)
);

CREATE TABLE jobs (
	workspace_id TEXT COLLATE "C" NOT NULL,
	id           TEXT COLLATE "C" NOT NULL,
	rule_id      TEXT COLLATE "C" NOT NULL,
	kind         TEXT COLLATE "C" NOT NULL,
	state        TEXT COLLATE "C" NOT NULL,
	attempts     BIGINT NOT NULL DEFAULT 0,
	max_attempts BIGINT NOT NULL,
	run_at       BIGINT NOT NULL,
	locked_until BIGINT,
	last_error   TEXT NOT NULL DEFAULT '',
	input        TEXT,          -- JSON record snapshot; NULL once succeeded
	result       TEXT NOT NULL DEFAULT '',
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, id)
);
CREATE INDEX jobs_due ON jobs (run_at) WHERE state = 'queued';
CREATE INDEX jobs_lease ON jobs (locked_until) WHERE state = 'running';
CREATE INDEX jobs_list ON jobs (workspace_id, created_at, id);
CREATE INDEX jobs_state ON jobs (workspace_id, state, created_at, id);
