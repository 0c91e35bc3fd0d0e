-- Consents counted per workspace, grouping, UTC day of captured_at
-- (YYYY-MM-DD), the consent's value for the grouping and its current
-- status: what the consent report reads instead of scanning consents.
-- Each consent counts once under each grouping the report offers: dim ''
-- (value '', every consent), 'purpose', 'topic' (the purpose's own
-- consents under ''), 'channel', 'source' (the source's type) and
-- 'jurisdiction'. One row per value of each grouping (its marginal), not
-- one per combination of them all: a day holds at most the values of one
-- grouping times the statuses, so a report over a year reads about as
-- many rows for a million consents as for ten thousand.
--
-- Triggers keep the counts exact on every insert, update and delete of a
-- consent, so no write path (writes, imports, feeds, requests, erasure,
-- raw SQL) can miss them; a consent whose captured_at day or status
-- changes moves from one count to another; an update that leaves the
-- counted columns as they were (erasure blanking the proof) changes none.
-- Counts that reach zero stay, at zero. The report skips them.
CREATE TABLE consent_counts (
	workspace_id TEXT NOT NULL,
	dim          TEXT NOT NULL,
	day          TEXT NOT NULL,
	value        TEXT NOT NULL,
	status       TEXT NOT NULL,
	count        INTEGER NOT NULL,
	PRIMARY KEY (workspace_id, dim, day, value, status)
) WITHOUT ROWID;

INSERT INTO consent_counts (workspace_id, dim, day, value, status, count)
SELECT c.workspace_id, g.dim, date(c.captured_at / 1000000000, 'unixepoch'),
	CASE g.dim WHEN '' THEN '' WHEN 'purpose' THEN c.purpose_id WHEN 'topic' THEN c.topic_id WHEN 'channel' THEN c.channel
		WHEN 'source' THEN coalesce(json_extract(c.source, '$.type'), '') ELSE c.jurisdiction END,
	c.status, count(*)
FROM consents c, (SELECT '' AS dim UNION ALL SELECT 'purpose' UNION ALL SELECT 'topic' UNION ALL SELECT 'channel'
	UNION ALL SELECT 'source' UNION ALL SELECT 'jurisdiction') g
GROUP BY 1, 2, 3, 4, 5;

CREATE TRIGGER consent_counts_insert AFTER INSERT ON consents BEGIN
	INSERT INTO consent_counts (workspace_id, dim, day, value, status, count)
	SELECT NEW.workspace_id, column1, date(NEW.captured_at / 1000000000, 'unixepoch'), column2, NEW.status, 1
	FROM (VALUES ('', ''), ('purpose', NEW.purpose_id), ('topic', NEW.topic_id), ('channel', NEW.channel),
		('source', coalesce(json_extract(NEW.source, '$.type'), '')), ('jurisdiction', NEW.jurisdiction)) WHERE true
	ON CONFLICT (workspace_id, dim, day, value, status) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER consent_counts_delete AFTER DELETE ON consents BEGIN
	UPDATE consent_counts SET count = count - 1
	WHERE workspace_id = OLD.workspace_id AND day = date(OLD.captured_at / 1000000000, 'unixepoch') AND status = OLD.status
		AND (dim, value) IN (VALUES ('', ''), ('purpose', OLD.purpose_id), ('topic', OLD.topic_id), ('channel', OLD.channel),
			('source', coalesce(json_extract(OLD.source, '$.type'), '')), ('jurisdiction', OLD.jurisdiction));
END;

CREATE TRIGGER consent_counts_update AFTER UPDATE ON consents
WHEN OLD.workspace_id IS NOT NEW.workspace_id
	OR date(OLD.captured_at / 1000000000, 'unixepoch') IS NOT date(NEW.captured_at / 1000000000, 'unixepoch')
	OR OLD.purpose_id IS NOT NEW.purpose_id OR OLD.topic_id IS NOT NEW.topic_id OR OLD.channel IS NOT NEW.channel
	OR json_extract(OLD.source, '$.type') IS NOT json_extract(NEW.source, '$.type')
	OR OLD.jurisdiction IS NOT NEW.jurisdiction OR OLD.status IS NOT NEW.status
BEGIN
	UPDATE consent_counts SET count = count - 1
	WHERE workspace_id = OLD.workspace_id AND day = date(OLD.captured_at / 1000000000, 'unixepoch') AND status = OLD.status
		AND (dim, value) IN (VALUES ('', ''), ('purpose', OLD.purpose_id), ('topic', OLD.topic_id), ('channel', OLD.channel),
			('source', coalesce(json_extract(OLD.source, '$.type'), '')), ('jurisdiction', OLD.jurisdiction));
	INSERT INTO consent_counts (workspace_id, dim, day, value, status, count)
	SELECT NEW.workspace_id, column1, date(NEW.captured_at / 1000000000, 'unixepoch'), column2, NEW.status, 1
	FROM (VALUES ('', ''), ('purpose', NEW.purpose_id), ('topic', NEW.topic_id), ('channel', NEW.channel),
		('source', coalesce(json_extract(NEW.source, '$.type'), '')), ('jurisdiction', NEW.jurisdiction)) WHERE true
	ON CONFLICT (workspace_id, dim, day, value, status) DO UPDATE SET count = count + 1;
END;

-- The consent report reads consent_counts now.
DROP INDEX consents_captured;
