package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/sqlite"
	"github.com/consentd/consentd/internal/storetest"
)

// scanReport is the consent report as SQLite computed it before
// consent_counts: a grouped scan of the consents table, the oracle of the
// counts.
func scanReport(raw *sql.DB) storetest.ScanReport {
	groups := map[string]string{"": "''", "purpose": "purpose_id", "topic": "topic_id", "channel": "channel",
		"source": "json_extract(source, '$.type')", "jurisdiction": "jurisdiction"}
	return func(ctx context.Context, wsID string, q consentd.ReportQuery) ([]consentd.ConsentReportRow, error) {
		d := "date(captured_at / 1000000000, 'unixepoch')"
		bucket := map[string]string{"day": d, "week": "date(" + d + ", '-6 days', 'weekday 1')", "month": "strftime('%Y-%m-01', " + d + ")"}[q.Interval]
		group, ok := groups[q.GroupBy]
		if bucket == "" || !ok {
			return nil, fmt.Errorf("scan: interval %q, group_by %q", q.Interval, q.GroupBy)
		}
		rows, err := raw.QueryContext(ctx, `SELECT `+bucket+` AS b, `+group+` AS g, status, count(*)
			FROM consents WHERE workspace_id = ? AND captured_at >= ? AND captured_at < ?
			GROUP BY b, g, status ORDER BY b, g, status`,
			wsID, q.From.UnixNano(), q.To.AddDate(0, 0, 1).UnixNano())
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		out := []consentd.ConsentReportRow{}
		for rows.Next() {
			var r consentd.ConsentReportRow
			if err := rows.Scan(&r.Bucket, &r.Group, &r.Status, &r.Count); err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, rows.Err()
	}
}

func rawDB(t *testing.T, path string) *sql.DB {
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

// TestConsentCounts checks consent_counts against the scan after a random
// history of changes.
func TestConsentCounts(t *testing.T) {
	storetest.RunConsentCounts(t, func(t *testing.T) (storetest.Store, storetest.ScanReport) {
		path := filepath.Join(t.TempDir(), "consentd.db")
		db, err := sqlite.Open(path)
		if err != nil {
			t.Fatalf("Open() = %v", err)
		}
		return db, scanReport(rawDB(t, path))
	})
}

// TestConsentCountsUpgrade checks the back-fill of migrations 0013 (day
// rows) and 0015 (month rows) on a database written before them.
func TestConsentCountsUpgrade(t *testing.T) {
	path := filepath.Join(t.TempDir(), "consentd.db")
	raw := rawDB(t, path)
	storetest.RunConsentCountsUpgrade(t, func(t *testing.T) storetest.Store {
		db, err := sqlite.Open(path)
		if err != nil {
			t.Fatalf("Open() = %v", err)
		}
		return db
	}, func(ctx context.Context, query string, args ...any) (int64, error) {
		res, err := raw.ExecContext(ctx, query, args...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}, scanReport(raw), []string{
		`DROP TRIGGER consent_counts_insert`, `DROP TRIGGER consent_counts_update`, `DROP TRIGGER consent_counts_delete`,
		`DROP TABLE consent_counts`, `CREATE INDEX consents_captured ON consents (workspace_id, captured_at)`,
		`DELETE FROM schema_migrations WHERE version IN ('0013_consent_counts', '0015_consent_month_counts')`,
	})
}
