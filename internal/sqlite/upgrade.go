package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
	"golang.org/x/mod/sumdb/tlog"
)

// upgradeTiles finishes the move of the log to tiles for a database
// written before it: every workspace's full tiles are made from the stored
// hashes of log_hashes, the subjects are rewritten in their stored
// spelling, and the table is dropped, in one transaction. The
// roots stay the same, so checkpoints and receipts issued before still
// verify. It returns the number of tiles made per workspace id, or nil for
// a database without log_hashes, which has nothing to do.
func (db *DB) upgradeTiles(ctx context.Context) (map[string]int64, error) {
	var n int
	if err := db.w.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'log_hashes'`).Scan(&n); err != nil || n == 0 {
		return nil, err
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT workspace_id, MAX(seq) FROM log_entries GROUP BY workspace_id`)
	if err != nil {
		return nil, fmt.Errorf("log sizes: %w", err)
	}
	sizes := map[string]int64{}
	for rows.Next() {
		var ws string
		var size int64
		if err := rows.Scan(&ws, &size); err != nil {
			rows.Close()
			return nil, fmt.Errorf("log sizes: %w", err)
		}
		sizes[ws] = size
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("log sizes: %w", err)
	}
	made := make(map[string]int64, len(sizes))
	for ws, size := range sizes {
		made[ws] = 0
		err := ledger.TilesFromHashes(size, storedHashes{ctx, tx, ws}, func(t ledger.Tile) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO log_tiles (workspace_id, level, idx, hashes, root) VALUES (?, ?, ?, ?, ?)`,
				ws, t.Level, t.Index, t.Hashes, t.Root[:])
			made[ws]++
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("workspace %s: %w", ws, err)
		}
	}
	if err := storeSubjects(ctx, tx); err != nil {
		return nil, fmt.Errorf("stored subjects: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DROP TABLE log_hashes`); err != nil {
		return nil, err
	}
	return made, tx.Commit()
}

// storeSubjects rewrites the subjects of the log's rows in their stored
// spelling (consentd.StoredSubject), a page at a time.
func storeSubjects(ctx context.Context, tx *sql.Tx) error {
	type row struct {
		ws      string
		seq     int64
		subject string
	}
	var ws string
	var seq int64
	for {
		rows, err := tx.QueryContext(ctx, `SELECT workspace_id, seq, subject FROM log_entries WHERE (workspace_id, seq) > (?, ?) ORDER BY workspace_id, seq LIMIT 5000`, ws, seq)
		if err != nil {
			return err
		}
		var page []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.ws, &r.seq, &r.subject); err != nil {
				rows.Close()
				return err
			}
			page = append(page, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range page {
			if st := consentd.StoredSubject(r.subject); st != r.subject {
				if _, err := tx.ExecContext(ctx, `UPDATE log_entries SET subject = ? WHERE workspace_id = ? AND seq = ?`, st, r.ws, r.seq); err != nil {
					return err
				}
			}
		}
		if len(page) < 5000 {
			return nil
		}
		ws, seq = page[len(page)-1].ws, page[len(page)-1].seq
	}
}

// storedHashes reads the tlog stored hashes of one workspace from
// log_hashes, the table tiles replace.
type storedHashes struct {
	ctx  context.Context
	tx   *sql.Tx
	wsID string
}

// ReadHashes implements tlog.HashReader.
func (r storedHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		var b []byte
		if err := r.tx.QueryRowContext(r.ctx, `SELECT hash FROM log_hashes WHERE workspace_id = ? AND idx = ?`, r.wsID, idx).Scan(&b); err != nil {
			return nil, fmt.Errorf("read hash %d: %w", idx, err)
		}
		copy(out[i][:], b)
	}
	return out, nil
}

// listStaleContactPoints fills stale_contact_points with the stored contact
// points that consentd.Normalize no longer returns as they are, in one
// transaction, and counts them by workspace, kind and outcome. They are not
// rewritten: their hashes key the consents and are in the log.
func (db *DB) listStaleContactPoints(ctx context.Context) (map[string]map[string]int, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	type stale struct {
		ws, kind, outcome string
		hash              []byte
	}
	var found []stale
	rows, err := tx.QueryContext(ctx, `SELECT p.workspace_id, p.hash, p.kind, p.value, w.default_region
		FROM contact_points p JOIN workspaces w ON w.id = p.workspace_id`)
	if err != nil {
		return nil, fmt.Errorf("contact points: %w", err)
	}
	for rows.Next() {
		var s stale
		var value, region string
		if err := rows.Scan(&s.ws, &s.hash, &s.kind, &value, &region); err != nil {
			rows.Close()
			return nil, fmt.Errorf("contact points: %w", err)
		}
		if s.outcome = consentd.StaleContactPoint(consentd.ContactPointKind(s.kind), value, region); s.outcome != "" {
			found = append(found, s)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("contact points: %w", err)
	}
	counts := map[string]map[string]int{}
	now := time.Now().UnixNano()
	for _, s := range found {
		if _, err := tx.ExecContext(ctx, `INSERT INTO stale_contact_points (workspace_id, hash, kind, outcome, found_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (workspace_id, hash) DO UPDATE SET outcome = excluded.outcome, found_at = excluded.found_at`,
			s.ws, s.hash, s.kind, s.outcome, now); err != nil {
			return nil, fmt.Errorf("stale contact points: %w", err)
		}
		if counts[s.ws] == nil {
			counts[s.ws] = map[string]int{}
		}
		counts[s.ws][s.kind+" "+s.outcome]++
	}
	return counts, tx.Commit()
}
