package postgres

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/consentd/consentd"
	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"
)

// logState is a workspace's log as one transaction holds it: locked, its
// size, and the entries and tlog hashes appended, written at commit.
type logState struct {
	tx      *Tx
	wsID    string
	loaded  bool  // the lock is granted and size, version and hashes are read
	version int64 // the workspace's catalog version under the lock; -1 once tx changed it
	size    int64 // committed entries plus those appended in tx

	// hashes holds the tlog stored hashes that appends need: the committed
	// ones of the tree's right edge, read with the lock, and those made in
	// tx. Each append needs only these (see headSQL).
	hashes map[int64]tlog.Hash

	// bulk makes flush COPY the rows rather than insert them from arrays:
	// set by the requests that append thousands of entries (ImportBatch).
	bulk bool

	// copied counts the entries (from the first) that a request of tx
	// has written already (see streamLog); flush writes the others.
	copied int

	// Rows to insert at commit, as columns.
	seq, at      []int64
	typ, subject []string
	data         [][]byte
	leafHash     []tlog.Hash
	idx          []int64
	hash         []tlog.Hash
}

// grow makes room for n more entries, and their hashes (about two each).
func (l *logState) grow(n int) {
	hashes := make(map[int64]tlog.Hash, len(l.hashes)+2*n)
	for idx, h := range l.hashes {
		hashes[idx] = h
	}
	l.hashes = hashes
	l.seq, l.at = slices.Grow(l.seq, n), slices.Grow(l.at, n)
	l.typ, l.subject = slices.Grow(l.typ, n), slices.Grow(l.subject, n)
	l.data, l.leafHash = slices.Grow(l.data, n), slices.Grow(l.leafHash, n)
	l.idx, l.hash = slices.Grow(l.idx, 2*n), slices.Grow(l.hash, 2*n)
}

// logMark is how far a log in a transaction had got, to go back to when a
// request of the transaction fails (see Tx.savepoint).
type logMark struct {
	size, version int64
	entries       int
	hashes        int
	copied        int
}

func (l *logState) mark() logMark {
	return logMark{size: l.size, version: l.version, entries: len(l.seq), hashes: len(l.idx), copied: l.copied}
}

// reset forgets the entries and hashes appended since m, and that those
// written since m were (the savepoint's rollback undoes them).
func (l *logState) reset(m logMark) {
	l.copied = m.copied
	for _, idx := range l.idx[m.hashes:] {
		delete(l.hashes, idx)
	}
	l.size, l.version = m.size, m.version
	l.seq, l.at, l.typ, l.subject = l.seq[:m.entries], l.at[:m.entries], l.typ[:m.entries], l.subject[:m.entries]
	l.data, l.leafHash = l.data[:m.entries], l.leafHash[:m.entries]
	l.idx, l.hash = l.idx[:m.hashes], l.hash[:m.hashes]
}

// frontierSQL selects, from the one-row relation n(n), the stored hash
// indexes of the perfect subtrees that make up the tree of size n: one per
// set bit of n, at level i, node (n>>i)-1. The stored hash index of node k
// at level i, tlog.StoredHashIndex(i, k), is 2m - popcount(m) + i with
// m = ((k+1)<<i) - 1.
const frontierSQL = `SELECT 2 * m - length(replace(m::bit(64)::text, '0', '')) + i AS idx
	FROM (SELECT ((n >> i) << i) - 1 AS m, i FROM n, generate_series(0, 62) AS i WHERE (n >> i) & 1 = 1) s`

// headSQL reads, under the lock, the workspace's catalog version, its log
// size n, and the frontier hashes of the tree of size n (frontierSQL). They
// are all that appending leaves n+1, n+2, ... needs of the committed tree:
// the other hashes an append reads are the ones earlier appends in the
// same transaction made.
const headSQL = `WITH n AS (SELECT COALESCE(MAX(seq), 0) AS n FROM log_entries WHERE workspace_id = $1),
	f AS (` + frontierSQL + `)
	SELECT w.catalog_version, n.n, h.idx, h.hash
	FROM workspaces w CROSS JOIN n
	LEFT JOIN (SELECT h.idx, h.hash FROM log_hashes h JOIN f ON h.idx = f.idx WHERE h.workspace_id = $1) h ON true
	WHERE w.id = $1`

// lockLog queues the statements that lock the workspace's log for the rest
// of tx and read its head; they go out with the next round trip. Statements
// queued after them run once the lock is granted, and so read the latest
// committed state. The transaction's clock is read again when the lock is
// granted, so that the log's times follow its order in this process.
func (tx *Tx) lockLog(wsID string) *logState {
	l := &logState{tx: tx, wsID: wsID, hashes: map[int64]tlog.Hash{}}
	tx.logs[wsID] = l
	tx.queue(`SELECT pg_advisory_xact_lock(hashtextextended('consentd-log:' || $1::text, 0))`, wsID)
	tx.queue(headSQL, wsID).Query(func(rows pgx.Rows) error {
		tx.now = tx.db.Now().UTC()
		for rows.Next() {
			var idx *int64
			var h []byte
			if err := rows.Scan(&l.version, &l.size, &idx, &h); err != nil {
				return err
			}
			if idx != nil && len(h) == tlog.HashSize {
				l.hashes[*idx] = tlog.Hash(h)
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

// log returns the workspace's locked log, its head read.
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
	return l, nil
}

// appendLog appends e to the workspace's log inside tx: it numbers the entry
// and computes its leaf hash and the tlog hashes that the new leaf
// completes; they are inserted at commit. It returns the entry's seq.
func (tx *Tx) appendLog(wsID string, e *consentd.LogEntry) (int64, error) {
	l, err := tx.log(wsID)
	if err != nil {
		return 0, err
	}
	n := l.size
	e.Seq = n + 1
	if e.At.IsZero() {
		e.At = tx.now
	}
	data, err := json.Marshal(e)
	if err != nil {
		return 0, fmt.Errorf("log entry: %w", err)
	}
	hashes, err := tlog.StoredHashes(n, data, l)
	if err != nil {
		return 0, fmt.Errorf("log hashes: %w", err)
	}
	base := tlog.StoredHashIndex(0, n)
	for i, h := range hashes {
		l.hashes[base+int64(i)] = h
		l.idx = append(l.idx, base+int64(i))
	}
	l.hash = append(l.hash, hashes...)
	l.seq = append(l.seq, e.Seq)
	l.at = append(l.at, nanos(e.At))
	l.typ = append(l.typ, e.Type)
	l.subject = append(l.subject, e.Subject)
	l.data = append(l.data, data)
	l.leafHash = append(l.leafHash, hashes[0])
	l.size = e.Seq
	return e.Seq, nil
}

// ReadHashes implements tlog.HashReader over the hashes the transaction
// holds, reading any other from the committed tree.
func (l *logState) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var missing []int64
	for i, idx := range indexes {
		h, ok := l.hashes[idx]
		if !ok {
			missing = append(missing, idx)
		}
		out[i] = h
	}
	if len(missing) == 0 {
		return out, nil
	}
	read, err := hashReader{l.tx.ctx, l.tx, l.wsID}.ReadHashes(missing)
	if err != nil {
		return nil, err
	}
	for i, idx := range missing {
		l.hashes[idx] = read[i]
	}
	for i, idx := range indexes {
		out[i] = l.hashes[idx]
	}
	return out, nil
}

// flush writes the appended entries and hashes, queued as inserts from
// arrays or, for a bulk log, copied (round trips of their own), and queues
// the notification of the new log size on Channel, "<workspace id>:<last
// seq>", which PostgreSQL delivers at commit (once per transaction and
// workspace).
func (l *logState) flush() error {
	if len(l.seq) == 0 {
		return nil
	}
	tx := l.tx
	seq, at, typ, subject, data, leafHash := l.seq[l.copied:], l.at[l.copied:], l.typ[l.copied:], l.subject[l.copied:], l.data[l.copied:], l.leafHash[l.copied:]
	switch {
	case l.bulk:
		c := tx.db.copyBuf()
		for i, idx := range l.idx {
			c.row(3)
			c.text(l.wsID)
			c.int8(idx)
			c.bytea(l.hash[i][:])
		}
		if err := tx.copyFrom("log_hashes", "workspace_id, idx, hash", c); err != nil {
			return err
		}
		c = tx.db.copyBuf()
		for i := l.copied; i < len(l.seq); i++ {
			l.entryRow(c, i)
		}
		if err := tx.copyFrom("log_entries", logEntryCols, c); err != nil {
			return err
		}
	default:
		tx.queue(`INSERT INTO log_hashes (workspace_id, idx, hash) SELECT $1::text, * FROM unnest($2::bigint[], $3::bytea[])`, l.wsID, l.idx, hashBytes(l.hash))
		if len(seq) > 0 {
			tx.queue(`INSERT INTO log_entries (workspace_id, seq, at, type, subject, data, leaf_hash)
		SELECT $1::text, * FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bytea[], $7::bytea[])`,
				l.wsID, seq, at, typ, subject, data, hashBytes(leafHash))
		}
	}
	tx.queue(`SELECT pg_notify($1, $2)`, Channel, l.wsID+":"+strconv.FormatInt(l.size, 10))
	return nil
}

const logEntryCols = "workspace_id, seq, at, type, subject, data, leaf_hash"

// entryRow adds entry i to c, as a row of log_entries (logEntryCols).
func (l *logState) entryRow(c *copyBuf, i int) {
	c.row(7)
	c.text(l.wsID)
	c.int8(l.seq[i])
	c.int8(l.at[i])
	c.text(l.typ[i])
	c.text(l.subject[i])
	c.bytea(l.data[i])
	c.bytea(l.leafHash[i][:])
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
	for ; l.copied < len(l.seq); l.copied++ {
		l.entryRow(s.c, l.copied)
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

// hashBytes returns the hashes as byte slices (into hs).
func hashBytes(hs []tlog.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

// appended returns the entries tx appended, per workspace.
func (tx *Tx) appended() map[string][]consentd.LogRecord {
	out := map[string][]consentd.LogRecord{}
	for wsID, l := range tx.logs {
		if len(l.seq) == 0 {
			continue
		}
		recs := make([]consentd.LogRecord, len(l.seq))
		for i := range l.seq {
			recs[i] = consentd.LogRecord{Seq: l.seq[i], LeafHash: l.leafHash[i][:], Entry: l.data[i]}
		}
		out[wsID] = recs
	}
	return out
}

// hashReader reads tlog stored hashes of one workspace.
type hashReader struct {
	ctx  context.Context
	q    querier
	wsID string
}

// ReadHashes implements tlog.HashReader, in one query.
func (r hashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	rows, err := r.q.Query(r.ctx, `SELECT idx, hash FROM log_hashes WHERE workspace_id = $1 AND idx = ANY($2)`, r.wsID, indexes)
	if err != nil {
		return nil, fmt.Errorf("read hashes: %w", err)
	}
	defer rows.Close()
	got := make(map[int64]tlog.Hash, len(indexes))
	for rows.Next() {
		var idx int64
		var b []byte
		if err := rows.Scan(&idx, &b); err != nil {
			return nil, fmt.Errorf("read hashes: %w", err)
		}
		if len(b) != tlog.HashSize {
			return nil, fmt.Errorf("read hash %d: %d bytes", idx, len(b))
		}
		got[idx] = tlog.Hash(b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read hashes: %w", err)
	}
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		h, ok := got[idx]
		if !ok {
			return nil, fmt.Errorf("read hash %d: not found", idx)
		}
		out[i] = h
	}
	return out, nil
}

// Log returns up to limit entries after seq.
func (db *DB) Log(ctx context.Context, wsID string, after int64, limit int) ([]consentd.LogRecord, error) {
	rows, err := db.pool.Query(ctx, `SELECT seq, data, leaf_hash FROM log_entries WHERE workspace_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, wsID, after, limit)
	if err != nil {
		return nil, err
	}
	return scanLog(rows)
}

func scanLog(rows pgx.Rows) ([]consentd.LogRecord, error) {
	defer rows.Close()
	out := []consentd.LogRecord{}
	for rows.Next() {
		var r consentd.LogRecord
		var data []byte
		if err := rows.Scan(&r.Seq, &data, &r.LeafHash); err != nil {
			return nil, err
		}
		r.Entry = data
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
	return tlog.TreeHash(n, hashReader{ctx, db.pool, wsID})
}

// ProveRecord returns the inclusion proof of entry seq in the tree of size n.
func (db *DB) ProveRecord(ctx context.Context, wsID string, seq, n int64) (tlog.RecordProof, error) {
	return tlog.ProveRecord(n, seq-1, hashReader{ctx, db.pool, wsID})
}

// HashReader returns a tlog.HashReader over the committed hashes.
func (db *DB) HashReader(ctx context.Context, wsID string) tlog.HashReader {
	return hashReader{ctx, db.pool, wsID}
}

// LogEntry returns one entry; ENOTFOUND when there is none.
func (db *DB) LogEntry(ctx context.Context, wsID string, seq int64) (*consentd.LogRecord, error) {
	r := &consentd.LogRecord{Seq: seq}
	var data []byte
	err := db.pool.QueryRow(ctx, `SELECT data, leaf_hash FROM log_entries WHERE workspace_id = $1 AND seq = $2`, wsID, seq).Scan(&data, &r.LeafHash)
	if err != nil {
		return nil, notFound(err, "log entry")
	}
	r.Entry = data
	return r, nil
}

// SubjectLog returns the log entries about one subject, oldest first.
func (db *DB) SubjectLog(ctx context.Context, wsID, subject string) ([]consentd.LogRecord, error) {
	rows, err := db.pool.Query(ctx, `SELECT seq, data, leaf_hash FROM log_entries WHERE workspace_id = $1 AND subject = $2 ORDER BY seq`, wsID, subject)
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
