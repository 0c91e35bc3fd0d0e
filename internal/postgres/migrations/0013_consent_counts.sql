-- Consents counted per workspace, grouping, UTC day of captured_at, the
-- consent's value for the grouping and its current status: what the
-- consent report reads instead of scanning consents. Each consent counts
-- once under each grouping the report offers: dim '' (value '', every
-- consent), 'purpose', 'topic' (the purpose's own consents under ''),
-- 'channel', 'source' (the source's type) and 'jurisdiction'. One row per
-- value of each grouping (its marginal), not one per combination of them
-- all: a day holds at most the values of one grouping times the statuses,
-- so a report over a year reads about as many rows for a million consents
-- as for ten thousand. Values are compared bytewise (COLLATE "C"); the
-- report orders the groups of source and jurisdiction, which consents
-- holds in the default collation, in that collation, as it did before.
--
-- Triggers keep the counts exact on every insert (COPY included), update
-- and delete of consents, so no write path (writes, imports, feeds,
-- requests, erasure, raw SQL) can miss them; a consent whose captured_at
-- day or status changes moves from one count to another. Counts that
-- reach zero stay, at zero. The report skips them.
CREATE TABLE consent_counts (
	workspace_id TEXT COLLATE "C" NOT NULL,
	dim          TEXT COLLATE "C" NOT NULL,
	day          DATE NOT NULL,
	value        TEXT COLLATE "C" NOT NULL,
	status       TEXT NOT NULL,
	count        BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, dim, day, value, status)
);

INSERT INTO consent_counts (workspace_id, dim, day, value, status, count)
SELECT r.workspace_id, g.dim, (to_timestamp(r.captured_at / 1000000000) AT TIME ZONE 'UTC')::date, g.value, r.status, count(*)
FROM consents r
CROSS JOIN LATERAL (VALUES ('', ''::text COLLATE "C"), ('purpose', r.purpose_id COLLATE "C"), ('topic', r.topic_id COLLATE "C"),
	('channel', r.channel COLLATE "C"), ('source', coalesce(r.source::jsonb ->> 'type', '') COLLATE "C"),
	('jurisdiction', r.jurisdiction COLLATE "C")) AS g(dim, value)
GROUP BY 1, 2, 3, 4, 5;

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
		INSERT INTO consent_counts AS c (workspace_id, dim, day, value, status, count)
		SELECT r.workspace_id, g.dim, (to_timestamp(r.captured_at / 1000000000) AT TIME ZONE 'UTC')::date, g.value, r.status, count(*)
		FROM new_rows r
		CROSS JOIN LATERAL (VALUES ('', ''::text COLLATE "C"), ('purpose', r.purpose_id COLLATE "C"), ('topic', r.topic_id COLLATE "C"),
			('channel', r.channel COLLATE "C"), ('source', coalesce(r.source::jsonb ->> 'type', '') COLLATE "C"),
			('jurisdiction', r.jurisdiction COLLATE "C")) AS g(dim, value)
		GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
		ON CONFLICT (workspace_id, dim, day, value, status) DO UPDATE SET count = c.count + excluded.count;
	ELSIF TG_OP = 'UPDATE' THEN
		INSERT INTO consent_counts AS c (workspace_id, dim, day, value, status, count)
		SELECT r.workspace_id, g.dim, (to_timestamp(r.captured_at / 1000000000) AT TIME ZONE 'UTC')::date, g.value, r.status, sum(r.n)
		FROM (SELECT *, 1 AS n FROM new_rows UNION ALL SELECT *, -1 AS n FROM old_rows) r
		CROSS JOIN LATERAL (VALUES ('', ''::text COLLATE "C"), ('purpose', r.purpose_id COLLATE "C"), ('topic', r.topic_id COLLATE "C"),
			('channel', r.channel COLLATE "C"), ('source', coalesce(r.source::jsonb ->> 'type', '') COLLATE "C"),
			('jurisdiction', r.jurisdiction COLLATE "C")) AS g(dim, value)
		GROUP BY 1, 2, 3, 4, 5 HAVING sum(r.n) <> 0 ORDER BY 1, 2, 3, 4, 5
		ON CONFLICT (workspace_id, dim, day, value, status) DO UPDATE SET count = c.count + excluded.count;
	ELSE
		INSERT INTO consent_counts AS c (workspace_id, dim, day, value, status, count)
		SELECT r.workspace_id, g.dim, (to_timestamp(r.captured_at / 1000000000) AT TIME ZONE 'UTC')::date, g.value, r.status, -count(*)
		FROM old_rows r
		CROSS JOIN LATERAL (VALUES ('', ''::text COLLATE "C"), ('purpose', r.purpose_id COLLATE "C"), ('topic', r.topic_id COLLATE "C"),
			('channel', r.channel COLLATE "C"), ('source', coalesce(r.source::jsonb ->> 'type', '') COLLATE "C"),
			('jurisdiction', r.jurisdiction COLLATE "C")) AS g(dim, value)
		GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
		ON CONFLICT (workspace_id, dim, day, value, status) DO UPDATE SET count = c.count + excluded.count;
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
