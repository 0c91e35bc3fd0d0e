package sqlite

import (
	"context"
	"fmt"

	"github.com/consentd/consentd"
)

// SaveVerification replaces the workspace's newest log verification.
func (db *DB) SaveVerification(ctx context.Context, wsID string, v *consentd.Verification) error {
	return db.write(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(tx.ctx, `INSERT INTO log_verifications (workspace_id, verified_at, verified_by, ok, report)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (workspace_id) DO UPDATE SET verified_at = excluded.verified_at, verified_by = excluded.verified_by,
				ok = excluded.ok, report = excluded.report`,
			wsID, nanos(v.At), v.By, v.OK, string(v.Report)); err != nil {
			return fmt.Errorf("save verification: %w", err)
		}
		return nil
	})
}

// LastVerification returns the workspace's newest log verification;
// ENOTFOUND when none was saved.
func (db *DB) LastVerification(ctx context.Context, wsID string) (*consentd.Verification, error) {
	var v consentd.Verification
	var at int64
	var report string
	if err := db.r.QueryRowContext(ctx, `SELECT verified_at, verified_by, ok, report FROM log_verifications WHERE workspace_id = ?`, wsID).
		Scan(&at, &v.By, &v.OK, &report); err != nil {
		return nil, notFound(err, "verification")
	}
	v.At, v.Report = fromNanos(at), []byte(report)
	return &v, nil
}
