package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/consentd/consentd"
	"github.com/jackc/pgx/v5"
)

// QueueCounts counts, across workspaces, the queued (and of those, due at
// now) and failed jobs by kind, and the pending (and of those, overdue at
// now) data-subject requests: two grouped counts for monitoring.
func (db *DB) QueueCounts(ctx context.Context, now time.Time) (*consentd.QueueCounts, error) {
	rows, err := db.pool.Query(ctx, `SELECT workspace_id, kind,
			count(*) FILTER (WHERE state = 'queued'),
			count(*) FILTER (WHERE state = 'queued' AND run_at <= $1),
			count(*) FILTER (WHERE state = 'failed')
		FROM jobs WHERE state IN ('queued', 'failed') GROUP BY workspace_id, kind ORDER BY workspace_id, kind`, nanos(now))
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	jobs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (consentd.JobCount, error) {
		var c consentd.JobCount
		err := row.Scan(&c.WorkspaceID, &c.Kind, &c.Queued, &c.Due, &c.Failed)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	rows, err = db.pool.Query(ctx, `SELECT workspace_id, count(*), count(*) FILTER (WHERE due_at < $1)
		FROM requests WHERE state = 'pending' GROUP BY workspace_id ORDER BY workspace_id`, nanos(now))
	if err != nil {
		return nil, fmt.Errorf("count requests: %w", err)
	}
	reqs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (consentd.RequestCount, error) {
		var c consentd.RequestCount
		err := row.Scan(&c.WorkspaceID, &c.Pending, &c.Overdue)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("count requests: %w", err)
	}
	return &consentd.QueueCounts{Jobs: jobs, Requests: reqs}, nil
}
