-- Double opt-in confirmations (DESIGN.md section 6, /c/{token}): one row per
-- confirmation link, naming the pending consent by contact point hash,
-- channel type and the consent's version and log seq at issue. The row is
-- kept after use and after expiry, as proof of the request; used_at makes
-- the link single-use. The sent_at ... next_send_at columns are the outbox
-- of the confirmation mail: next_send_at is when to try (again), NULL when
-- there is nothing more to send. Times are Unix nanoseconds (UTC).
CREATE TABLE confirmations (
	workspace_id       TEXT COLLATE "C" NOT NULL,
	nonce              TEXT COLLATE "C" NOT NULL,
	cp_hash            BYTEA NOT NULL,
	cp_kind            TEXT NOT NULL,
	channel_type       TEXT COLLATE "C" NOT NULL,
	consent_version    BIGINT NOT NULL,
	consent_seq        BIGINT NOT NULL,
	proof              TEXT,
	issued_at          BIGINT NOT NULL,
	expires_at         BIGINT NOT NULL,
	used_at            BIGINT,
	confirm_ip         TEXT NOT NULL DEFAULT '',
	confirm_user_agent TEXT NOT NULL DEFAULT '',
	confirmed_seq      BIGINT NOT NULL DEFAULT 0,
	sent_at            BIGINT,
	send_attempts      INTEGER NOT NULL DEFAULT 0,
	send_error         TEXT NOT NULL DEFAULT '',
	next_send_at       BIGINT,
	PRIMARY KEY (workspace_id, nonce)
);
CREATE UNIQUE INDEX confirmations_consent ON confirmations (workspace_id, cp_hash, channel_type, consent_version);
CREATE INDEX confirmations_due ON confirmations (next_send_at) WHERE next_send_at IS NOT NULL;
