-- Background work on the durable job queue: besides rule jobs, a job
-- sends a double opt-in confirmation (by mail or SMS) and one carries out
-- a data-subject request. Such a job names what it works on in ref, at
-- most one job per (kind, ref); it is enqueued in the transaction that
-- issues the confirmation or files the request.
ALTER TABLE jobs ADD COLUMN ref TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX jobs_ref ON jobs (workspace_id, kind, ref) WHERE ref <> '';

-- What was waiting in the old outboxes becomes jobs, due when it was:
-- confirmations whose message is due (not used, not given up on), and
-- requests not done. The attempts made so far stay on the confirmation
-- and the request; the job starts afresh.
INSERT INTO jobs (workspace_id, id, rule_id, kind, ref, state, attempts, max_attempts, run_at, created_at, updated_at)
	SELECT workspace_id, 'job_' || lower(hex(randomblob(9))), '',
		CASE cp_kind WHEN 'phone' THEN 'confirmation_sms' ELSE 'confirmation_mail' END,
		nonce, 'queued', 0, 30, next_send_at, issued_at, issued_at
	FROM confirmations WHERE next_send_at IS NOT NULL AND used_at IS NULL AND cp_kind IN ('email', 'phone');
UPDATE confirmations SET next_send_at = NULL WHERE next_send_at IS NOT NULL;

INSERT INTO jobs (workspace_id, id, rule_id, kind, ref, state, attempts, max_attempts, run_at, created_at, updated_at)
	SELECT workspace_id, 'job_' || lower(hex(randomblob(9))), '', 'request', id, 'queued', 0, 20, next_attempt_at, created_at, created_at
	FROM requests WHERE state = 'pending';
