package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/consentd/consentd"
)

// QueueCounts counts, across workspaces, the queued (and of those, due at
// now) and failed jobs by kind, and the pending (and of those, overdue at
// now) data-subject requests: two grouped counts for monitoring.
func (db *DB) QueueCounts(ctx context.Context, now time.Time) (*consentd.QueueCounts, error) {
	out := &consentd.QueueCounts{}
	rows, err := db.r.QueryContext(ctx, `SELECT workspace_id, kind,
			count(*) FILTER (WHERE state = 'queued'),
			count(*) FILTER (WHERE state = 'queued' AND run_at <= ?),
			count(*) FILTER (WHERE state = 'failed')
		FROM jobs WHERE state IN ('queued', 'failed') GROUP BY workspace_id, kind ORDER BY workspace_id, kind`, nanos(now))
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c consentd.JobCount
		if err := rows.Scan(&c.WorkspaceID, &c.Kind, &c.Queued, &c.Due, &c.Failed); err != nil {
			return nil, fmt.Errorf("count jobs: %w", err)
		}
		out.Jobs = append(out.Jobs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	rows, err = db.r.QueryContext(ctx, `SELECT workspace_id, count(*), count(*) FILTER (WHERE due_at < ?)
		FROM requests WHERE state = 'pending' GROUP BY workspace_id ORDER BY workspace_id`, nanos(now))
	if err != nil {
		return nil, fmt.Errorf("count requests: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c consentd.RequestCount
		if err := rows.Scan(&c.WorkspaceID, &c.Pending, &c.Overdue); err != nil {
			return nil, fmt.Errorf("count requests: %w", err)
		}
		out.Requests = append(out.Requests, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count requests: %w", err)
	}
	return out, nil
}
