-- Bulk imports (DESIGN.md section 8). One row per import, identified by
-- spec_key (format, options, mapping and the file's SHA-256): running the same file
-- again finds it and resumes after committed data records, or answers that
-- it is done. Counts and committed change in the transaction of each batch
-- with its consent writes. import_rejects holds each rejected row: line,
-- code, reason, and the row's fields as read (raw, JSON; customer data, kept
-- with the import). Times are Unix nanoseconds (UTC).
CREATE TABLE imports (
	workspace_id TEXT NOT NULL,
	id           TEXT NOT NULL,
	spec_key     TEXT NOT NULL,
	format       TEXT NOT NULL,
	purpose      TEXT NOT NULL DEFAULT '',
	channel      TEXT NOT NULL DEFAULT '',
	topic        TEXT NOT NULL DEFAULT '',
	sha256       TEXT NOT NULL,
	size         INTEGER NOT NULL DEFAULT 0,
	name         TEXT NOT NULL DEFAULT '',
	mapping      TEXT NOT NULL DEFAULT '',
	state        TEXT NOT NULL,
	rows         INTEGER NOT NULL DEFAULT 0,
	created      INTEGER NOT NULL DEFAULT 0,
	changed      INTEGER NOT NULL DEFAULT 0,
	unchanged    INTEGER NOT NULL DEFAULT 0,
	superseded   INTEGER NOT NULL DEFAULT 0,
	skipped      INTEGER NOT NULL DEFAULT 0,
	rejected     INTEGER NOT NULL DEFAULT 0,
	skip_reasons TEXT NOT NULL DEFAULT '{}',
	committed    INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	started_at   INTEGER,
	finished_at  INTEGER,
	error        TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (workspace_id, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX imports_spec ON imports (workspace_id, spec_key);
CREATE INDEX imports_state ON imports (state, created_at);

CREATE TABLE import_rejects (
	workspace_id TEXT NOT NULL,
	import_id    TEXT NOT NULL,
	line         INTEGER NOT NULL,
	code         TEXT NOT NULL,
	reason       TEXT NOT NULL,
	raw          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX import_rejects_line ON import_rejects (workspace_id, import_id, line);
