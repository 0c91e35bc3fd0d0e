package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to read a PostgreSQL store as it is
	"golang.org/x/mod/sumdb/tlog"

	"github.com/consentd/consentd/internal/ledger"
)

// The stores in testdata/release-0 were written by the release before the
// log moved to binary leaves and tiles (commit 8402b1d, JSON leaves and one
// log_hashes row per tree hash); its make.sh says how. This file loads
// them into new stores and reads the stores as stored; upgrade_test.go
// opens them with this release.

// release0AdminKey is the admin key of workspace "default" in the fixtures.
const release0AdminKey = "cdk_release0_fixture_admin_key_0000"

// release0Checkpoint is the answer of POST /v1/log/checkpoints the old
// release gave.
type release0Checkpoint struct {
	Checkpoint string `json:"checkpoint"`
	Origin     string `json:"origin"`
	Size       int64  `json:"size"`
	Root       string `json:"root"`
	PublicKey  string `json:"public_key"`
}

// release0 is one backend's fixture, loaded into a new store.
type release0 struct {
	backend string   // sqlite or postgres
	dir     string   // the data folder: checkpoint key, mirrored checkpoints, link keys (and consentd.db on SQLite)
	flags   []string // how commands reach the store (--database URL on PostgreSQL)
	driver  string   // database/sql driver and data source of the store, for reading it as stored
	dsn     string
	dbFile  string // the SQLite file, "" on PostgreSQL
	answers string // folder of what the old release answered
}

// loadRelease0SQLite copies the SQLite fixture into a new data folder.
func loadRelease0SQLite(t *testing.T) *release0 {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "release-0", "sqlite", "data"))); err != nil {
		t.Fatal(err)
	}
	gz := filepath.Join(dir, "consentd.db.gz")
	db := filepath.Join(dir, "consentd.db")
	gunzipFile(t, gz, db)
	if err := os.Remove(gz); err != nil {
		t.Fatal(err)
	}
	return &release0{backend: "sqlite", dir: dir, driver: "sqlite", dsn: "file:" + db, dbFile: db, answers: filepath.Join("testdata", "release-0", "sqlite")}
}

// loadRelease0Postgres restores the PostgreSQL fixture's dump into a new
// database, beside a copy of its data folder.
func loadRelease0Postgres(t *testing.T) *release0 {
	t.Helper()
	u := testPostgres(t)
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "release-0", "postgres", "data"))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := restoreDump(ctx, u, filepath.Join("testdata", "release-0", "postgres", "dump.sql.gz")); err != nil {
		t.Fatalf("restoring the dump: %v", err)
	}
	return &release0{backend: "postgres", dir: dir, flags: []string{"--database", u}, driver: "pgx", dsn: u, answers: filepath.Join("testdata", "release-0", "postgres")}
}

func gunzipFile(t *testing.T, src, dst string) {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, zr); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// copyStmt is the first line of a COPY block in a plain pg_dump.
var copyStmt = regexp.MustCompile(`^COPY .* FROM stdin;$`)

// restoreDump runs a gzipped plain pg_dump against the database at url, as
// psql would: the SQL between COPY blocks as scripts, each COPY block's
// rows through the COPY protocol. psql's own commands (\restrict and
// friends) are skipped. The dump sets its session's search_path, so it
// runs on a connection of its own.
func restoreDump(ctx context.Context, url, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	r := bufio.NewReader(zr)
	var script, rows strings.Builder
	copying := ""
	for {
		line, err := r.ReadString('\n')
		if err != nil && err != io.EOF {
			return fmt.Errorf("%s: %w", path, err)
		}
		if line == "" && err == io.EOF {
			break
		}
		trimmed := strings.TrimRight(line, "\n")
		switch {
		case copying != "" && trimmed == `\.`:
			if _, err := conn.PgConn().CopyFrom(ctx, strings.NewReader(rows.String()), copying); err != nil {
				return fmt.Errorf("%s: %w", copying, err)
			}
			copying = ""
			rows.Reset()
		case copying != "":
			rows.WriteString(line)
		case copyStmt.MatchString(trimmed):
			if _, err := conn.Exec(ctx, script.String()); err != nil {
				return fmt.Errorf("before %s: %w", trimmed, err)
			}
			script.Reset()
			copying = trimmed
		case strings.HasPrefix(trimmed, `\`):
			// A psql command, not SQL.
		default:
			script.WriteString(line)
		}
		if err == io.EOF {
			break
		}
	}
	if copying != "" {
		return fmt.Errorf("%s: the dump ends inside %s", path, copying)
	}
	if _, err := conn.Exec(ctx, script.String()); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// rawEntry is a log_entries row as stored.
type rawEntry struct {
	WS       string
	Seq      int64
	Subject  string
	Data     []byte
	LeafHash []byte
	Evidence []byte // nil before the upgrade, which adds the column
	Opening  []byte
}

// rawTile is a log_tiles row.
type rawTile struct {
	WS     string
	Level  int64
	Idx    int64
	Hashes []byte
	Root   []byte
}

// rawStore is what the tests read of a store with plain SQL, under the
// code that keeps it.
type rawStore struct {
	Versions    []string
	Entries     []rawEntry
	LogHashes   map[string]map[int64][]byte // workspace -> stored hash index -> hash; nil once dropped
	Tiles       []rawTile
	Checkpoints []string
}

// readRaw reads the store as it is stored.
func (fx *release0) readRaw(t *testing.T) *rawStore {
	t.Helper()
	db, err := sql.Open(fx.driver, fx.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	rs := &rawStore{}
	query := func(q string, scan func(*sql.Rows) error) {
		t.Helper()
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	query(`SELECT version FROM schema_migrations ORDER BY version`, func(r *sql.Rows) error {
		var v string
		err := r.Scan(&v)
		rs.Versions = append(rs.Versions, v)
		return err
	})
	upgraded := false
	for _, v := range rs.Versions {
		upgraded = upgraded || v == "0007_tiles"
	}
	cols := `workspace_id, seq, subject, data, leaf_hash`
	if upgraded {
		cols += `, evidence, opening`
	}
	query(`SELECT `+cols+` FROM log_entries ORDER BY workspace_id, seq`, func(r *sql.Rows) error {
		var e rawEntry
		dst := []any{&e.WS, &e.Seq, &e.Subject, &e.Data, &e.LeafHash}
		if upgraded {
			dst = append(dst, &e.Evidence, &e.Opening)
		}
		err := r.Scan(dst...)
		rs.Entries = append(rs.Entries, e)
		return err
	})
	exists := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'log_hashes'`
	if fx.driver == "pgx" {
		exists = `SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = 'log_hashes'`
	}
	var n int
	if err := db.QueryRowContext(ctx, exists).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		rs.LogHashes = map[string]map[int64][]byte{}
		query(`SELECT workspace_id, idx, hash FROM log_hashes`, func(r *sql.Rows) error {
			var ws string
			var idx int64
			var h []byte
			err := r.Scan(&ws, &idx, &h)
			if rs.LogHashes[ws] == nil {
				rs.LogHashes[ws] = map[int64][]byte{}
			}
			rs.LogHashes[ws][idx] = h
			return err
		})
	}
	if upgraded {
		query(`SELECT workspace_id, level, idx, hashes, root FROM log_tiles ORDER BY workspace_id, level, idx`, func(r *sql.Rows) error {
			var tl rawTile
			err := r.Scan(&tl.WS, &tl.Level, &tl.Idx, &tl.Hashes, &tl.Root)
			rs.Tiles = append(rs.Tiles, tl)
			return err
		})
	}
	query(`SELECT signed FROM checkpoints ORDER BY workspace_id, size`, func(r *sql.Rows) error {
		var s string
		err := r.Scan(&s)
		rs.Checkpoints = append(rs.Checkpoints, s)
		return err
	})
	return rs
}

// entry returns the workspace's entry seq.
func (rs *rawStore) entry(t *testing.T, ws string, seq int64) rawEntry {
	t.Helper()
	for _, e := range rs.Entries {
		if e.WS == ws && e.Seq == seq {
			return e
		}
	}
	t.Fatalf("no log entry %d in workspace %s", seq, ws)
	return rawEntry{}
}

// logSizes returns the number of entries per workspace.
func (rs *rawStore) logSizes() map[string]int64 {
	n := map[string]int64{}
	for _, e := range rs.Entries {
		n[e.WS] = max(n[e.WS], e.Seq)
	}
	return n
}

// checkTiles checks the stored tiles against the entries and the old
// stored hashes (old): every full level 0 tile of each workspace and no
// other, each holding its 256 leaf hashes, with the root the old
// log_hashes held for it.
func (rs *rawStore) checkTiles(t *testing.T, old *rawStore) {
	t.Helper()
	var want []rawTile
	for ws, n := range rs.logSizes() {
		for k := int64(0); k < n/ledger.TileWidth; k++ {
			tl := rawTile{WS: ws, Idx: k}
			for seq := k*ledger.TileWidth + 1; seq <= (k+1)*ledger.TileWidth; seq++ {
				tl.Hashes = append(tl.Hashes, rs.entry(t, ws, seq).LeafHash...)
			}
			var root tlog.Hash
			if h, ok := old.LogHashes[ws][tlog.StoredHashIndex(ledger.TileHeight, k)]; ok {
				root = tlog.Hash(h)
			} else { // a tile of entries written after the upgrade
				hs := make([]tlog.Hash, ledger.TileWidth)
				for i := range hs {
					copy(hs[i][:], tl.Hashes[i*tlog.HashSize:])
				}
				root = subtreeRoot(hs)
			}
			tl.Root = root[:]
			want = append(want, tl)
		}
	}
	got := map[string]rawTile{}
	for _, tl := range rs.Tiles {
		got[fmt.Sprintf("%s/%d/%d", tl.WS, tl.Level, tl.Idx)] = tl
	}
	if len(rs.Tiles) != len(want) {
		t.Errorf("log_tiles has %d rows; want %d (the full level 0 tiles)", len(rs.Tiles), len(want))
	}
	for _, w := range want {
		key := fmt.Sprintf("%s/%d/%d", w.WS, w.Level, w.Idx)
		g, ok := got[key]
		switch {
		case !ok:
			t.Errorf("tile %s is missing", key)
		case !bytes.Equal(g.Hashes, w.Hashes):
			t.Errorf("tile %s holds other hashes than its entries' leaf hashes", key)
		case !bytes.Equal(g.Root, w.Root):
			t.Errorf("tile %s root = %x; want %x", key, g.Root, w.Root)
		}
	}
}

// subtreeRoot is the RFC 6962 root of a power of two of hashes.
func subtreeRoot(hs []tlog.Hash) tlog.Hash {
	if len(hs) == 1 {
		return hs[0]
	}
	return tlog.NodeHash(subtreeRoot(hs[:len(hs)/2]), subtreeRoot(hs[len(hs)/2:]))
}

// readAnswer decodes one of the old release's answers.
func (fx *release0) readAnswer(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fx.answers, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// cli runs one consentd command on the fixture's store.
func (fx *release0) cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runCLI(t, nil, append(append(args, "--data", fx.dir), fx.flags...)...)
}

// withStore opens the store in this process, as the commands do, for fn.
func (fx *release0) withStore(t *testing.T, fn func(db store)) {
	t.Helper()
	c := config{Data: fx.dir}
	if len(fx.flags) > 0 {
		c.Database = fx.flags[1]
	}
	db, err := c.openDB()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fn(db)
}
