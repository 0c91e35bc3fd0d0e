// Package postgres is the PostgreSQL backend of consentd, for any number of
// stateless replicas on one database. It has the methods and the semantics
// of internal/sqlite, file for file.
//
// Every write is a READ COMMITTED transaction on one connection, sent in as
// few round trips as it can: BEGIN goes out with the first statements and
// COMMIT with the last. Writes that append to a workspace's consent log
// take a transaction-scoped advisory lock on that workspace
// (pg_advisory_xact_lock), then read the log size and the current consent
// rows, so that the log stays one Merkle tree, numbered without gaps, and
// ordering by captured_at is decided on the latest committed state,
// whatever the number of writers and processes. The lock is released by
// COMMIT, after the commit is durable and visible. Such writes are
// committed in groups, as SQLite's writer does: the requests for one
// workspace that arrive in this process while its transaction is in flight
// run together in the next one, under one turn of the lock, each in a
// savepoint of its own, and pay one durable commit.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the pg_advisory_lock key held while migrating, so that
// replicas that start together migrate once, one after the other.
const migrationLock int64 = 0x636f6e73656e7464 // "consentd"

// DB is an open consentd PostgreSQL database. It is safe for concurrent use,
// also by several processes on one database.
type DB struct {
	pool *pgxpool.Pool

	// Now is the clock; tests may replace it before the first write.
	Now func() time.Time

	// OnCommit, when set before the first write, is called with the log
	// entries each transaction appended, per workspace in seq order, after
	// the commit and before any of its writes is acknowledged: a decision
	// index fed from it never answers from state older than an acknowledged
	// write. Transactions of one workspace call it one at a time, in seq
	// order; those of different workspaces may call it concurrently. Entries
	// that other processes append reach it only through the log (see
	// Channel and Listen).
	OnCommit func(map[string][]consentd.LogRecord)

	mu      sync.RWMutex
	cache   map[string]*wsCache  // workspace id -> workspace and catalog as committed at cache.version
	edges   ledger.EdgeCache     // workspace id -> its tree's edge after this process's last commit
	writers map[string]*wsWriter // workspace id -> this process's writer of its log

	copyBufs sync.Pool // *copyBuf, see copyFrom

	// migration is what Open did to the schema.
	migration consentd.Migration
}

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string; pool settings such as pool_max_conns may be given in
// it) and applies pending migrations.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db := &DB{pool: pool, Now: time.Now, cache: map[string]*wsCache{}, writers: map[string]*wsWriter{}}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the connections once the calls in progress have returned
// them.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// SetOnCommit sets OnCommit; call it before the first write.
func (db *DB) SetOnCommit(f func(map[string][]consentd.LogRecord)) { db.OnCommit = f }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.pool.Ping(ctx) }

// Migration returns what Open did to bring the schema up to date. Of
// replicas opened together, the first to take the migration lock reports
// the work; the others find it done.
func (db *DB) Migration() consentd.Migration { return db.migration }

// staleContactPoints is the migration after which the stored contact points
// that Normalize no longer returns as they are get listed.
const staleContactPoints = "0008_stale_contact_points"

// migrate applies the embedded migrations that schema_migrations does not
// list, each in its own transaction, holding a session advisory lock so that
// concurrent Opens take turns; then it moves a log written before tiles
// into tiles, and records what it did in db.migration.
func (db *DB) migrate(ctx context.Context) (err error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	defer func() {
		if _, uerr := conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, migrationLock); uerr != nil {
			// A session lock must not go back to the pool.
			conn.Hijack().Close(context.Background())
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	mig := &db.migration
	if err := conn.QueryRow(ctx, `SELECT COALESCE(MAX(version), '') FROM schema_migrations`).Scan(&mig.Before); err != nil {
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
		applied, err := migrateOne(ctx, conn, name, version)
		if err != nil {
			return fmt.Errorf("migration %s: %w", version, err)
		}
		if applied {
			mig.Applied = append(mig.Applied, version)
		}
		mig.After = max(mig.After, version)
	}
	if mig.Tiles, err = upgradeTiles(ctx, conn); err != nil {
		return fmt.Errorf("moving the log to tiles: %w", err)
	}
	if slices.Contains(mig.Applied, staleContactPoints) {
		if mig.Stale, err = listStaleContactPoints(ctx, conn); err != nil {
			return fmt.Errorf("listing stale contact points: %w", err)
		}
	}
	return nil
}

// migrateOne applies one migration unless schema_migrations lists it, and
// reports whether it did.
func migrateOne(ctx context.Context, conn *pgxpool.Conn, name, version string) (bool, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(ctx)
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, version).Scan(&n); err != nil || n > 0 {
		return false, err
	}
	body, err := migrations.ReadFile(name)
	if err != nil {
		return false, err
	}
	// Without arguments pgx uses the simple protocol, which runs a script.
	if _, err := tx.Exec(ctx, string(body)); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, version, time.Now().UnixNano()); err != nil {
		return false, err
	}
	return true, tx.Commit(ctx)
}

// Tx is a write transaction on one connection. Statements are queued and
// sent together when a result is needed and at commit: BEGIN goes out with
// the first of them, COMMIT with the last. Its clock is fixed when it
// starts, and again when it is granted a log lock (see lockLog).
type Tx struct {
	ctx    context.Context
	db     *DB
	conn   *pgxpool.Conn
	now    time.Time
	b      *pgx.Batch
	trips  int                  // round trips sent
	logs   map[string]*logState // workspace id -> its log, locked by this transaction
	after  []func()             // run after a successful commit
	broken error                // a failed request could not be rolled back: nothing commits
}

// maxGroup is the most write requests committed in one transaction. Each
// runs in a savepoint, a subtransaction; a PostgreSQL backend caches 64
// subtransaction ids (PGPROC_MAX_CACHED_SUBXIDS), and while a transaction
// has more, every other session's snapshot looks them up in pg_subtrans.
const maxGroup = 64

// maxGroupConsents is the most consents one transaction of requests
// gathered together writes; a larger request commits alone.
const maxGroupConsents = 10000

// wsWriter is this process's writer of one workspace's log: the requests
// waiting for it, and whether a writeLoop goroutine is committing them.
type wsWriter struct {
	wsID  string
	mu    sync.Mutex
	queue []*writeReq
	busy  bool
}

// writeReq is one write request: fn, run in a savepoint of a group's
// transaction, and its outcome, set before done is closed.
type writeReq struct {
	ctx  context.Context
	fn   func(*Tx) error
	n    int // consents written, for maxGroupConsents
	err  error
	done chan struct{}
}

// write runs fn in a transaction and returns once the transaction is
// durable, or with fn's error and nothing of fn committed. With wsID set,
// fn appends to the workspace's log and runs in this process's next group
// commit on the workspace (see writeLog); without, it runs alone.
func (db *DB) write(ctx context.Context, wsID string, fn func(*Tx) error) error {
	if wsID == "" {
		return db.writeAlone(ctx, fn)
	}
	return db.writeLog(ctx, wsID, 1, fn)
}

// writeAlone runs fn in a transaction of its own.
func (db *DB) writeAlone(ctx context.Context, fn func(*Tx) error) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	tx := db.begin(ctx, conn)
	defer tx.close()
	if err := fn(tx); err != nil {
		return dbError(err)
	}
	if err := tx.commit(); err != nil {
		return dbError(err)
	}
	tx.committed()
	return nil
}

// writeLog hands fn, which writes n consents, to the workspace's writer,
// and returns once its transaction is durable, or with fn's error and
// nothing of fn committed. The writer commits the requests that queue up
// while its transaction is in flight together, in one transaction (see
// commitGroup), so that a workspace's log pays one commit, and one turn of
// its lock, for many writes. A request whose ctx is done before the writer
// takes it is dropped; one already taken waits for its transaction, which
// goes on for the others (and is abandoned when every request of it is
// done).
func (db *DB) writeLog(ctx context.Context, wsID string, n int, fn func(*Tx) error) error {
	req := &writeReq{ctx: ctx, fn: fn, n: n, done: make(chan struct{})}
	w := db.writer(wsID)
	w.mu.Lock()
	w.queue = append(w.queue, req)
	start := !w.busy
	w.busy = true
	w.mu.Unlock()
	if start {
		go db.writeLoop(w)
	}
	select {
	case <-req.done:
		return req.err
	case <-ctx.Done():
	}
	if w.drop(req) {
		return ctx.Err()
	}
	<-req.done
	return req.err
}

// writer returns the workspace's writer.
func (db *DB) writer(wsID string) *wsWriter {
	db.mu.RLock()
	w := db.writers[wsID]
	db.mu.RUnlock()
	if w != nil {
		return w
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if w = db.writers[wsID]; w == nil {
		w = &wsWriter{wsID: wsID}
		db.writers[wsID] = w
	}
	return w
}

// writeLoop commits the writer's queue, group after group, until it is
// empty.
func (db *DB) writeLoop(w *wsWriter) {
	for group := w.take(); group != nil; group = w.take() {
		db.commitGroup(w.wsID, group)
	}
}

// take removes the next group from the queue: the requests queued, up to
// maxGroup of them and maxGroupConsents consents, but at least one. When
// the queue is empty it marks the writer idle and returns nil.
func (w *wsWriter) take() []*writeReq {
	w.mu.Lock()
	defer w.mu.Unlock()
	k, n := 0, 0
	for k < len(w.queue) && k < maxGroup && (k == 0 || n+w.queue[k].n <= maxGroupConsents) {
		n += w.queue[k].n
		k++
	}
	if k == 0 {
		w.busy = false
		return nil
	}
	group := slices.Clone(w.queue[:k])
	w.queue = slices.Delete(w.queue, 0, k)
	return group
}

// drop removes req from the queue; false when the writer has taken it.
func (w *wsWriter) drop(req *writeReq) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := slices.Index(w.queue, req)
	if i >= 0 {
		w.queue = slices.Delete(w.queue, i, i+1)
	}
	return i >= 0
}

// commitGroup commits a group of requests of one workspace in one
// transaction, as SQLite's writer does: it takes the workspace's log
// lock and reads the log's head once, runs each request in a savepoint of
// its own, which a failing request rolls back alone (with the log entries
// it appended in memory), and commits. OnCommit sees the entries, then
// every request learns its outcome: acknowledged only when the commit is
// durable, failed with everyone's when it is not.
func (db *DB) commitGroup(wsID string, group []*writeReq) {
	defer func() {
		for _, r := range group {
			close(r.done)
		}
	}()
	fail := func(err error) {
		for _, r := range group {
			if r.err == nil {
				r.err = err
			}
		}
	}
	ctx, cancel := groupContext(group)
	defer cancel()
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		fail(err)
		return
	}
	tx := db.begin(ctx, conn)
	defer tx.close()
	tx.lockLog(wsID)
	if err := tx.send(); err != nil {
		fail(dbError(err))
		return
	}
	ok := 0
	for _, r := range group {
		if r.err = r.ctx.Err(); r.err == nil {
			r.err = tx.savepoint(r.fn)
		}
		if tx.broken != nil {
			fail(tx.broken)
			return
		}
		if r.err == nil {
			ok++
		}
	}
	if ok == 0 {
		return // nothing to commit; close rolls back
	}
	if err := tx.commit(); err != nil {
		fail(dbError(err))
		return
	}
	tx.committed()
}

// groupContext returns the context of a group's transaction: not that of
// any one request, so that one giving up does not fail the others, but
// done once every request's is, so that a transaction nobody waits for is
// abandoned (while it waits for the log lock, say).
func groupContext(group []*writeReq) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	var waiting atomic.Int64
	waiting.Store(int64(len(group)))
	stops := make([]func() bool, len(group))
	for i, r := range group {
		stops[i] = context.AfterFunc(r.ctx, func() {
			if waiting.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

// begin starts a transaction on conn; BEGIN goes out with the first round
// trip.
func (db *DB) begin(ctx context.Context, conn *pgxpool.Conn) *Tx {
	tx := &Tx{ctx: ctx, db: db, conn: conn, now: db.Now().UTC(), b: &pgx.Batch{}, logs: map[string]*logState{}}
	tx.queue(`BEGIN`)
	return tx
}

// savepoint runs fn in a savepoint and sends what fn queued. When fn or a
// statement of it fails, it rolls back to the savepoint, forgets the log
// entries and after-commit functions fn added, and returns the error: the
// transaction goes on without fn. When the rollback fails too, it sets
// tx.broken.
func (tx *Tx) savepoint(fn func(*Tx) error) error {
	trips, nAfter := tx.trips, len(tx.after)
	marks := make(map[*logState]logMark, len(tx.logs))
	for _, l := range tx.logs {
		marks[l] = l.mark()
	}
	tx.queue(`SAVEPOINT w`)
	err := fn(tx)
	if err == nil {
		tx.queue(`RELEASE SAVEPOINT w`)
		if err = tx.send(); err == nil {
			return nil
		}
	}
	tx.b = &pgx.Batch{} // what fn queued and did not send
	tx.after = tx.after[:nAfter]
	for l, m := range marks {
		l.reset(m)
	}
	if tx.trips > trips { // SAVEPOINT went out, first of fn's statements
		if _, rerr := tx.conn.Exec(tx.ctx, `ROLLBACK TO SAVEPOINT w; RELEASE SAVEPOINT w`); rerr != nil {
			tx.broken = fmt.Errorf("roll back a failed write: %w", rerr)
		}
	}
	return dbError(err)
}

// commit queues the inserts of the appended log entries and COMMIT, and
// sends them.
func (tx *Tx) commit() error {
	for _, l := range tx.logs {
		if err := l.flush(); err != nil {
			return err
		}
	}
	tx.queue(`COMMIT`).Exec(func(ct pgconn.CommandTag) error {
		if ct.String() != "COMMIT" { // PostgreSQL answers ROLLBACK to COMMIT in a failed transaction
			return errors.New("commit unexpectedly resulted in rollback")
		}
		return nil
	})
	return tx.send()
}

// committed runs what waits for the commit: the after functions, then
// OnCommit with the appended entries.
func (tx *Tx) committed() {
	for wsID, l := range tx.logs {
		if l.app != nil && len(l.rows) > 0 {
			tx.db.edges.Put(wsID, l.app.Edge())
		}
	}
	for _, f := range tx.after {
		f()
	}
	if tx.db.OnCommit != nil {
		if added := tx.appended(); len(added) > 0 {
			tx.db.OnCommit(added)
		}
	}
}

// close rolls back what is left of the transaction and returns the
// connection. A connection that cannot be rolled back is closed by the pool.
func (tx *Tx) close() {
	if tx.conn.Conn().PgConn().TxStatus() != 'I' && !tx.conn.Conn().IsClosed() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		tx.conn.Exec(ctx, `ROLLBACK`)
		cancel()
	}
	tx.conn.Release()
}

// queue adds a statement to the next round trip.
func (tx *Tx) queue(query string, args ...any) *pgx.QueuedQuery {
	return tx.b.Queue(query, args...)
}

// send sends the queued statements in one round trip and runs their
// callbacks.
func (tx *Tx) send() error {
	if tx.b.Len() == 0 {
		return nil
	}
	b := tx.b
	tx.b = &pgx.Batch{}
	tx.trips++
	return tx.conn.SendBatch(tx.ctx, b).Close()
}

// Exec runs a statement, with whatever is queued before it.
func (tx *Tx) Exec(ctx context.Context, query string, args ...any) (pgconn.CommandTag, error) {
	var tag pgconn.CommandTag
	tx.queue(query, args...).Exec(func(ct pgconn.CommandTag) error { tag = ct; return nil })
	err := tx.send()
	return tag, err
}

// Query sends what is queued, then runs a query.
func (tx *Tx) Query(ctx context.Context, query string, args ...any) (pgx.Rows, error) {
	if err := tx.send(); err != nil {
		return nil, err
	}
	return tx.conn.Query(ctx, query, args...)
}

// QueryRow runs a single-row query, with whatever is queued before it, when
// its row is scanned.
func (tx *Tx) QueryRow(ctx context.Context, query string, args ...any) pgx.Row {
	return txRow{tx, query, args}
}

type txRow struct {
	tx    *Tx
	query string
	args  []any
}

func (r txRow) Scan(dest ...any) error {
	var scanErr error
	r.tx.queue(r.query, r.args...).QueryRow(func(row pgx.Row) error {
		// pgx forgets the batch's prepared statements when a callback
		// fails; a missing row is an answer, not a failure.
		if scanErr = row.Scan(dest...); errors.Is(scanErr, pgx.ErrNoRows) {
			return nil
		}
		return scanErr
	})
	if err := r.tx.send(); err != nil {
		return err
	}
	return scanErr
}

// querier is the pool or a transaction.
type querier interface {
	Query(ctx context.Context, query string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) pgx.Row
}

// SQLSTATE codes that storage turns into consentd error codes.
const uniqueViolation = "23505"

// dbError turns a unique violation into ECONFLICT, by its SQLSTATE code.
func dbError(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != uniqueViolation {
		return err
	}
	switch pgErr.ConstraintName {
	case "workspaces_name_key":
		return consentd.Errorf(consentd.ECONFLICT, "a workspace with this name exists")
	case "api_keys_hash_key":
		return consentd.Errorf(consentd.ECONFLICT, "this key exists")
	}
	return consentd.Errorf(consentd.ECONFLICT, "this conflicts with a record written at the same time; retry")
}

// notFound turns pgx.ErrNoRows into an ENOTFOUND error.
func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return consentd.Errorf(consentd.ENOTFOUND, "%s not found", what)
	}
	return err
}

func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }
