-- Consents counted per workspace, UTC day of captured_at (YYYY-MM-DD),
-- purpose, topic, channel, source type, jurisdiction and current status:
-- the consent report reads these instead of scanning consents. Triggers
-- keep them exact on every insert, update and delete of a consent, so no
-- write path (writes, imports, feeds, requests, erasure, raw SQL) can miss
-- them; a consent whose captured_at or status changes moves from one
-- count to another. Counts that reach zero stay, at zero.
CREATE TABLE consent_counts (
	workspace_id TEXT NOT NULL,
	day          TEXT NOT NULL,
	purpose      TEXT NOT NULL,
	topic        TEXT NOT NULL,
	channel      TEXT NOT NULL,
	source       TEXT NOT NULL,
	jurisdiction TEXT NOT NULL,
	status       TEXT NOT NULL,
	count        INTEGER NOT NULL,
	PRIMARY KEY (workspace_id, day, purpose, topic, channel, source, jurisdiction, status)
) WITHOUT ROWID;

INSERT INTO consent_counts (workspace_id, day, purpose, topic, channel, source, jurisdiction, status, count)
SELECT workspace_id, date(captured_at / 1000000000, 'unixepoch'), purpose_id, topic_id, channel,
	coalesce(json_extract(source, '$.type'), ''), jurisdiction, status, count(*)
FROM consents GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

CREATE TRIGGER consent_counts_insert AFTER INSERT ON consents BEGIN
	INSERT INTO consent_counts (workspace_id, day, purpose, topic, channel, source, jurisdiction, status, count)
	VALUES (NEW.workspace_id, date(NEW.captured_at / 1000000000, 'unixepoch'), NEW.purpose_id, NEW.topic_id, NEW.channel,
		coalesce(json_extract(NEW.source, '$.type'), ''), NEW.jurisdiction, NEW.status, 1)
	ON CONFLICT (workspace_id, day, purpose, topic, channel, source, jurisdiction, status) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER consent_counts_delete AFTER DELETE ON consents BEGIN
	UPDATE consent_counts SET count = count - 1
	WHERE workspace_id = OLD.workspace_id AND day = date(OLD.captured_at / 1000000000, 'unixepoch') AND purpose = OLD.purpose_id
		AND topic = OLD.topic_id AND channel = OLD.channel AND source = coalesce(json_extract(OLD.source, '$.type'), '')
		AND jurisdiction = OLD.jurisdiction AND status = OLD.status;
END;

-- An update that leaves every counted column as it was (erasure blanking
-- the proof, a newer write of the same status on the same day) changes
-- no count.
CREATE TRIGGER consent_counts_update AFTER UPDATE ON consents
WHEN OLD.workspace_id IS NOT NEW.workspace_id OR date(OLD.captured_at / 1000000000, 'unixepoch') IS NOT date(NEW.captured_at / 1000000000, 'unixepoch')
	OR OLD.purpose_id IS NOT NEW.purpose_id OR OLD.topic_id IS NOT NEW.topic_id OR OLD.channel IS NOT NEW.channel
	OR json_extract(OLD.source, '$.type') IS NOT json_extract(NEW.source, '$.type') OR OLD.jurisdiction IS NOT NEW.jurisdiction OR OLD.status IS NOT NEW.status
BEGIN
	UPDATE consent_counts SET count = count - 1
	WHERE workspace_id = OLD.workspace_id AND day = date(OLD.captured_at / 1000000000, 'unixepoch') AND purpose = OLD.purpose_id
		AND topic = OLD.topic_id AND channel = OLD.channel AND source = coalesce(json_extract(OLD.source, '$.type'), '')
		AND jurisdiction = OLD.jurisdiction AND status = OLD.status;
	INSERT INTO consent_counts (workspace_id, day, purpose, topic, channel, source, jurisdiction, status, count)
	VALUES (NEW.workspace_id, date(NEW.captured_at / 1000000000, 'unixepoch'), NEW.purpose_id, NEW.topic_id, NEW.channel,
		coalesce(json_extract(NEW.source, '$.type'), ''), NEW.jurisdiction, NEW.status, 1)
	ON CONFLICT (workspace_id, day, purpose, topic, channel, source, jurisdiction, status) DO UPDATE SET count = count + 1;
END;

-- The consent report reads consent_counts now.
DROP INDEX consents_captured;
