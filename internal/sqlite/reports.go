package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/consentd/consentd"
)

// This file stores decision counts and answers the reports' grouped
// counts from the aggregate tables decision_counts and consent_counts
// (the latter kept by triggers, migrations 0013 and 0015). Days are UTC
// (YYYY-MM-DD).

// AddDecisionCounts adds counts to the stored ones, in one transaction.
func (db *DB) AddDecisionCounts(ctx context.Context, counts []consentd.DecisionCount) error {
	if len(counts) == 0 {
		return nil
	}
	return db.write(ctx, func(tx *Tx) error {
		for _, n := range counts {
			if _, err := tx.ExecContext(tx.ctx, `INSERT INTO decision_counts (workspace_id, day, purpose, channel, allowed, reason, count)
				VALUES (?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (workspace_id, day, purpose, channel, allowed, reason) DO UPDATE SET count = decision_counts.count + excluded.count`,
				n.WorkspaceID, n.Day, n.Purpose, n.Channel, n.Allowed, string(n.Reason), n.Count); err != nil {
				return fmt.Errorf("adding decision counts: %w", err)
			}
		}
		return nil
	})
}

// bucketOf returns the SQL for the first day (YYYY-MM-DD) of the bucket
// of the date expression d, a day as the aggregates store it
// (YYYY-MM-DD): a month's first day is the day's first eight characters
// and "01", cheaper per row than strftime.
func bucketOf(interval, d string) (string, error) {
	switch interval {
	case "day":
		return d, nil
	case "week": // ISO weeks start on Monday, as PostgreSQL's date_trunc
		return "date(" + d + ", '-6 days', 'weekday 1')", nil
	case "month":
		return "substr(" + d + ", 1, 8) || '01'", nil
	}
	return "", consentd.FieldErrorf(consentd.EINVALID, "interval", "interval is day, week or month")
}

var (
	decisionGroups = map[string]string{"purpose": "purpose", "channel": "channel", "reason": "reason"}
	// consentGroups are the groupings of consent_counts; a grouping's day
	// rows have its name as their dim (ConsentCountRanges names them).
	consentGroups = map[string]string{"purpose": "", "topic": "", "channel": "", "source": "", "jurisdiction": ""}
)

// DecisionReport returns the workspace's decision counts of the days
// q.From..q.To grouped by bucket, q.GroupBy, outcome and reason, ordered.
func (db *DB) DecisionReport(ctx context.Context, wsID string, q consentd.ReportQuery) ([]consentd.DecisionReportRow, error) {
	bucket, err := bucketOf(q.Interval, "day")
	if err != nil {
		return nil, err
	}
	group, err := consentd.ReportColumn(q.GroupBy, decisionGroups)
	if err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+bucket+` AS b, `+group+` AS g, allowed, reason, sum(count)
		FROM decision_counts WHERE workspace_id = ? AND day >= ? AND day <= ?
		GROUP BY b, g, allowed, reason ORDER BY b, g, allowed, reason`,
		wsID, q.From.UTC().Format(time.DateOnly), q.To.UTC().Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("decision report: %w", err)
	}
	defer rows.Close()
	out := []consentd.DecisionReportRow{}
	for rows.Next() {
		var r consentd.DecisionReportRow
		if err := rows.Scan(&r.Bucket, &r.Group, &r.Allowed, &r.Reason, &r.Count); err != nil {
			return nil, fmt.Errorf("decision report: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ConsentReport returns the workspace's consents whose write in effect was
// captured on the days q.From..q.To, by their current status, grouped by
// the bucket of captured_at's day, q.GroupBy and status, ordered: the sums
// of consent_counts' rows of the grouping over q's ranges (month rows for
// a monthly report's months, less the days it leaves out, or day rows),
// leaving out those at zero.
func (db *DB) ConsentReport(ctx context.Context, wsID string, q consentd.ReportQuery) ([]consentd.ConsentReportRow, error) {
	bucket, err := bucketOf(q.Interval, "day")
	if err != nil {
		return nil, err
	}
	if _, err := consentd.ReportColumn(q.GroupBy, consentGroups); err != nil {
		return nil, err
	}
	var parts []string
	var args []any
	for _, r := range q.ConsentCountRanges() {
		b, count := bucket, "count"
		if r.Months {
			b = "day" // a month row is dated its month's first day, its bucket
		}
		if r.Minus {
			count = "-count"
		}
		parts = append(parts, `SELECT `+b+` AS b, value, status, `+count+` AS count FROM consent_counts
			WHERE workspace_id = ? AND dim = ? AND day >= ? AND day <= ?`)
		args = append(args, wsID, r.Dim, r.From, r.To)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT b, value, status, sum(count) FROM (`+strings.Join(parts, " UNION ALL ")+`)
		GROUP BY b, value, status HAVING sum(count) > 0 ORDER BY b, value, status`, args...)
	if err != nil {
		return nil, fmt.Errorf("consent report: %w", err)
	}
	defer rows.Close()
	out := []consentd.ConsentReportRow{}
	for rows.Next() {
		var r consentd.ConsentReportRow
		if err := rows.Scan(&r.Bucket, &r.Group, &r.Status, &r.Count); err != nil {
			return nil, fmt.Errorf("consent report: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
