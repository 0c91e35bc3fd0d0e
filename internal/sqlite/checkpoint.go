package sqlite

import (
	"context"

	"github.com/consentd/consentd"
)

// CheckpointsBetween returns the workspace's stored checkpoints whose sizes
// are in [from, to], by size, at most limit.
func (db *DB) CheckpointsBetween(ctx context.Context, wsID string, from, to int64, limit int) ([]consentd.CheckpointRecord, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT size, signed, created_at FROM checkpoints WHERE workspace_id = ? AND size BETWEEN ? AND ? ORDER BY size LIMIT ?`,
		wsID, from, to, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []consentd.CheckpointRecord
	for rows.Next() {
		var c consentd.CheckpointRecord
		var at int64
		if err := rows.Scan(&c.Size, &c.Signed, &at); err != nil {
			return nil, err
		}
		c.CreatedAt = fromNanos(at)
		out = append(out, c)
	}
	return out, rows.Err()
}
