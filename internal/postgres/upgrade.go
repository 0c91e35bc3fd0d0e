package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/tlog"
)

// upgradeTiles finishes the move of the log to tiles for a database
// written before it: every workspace's full tiles are made from the stored
// hashes of log_hashes, and the table is dropped, in one transaction. The
// roots stay the same, so checkpoints and receipts issued before still
// verify. The subjects are rewritten in their stored spelling. It returns
// the number of tiles made per workspace id, or nil for a database without
// log_hashes, which has nothing to do. It runs under the migration lock.
func upgradeTiles(ctx context.Context, conn *pgxpool.Conn) (map[string]int64, error) {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('log_hashes') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return nil, err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	rows, _ := tx.Query(ctx, `SELECT workspace_id, MAX(seq) FROM log_entries GROUP BY workspace_id`)
	type wsSize struct {
		ws   string
		size int64
	}
	sizes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wsSize, error) {
		var s wsSize
		return s, r.Scan(&s.ws, &s.size)
	})
	if err != nil {
		return nil, fmt.Errorf("log sizes: %w", err)
	}
	made := make(map[string]int64, len(sizes))
	for _, s := range sizes {
		made[s.ws] = 0
		var tiles []ledger.Tile
		err := ledger.TilesFromHashes(s.size, storedHashes{ctx, tx, s.ws}, func(t ledger.Tile) error {
			tiles = append(tiles, t)
			made[s.ws]++
			if len(tiles) < 256 {
				return nil
			}
			err := insertTiles(ctx, tx, s.ws, tiles)
			tiles = tiles[:0]
			return err
		})
		if err == nil {
			err = insertTiles(ctx, tx, s.ws, tiles)
		}
		if err != nil {
			return nil, fmt.Errorf("workspace %s: %w", s.ws, err)
		}
	}
	// Subjects in their stored spelling (consentd.StoredSubject): the hash
	// of a hashed subject over the base64 alphabet in byte order.
	if _, err := tx.Exec(ctx, `UPDATE log_entries SET subject = translate(substr(subject, 1, 43), $1, $2) || substr(subject, 44)
		WHERE subject ~ '^[A-Za-z0-9_-]{43}#'`, consentd.Base64URLAlphabet, consentd.Base64SortedAlphabet); err != nil {
		return nil, fmt.Errorf("stored subjects: %w", err)
	}
	if _, err := tx.Exec(ctx, `DROP TABLE log_hashes`); err != nil {
		return nil, err
	}
	return made, tx.Commit(ctx)
}

func insertTiles(ctx context.Context, tx pgx.Tx, wsID string, tiles []ledger.Tile) error {
	if len(tiles) == 0 {
		return nil
	}
	levels, idxs, hashes, roots := make([]int16, len(tiles)), make([]int64, len(tiles)), make([][]byte, len(tiles)), make([][]byte, len(tiles))
	for i, t := range tiles {
		levels[i], idxs[i], hashes[i], roots[i] = int16(t.Level), t.Index, t.Hashes, t.Root[:]
	}
	_, err := tx.Exec(ctx, `INSERT INTO log_tiles (workspace_id, level, idx, hashes, root) SELECT $1::text, * FROM unnest($2::smallint[], $3::bigint[], $4::bytea[], $5::bytea[])`,
		wsID, levels, idxs, hashes, roots)
	return err
}

// storedHashes reads the tlog stored hashes of one workspace from
// log_hashes, the table tiles replace.
type storedHashes struct {
	ctx  context.Context
	tx   pgx.Tx
	wsID string
}

// ReadHashes implements tlog.HashReader, in one query.
func (r storedHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	rows, _ := r.tx.Query(r.ctx, `SELECT h.hash FROM unnest($2::bigint[]) WITH ORDINALITY AS i(idx, n)
		LEFT JOIN log_hashes h ON h.workspace_id = $1 AND h.idx = i.idx ORDER BY i.n`, r.wsID, indexes)
	hs, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("read hashes: %w", err)
	}
	out := make([]tlog.Hash, len(indexes))
	for i, h := range hs {
		if len(h) != tlog.HashSize {
			return nil, fmt.Errorf("read hash %d: not found", indexes[i])
		}
		out[i] = tlog.Hash(h)
	}
	return out, nil
}

// listStaleContactPoints fills stale_contact_points with the stored contact
// points that consentd.Normalize no longer returns as they are, in one
// transaction, and counts them by workspace, kind and outcome. They are not
// rewritten: their hashes key the consents and are in the log. It runs
// under the migration lock.
func listStaleContactPoints(ctx context.Context, conn *pgxpool.Conn) (map[string]map[string]int, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	type stale struct {
		ws, kind, outcome string
		hash              []byte
	}
	var found []stale
	rows, _ := tx.Query(ctx, `SELECT p.workspace_id, p.hash, p.kind, p.value, w.default_region
		FROM contact_points p JOIN workspaces w ON w.id = p.workspace_id`)
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
		if _, err := tx.Exec(ctx, `INSERT INTO stale_contact_points (workspace_id, hash, kind, outcome, found_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (workspace_id, hash) DO UPDATE SET outcome = excluded.outcome, found_at = excluded.found_at`,
			s.ws, s.hash, s.kind, s.outcome, now); err != nil {
			return nil, fmt.Errorf("stale contact points: %w", err)
		}
		if counts[s.ws] == nil {
			counts[s.ws] = map[string]int{}
		}
		counts[s.ws][s.kind+" "+s.outcome]++
	}
	return counts, tx.Commit(ctx)
}
