package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/consentd/consentd"
	"golang.org/x/mod/sumdb/tlog"
)

// appendLog appends e to the workspace's log inside tx: it numbers the entry,
// stores its leaf data and leaf hash, and the tlog hashes that the new leaf
// completes. It returns the entry's seq.
func (tx *Tx) appendLog(wsID string, e *consentd.LogEntry) (int64, error) {
	n, ok := tx.sizes[wsID]
	if !ok {
		if err := tx.QueryRowContext(tx.ctx, `SELECT COALESCE(MAX(seq), 0) FROM log_entries WHERE workspace_id = ?`, wsID).Scan(&n); err != nil {
			return 0, fmt.Errorf("log size: %w", err)
		}
	}
	e.Seq = n + 1
	if e.At.IsZero() {
		e.At = tx.now
	}
	data, err := json.Marshal(e)
	if err != nil {
		return 0, fmt.Errorf("log entry: %w", err)
	}
	hashes, err := tlog.StoredHashes(n, data, hashReader{tx.ctx, tx, wsID})
	if err != nil {
		return 0, fmt.Errorf("log hashes: %w", err)
	}
	base := tlog.StoredHashIndex(0, n)
	for i, h := range hashes {
		if _, err := tx.ExecContext(tx.ctx, `INSERT INTO log_hashes (workspace_id, idx, hash) VALUES (?, ?, ?)`, wsID, base+int64(i), h[:]); err != nil {
			return 0, fmt.Errorf("log hash: %w", err)
		}
	}
	if _, err := tx.ExecContext(tx.ctx, `INSERT INTO log_entries (workspace_id, seq, at, type, subject, data, leaf_hash) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		wsID, e.Seq, nanos(e.At), e.Type, e.Subject, data, hashes[0][:]); err != nil {
		return 0, fmt.Errorf("log entry: %w", err)
	}
	tx.sizes[wsID] = e.Seq
	tx.added = append(tx.added, appended{wsID, consentd.LogRecord{Seq: e.Seq, LeafHash: hashes[0][:], Entry: data}})
	return e.Seq, nil
}

// hashReader reads tlog stored hashes of one workspace.
type hashReader struct {
	ctx  context.Context
	q    querier
	wsID string
}

// ReadHashes implements tlog.HashReader.
func (r hashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		var b []byte
		if err := r.q.QueryRowContext(r.ctx, `SELECT hash FROM log_hashes WHERE workspace_id = ? AND idx = ?`, r.wsID, idx).Scan(&b); err != nil {
			return nil, fmt.Errorf("read hash %d: %w", idx, err)
		}
		copy(out[i][:], b)
	}
	return out, nil
}

// Log returns up to limit entries after seq.
func (db *DB) Log(ctx context.Context, wsID string, after int64, limit int) ([]consentd.LogRecord, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT seq, data, leaf_hash FROM log_entries WHERE workspace_id = ? AND seq > ? ORDER BY seq LIMIT ?`, wsID, after, limit)
	if err != nil {
		return nil, err
	}
	return scanLog(rows)
}

func scanLog(rows *sql.Rows) ([]consentd.LogRecord, error) {
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

// LogSize returns the number of entries in the workspace's log.
func (db *DB) LogSize(ctx context.Context, wsID string) (int64, error) {
	var n int64
	err := db.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM log_entries WHERE workspace_id = ?`, wsID).Scan(&n)
	return n, err
}

// TreeHash returns the Merkle root of the first n entries.
func (db *DB) TreeHash(ctx context.Context, wsID string, n int64) (tlog.Hash, error) {
	return tlog.TreeHash(n, hashReader{ctx, db.r, wsID})
}

// ProveRecord returns the inclusion proof of entry seq in the tree of size n.
func (db *DB) ProveRecord(ctx context.Context, wsID string, seq, n int64) (tlog.RecordProof, error) {
	return tlog.ProveRecord(n, seq-1, hashReader{ctx, db.r, wsID})
}

// HashReader returns a tlog.HashReader over the committed hashes.
func (db *DB) HashReader(ctx context.Context, wsID string) tlog.HashReader {
	return hashReader{ctx, db.r, wsID}
}

// LogEntry returns one entry; ENOTFOUND when there is none.
func (db *DB) LogEntry(ctx context.Context, wsID string, seq int64) (*consentd.LogRecord, error) {
	r := &consentd.LogRecord{Seq: seq}
	var data []byte
	err := db.r.QueryRowContext(ctx, `SELECT data, leaf_hash FROM log_entries WHERE workspace_id = ? AND seq = ?`, wsID, seq).Scan(&data, &r.LeafHash)
	if err != nil {
		return nil, notFound(err, "log entry")
	}
	r.Entry = data
	return r, nil
}

// SubjectLog returns the log entries about one subject, oldest first.
func (db *DB) SubjectLog(ctx context.Context, wsID, subject string) ([]consentd.LogRecord, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT seq, data, leaf_hash FROM log_entries WHERE workspace_id = ? AND subject = ? ORDER BY seq`, wsID, subject)
	if err != nil {
		return nil, err
	}
	return scanLog(rows)
}

// AddCheckpoint stores a signed checkpoint of size n.
func (db *DB) AddCheckpoint(ctx context.Context, wsID string, n int64, signed string) error {
	return db.write(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(tx.ctx, `INSERT OR IGNORE INTO checkpoints (workspace_id, size, signed, created_at) VALUES (?, ?, ?, ?)`, wsID, n, signed, nanos(tx.now))
		return err
	})
}

// Checkpoints returns every signed checkpoint of the workspace, by size.
func (db *DB) Checkpoints(ctx context.Context, wsID string) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT signed FROM checkpoints WHERE workspace_id = ? ORDER BY size`, wsID)
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
	err := db.r.QueryRowContext(ctx, `SELECT signed, size FROM checkpoints WHERE workspace_id = ? ORDER BY size DESC LIMIT 1`, wsID).Scan(&s, &n)
	return s, n, notFound(err, "checkpoint")
}

// IndexState reads, in one snapshot, every consent's status and every
// suppression of a workspace, and the log size they reflect: what a decision
// index is warmed from before it follows the log after that size.
func (db *DB) IndexState(ctx context.Context, wsID string, consent func(hash []byte, channelType string, status consentd.Status) error,
	suppression func(hash []byte, s *consentd.Suppression) error) (int64, error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var n int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM log_entries WHERE workspace_id = ?`, wsID).Scan(&n); err != nil {
		return 0, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT cp_hash, channel_type, status FROM consents WHERE workspace_id = ?`, wsID)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var hash []byte
	var ct, status string
	for rows.Next() {
		if err := rows.Scan(&hash, &ct, &status); err != nil {
			return 0, err
		}
		if err := consent(hash, ct, consentd.Status(status)); err != nil {
			return 0, err
		}
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	rows.Close()
	srows, err := tx.QueryContext(ctx, `SELECT id, cp_hash, kind, channel, reason FROM suppressions WHERE workspace_id = ?`, wsID)
	if err != nil {
		return 0, err
	}
	defer srows.Close()
	for srows.Next() {
		s := &consentd.Suppression{}
		var kind, reason string
		if err := srows.Scan(&s.ID, &hash, &kind, &s.Channel, &reason); err != nil {
			return 0, err
		}
		s.Kind, s.Reason = consentd.ContactPointKind(kind), consentd.SuppressionReason(reason)
		if err := suppression(hash, s); err != nil {
			return 0, err
		}
	}
	return n, srows.Err()
}

// logBatch appends entries to one workspace's log inside tx like
// appendLog, but keeps the rows to store and the tlog hashes it made in
// memory until flush stores them with multi-row INSERTs: the hashes a new
// leaf needs are mostly the ones the batch just made, so it reads few from
// the database.
type logBatch struct {
	tx        *Tx
	wsID      string
	hashes    map[int64]tlog.Hash // stored hashes made or read by the batch, by index
	hashArgs  []any               // log_hashes rows to insert
	entryArgs []any               // log_entries rows to insert
}

func (tx *Tx) newLogBatch(wsID string) *logBatch {
	return &logBatch{tx: tx, wsID: wsID, hashes: map[int64]tlog.Hash{}}
}

// append numbers e and computes its hashes; flush stores them.
func (b *logBatch) append(e *consentd.LogEntry) (int64, error) {
	tx := b.tx
	n, ok := tx.sizes[b.wsID]
	if !ok {
		if err := tx.QueryRowContext(tx.ctx, `SELECT COALESCE(MAX(seq), 0) FROM log_entries WHERE workspace_id = ?`, b.wsID).Scan(&n); err != nil {
			return 0, fmt.Errorf("log size: %w", err)
		}
	}
	e.Seq = n + 1
	if e.At.IsZero() {
		e.At = tx.now
	}
	data, err := json.Marshal(e)
	if err != nil {
		return 0, fmt.Errorf("log entry: %w", err)
	}
	hashes, err := tlog.StoredHashes(n, data, b)
	if err != nil {
		return 0, fmt.Errorf("log hashes: %w", err)
	}
	base := tlog.StoredHashIndex(0, n)
	for i := range hashes {
		b.hashes[base+int64(i)] = hashes[i]
		b.hashArgs = append(b.hashArgs, b.wsID, base+int64(i), hashes[i][:])
	}
	b.entryArgs = append(b.entryArgs, b.wsID, e.Seq, nanos(e.At), e.Type, e.Subject, data, hashes[0][:])
	tx.sizes[b.wsID] = e.Seq
	tx.added = append(tx.added, appended{b.wsID, consentd.LogRecord{Seq: e.Seq, LeafHash: hashes[0][:], Entry: data}})
	return e.Seq, nil
}

// ReadHashes implements tlog.HashReader: from the batch, else the database.
func (b *logBatch) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		h, ok := b.hashes[idx]
		if !ok {
			hs, err := (hashReader{b.tx.ctx, b.tx, b.wsID}).ReadHashes([]int64{idx})
			if err != nil {
				return nil, err
			}
			h = hs[0]
			b.hashes[idx] = h
		}
		out[i] = h
	}
	return out, nil
}

// flush stores the entries and hashes appended since the last flush.
func (b *logBatch) flush() error {
	if err := b.tx.insertRows(`INSERT OR FAIL INTO log_hashes (workspace_id, idx, hash) VALUES `, `(?, ?, ?)`, ``, 3, b.hashArgs); err != nil {
		return fmt.Errorf("log hash: %w", err)
	}
	if err := b.tx.insertRows(`INSERT OR FAIL INTO log_entries (workspace_id, seq, at, type, subject, data, leaf_hash) VALUES `, `(?, ?, ?, ?, ?, ?, ?)`, ``, 7,
		b.entryArgs); err != nil {
		return fmt.Errorf("log entry: %w", err)
	}
	b.hashArgs, b.entryArgs = b.hashArgs[:0], b.entryArgs[:0]
	// The next leaves need only the right edge of the tree: keep the
	// hashes of its complete subtrees, drop the rest.
	n := b.tx.sizes[b.wsID]
	keep := map[int64]tlog.Hash{}
	for level, size := 0, n; size > 0; level, size = level+1, size>>1 {
		if size&1 == 1 {
			idx := tlog.StoredHashIndex(level, size-1)
			if h, ok := b.hashes[idx]; ok {
				keep[idx] = h
			}
		}
	}
	b.hashes = keep
	return nil
}

// insertRowsPer is the most rows insertRows puts in one statement.
const insertRowsPer = 50

// insertRows inserts the rows of args (width arguments each) with
// statements of up to insertRowsPer rows: prefix, row repeated, suffix.
// The full-size statement is prepared once; the last, shorter one is not.
func (tx *Tx) insertRows(prefix, row, suffix string, width int, args []any) error {
	for len(args) > 0 {
		n := min(len(args)/width, insertRowsPer)
		q := prefix + strings.Repeat(row+", ", n-1) + row + suffix
		chunk := args[:n*width]
		args = args[n*width:]
		var err error
		if n == insertRowsPer {
			_, err = tx.ExecContext(tx.ctx, q, chunk...)
		} else {
			_, err = tx.Tx.ExecContext(tx.ctx, q, chunk...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
