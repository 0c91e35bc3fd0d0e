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
-- day and six month rows of that day's month. The changed rows are first
-- counted by everything a count depends on (a batch's thousands of
-- consents are a few hundred kinds), then each kind is spread over its
-- twelve rows, so the month rows add little to a statement's work.
CREATE OR REPLACE FUNCTION consent_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	-- Each branch names only the transition tables of its trigger.
	IF TG_OP = 'INSERT' THEN
		INSERT INTO consent_counts AS c (workspace_id, dim, day, value, status, count)
		SELECT g.workspace_id, v.dim, v.day, v.value, g.status, sum(g.n)
		FROM (SELECT r.workspace_id, t.d, date_trunc('month', t.d)::date AS m, r.purpose_id, r.topic_id, r.channel,
				coalesce(r.source::jsonb ->> 'type', '') AS source_type, r.jurisdiction, r.status, sum(r.n) AS n
			FROM (SELECT *, 1 AS n FROM new_rows) r
			CROSS JOIN LATERAL (SELECT (to_timestamp(r.captured_at / 1000000000) AT TIME ZONE 'UTC')::date AS d) t
			GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9) g
		CROSS JOIN LATERAL (VALUES ('', g.d, ''::text COLLATE "C"), ('purpose', g.d, g.purpose_id COLLATE "C"), ('topic', g.d, g.topic_id COLLATE "C"),
			('channel', g.d, g.channel COLLATE "C"), ('source', g.d, g.source_type COLLATE "C"), ('jurisdiction', g.d, g.jurisdiction COLLATE "C"),
			('m:', g.m, ''::text COLLATE "C"), ('m:purpose', g.m, g.purpose_id COLLATE "C"), ('m:topic', g.m, g.topic_id COLLATE "C"),
			('m:channel', g.m, g.channel COLLATE "C"), ('m:source', g.m, g.source_type COLLATE "C"),
			('m:jurisdiction', g.m, g.jurisdiction COLLATE "C")) AS v(dim, day, value)
		GROUP BY 1, 2, 3, 4, 5 HAVING sum(g.n) <> 0 ORDER BY 1, 2, 3, 4, 5
		ON CONFLICT (workspace_id, dim, day, value, status) DO UPDATE SET count = c.count + excluded.count;
	ELSIF TG_OP = 'UPDATE' THEN
		INSERT INTO consent_counts AS c (workspace_id, dim, day, value, status, count)
		SELECT g.workspace_id, v.dim, v.day, v.value, g.status, sum(g.n)
		FROM (SELECT r.workspace_id, t.d, date_trunc('month', t.d)::date AS m, r.purpose_id, r.topic_id, r.channel,
				coalesce(r.source::jsonb ->> 'type', '') AS source_type, r.jurisdiction, r.status, sum(r.n) AS n
			FROM (SELECT *, 1 AS n FROM new_rows UNION ALL SELECT *, -1 AS n FROM old_rows) r
			CROSS JOIN LATERAL (SELECT (to_timestamp(r.captured_at / 1000000000) AT TIME ZONE 'UTC')::date AS d) t
			GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9) g
		CROSS JOIN LATERAL (VALUES ('', g.d, ''::text COLLATE "C"), ('purpose', g.d, g.purpose_id COLLATE "C"), ('topic', g.d, g.topic_id COLLATE "C"),
			('channel', g.d, g.channel COLLATE "C"), ('source', g.d, g.source_type COLLATE "C"), ('jurisdiction', g.d, g.jurisdiction COLLATE "C"),
			('m:', g.m, ''::text COLLATE "C"), ('m:purpose', g.m, g.purpose_id COLLATE "C"), ('m:topic', g.m, g.topic_id COLLATE "C"),
			('m:channel', g.m, g.channel COLLATE "C"), ('m:source', g.m, g.source_type COLLATE "C"),
			('m:jurisdiction', g.m, g.jurisdiction COLLATE "C")) AS v(dim, day, value)
		GROUP BY 1, 2, 3, 4, 5 HAVING sum(g.n) <> 0 ORDER BY 1, 2, 3, 4, 5
		ON CONFLICT (workspace_id, dim, day, value, status) DO UPDATE SET count = c.count + excluded.count;
	ELSE
		INSERT INTO consent_counts AS c (workspace_id, dim, day, value, status, count)
		SELECT g.workspace_id, v.dim, v.day, v.value, g.status, sum(g.n)
		FROM (SELECT r.workspace_id, t.d, date_trunc('month', t.d)::date AS m, r.purpose_id, r.topic_id, r.channel,
				coalesce(r.source::jsonb ->> 'type', '') AS source_type, r.jurisdiction, r.status, sum(r.n) AS n
			FROM (SELECT *, -1 AS n FROM old_rows) r
			CROSS JOIN LATERAL (SELECT (to_timestamp(r.captured_at / 1000000000) AT TIME ZONE 'UTC')::date AS d) t
			GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9) g
		CROSS JOIN LATERAL (VALUES ('', g.d, ''::text COLLATE "C"), ('purpose', g.d, g.purpose_id COLLATE "C"), ('topic', g.d, g.topic_id COLLATE "C"),
			('channel', g.d, g.channel COLLATE "C"), ('source', g.d, g.source_type COLLATE "C"), ('jurisdiction', g.d, g.jurisdiction COLLATE "C"),
			('m:', g.m, ''::text COLLATE "C"), ('m:purpose', g.m, g.purpose_id COLLATE "C"), ('m:topic', g.m, g.topic_id COLLATE "C"),
			('m:channel', g.m, g.channel COLLATE "C"), ('m:source', g.m, g.source_type COLLATE "C"),
			('m:jurisdiction', g.m, g.jurisdiction COLLATE "C")) AS v(dim, day, value)
		GROUP BY 1, 2, 3, 4, 5 HAVING sum(g.n) <> 0 ORDER BY 1, 2, 3, 4, 5
		ON CONFLICT (workspace_id, dim, day, value, status) DO UPDATE SET count = c.count + excluded.count;
	END IF;
	RETURN NULL;
END $$;
