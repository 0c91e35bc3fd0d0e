-- Webhooks (issue 5) and the stored positions of the log consumers: a
-- webhook's position is in its row, the NATS publisher's in event_cursors.
-- The secret is stored in plaintext: signing needs it.
CREATE TABLE webhooks (
	workspace_id    TEXT NOT NULL REFERENCES workspaces (id),
	id              TEXT NOT NULL,
	url             TEXT NOT NULL,
	events          TEXT NOT NULL, -- JSON array
	secret          TEXT NOT NULL,
	secret_env      TEXT NOT NULL DEFAULT '',
	origin          TEXT NOT NULL DEFAULT '',
	disabled_reason TEXT NOT NULL DEFAULT '', -- empty: enabled
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	position        INTEGER NOT NULL,
	failures        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL DEFAULT 0,
	deliveries      INTEGER NOT NULL DEFAULT 0, -- attempts logged, numbers the delivery rows
	PRIMARY KEY (workspace_id, id)
) WITHOUT ROWID;

CREATE TABLE webhook_deliveries (
	workspace_id    TEXT NOT NULL,
	webhook_id      TEXT NOT NULL,
	n               INTEGER NOT NULL,
	event_id        TEXT NOT NULL,
	seq             INTEGER NOT NULL,
	type            TEXT NOT NULL,
	attempt         INTEGER NOT NULL,
	status_code     INTEGER NOT NULL,
	error           TEXT NOT NULL,
	duration_ms     INTEGER NOT NULL,
	at              INTEGER NOT NULL,
	next_attempt_at INTEGER NOT NULL,
	PRIMARY KEY (workspace_id, webhook_id, n)
) WITHOUT ROWID;

CREATE TABLE event_cursors (
	workspace_id TEXT NOT NULL REFERENCES workspaces (id),
	name         TEXT NOT NULL,
	seq          INTEGER NOT NULL,
	PRIMARY KEY (workspace_id, name)
) WITHOUT ROWID;
