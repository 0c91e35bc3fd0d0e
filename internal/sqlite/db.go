// Package sqlite is the embedded SQLite backend of consentd: WAL, durable
// commits (synchronous=FULL), embedded forward-only migrations, and one
// writer goroutine that commits concurrent writes together (group commit),
// so that every acknowledged write is on disk and batches pay one fsync.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

//go:embed migrations/*.sql
var migrations embed.FS

// The page cache of the writer connection and of each reader connection,
// in KiB. Under modernc's allocator a cached page (4 KiB and its header)
// takes an 8 KiB slot: the RSS is about twice the setting. Imports write
// in key order (internal/importer), so a small cache serves them: at 1M
// imported rows, 24 MiB and 32 MiB gave the same rate (about 27k rows/s),
// at 122 MB and 139 MB peak RSS (with random keys it was the main lever).
const (
	writerCacheKiB = 24 << 10
	readerCacheKiB = 8 << 10
)

// maxGroup is the most write requests committed in one transaction.
const maxGroup = 256

// DB is an open consentd SQLite database.
type DB struct {
	path string
	w    *sql.DB // one connection: the single writer
	r    *sql.DB // readers

	// Now is the clock; tests may replace it before the first write.
	Now func() time.Time

	// OnCommit, when set before the first write, is called with the log
	// entries each transaction appended, per workspace in seq order, after
	// the commit and before any of its writes is acknowledged: a decision
	// index fed from it never answers from state older than an acknowledged
	// write.
	OnCommit func(map[string][]consentd.LogRecord)

	writes  chan *writeReq
	closing chan struct{}
	done    chan struct{}

	mu    sync.RWMutex
	cache map[string]*wsCache // workspace id -> cached workspace and catalog

	// Statements prepared on the writer connection, and the queries to
	// prepare next time no transaction holds it. The writer goroutine alone
	// uses both.
	stmts  map[string]*sql.Stmt
	wanted map[string]bool

	// edges keeps each workspace's tree edge between write transactions.
	edges ledger.EdgeCache

	// held is a request that must run alone, met while gathering a group;
	// the writer goroutine runs it next.
	held *writeReq

	// migration is what Open did to the schema.
	migration consentd.Migration
}

type writeReq struct {
	ctx   context.Context
	fn    func(*Tx) error
	alone bool // runs in a transaction of its own, without a savepoint
	err   error
	done  chan struct{}
}

// Open opens (creating when missing) the database at path and applies
// pending migrations.
func Open(path string) (*DB, error) {
	// The page cache is outside the Go heap and is per connection: the
	// writer's is writerCacheKiB, each reader's readerCacheKiB (the OS
	// caches the file too). 64 MiB each made an import peak at ~265 MB RSS.
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(ON)", "temp_store(MEMORY)", "secure_delete(ON)",
		// A row that INSERT OR REPLACE deletes fires the delete triggers
		// that keep consent_counts (migration 0013) only with this on.
		"recursive_triggers(ON)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", writerCacheKiB))
	w, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	q.Set("_txlock", "deferred")
	q.Del("_pragma")
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(ON)", "temp_store(MEMORY)", "query_only(ON)"} {
		q.Add("_pragma", p)
	}
	q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", readerCacheKiB))
	r, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	db := &DB{path: path, w: w, r: r, Now: time.Now, writes: make(chan *writeReq, maxGroup),
		closing: make(chan struct{}), done: make(chan struct{}), cache: map[string]*wsCache{}, stmts: map[string]*sql.Stmt{}, wanted: map[string]bool{}}
	if err := db.migrate(context.Background()); err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	go db.writeLoop()
	return db, nil
}

// Close stops the writer after the writes already queued and closes the
// database.
func (db *DB) Close() error {
	close(db.closing)
	<-db.done
	for _, st := range db.stmts {
		st.Close()
	}
	return errors.Join(db.w.Close(), db.r.Close())
}

// SetOnCommit sets OnCommit; call it before the first write.
func (db *DB) SetOnCommit(f func(map[string][]consentd.LogRecord)) { db.OnCommit = f }

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.r.PingContext(ctx) }

// Migration returns what Open did to bring the schema up to date.
func (db *DB) Migration() consentd.Migration { return db.migration }

// staleContactPoints is the migration after which the stored contact points
// that Normalize no longer returns as they are get listed.
const staleContactPoints = "0008_stale_contact_points"

// migrate applies the embedded migrations that schema_migrations does not
// list, each in its own transaction, then moves a log written before tiles
// into tiles, and records what it did in db.migration.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	mig := &db.migration
	if err := db.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), '') FROM schema_migrations`).Scan(&mig.Before); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	mig.After = mig.Before
	for _, name := range names {
		version := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql")
		applied, err := db.migrateOne(ctx, name, version)
		if err != nil {
			return fmt.Errorf("migration %s: %w", version, err)
		}
		if applied {
			mig.Applied = append(mig.Applied, version)
		}
		mig.After = max(mig.After, version)
	}
	if mig.Tiles, err = db.upgradeTiles(ctx); err != nil {
		return fmt.Errorf("moving the log to tiles: %w", err)
	}
	if slices.Contains(mig.Applied, staleContactPoints) {
		if mig.Stale, err = db.listStaleContactPoints(ctx); err != nil {
			return fmt.Errorf("listing stale contact points: %w", err)
		}
	}
	return nil
}

// migrateOne applies one migration unless schema_migrations lists it, and
// reports whether it did.
func (db *DB) migrateOne(ctx context.Context, name, version string) (bool, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil || n > 0 {
		return false, err
	}
	body, err := migrations.ReadFile(name)
	if err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, time.Now().UnixNano()); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// Tx is a write transaction. Its clock is fixed when it starts.
type Tx struct {
	*sql.Tx
	ctx   context.Context
	db    *DB
	now   time.Time
	logs  map[string]*ledger.Appender // workspace id -> its log in this transaction
	dirty map[string]bool             // workspaces whose settings or catalog this transaction changed
	after []func()                    // run after a successful commit
	added []appended                  // log entries appended, in order
}

// write runs fn in the writer's transaction, together with other writes
// queued at the same time. fn runs inside a savepoint: when it returns an
// error its changes are rolled back and the others' are kept. write returns
// once the transaction is durable.
func (db *DB) write(ctx context.Context, fn func(*Tx) error) error {
	return db.submit(&writeReq{ctx: ctx, fn: fn, done: make(chan struct{})})
}

// writeAlone runs fn in a transaction of its own, committed when fn
// returns nil and rolled back otherwise. It spares a big write (an import
// batch) the savepoint of write, whose statement journal holds a copy of
// every page the write changes.
func (db *DB) writeAlone(ctx context.Context, fn func(*Tx) error) error {
	return db.submit(&writeReq{ctx: ctx, fn: fn, alone: true, done: make(chan struct{})})
}

func (db *DB) submit(req *writeReq) error {
	ctx := req.ctx
	select {
	case db.writes <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-db.closing:
		return errors.New("database is closing")
	}
	<-req.done
	return req.err
}

func (db *DB) writeLoop() {
	defer close(db.done)
	for {
		var first *writeReq
		if db.held != nil {
			first, db.held = db.held, nil
			db.commitGroup(db.gather(first))
			continue
		}
		select {
		case first = <-db.writes:
		case <-db.closing:
			// Finish what is queued, then stop.
			for {
				if db.held != nil {
					first, db.held = db.held, nil
					db.commitGroup(db.gather(first))
					continue
				}
				select {
				case first = <-db.writes:
					db.commitGroup(db.gather(first))
				default:
					return
				}
			}
		}
		db.commitGroup(db.gather(first))
	}
}

func (db *DB) gather(first *writeReq) []*writeReq {
	group := []*writeReq{first}
	if first.alone {
		return group
	}
	for len(group) < maxGroup {
		select {
		case r := <-db.writes:
			if r.alone {
				db.held = r
				return group
			}
			group = append(group, r)
		default:
			return group
		}
	}
	return group
}

func (db *DB) commitGroup(group []*writeReq) {
	defer func() {
		for _, r := range group {
			close(r.done)
		}
	}()
	ctx := context.Background()
	sqlTx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		for _, r := range group {
			r.err = fmt.Errorf("begin: %w", err)
		}
		return
	}
	tx := &Tx{Tx: sqlTx, ctx: ctx, db: db, now: db.Now().UTC(), logs: map[string]*ledger.Appender{}, dirty: map[string]bool{}}
	if len(group) == 1 && group[0].alone {
		r := group[0]
		if r.err = r.ctx.Err(); r.err == nil {
			r.err = r.fn(tx)
		}
		if r.err != nil {
			if err := sqlTx.Rollback(); err != nil {
				db.invalidateAll()
			}
			db.prepareWanted()
			return
		}
		if err := sqlTx.Commit(); err != nil {
			r.err = fmt.Errorf("commit: %w", err)
			db.invalidateAll()
			return
		}
		db.afterCommit(tx)
		return
	}
	var ok []*writeReq
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if r.err = tx.savepoint(r.fn); r.err == nil {
			ok = append(ok, r)
		}
	}
	if err := sqlTx.Commit(); err != nil {
		for _, r := range ok {
			r.err = fmt.Errorf("commit: %w", err)
		}
		db.invalidateAll()
		return
	}
	db.afterCommit(tx)
}

// afterCommit runs what a committed transaction leaves to do.
func (db *DB) afterCommit(tx *Tx) {
	for ws, a := range tx.logs {
		db.edges.Put(ws, a.Edge())
	}
	for _, f := range tx.after {
		f()
	}
	if db.OnCommit != nil && len(tx.added) > 0 {
		db.OnCommit(groupByWorkspace(tx.added))
	}
	db.prepareWanted()
}

func (tx *Tx) savepoint(fn func(*Tx) error) error {
	if _, err := tx.ExecContext(tx.ctx, `SAVEPOINT w`); err != nil {
		return err
	}
	nAfter, nAdded := len(tx.after), len(tx.added)
	marks := make(map[string]ledger.Mark, len(tx.logs))
	for ws, a := range tx.logs {
		marks[ws] = a.Mark()
	}
	if err := fn(tx); err != nil {
		if _, rerr := tx.ExecContext(tx.ctx, `ROLLBACK TO w`); rerr != nil {
			return errors.Join(err, rerr)
		}
		if _, rerr := tx.ExecContext(tx.ctx, `RELEASE w`); rerr != nil {
			return errors.Join(err, rerr)
		}
		tx.after, tx.added = tx.after[:nAfter], tx.added[:nAdded]
		for ws, a := range tx.logs {
			if m, ok := marks[ws]; ok {
				a.Reset(m)
			} else {
				delete(tx.logs, ws) // opened by fn: rebuilt when needed
			}
		}
		return err
	}
	_, err := tx.ExecContext(tx.ctx, `RELEASE w`)
	return err
}

// stmt returns query prepared on the writer connection and bound to tx, or
// nil when it is not prepared yet. Parsing SQL is most of the cost of a
// small statement, and the writer runs the same few statements all day. A
// statement cannot be prepared on the one writer connection while tx holds
// it, so a new query is noted and prepared after the transaction.
func (tx *Tx) stmt(query string) *sql.Stmt {
	st, ok := tx.db.stmts[query]
	if !ok {
		tx.db.wanted[query] = true
		return nil
	}
	return tx.Tx.StmtContext(tx.ctx, st)
}

// prepareWanted prepares the queries noted by stmt; the writer goroutine
// calls it between transactions.
func (db *DB) prepareWanted() {
	for q := range db.wanted {
		if st, err := db.w.PrepareContext(context.Background(), q); err == nil {
			db.stmts[q] = st
		}
		delete(db.wanted, q)
	}
}

// ExecContext runs a prepared statement in the transaction.
func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := tx.stmt(query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.Tx.ExecContext(ctx, query, args...)
}

// QueryContext runs a prepared query in the transaction.
func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := tx.stmt(query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return tx.Tx.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a prepared single-row query in the transaction.
func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := tx.stmt(query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.Tx.QueryRowContext(ctx, query, args...)
}

type appended struct {
	wsID string
	row  ledger.Row
}

// groupByWorkspace returns the appended rows as records, per workspace.
func groupByWorkspace(added []appended) map[string][]consentd.LogRecord {
	out := map[string][]consentd.LogRecord{}
	for i := range added {
		out[added[i].wsID] = append(out[added[i].wsID], added[i].row.Appended())
	}
	return out
}

// notFound turns sql.ErrNoRows into an ENOTFOUND error.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return consentd.Errorf(consentd.ENOTFOUND, "%s not found", what)
	}
	return err
}

func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// checkpointWAL copies the WAL into the database file and truncates it,
// best effort (a reader still on an older snapshot keeps the WAL's frames):
// run after an erasure, so that erased values do not linger in the WAL.
func (db *DB) checkpointWAL() {
	db.w.ExecContext(context.Background(), `PRAGMA wal_checkpoint(TRUNCATE)`)
}
