-- Month rows in consent_counts: for each grouping's dim d, dim 'm:' || d
-- (MonthDim in the root package) holds the same counts as d's day
-- rows summed by month, dated the first of the month. A monthly consent
-- report reads them for the whole months of its period and day rows only
-- for the partial months at its ends, so a year costs about twelve rows
-- per value and status instead of 365, however many consents each day
-- holds.
--
-- The triggers of migration 0013 are replaced by ones that keep both, in
-- the same statement as before; the month rows are filled from the day
-- rows, which are exact.
INSERT INTO consent_counts (workspace_id, dim, day, value, status, count)
SELECT workspace_id, 'm:' || dim, substr(day, 1, 8) || '01', value, status, sum(count)
FROM consent_counts WHERE dim NOT LIKE 'm:%'
GROUP BY 1, 2, 3, 4, 5;

DROP TRIGGER consent_counts_insert;
DROP TRIGGER consent_counts_delete;
DROP TRIGGER consent_counts_update;

-- A consent counts in six day rows (its day) and six month rows (its
-- day's month): column1 is the dim, column2 the value, column3 whether
-- the row is a month row.
CREATE TRIGGER consent_counts_insert AFTER INSERT ON consents BEGIN
	INSERT INTO consent_counts (workspace_id, dim, day, value, status, count)
	SELECT NEW.workspace_id, column1, CASE column3 WHEN 0 THEN date(NEW.captured_at / 1000000000, 'unixepoch')
		ELSE date(NEW.captured_at / 1000000000, 'unixepoch', 'start of month') END, column2, NEW.status, 1
	FROM (VALUES ('', '', 0), ('purpose', NEW.purpose_id, 0), ('topic', NEW.topic_id, 0), ('channel', NEW.channel, 0),
		('source', coalesce(json_extract(NEW.source, '$.type'), ''), 0), ('jurisdiction', NEW.jurisdiction, 0),
		('m:', '', 1), ('m:purpose', NEW.purpose_id, 1), ('m:topic', NEW.topic_id, 1), ('m:channel', NEW.channel, 1),
		('m:source', coalesce(json_extract(NEW.source, '$.type'), ''), 1), ('m:jurisdiction', NEW.jurisdiction, 1)) WHERE true
	ON CONFLICT (workspace_id, dim, day, value, status) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER consent_counts_delete AFTER DELETE ON consents BEGIN
	UPDATE consent_counts SET count = count - 1
	WHERE workspace_id = OLD.workspace_id AND day = date(OLD.captured_at / 1000000000, 'unixepoch') AND status = OLD.status
		AND (dim, value) IN (VALUES ('', ''), ('purpose', OLD.purpose_id), ('topic', OLD.topic_id), ('channel', OLD.channel),
			('source', coalesce(json_extract(OLD.source, '$.type'), '')), ('jurisdiction', OLD.jurisdiction));
	UPDATE consent_counts SET count = count - 1
	WHERE workspace_id = OLD.workspace_id AND day = date(OLD.captured_at / 1000000000, 'unixepoch', 'start of month') AND status = OLD.status
		AND (dim, value) IN (VALUES ('m:', ''), ('m:purpose', OLD.purpose_id), ('m:topic', OLD.topic_id), ('m:channel', OLD.channel),
			('m:source', coalesce(json_extract(OLD.source, '$.type'), '')), ('m:jurisdiction', OLD.jurisdiction));
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
	UPDATE consent_counts SET count = count - 1
	WHERE workspace_id = OLD.workspace_id AND day = date(OLD.captured_at / 1000000000, 'unixepoch', 'start of month') AND status = OLD.status
		AND (dim, value) IN (VALUES ('m:', ''), ('m:purpose', OLD.purpose_id), ('m:topic', OLD.topic_id), ('m:channel', OLD.channel),
			('m:source', coalesce(json_extract(OLD.source, '$.type'), '')), ('m:jurisdiction', OLD.jurisdiction));
	INSERT INTO consent_counts (workspace_id, dim, day, value, status, count)
	SELECT NEW.workspace_id, column1, CASE column3 WHEN 0 THEN date(NEW.captured_at / 1000000000, 'unixepoch')
		ELSE date(NEW.captured_at / 1000000000, 'unixepoch', 'start of month') END, column2, NEW.status, 1
	FROM (VALUES ('', '', 0), ('purpose', NEW.purpose_id, 0), ('topic', NEW.topic_id, 0), ('channel', NEW.channel, 0),
		('source', coalesce(json_extract(NEW.source, '$.type'), ''), 0), ('jurisdiction', NEW.jurisdiction, 0),
		('m:', '', 1), ('m:purpose', NEW.purpose_id, 1), ('m:topic', NEW.topic_id, 1), ('m:channel', NEW.channel, 1),
		('m:source', coalesce(json_extract(NEW.source, '$.type'), ''), 1), ('m:jurisdiction', NEW.jurisdiction, 1)) WHERE true
	ON CONFLICT (workspace_id, dim, day, value, status) DO UPDATE SET count = count + 1;
END;
