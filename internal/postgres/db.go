// Package postgres is the PostgreSQL backend of consentd, for any number of
// stateless replicas on one database. It has the methods and the semantics
// of internal/sqlite, file for file.
//
// Every write is one READ COMMITTED transaction on one connection, sent in as
// few round trips as it can: BEGIN goes out with the first statements and
// COMMIT with the last. A write that appends to a workspace's consent log
// first takes a transaction-scoped advisory lock on that workspace
// (pg_advisory_xact_lock), then reads the log size and the current consent
// rows, so that the log stays one Merkle tree, numbered without gaps, and
// ordering by captured_at is decided on the latest committed state, whatever
// the number of writers and processes. The lock is released by COMMIT, after
// the commit is durable and visible.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/consentd/consentd"
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

	mu    sync.RWMutex
	cache map[string]*wsCache      // workspace id -> workspace and catalog as committed at cache.version
	gates map[string]chan struct{} // workspace id -> this process's turn to append to its log
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
	db := &DB{pool: pool, Now: time.Now, cache: map[string]*wsCache{}, gates: map[string]chan struct{}{}}
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

// migrate applies the embedded migrations that schema_migrations does not
// list, each in its own transaction, holding a session advisory lock so that
// concurrent Opens take turns.
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
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		version := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql")
		if err := migrateOne(ctx, conn, name, version); err != nil {
			return fmt.Errorf("migration %s: %w", version, err)
		}
	}
	return nil
}

func migrateOne(ctx context.Context, conn *pgxpool.Conn, name, version string) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, version).Scan(&n); err != nil || n > 0 {
		return err
	}
	body, err := migrations.ReadFile(name)
	if err != nil {
		return err
	}
	// Without arguments pgx uses the simple protocol, which runs a script.
	if _, err := tx.Exec(ctx, string(body)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, version, time.Now().UnixNano()); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Tx is a write transaction on one connection. Statements are queued and
// sent together when a result is needed and at commit: BEGIN goes out with
// the first of them, COMMIT with the last. Its clock is fixed when it
// starts, and again when it is granted a log lock (see lockLog).
type Tx struct {
	ctx   context.Context
	db    *DB
	conn  *pgxpool.Conn
	now   time.Time
	b     *pgx.Batch
	logs  map[string]*logState // workspace id -> its log, locked by this transaction
	after []func()             // run after a successful commit
}

// write runs fn in a new transaction and commits it. With wsID set, the
// transaction takes the workspace's log lock before anything fn queues, and
// this process lets one such transaction per workspace at a time hold a
// connection (the others wait in Go, not in PostgreSQL with a connection
// each). write returns once the commit is durable, or fn's error with
// nothing committed.
func (db *DB) write(ctx context.Context, wsID string, fn func(*Tx) error) error {
	if wsID != "" {
		release, err := db.gate(ctx, wsID)
		if err != nil {
			return err
		}
		defer release()
	}
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	tx := &Tx{ctx: ctx, db: db, conn: conn, now: db.Now().UTC(), b: &pgx.Batch{}, logs: map[string]*logState{}}
	defer tx.close()
	tx.queue(`BEGIN`)
	if wsID != "" {
		tx.lockLog(wsID)
	}
	if err := fn(tx); err != nil {
		return dbError(err)
	}
	for _, l := range tx.logs {
		l.flush()
	}
	tx.queue(`COMMIT`).Exec(func(ct pgconn.CommandTag) error {
		if ct.String() != "COMMIT" { // PostgreSQL answers ROLLBACK to COMMIT in a failed transaction
			return errors.New("commit unexpectedly resulted in rollback")
		}
		return nil
	})
	if err := tx.send(); err != nil {
		return dbError(err)
	}
	for _, f := range tx.after {
		f()
	}
	if db.OnCommit != nil {
		if added := tx.appended(); len(added) > 0 {
			db.OnCommit(added)
		}
	}
	return nil
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

// gate waits for this process's turn to append to the workspace's log.
func (db *DB) gate(ctx context.Context, wsID string) (release func(), err error) {
	db.mu.Lock()
	g := db.gates[wsID]
	if g == nil {
		g = make(chan struct{}, 1)
		db.gates[wsID] = g
	}
	db.mu.Unlock()
	select {
	case g <- struct{}{}:
		return func() { <-g }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
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
