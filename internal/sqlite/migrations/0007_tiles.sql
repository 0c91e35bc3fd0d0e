-- The log, version 2. Entries keep their leaf (data: the bytes hashed into
-- the tree, a compact binary leaf from now on) and leaf hash; evidence and
-- opening hold what the leaf commits to, erasable. The tree is stored as
-- full C2SP tiles of 256 hashes (insert-only, with the tile's root); the
-- stored hash rows of log_hashes are copied into tiles by the program right
-- after this migration and the table is dropped then.
ALTER TABLE log_entries ADD COLUMN evidence BLOB;
ALTER TABLE log_entries ADD COLUMN opening BLOB;

CREATE TABLE log_tiles (
	workspace_id TEXT NOT NULL,
	level        INTEGER NOT NULL,
	idx          INTEGER NOT NULL,
	hashes       BLOB NOT NULL,
	root         BLOB NOT NULL
);
CREATE UNIQUE INDEX log_tiles_key ON log_tiles (workspace_id, level, idx);
