-- Month rows in consent_counts: for each grouping's dim d, dim 'm:' || d
-- (MonthDim in the root package) holds the same counts as d's day rows
-- summed by month, dated the first of the month. A monthly consent report
-- reads them for the whole months of its period and day rows only for the
-- partial months at its ends, so a year costs about twelve rows per value
-- and status instead of 365, however many consents each day holds.
--
-- The trigger function of migration 0013 is replaced by one that keeps
-- both in the same statement (the triggers stay); the month rows are
-- filled from the day rows, which are exact.
INSERT INTO consent_counts (workspace_id, dim, day, value, status, count)
SELECT workspace_id, 'm:' || dim, date_trunc('month', day)::date, value, status, sum(count)
FROM consent_counts WHERE dim NOT LIKE 'm:%'
GROUP BY 1, 2, 3, 4, 5;

-- A consent counts in twelve rows: six day rows of its captured_at's UTC
-- day and six month rows of that day's month.
CREATE OR REPLACE FUNCTION consent_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	-- Each branch names only the transition tables of its trigger.
	IF TG_OP = 'INSERT' THEN
		INSERT INTO consent_counts AS c (workspace_id, dim, day, value, status, count)
		SELECT r.workspace_id, g.dim, g.day, g.value, r.status, count(*)
		FROM new_rows r
		CROSS JOIN LATERAL (SELECT (to_timestamp(r.captured_at / 1000000000) AT TIME ZONE 'UTC')::date AS d) t
		CROSS JOIN LATERAL (VALUES ('', t.d, ''::text COLLATE "C"), ('purpose', t.d, r.purpose_id COLLATE "C"), ('topic', t.d, r.topic_id COLLATE "C"),
			('channel', t.d, r.channel COLLATE "C"), ('source', t.d, coalesce(r.source::jsonb ->> 'type', '') COLLATE "C"),
			('jurisdiction', t.d, r.jurisdiction COLLATE "C"),
			('m:', date_trunc('month', t.d)::date, ''::text COLLATE "C"), ('m:purpose', date_trunc('month', t.d)::date, r.purpose_id COLLATE "C"),
			('m:topic', date_trunc('month', t.d)::date, r.topic_id COLLATE "C"), ('m:channel', date_trunc('month', t.d)::date, r.channel COLLATE "C"),
			('m:source', date_trunc('month', t.d)::date, coalesce(r.source::jsonb ->> 'type', '') COLLATE "C"),
			('m:jurisdiction', date_trunc('month', t.d)::date, r.jurisdiction COLLATE "C")) AS g(dim, day, value)
		GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
		ON CONFLICT (workspace_id, dim, day, value, status) DO UPDATE SET count = c.count + excluded.count;
	ELSIF TG_OP = 'UPDATE' THEN
		INSERT INTO consent_counts AS c (workspace_id, dim, day, value, status, count)
		SELECT r.workspace_id, g.dim, g.day, g.value, r.status, sum(r.n)
		FROM (SELECT *, 1 AS n FROM new_rows UNION ALL SELECT *, -1 AS n FROM old_rows) r
		CROSS JOIN LATERAL (SELECT (to_timestamp(r.captured_at / 1000000000) AT TIME ZONE 'UTC')::date AS d) t
		CROSS JOIN LATERAL (VALUES ('', t.d, ''::text COLLATE "C"), ('purpose', t.d, r.purpose_id COLLATE "C"), ('topic', t.d, r.topic_id COLLATE "C"),
			('channel', t.d, r.channel COLLATE "C"), ('source', t.d, coalesce(r.source::jsonb ->> 'type', '') COLLATE "C"),
			('jurisdiction', t.d, r.jurisdiction COLLATE "C"),
			('m:', date_trunc('month', t.d)::date, ''::text COLLATE "C"), ('m:purpose', date_trunc('month', t.d)::date, r.purpose_id COLLATE "C"),
			('m:topic', date_trunc('month', t.d)::date, r.topic_id COLLATE "C"), ('m:channel', date_trunc('month', t.d)::date, r.channel COLLATE "C"),
			('m:source', date_trunc('month', t.d)::date, coalesce(r.source::jsonb ->> 'type', '') COLLATE "C"),
			('m:jurisdiction', date_trunc('month', t.d)::date, r.jurisdiction COLLATE "C")) AS g(dim, day, value)
		GROUP BY 1, 2, 3, 4, 5 HAVING sum(r.n) <> 0 ORDER BY 1, 2, 3, 4, 5
		ON CONFLICT (workspace_id, dim, day, value, status) DO UPDATE SET count = c.count + excluded.count;
	ELSE
		INSERT INTO consent_counts AS c (workspace_id, dim, day, value, status, count)
		SELECT r.workspace_id, g.dim, g.day, g.value, r.status, -count(*)
		FROM old_rows r
		CROSS JOIN LATERAL (SELECT (to_timestamp(r.captured_at / 1000000000) AT TIME ZONE 'UTC')::date AS d) t
		CROSS JOIN LATERAL (VALUES ('', t.d, ''::text COLLATE "C"), ('purpose', t.d, r.purpose_id COLLATE "C"), ('topic', t.d, r.topic_id COLLATE "C"),
			('channel', t.d, r.channel COLLATE "C"), ('source', t.d, coalesce(r.source::jsonb ->> 'type', '') COLLATE "C"),
			('jurisdiction', t.d, r.jurisdiction COLLATE "C"),
			('m:', date_trunc('month', t.d)::date, ''::text COLLATE "C"), ('m:purpose', date_trunc('month', t.d)::date, r.purpose_id COLLATE "C"),
			('m:topic', date_trunc('month', t.d)::date, r.topic_id COLLATE "C"), ('m:channel', date_trunc('month', t.d)::date, r.channel COLLATE "C"),
			('m:source', date_trunc('month', t.d)::date, coalesce(r.source::jsonb ->> 'type', '') COLLATE "C"),
			('m:jurisdiction', date_trunc('month', t.d)::date, r.jurisdiction COLLATE "C")) AS g(dim, day, value)
		GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
		ON CONFLICT (workspace_id, dim, day, value, status) DO UPDATE SET count = c.count + excluded.count;
	END IF;
	RETURN NULL;
END $$;
