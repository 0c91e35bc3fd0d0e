package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
	"golang.org/x/mod/sumdb/tlog"
)

// logAppender returns the appender of the workspace's log in tx: the
// edge kept from the last commit when the log has not grown since, else
// one rebuilt from the newest leaf hashes and tile roots.
func (tx *Tx) logAppender(wsID string) (*ledger.Appender, error) {
	if a := tx.logs[wsID]; a != nil {
		return a, nil
	}
	var n int64
	if err := tx.QueryRowContext(tx.ctx, `SELECT COALESCE(MAX(seq), 0) FROM log_entries WHERE workspace_id = ?`, wsID).Scan(&n); err != nil {
		return nil, fmt.Errorf("log size: %w", err)
	}
	edge := tx.db.edges.Get(wsID, n)
	if edge == nil {
		var err error
		if edge, err = ledger.RebuildEdge(n, tileSource{tx.ctx, tx, wsID}); err != nil {
			return nil, err
		}
	}
	a := ledger.NewAppender(edge)
	tx.logs[wsID] = a
	return a, nil
}

// appendLog appends e to the workspace's log inside tx: the entry's row
// and the full tiles it completes. It returns the entry's seq.
func (tx *Tx) appendLog(wsID string, e *consentd.LogEntry) (int64, error) {
	a, err := tx.logAppender(wsID)
	if err != nil {
		return 0, err
	}
	r, tiles, err := a.Append(e, tx.now)
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(tx.ctx, `INSERT INTO log_entries (`+logEntryCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, logEntryArgs(wsID, &r)...); err != nil {
		return 0, fmt.Errorf("log entry: %w", err)
	}
	for _, t := range tiles {
		if _, err := tx.ExecContext(tx.ctx, `INSERT INTO log_tiles (workspace_id, level, idx, hashes, root) VALUES (?, ?, ?, ?, ?)`,
			wsID, t.Level, t.Index, t.Hashes, t.Root[:]); err != nil {
			return 0, fmt.Errorf("log tile: %w", err)
		}
	}
	tx.added = append(tx.added, appended{wsID, r})
	return e.Seq, nil
}

const logEntryCols = `workspace_id, seq, at, type, subject, data, leaf_hash, evidence, opening`

func logEntryArgs(wsID string, r *ledger.Row) []any {
	return []any{wsID, r.Seq, nanos(r.At), r.Type, consentd.StoredSubject(r.Subject), r.Leaf, r.LeafHash[:], r.Evidence, r.Opening}
}

// tileSource reads one workspace's tiles and leaf hashes.
type tileSource struct {
	ctx  context.Context
	q    querier
	wsID string
}

// LeafHashes implements ledger.EdgeSource.
func (s tileSource) LeafHashes(from, to int64) ([]tlog.Hash, error) {
	rows, err := s.q.QueryContext(s.ctx, `SELECT leaf_hash FROM log_entries WHERE workspace_id = ? AND seq > ? AND seq <= ? ORDER BY seq`, s.wsID, from, to)
	if err != nil {
		return nil, fmt.Errorf("leaf hashes: %w", err)
	}
	return scanHashes(rows)
}

// TileRoots implements ledger.EdgeSource.
func (s tileSource) TileRoots(level int, from, to int64) ([]tlog.Hash, error) {
	rows, err := s.q.QueryContext(s.ctx, `SELECT root FROM log_tiles WHERE workspace_id = ? AND level = ? AND idx >= ? AND idx < ? ORDER BY idx`, s.wsID, level, from, to)
	if err != nil {
		return nil, fmt.Errorf("tile roots: %w", err)
	}
	return scanHashes(rows)
}

// FullTile implements ledger.TileSource.
func (s tileSource) FullTile(level int, index int64) ([]byte, error) {
	var b []byte
	err := s.q.QueryRowContext(s.ctx, `SELECT hashes FROM log_tiles WHERE workspace_id = ? AND level = ? AND idx = ?`, s.wsID, level, index).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return b, err
}

func scanHashes(rows *sql.Rows) ([]tlog.Hash, error) {
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
	rows, err := db.r.QueryContext(ctx, `SELECT `+logReadCols+` FROM log_entries WHERE workspace_id = ? AND seq > ? ORDER BY seq LIMIT ?`, wsID, after, limit)
	if err != nil {
		return nil, err
	}
	return scanLog(rows)
}

// logReadCols are the columns scanLogRow reads.
const logReadCols = `seq, at, type, subject, data, leaf_hash, evidence, opening`

func scanLogRow(row interface{ Scan(...any) error }) (consentd.LogRecord, error) {
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

func scanLog(rows *sql.Rows) ([]consentd.LogRecord, error) {
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

// LogSize returns the number of entries in the workspace's log.
func (db *DB) LogSize(ctx context.Context, wsID string) (int64, error) {
	var n int64
	err := db.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM log_entries WHERE workspace_id = ?`, wsID).Scan(&n)
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
	return ledger.NewTileHashReader(tileSource{ctx, db.r, wsID})
}

// FullTile returns the stored full tile at level and index, or nil when
// there is none.
func (db *DB) FullTile(ctx context.Context, wsID string, level int, index int64) ([]byte, error) {
	return tileSource{ctx, db.r, wsID}.FullTile(level, index)
}

// LogEntry returns one entry; ENOTFOUND when there is none.
func (db *DB) LogEntry(ctx context.Context, wsID string, seq int64) (*consentd.LogRecord, error) {
	r, err := scanLogRow(db.r.QueryRowContext(ctx, `SELECT `+logReadCols+` FROM log_entries WHERE workspace_id = ? AND seq = ?`, wsID, seq))
	if err != nil {
		return nil, notFound(err, "log entry")
	}
	return &r, nil
}

// SubjectLog returns the log entries about one subject, oldest first.
func (db *DB) SubjectLog(ctx context.Context, wsID, subject string) ([]consentd.LogRecord, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+logReadCols+` FROM log_entries INDEXED BY log_entries_subject WHERE workspace_id = ? AND subject = ? ORDER BY seq`, wsID, consentd.StoredSubject(subject))
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
// appendLog, but keeps the rows to store in memory until flush stores them
// with multi-row INSERTs.
type logBatch struct {
	tx        *Tx
	wsID      string
	entryArgs []any // log_entries rows to insert
	tileArgs  []any // log_tiles rows to insert
}

func (tx *Tx) newLogBatch(wsID string) *logBatch {
	return &logBatch{tx: tx, wsID: wsID}
}

// append numbers e and folds it into the tree; flush stores it.
func (b *logBatch) append(e *consentd.LogEntry) (int64, error) {
	tx := b.tx
	a, err := tx.logAppender(b.wsID)
	if err != nil {
		return 0, err
	}
	r, tiles, err := a.Append(e, tx.now)
	if err != nil {
		return 0, err
	}
	b.entryArgs = append(b.entryArgs, logEntryArgs(b.wsID, &r)...)
	for _, t := range tiles {
		b.tileArgs = append(b.tileArgs, b.wsID, t.Level, t.Index, t.Hashes, t.Root[:])
	}
	tx.added = append(tx.added, appended{b.wsID, r})
	return e.Seq, nil
}

// flush stores the entries and tiles appended since the last flush.
func (b *logBatch) flush() error {
	// By subject (the subject index's order); the seqs of one batch are
	// the end of the primary key whatever their order.
	entries := sortRows(b.entryArgs, 9, func(x, y []any) int { return strings.Compare(x[4].(string), y[4].(string)) })
	if err := b.tx.insertRows(`INSERT OR FAIL INTO log_entries (`+logEntryCols+`) VALUES `, `(?, ?, ?, ?, ?, ?, ?, ?, ?)`, ``, 9,
		entries); err != nil {
		return fmt.Errorf("log entry: %w", err)
	}
	if err := b.tx.insertRows(`INSERT OR FAIL INTO log_tiles (workspace_id, level, idx, hashes, root) VALUES `, `(?, ?, ?, ?, ?)`, ``, 5, b.tileArgs); err != nil {
		return fmt.Errorf("log tile: %w", err)
	}
	b.entryArgs, b.tileArgs = b.entryArgs[:0], b.tileArgs[:0]
	return nil
}

// sortRows returns the rows of args (width arguments each) ordered by
// cmp. A batch inserts its rows in key order: an index then takes them
// page after page instead of all over (the order of rows inserted in one
// transaction means nothing else).
func sortRows(args []any, width int, cmp func(a, b []any) int) []any {
	rows := make([][]any, len(args)/width)
	for i := range rows {
		rows[i] = args[i*width : (i+1)*width]
	}
	slices.SortFunc(rows, cmp)
	out := make([]any, 0, len(args))
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

// insertRowsPer is the most rows insertRows puts in one statement.
const insertRowsPer = 50

// insertRows inserts the rows of args (width arguments each) with
// statements of up to insertRowsPer rows: prefix, row repeated, suffix.
// Each statement length is prepared once (at most insertRowsPer of them).
func (tx *Tx) insertRows(prefix, row, suffix string, width int, args []any) error {
	for len(args) > 0 {
		n := min(len(args)/width, insertRowsPer)
		q := prefix + strings.Repeat(row+", ", n-1) + row + suffix
		chunk := args[:n*width]
		args = args[n*width:]
		if _, err := tx.ExecContext(tx.ctx, q, chunk...); err != nil {
			return err
		}
	}
	return nil
}
