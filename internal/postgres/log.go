package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"
)

// logState is a workspace's log as one transaction holds it: locked, its
// size, and the entries and tiles appended, written at commit.
type logState struct {
	tx      *Tx
	wsID    string
	loaded  bool  // the lock is granted and size and version are read
	version int64 // the workspace's catalog version under the lock; -1 once tx changed it
	size    int64 // committed entries, as read under the lock

	// app appends to the tree; set by tx.log once the size is known.
	app *ledger.Appender

	// bulk makes flush COPY the rows rather than insert them from arrays:
	// set by the requests that append thousands of entries (ImportBatch).
	bulk bool

	// copied counts the entries (from the first) that a request of tx
	// has written already (see streamLog); flush writes the others.
	copied int

	// Rows to insert at commit.
	rows  []ledger.Row
	tiles []ledger.Tile
}

// grow makes room for n more entries.
func (l *logState) grow(n int) {
	l.rows = slices.Grow(l.rows, n)
}

// logMark is how far a log in a transaction had got, to go back to when a
// request of the transaction fails (see Tx.savepoint).
type logMark struct {
	version int64
	app     ledger.Mark
	hasApp  bool
	entries int
	tiles   int
	copied  int
}

func (l *logState) mark() logMark {
	m := logMark{version: l.version, entries: len(l.rows), tiles: len(l.tiles), copied: l.copied}
	if l.app != nil {
		m.app, m.hasApp = l.app.Mark(), true
	}
	return m
}

// reset forgets the entries and tiles appended since m, and that those
// written since m were (the savepoint's rollback undoes them).
func (l *logState) reset(m logMark) {
	l.copied, l.version = m.copied, m.version
	if m.hasApp {
		l.app.Reset(m.app)
	} else {
		l.app = nil
	}
	l.rows, l.tiles = l.rows[:m.entries], l.tiles[:m.tiles]
}

// headSQL reads, under the lock, the workspace's catalog version and its
// log size.
const headSQL = `SELECT w.catalog_version, (SELECT COALESCE(MAX(seq), 0) FROM log_entries WHERE workspace_id = $1)
	FROM workspaces w WHERE w.id = $1`

// lockLog queues the statements that lock the workspace's log for the rest
// of tx and read its head; they go out with the next round trip. Statements
// queued after them run once the lock is granted, and so read the latest
// committed state. The transaction's clock is read again when the lock is
// granted, so that the log's times follow its order in this process.
func (tx *Tx) lockLog(wsID string) *logState {
	l := &logState{tx: tx, wsID: wsID}
	tx.logs[wsID] = l
	tx.queue(`SELECT pg_advisory_xact_lock(hashtextextended('consentd-log:' || $1::text, 0))`, wsID)
	tx.queue(headSQL, wsID).Query(func(rows pgx.Rows) error {
		tx.now = tx.db.Now().UTC()
		for rows.Next() {
			if err := rows.Scan(&l.version, &l.size); err != nil {
				return err
			}
			l.loaded = true
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if !l.loaded {
			return consentd.Errorf(consentd.ENOTFOUND, "workspace not found")
		}
		return nil
	})
	return l
}

// log returns the workspace's locked log, its head read and its appender
// ready: the edge kept from the last commit when the log has not grown
// since (no other replica wrote), else one rebuilt from the newest leaf
// hashes and tile roots.
func (tx *Tx) log(wsID string) (*logState, error) {
	l := tx.logs[wsID]
	if l == nil {
		return nil, fmt.Errorf("log of workspace %s is not locked by this transaction", wsID)
	}
	if !l.loaded {
		if err := tx.send(); err != nil {
			return nil, err
		}
	}
	if l.app == nil {
		n := l.size + int64(len(l.rows))
		edge := tx.db.edges.Get(wsID, n)
		if edge == nil {
			var err error
			if edge, err = ledger.RebuildEdge(n, tileSource{tx.ctx, tx, wsID}); err != nil {
				return nil, err
			}
		}
		l.app = ledger.NewAppender(edge)
	}
	return l, nil
}

// appendLog appends e to the workspace's log inside tx: it numbers the
// entry, encodes it and folds it into the tree; the entry and the tiles it
// completes are inserted at commit. It returns the entry's seq.
func (tx *Tx) appendLog(wsID string, e *consentd.LogEntry) (int64, error) {
	l, err := tx.log(wsID)
	if err != nil {
		return 0, err
	}
	r, tiles, err := l.app.Append(e, tx.now)
	if err != nil {
		return 0, err
	}
	l.rows = append(l.rows, r)
	l.tiles = append(l.tiles, tiles...)
	return e.Seq, nil
}

// flush writes the appended entries and tiles, queued as inserts from
// arrays or, for a bulk log, copied (round trips of their own), and queues
// the notification of the new log size on Channel, "<workspace id>:<last
// seq>", which PostgreSQL delivers at commit (once per transaction and
// workspace).
func (l *logState) flush() error {
	if len(l.rows) == 0 {
		return nil
	}
	tx := l.tx
	if len(l.tiles) > 0 {
		levels, idxs, hashes, roots := make([]int16, len(l.tiles)), make([]int64, len(l.tiles)), make([][]byte, len(l.tiles)), make([][]byte, len(l.tiles))
		for i, t := range l.tiles {
			levels[i], idxs[i], hashes[i], roots[i] = int16(t.Level), t.Index, t.Hashes, t.Root[:]
		}
		tx.queue(`INSERT INTO log_tiles (workspace_id, level, idx, hashes, root) SELECT $1::text, * FROM unnest($2::smallint[], $3::bigint[], $4::bytea[], $5::bytea[])`,
			l.wsID, levels, idxs, hashes, roots)
	}
	rows := l.rows[l.copied:]
	switch {
	case l.bulk:
		c := tx.db.copyBuf()
		for i := range rows {
			entryRow(c, l.wsID, &rows[i])
		}
		if err := tx.copyFrom("log_entries", logEntryCols, c); err != nil {
			return err
		}
	case len(rows) > 0:
		n := len(rows)
		seq, at, typ, subject := make([]int64, n), make([]int64, n), make([]string, n), make([]string, n)
		leaf, leafHash, evidence, opening := make([][]byte, n), make([][]byte, n), make([][]byte, n), make([][]byte, n)
		for i := range rows {
			r := &rows[i]
			seq[i], at[i], typ[i], subject[i] = r.Seq, nanos(r.At), r.Type, consentd.StoredSubject(r.Subject)
			leaf[i], leafHash[i], evidence[i], opening[i] = r.Leaf, r.LeafHash[:], r.Evidence, r.Opening
		}
		tx.queue(`INSERT INTO log_entries (`+logEntryCols+`)
		SELECT $1::text, * FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bytea[], $7::bytea[], $8::bytea[], $9::bytea[])`,
			l.wsID, seq, at, typ, subject, leaf, leafHash, evidence, opening)
	}
	tx.queue(`SELECT pg_notify($1, $2)`, Channel, l.wsID+":"+strconv.FormatInt(l.app.Size(), 10))
	return nil
}

const logEntryCols = "workspace_id, seq, at, type, subject, data, leaf_hash, evidence, opening"

// entryRow adds r to c, as a row of log_entries (logEntryCols).
func entryRow(c *copyBuf, wsID string, r *ledger.Row) {
	c.row(9)
	c.text(wsID)
	c.int8(r.Seq)
	c.int8(nanos(r.At))
	c.text(r.Type)
	c.text(consentd.StoredSubject(r.Subject))
	c.bytea(r.Leaf)
	c.bytea(r.LeafHash[:])
	for _, b := range [][]byte{r.Evidence, r.Opening} {
		if b == nil {
			c.null()
		} else {
			c.bytea(b)
		}
	}
}

// logStream copies a log's entries into log_entries while a request
// appends them, so that the server stores them while the client computes
// the next (the client and the server share the machine's cores). Until it
// is closed it holds tx's connection: nothing else may use it.
type logStream struct {
	l    *logState
	c    *copyBuf
	pw   *io.PipeWriter
	done chan error
	rows int64
}

// streamLog sends what is queued and starts copying the workspace's log
// entries not written yet, and those appended until close.
func (tx *Tx) streamLog(wsID string) (*logStream, error) {
	l, err := tx.log(wsID)
	if err != nil {
		return nil, err
	}
	if err := tx.send(); err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	s := &logStream{l: l, c: tx.db.copyBuf(), pw: pw, done: make(chan error, 1)}
	tx.trips++
	conn := tx.conn.Conn().PgConn()
	go func() {
		tag, err := conn.CopyFrom(tx.ctx, pr, `COPY log_entries (`+logEntryCols+`) FROM STDIN (FORMAT binary)`)
		if err == nil && tag.RowsAffected() != s.rows {
			err = fmt.Errorf("%d rows of %d", tag.RowsAffected(), s.rows)
		}
		if err != nil {
			err = fmt.Errorf("copy into log_entries: %w", err)
		} else {
			err = io.ErrClosedPipe // nothing more is read
		}
		pr.CloseWithError(err)
		s.done <- err
	}()
	return s, nil
}

// streamChunk is how much of the entries' data logStream gathers before
// handing it to the connection.
const streamChunk = 256 << 10

// write copies the entries appended since the last call, or gathers them
// until there are streamChunk bytes.
func (s *logStream) write() error {
	l := s.l
	for ; l.copied < len(l.rows); l.copied++ {
		entryRow(s.c, l.wsID, &l.rows[l.copied])
		s.rows++
	}
	if len(s.c.b) < streamChunk {
		return nil
	}
	_, err := s.pw.Write(s.c.b)
	s.c.b = s.c.b[:0]
	return err
}

// close ends the copy and returns its error: with err non-nil, the copy is
// abandoned (and err returned) once the server has stopped reading.
func (s *logStream) close(err error) error {
	defer func() {
		if cap(s.c.b) <= 64<<20 {
			s.l.tx.db.copyBufs.Put(s.c)
		}
	}()
	if err == nil {
		if err = s.write(); err == nil {
			s.c.b = binary.BigEndian.AppendUint16(s.c.b, 0xffff) // trailer: -1
			_, err = s.pw.Write(s.c.b)
		}
	}
	if err != nil { // the request's, or the copy's (which a write returns)
		s.pw.CloseWithError(err)
		<-s.done
		return err
	}
	s.pw.Close()
	if derr := <-s.done; derr != io.ErrClosedPipe {
		return derr
	}
	return nil
}

// appended returns the entries tx appended, per workspace.
func (tx *Tx) appended() map[string][]consentd.LogRecord {
	out := map[string][]consentd.LogRecord{}
	for wsID, l := range tx.logs {
		if len(l.rows) == 0 {
			continue
		}
		recs := make([]consentd.LogRecord, len(l.rows))
		for i := range l.rows {
			recs[i] = l.rows[i].Appended()
		}
		out[wsID] = recs
	}
	return out
}

// tileSource reads one workspace's tiles and leaf hashes.
type tileSource struct {
	ctx  context.Context
	q    querier
	wsID string
}

// LeafHashes implements ledger.EdgeSource.
func (s tileSource) LeafHashes(from, to int64) ([]tlog.Hash, error) {
	rows, err := s.q.Query(s.ctx, `SELECT leaf_hash FROM log_entries WHERE workspace_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq`, s.wsID, from, to)
	if err != nil {
		return nil, fmt.Errorf("leaf hashes: %w", err)
	}
	return scanHashes(rows)
}

// TileRoots implements ledger.EdgeSource.
func (s tileSource) TileRoots(level int, from, to int64) ([]tlog.Hash, error) {
	rows, err := s.q.Query(s.ctx, `SELECT root FROM log_tiles WHERE workspace_id = $1 AND level = $2 AND idx >= $3 AND idx < $4 ORDER BY idx`, s.wsID, level, from, to)
	if err != nil {
		return nil, fmt.Errorf("tile roots: %w", err)
	}
	return scanHashes(rows)
}

// FullTile implements ledger.TileSource.
func (s tileSource) FullTile(level int, index int64) ([]byte, error) {
	var b []byte
	err := s.q.QueryRow(s.ctx, `SELECT hashes FROM log_tiles WHERE workspace_id = $1 AND level = $2 AND idx = $3`, s.wsID, level, index).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return b, err
}

func scanHashes(rows pgx.Rows) ([]tlog.Hash, error) {
	defer rows.Close()
	var out []tlog.Hash
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		if len(b) != tlog.HashSize {
			return nil, fmt.Errorf("a stored hash of %d bytes", len(b))
		}
		out = append(out, tlog.Hash(b))
	}
	return out, rows.Err()
}

// Log returns up to limit entries after seq.
func (db *DB) Log(ctx context.Context, wsID string, after int64, limit int) ([]consentd.LogRecord, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+logReadCols+` FROM log_entries WHERE workspace_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, wsID, after, limit)
	if err != nil {
		return nil, err
	}
	return scanLog(rows)
}

// logReadCols are the columns scanLogRow reads.
const logReadCols = `seq, at, type, subject, data, leaf_hash, evidence, opening`

func scanLogRow(row pgx.Row) (consentd.LogRecord, error) {
	var r ledger.Row
	var at int64
	var leafHash []byte
	if err := row.Scan(&r.Seq, &at, &r.Type, &r.Subject, &r.Leaf, &leafHash, &r.Evidence, &r.Opening); err != nil {
		return consentd.LogRecord{}, err
	}
	r.At, r.Subject = fromNanos(at), consentd.SubjectFromStored(r.Subject)
	copy(r.LeafHash[:], leafHash)
	return r.Read()
}

func scanLog(rows pgx.Rows) ([]consentd.LogRecord, error) {
	defer rows.Close()
	out := []consentd.LogRecord{}
	for rows.Next() {
		r, err := scanLogRow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// LogSize returns the number of entries in the workspace's log. Entries
// commit in seq order, so the log never shows a gap.
func (db *DB) LogSize(ctx context.Context, wsID string) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM log_entries WHERE workspace_id = $1`, wsID).Scan(&n)
	return n, err
}

// TreeHash returns the Merkle root of the first n entries.
func (db *DB) TreeHash(ctx context.Context, wsID string, n int64) (tlog.Hash, error) {
	return tlog.TreeHash(n, db.HashReader(ctx, wsID))
}

// ProveRecord returns the inclusion proof of entry seq in the tree of size n.
func (db *DB) ProveRecord(ctx context.Context, wsID string, seq, n int64) (tlog.RecordProof, error) {
	return tlog.ProveRecord(n, seq-1, db.HashReader(ctx, wsID))
}

// HashReader returns a tlog.HashReader over the committed tiles. It keeps
// the tiles it reads: use one per proof.
func (db *DB) HashReader(ctx context.Context, wsID string) tlog.HashReader {
	return ledger.NewTileHashReader(tileSource{ctx, db.pool, wsID})
}

// FullTile returns the stored full tile at level and index, or nil when
// there is none.
func (db *DB) FullTile(ctx context.Context, wsID string, level int, index int64) ([]byte, error) {
	return tileSource{ctx, db.pool, wsID}.FullTile(level, index)
}

// LogEntry returns one entry; ENOTFOUND when there is none.
func (db *DB) LogEntry(ctx context.Context, wsID string, seq int64) (*consentd.LogRecord, error) {
	r, err := scanLogRow(db.pool.QueryRow(ctx, `SELECT `+logReadCols+` FROM log_entries WHERE workspace_id = $1 AND seq = $2`, wsID, seq))
	if err != nil {
		return nil, notFound(err, "log entry")
	}
	return &r, nil
}

// SubjectLog returns the log entries about one subject, oldest first.
func (db *DB) SubjectLog(ctx context.Context, wsID, subject string) ([]consentd.LogRecord, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+logReadCols+` FROM log_entries WHERE workspace_id = $1 AND subject = $2 ORDER BY seq`, wsID, consentd.StoredSubject(subject))
	if err != nil {
		return nil, err
	}
	return scanLog(rows)
}

// AddCheckpoint stores a signed checkpoint of size n; one of that size
// already stored stays.
func (db *DB) AddCheckpoint(ctx context.Context, wsID string, n int64, signed string) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO checkpoints (workspace_id, size, signed, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
		wsID, n, signed, nanos(db.Now()))
	return err
}

// Checkpoints returns every signed checkpoint of the workspace, by size.
func (db *DB) Checkpoints(ctx context.Context, wsID string) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT signed FROM checkpoints WHERE workspace_id = $1 ORDER BY size`, wsID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// LatestCheckpoint returns the newest signed checkpoint and its size;
// ENOTFOUND when none was signed.
func (db *DB) LatestCheckpoint(ctx context.Context, wsID string) (string, int64, error) {
	var s string
	var n int64
	err := db.pool.QueryRow(ctx, `SELECT signed, size FROM checkpoints WHERE workspace_id = $1 ORDER BY size DESC LIMIT 1`, wsID).Scan(&s, &n)
	return s, n, notFound(err, "checkpoint")
}

// IndexState reads, in one snapshot, every consent's status and every
// suppression of a workspace, and the log size they reflect: what a decision
// index is warmed from before it follows the log after that size.
func (db *DB) IndexState(ctx context.Context, wsID string, consent func(hash []byte, channelType string, status consentd.Status) error,
	suppression func(hash []byte, s *consentd.Suppression) error) (int64, error) {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.Background())
	var n int64
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM log_entries WHERE workspace_id = $1`, wsID).Scan(&n); err != nil {
		return 0, err
	}
	rows, err := tx.Query(ctx, `SELECT cp_hash, channel_type, status FROM consents WHERE workspace_id = $1`, wsID)
	if err != nil {
		return 0, err
	}
	var hash []byte
	var ct, status string
	_, err = pgx.ForEachRow(rows, []any{&hash, &ct, &status}, func() error { return consent(hash, ct, consentd.Status(status)) })
	if err != nil {
		return 0, err
	}
	rows, err = tx.Query(ctx, `SELECT id, cp_hash, kind, channel, reason FROM suppressions WHERE workspace_id = $1`, wsID)
	if err != nil {
		return 0, err
	}
	s := &consentd.Suppression{}
	var kind, reason string
	_, err = pgx.ForEachRow(rows, []any{&s.ID, &hash, &kind, &s.Channel, &reason}, func() error {
		s.Kind, s.Reason = consentd.ContactPointKind(kind), consentd.SuppressionReason(reason)
		c := *s
		return suppression(hash, &c)
	})
	if err != nil {
		return 0, err
	}
	return n, tx.Commit(ctx)
}
