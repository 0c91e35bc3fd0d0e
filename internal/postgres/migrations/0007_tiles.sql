-- The log, version 2. Entries keep their leaf (data: the bytes hashed into
-- the tree, a compact binary leaf from now on) and leaf hash; evidence and
-- opening hold what the leaf commits to, erasable. The tree is stored as
-- full C2SP tiles of 256 hashes (insert-only, with the tile's root); the
-- stored hash rows of log_hashes are copied into tiles by the program right
-- after this migration and the table is dropped then.
ALTER TABLE log_entries ADD COLUMN evidence BYTEA, ADD COLUMN opening BYTEA;

CREATE TABLE log_tiles (
	workspace_id TEXT COLLATE "C" NOT NULL,
	level        SMALLINT NOT NULL,
	idx          BIGINT NOT NULL,
	hashes       BYTEA NOT NULL,
	root         BYTEA NOT NULL,
	PRIMARY KEY (workspace_id, level, idx)
);
-- Hashes are random bytes: compressing them is wasted work.
ALTER TABLE log_tiles ALTER COLUMN hashes SET STORAGE EXTERNAL;
