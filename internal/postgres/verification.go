package postgres

import (
	"context"
	"fmt"

	"github.com/consentd/consentd"
)

// SaveVerification replaces the workspace's newest log verification.
func (db *DB) SaveVerification(ctx context.Context, wsID string, v *consentd.Verification) error {
	if _, err := db.pool.Exec(ctx, `INSERT INTO log_verifications (workspace_id, verified_at, verified_by, ok, report)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (workspace_id) DO UPDATE SET verified_at = excluded.verified_at, verified_by = excluded.verified_by,
			ok = excluded.ok, report = excluded.report`,
		wsID, nanos(v.At), v.By, v.OK, string(v.Report)); err != nil {
		return fmt.Errorf("save verification: %w", err)
	}
	return nil
}

// LastVerification returns the workspace's newest log verification;
// ENOTFOUND when none was saved.
func (db *DB) LastVerification(ctx context.Context, wsID string) (*consentd.Verification, error) {
	var v consentd.Verification
	var at int64
	var report string
	if err := db.pool.QueryRow(ctx, `SELECT verified_at, verified_by, ok, report FROM log_verifications WHERE workspace_id = $1`, wsID).
		Scan(&at, &v.By, &v.OK, &report); err != nil {
		return nil, notFound(err, "verification")
	}
	v.At, v.Report = fromNanos(at), []byte(report)
	return &v, nil
}
