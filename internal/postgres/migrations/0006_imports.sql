-- Bulk imports (DESIGN.md section 8). One row per import, identified by
-- spec_key (format, options, mapping and the file's SHA-256): running the same file
-- again finds it and resumes after committed data records, or answers that
-- it is done. Counts and committed change in the transaction of each batch
-- with its consent writes. import_rejects holds each rejected row: line,
-- code, reason, and the row's fields as read (raw, JSON; customer data, kept
-- with the import). Times are Unix nanoseconds (UTC).
CREATE TABLE imports (
	workspace_id TEXT COLLATE "C" NOT NULL,
	id           TEXT COLLATE "C" NOT NULL,
	spec_key     TEXT NOT NULL,
	format       TEXT NOT NULL,
	purpose      TEXT NOT NULL DEFAULT '',
	channel      TEXT NOT NULL DEFAULT '',
	topic        TEXT NOT NULL DEFAULT '',
	sha256       TEXT NOT NULL,
	size         BIGINT NOT NULL DEFAULT 0,
	name         TEXT NOT NULL DEFAULT '',
	mapping      TEXT NOT NULL DEFAULT '',
	state        TEXT NOT NULL,
	rows         BIGINT NOT NULL DEFAULT 0,
	created      BIGINT NOT NULL DEFAULT 0,
	changed      BIGINT NOT NULL DEFAULT 0,
	unchanged    BIGINT NOT NULL DEFAULT 0,
	superseded   BIGINT NOT NULL DEFAULT 0,
	skipped      BIGINT NOT NULL DEFAULT 0,
	rejected     BIGINT NOT NULL DEFAULT 0,
	skip_reasons TEXT NOT NULL DEFAULT '{}',
	committed    BIGINT NOT NULL DEFAULT 0,
	created_at   BIGINT NOT NULL,
	started_at   BIGINT,
	finished_at  BIGINT,
	error        TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (workspace_id, id)
);
CREATE UNIQUE INDEX imports_spec ON imports (workspace_id, spec_key);
CREATE INDEX imports_state ON imports (state, created_at);

CREATE TABLE import_rejects (
	workspace_id TEXT COLLATE "C" NOT NULL,
	import_id    TEXT COLLATE "C" NOT NULL,
	line         BIGINT NOT NULL,
	code         TEXT NOT NULL,
	reason       TEXT NOT NULL,
	raw          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX import_rejects_line ON import_rejects (workspace_id, import_id, line);
