-- Consents counted per workspace, UTC day of captured_at, purpose, topic,
-- channel, source type, jurisdiction and current status: the consent
-- report reads these instead of scanning consents. Triggers keep them
-- exact on every insert (COPY included), update and delete of consents, so
-- no write path (writes, imports, feeds, requests, erasure, raw SQL) can
-- miss them; a consent whose captured_at or status changes moves from one
-- count to another. Counts that reach zero stay, at zero. The collations
-- are the consents columns', so that the report orders groups as before.
CREATE TABLE consent_counts (
	workspace_id TEXT COLLATE "C" NOT NULL,
	day          DATE NOT NULL,
	purpose      TEXT COLLATE "C" NOT NULL,
	topic        TEXT COLLATE "C" NOT NULL,
	channel      TEXT COLLATE "C" NOT NULL,
	source       TEXT NOT NULL,
	jurisdiction TEXT NOT NULL,
	status       TEXT NOT NULL,
	count        BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, day, purpose, topic, channel, source, jurisdiction, status)
);

INSERT INTO consent_counts (workspace_id, day, purpose, topic, channel, source, jurisdiction, status, count)
SELECT workspace_id, (to_timestamp(captured_at / 1000000000) AT TIME ZONE 'UTC')::date, purpose_id, topic_id, channel,
	coalesce(source::jsonb ->> 'type', ''), jurisdiction, status, count(*)
FROM consents GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

-- Statement-level triggers: one upsert per count a statement changed, not
-- one per row, so a batch of thousands of consents (an INSERT from
-- arrays, a COPY) adds to a few rows. Every writer of a workspace's
-- consents holds that workspace's log lock until it commits, so the count
-- rows (keyed by workspace) add no waiting of their own; an update that
-- leaves the counted columns as they were (erasure blanking the proof)
-- changes no count and locks none.
CREATE FUNCTION consent_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	-- Each branch names only the transition tables of its trigger.
	IF TG_OP = 'INSERT' THEN
		INSERT INTO consent_counts AS c (workspace_id, day, purpose, topic, channel, source, jurisdiction, status, count)
		SELECT workspace_id, (to_timestamp(captured_at / 1000000000) AT TIME ZONE 'UTC')::date, purpose_id, topic_id, channel,
			coalesce(source::jsonb ->> 'type', ''), jurisdiction, status, count(*)
		FROM new_rows GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
		ON CONFLICT (workspace_id, day, purpose, topic, channel, source, jurisdiction, status) DO UPDATE SET count = c.count + excluded.count;
	ELSIF TG_OP = 'UPDATE' THEN
		INSERT INTO consent_counts AS c (workspace_id, day, purpose, topic, channel, source, jurisdiction, status, count)
		SELECT workspace_id, (to_timestamp(captured_at / 1000000000) AT TIME ZONE 'UTC')::date, purpose_id, topic_id, channel,
			coalesce(source::jsonb ->> 'type', ''), jurisdiction, status, sum(n)
		FROM (SELECT *, 1 AS n FROM new_rows UNION ALL SELECT *, -1 AS n FROM old_rows) d GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 HAVING sum(n) <> 0 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
		ON CONFLICT (workspace_id, day, purpose, topic, channel, source, jurisdiction, status) DO UPDATE SET count = c.count + excluded.count;
	ELSE
		INSERT INTO consent_counts AS c (workspace_id, day, purpose, topic, channel, source, jurisdiction, status, count)
		SELECT workspace_id, (to_timestamp(captured_at / 1000000000) AT TIME ZONE 'UTC')::date, purpose_id, topic_id, channel,
			coalesce(source::jsonb ->> 'type', ''), jurisdiction, status, -count(*)
		FROM old_rows GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
		ON CONFLICT (workspace_id, day, purpose, topic, channel, source, jurisdiction, status) DO UPDATE SET count = c.count + excluded.count;
	END IF;
	RETURN NULL;
END $$;

CREATE TRIGGER consent_counts_insert AFTER INSERT ON consents REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION consent_counts_apply();
CREATE TRIGGER consent_counts_update AFTER UPDATE ON consents REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION consent_counts_apply();
CREATE TRIGGER consent_counts_delete AFTER DELETE ON consents REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION consent_counts_apply();

-- The consent report reads consent_counts now.
DROP INDEX consents_captured;
