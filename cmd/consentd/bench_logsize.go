package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/consentd/consentd/internal/ledger"
	"github.com/jackc/pgx/v5"
)

// What the previous release, which stored one row per tree hash
// (log_hashes) and JSON leaves, cost in bytes on disk per log entry; 0
// where it was not measured, and then the figure's note points to the issue
// note. docs/architecture.md holds the log to half of it. Measured with this
// scenario's queries (log_hashes counted with the tiles) on the last commit
// before the tiles, e76f172, after importing 1M rows.
const (
	prevSQLiteLogBytesPerEntry   = 686.1
	prevPostgresLogBytesPerEntry = 927.7
)

// logTables are the tables that hold a log: its entries (leaf, leaf hash,
// evidence and opening), the full tiles of its tree, and its checkpoints.
func logTables() []string { return []string{"log_entries", "log_tiles", "checkpoints"} }

// logPart names what a log table holds.
func logPart(table string) string {
	switch table {
	case "log_entries":
		return "leaves"
	case "log_tiles":
		return "tiles"
	}
	return table
}

// logStore is a data folder (and, for PostgreSQL, a database) holding
// workspace bench with rows imported by `consentd import` and a signed
// checkpoint of its log.
type logStore struct {
	backend string // "sqlite" or "postgres"
	dir     string
	url     string // the PostgreSQL database; "" for SQLite
	rows    int
	rate    float64 // the import's rows/s
}

// database is the store's --database: the PostgreSQL URL, or the SQLite
// file's path (named, so that a CONSENTD_DATABASE in the environment
// cannot point a child elsewhere).
func (s *logStore) database() string {
	if s.url != "" {
		return s.url
	}
	return filepath.Join(s.dir, "consentd.db")
}

// args are the flags that point a command at the store.
func (s *logStore) args() []string { return []string{"--data", s.dir, "--database", s.database()} }

// logBackends returns the backends to measure: SQLite, and PostgreSQL
// when it answers; when it does not, a note on r says why.
func (e *benchEnv) logBackends(ctx context.Context, r *benchResult) []string {
	conn, err := pgx.Connect(ctx, e.pgURL)
	if err != nil {
		r.Notes["postgres"] = fmt.Sprintf("skipped: PostgreSQL at %s: %v", redactURL(e.pgURL), err)
		return []string{"sqlite"}
	}
	conn.Close(ctx)
	return []string{"sqlite", "postgres"}
}

// logStore returns the store of rows imported rows on backend, made on
// first use and kept for the rest of the run.
func (e *benchEnv) logStore(ctx context.Context, backend string, rows int) (*logStore, error) {
	key := fmt.Sprintf("%s-%d", backend, rows)
	if s := e.logStores[key]; s != nil {
		return s, nil
	}
	s := &logStore{backend: backend, dir: filepath.Join(e.dir, "log-"+key), rows: rows}
	if backend == "postgres" {
		url, drop, err := freshPostgres(ctx, e.pgURL, "consentd_bench_log_")
		if err != nil {
			return nil, err
		}
		e.cleanups = append(e.cleanups, drop)
		s.url = url
	}
	file := filepath.Join(e.dir, fmt.Sprintf("log-%d.csv", rows))
	if err := benchImportFile(file, rows); err != nil {
		return nil, err
	}
	defer os.Remove(file)
	if err := benchImportSetup(ctx, s.dir, s.url); err != nil {
		return nil, err
	}
	bin, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := append(append([]string{"import"}, s.args()...), "--workspace", "bench", "--format", "native", file)
	if s.rate, _, err = benchImportRun(ctx, bin, rows, args...); err != nil {
		return nil, err
	}
	if err := signBenchCheckpoint(ctx, s); err != nil {
		return nil, err
	}
	if e.logStores == nil {
		e.logStores = map[string]*logStore{}
	}
	e.logStores[key] = s
	return s, nil
}

// signBenchCheckpoint signs a checkpoint of workspace bench's log, as a
// server does every minute, so that the store holds one and log verify
// checks it.
func signBenchCheckpoint(ctx context.Context, s *logStore) error {
	c := &config{Data: s.dir, Database: s.database()}
	db, signer, err := c.open(false)
	if err != nil {
		return err
	}
	defer db.Close()
	ws, err := db.WorkspaceByName(ctx, "bench")
	if err != nil {
		return err
	}
	if _, _, err := ledger.SignCheckpoint(ctx, c.ledger(db), signer, ws.ID); err != nil {
		return fmt.Errorf("sign a checkpoint: %w", err)
	}
	return nil
}

// relSize is the bytes on disk of one table (with, on PostgreSQL, its TOAST
// table) or index.
type relSize struct {
	table, name, kind string
	bytes             int64
}

// logStats is what the log of a store costs: its tables and indexes, the
// entries in it (every workspace) and the average sizes of the stored
// parts of an entry.
type logStats struct {
	rels                          []relSize
	entries                       int64
	leaf, evidence, opening, hash float64
}

func (st *logStats) total() int64 {
	var t int64
	for _, r := range st.rels {
		t += r.bytes
	}
	return t
}

// logStatsQuery counts the entries and averages the bytes of their stored
// parts over every entry (an entry without evidence counts as 0 bytes of
// it); the same SQL on both backends.
const logStatsQuery = `SELECT COUNT(*), COALESCE(AVG(LENGTH(data)), 0), COALESCE(AVG(COALESCE(LENGTH(evidence), 0)), 0),
	COALESCE(AVG(COALESCE(LENGTH(opening), 0)), 0), COALESCE(AVG(LENGTH(leaf_hash)), 0) FROM log_entries`

// sqliteLogStats reads the pages of the log's tables and indexes from the
// dbstat virtual table: every b-tree page, used or not, of each, whether it
// is in the database file or still in its write-ahead log.
func sqliteLogStats(ctx context.Context, path string) (*logStats, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(ON)&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT s.tbl_name, s.name, s.type, SUM(d.pgsize)
		FROM dbstat AS d JOIN sqlite_schema AS s ON s.name = d.name
		WHERE s.tbl_name IN ('`+strings.Join(logTables(), "','")+`')
		GROUP BY s.name ORDER BY s.tbl_name, s.type DESC, s.name`)
	if err != nil {
		return nil, fmt.Errorf("dbstat: %w", err)
	}
	st := &logStats{}
	for rows.Next() {
		var r relSize
		if err := rows.Scan(&r.table, &r.name, &r.kind, &r.bytes); err != nil {
			rows.Close()
			return nil, err
		}
		st.rels = append(st.rels, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dbstat: %w", err)
	}
	if err := db.QueryRowContext(ctx, logStatsQuery).Scan(&st.entries, &st.leaf, &st.evidence, &st.opening, &st.hash); err != nil {
		return nil, fmt.Errorf("log entries: %w", err)
	}
	return st, nil
}

// postgresLogStats reads the sizes of the log's tables (heap, TOAST, free
// space and visibility maps: pg_table_size) and of each of their indexes
// (pg_relation_size); together they are the tables' pg_total_relation_size.
func postgresLogStats(ctx context.Context, url string) (*logStats, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT t.relname, t.relname, 'table', pg_table_size(t.oid)
		FROM pg_class t WHERE t.relname = ANY($1) AND t.relkind = 'r' AND pg_table_is_visible(t.oid)
		UNION ALL
		SELECT t.relname, i.relname, 'index', pg_relation_size(i.oid)
		FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
		WHERE t.relname = ANY($1) AND pg_table_is_visible(t.oid)
		ORDER BY 1, 3 DESC, 2`, logTables())
	if err != nil {
		return nil, fmt.Errorf("relation sizes: %w", err)
	}
	st := &logStats{}
	for rows.Next() {
		var r relSize
		if err := rows.Scan(&r.table, &r.name, &r.kind, &r.bytes); err != nil {
			rows.Close()
			return nil, err
		}
		st.rels = append(st.rels, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("relation sizes: %w", err)
	}
	var whole int64
	if err := conn.QueryRow(ctx, `SELECT COALESCE(SUM(pg_total_relation_size(oid)), 0)::bigint FROM pg_class
		WHERE relname = ANY($1) AND relkind = 'r' AND pg_table_is_visible(oid)`, logTables()).Scan(&whole); err != nil {
		return nil, fmt.Errorf("relation sizes: %w", err)
	}
	if whole != st.total() {
		return nil, fmt.Errorf("the log's tables and indexes add up to %d bytes, pg_total_relation_size says %d", st.total(), whole)
	}
	if err := conn.QueryRow(ctx, logStatsQuery).Scan(&st.entries, &st.leaf, &st.evidence, &st.opening, &st.hash); err != nil {
		return nil, fmt.Errorf("log entries: %w", err)
	}
	return st, nil
}

func (s *logStore) stats(ctx context.Context) (*logStats, error) {
	if s.url != "" {
		return postgresLogStats(ctx, s.url)
	}
	return sqliteLogStats(ctx, s.database())
}

// benchLogSize imports --entries rows (one log entry each) into SQLite and,
// when PostgreSQL answers, PostgreSQL, and reports the bytes on disk of the
// log per entry: in all and per table and index. The schema before the
// tiles is gone, so the figure is set beside the previous release's
// measurement, a constant, rather than a reference measured in this run.
func benchLogSize(ctx context.Context, e *benchEnv) (*benchResult, error) {
	r := &benchResult{Scenario: "log-size", Notes: map[string]any{"rows": e.entries,
		"tree_hashes_alone": fmt.Sprintf("%.1f B/entry (32-byte hashes of every tree level)", 32*256.0/255)}}
	for _, backend := range e.logBackends(ctx, r) {
		s, err := e.logStore(ctx, backend, e.entries)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", backend, err)
		}
		st, err := s.stats(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", backend, err)
		}
		if st.entries < int64(e.entries) {
			return nil, fmt.Errorf("%s: %d log entries after importing %d rows", backend, st.entries, e.entries)
		}
		n := float64(st.entries)
		total := float64(st.total()) / n
		f := benchFigure{Name: backend + " log bytes per entry", Unit: "B", Value: total,
			Goal: "<= half of one row per hash (previous release)"}
		prev := map[string]float64{"sqlite": prevSQLiteLogBytesPerEntry, "postgres": prevPostgresLogBytesPerEntry}[backend]
		if prev > 0 {
			f.Reference, f.RefName, f.Ratio, f.Met = prev, "previous release, one row per tree hash", prev/total, met(total <= prev/2)
		} else {
			r.Notes[backend+"_previous_release"] = "see the issue note"
		}
		r.Figures = append(r.Figures, f)
		for _, rel := range st.rels {
			r.Figures = append(r.Figures, benchFigure{Name: fmt.Sprintf("%s %s: %s (%s)", backend, logPart(rel.table), rel.name, rel.kind),
				Unit: "B", Value: float64(rel.bytes) / n})
		}
		r.Notes[backend+"_entries"] = st.entries
		r.Notes[backend+"_bytes"] = st.total()
		r.Notes[backend+"_stored_per_entry"] = fmt.Sprintf("leaf %.1f B, leaf hash %.0f B, evidence %.1f B, opening %.1f B", st.leaf, st.hash, st.evidence, st.opening)
		r.Notes[backend+"_import_rows_per_s"] = int(s.rate)
	}
	return r, nil
}
