package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/storetest"
	"github.com/jackc/pgx/v5"
)

// scanReport is the consent report as PostgreSQL computed it before
// consent_counts: a grouped scan of the consents table, the oracle of the
// counts.
func scanReport(t *testing.T, url string) storetest.ScanReport {
	raw, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close(context.Background()) })
	groups := map[string]string{"": "''", "purpose": "purpose_id", "topic": "topic_id", "channel": "channel",
		"source": "(source::jsonb ->> 'type')", "jurisdiction": "jurisdiction"}
	return func(ctx context.Context, wsID string, q consentd.ReportQuery) ([]consentd.ConsentReportRow, error) {
		group, ok := groups[q.GroupBy]
		if !ok || (q.Interval != "day" && q.Interval != "week" && q.Interval != "month") {
			return nil, fmt.Errorf("scan: interval %q, group_by %q", q.Interval, q.GroupBy)
		}
		bucket := "to_char(date_trunc('" + q.Interval + "', (to_timestamp(captured_at / 1000000000) AT TIME ZONE 'UTC')), 'YYYY-MM-DD')"
		rows, err := raw.Query(ctx, `SELECT `+bucket+` AS b, `+group+` AS g, status, count(*)
			FROM consents WHERE workspace_id = $1 AND captured_at >= $2 AND captured_at < $3
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

// TestConsentCounts checks consent_counts against the scan after a random
// history of changes.
func TestConsentCounts(t *testing.T) {
	freshDB(t)
	storetest.RunConsentCounts(t, func(t *testing.T) (storetest.Store, storetest.ScanReport) {
		u := freshDB(t)
		return open(t, u), scanReport(t, u)
	})
}

// TestConsentCountsUpgrade checks the back-fill of migrations 0013 (day
// rows) and 0015 (month rows) on a database written before them.
func TestConsentCountsUpgrade(t *testing.T) {
	u := freshDB(t)
	raw, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close(context.Background()) })
	storetest.RunConsentCountsUpgrade(t, func(t *testing.T) storetest.Store { return open(t, u) },
		func(ctx context.Context, query string, args ...any) (int64, error) {
			tag, err := raw.Exec(ctx, query, args...)
			return tag.RowsAffected(), err
		}, scanReport(t, u), []string{
			`DROP TRIGGER consent_counts_insert ON consents`, `DROP TRIGGER consent_counts_update ON consents`,
			`DROP TRIGGER consent_counts_delete ON consents`, `DROP FUNCTION consent_counts_apply()`, `DROP TABLE consent_counts`,
			`CREATE INDEX consents_captured ON consents (workspace_id, captured_at)`,
			`DELETE FROM schema_migrations WHERE version IN ('0013_consent_counts', '0015_consent_month_counts')`,
		})
}
