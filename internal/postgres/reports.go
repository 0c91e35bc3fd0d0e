package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/consentd/consentd"
)

// This file stores decision counts and answers the reports' grouped
// counts from the aggregate tables decision_counts and consent_counts
// (the latter kept by triggers, migrations 0013 and 0015). Days are UTC.

// AddDecisionCounts adds counts to the stored ones, in one transaction.
func (db *DB) AddDecisionCounts(ctx context.Context, counts []consentd.DecisionCount) error {
	if len(counts) == 0 {
		return nil
	}
	return db.writeAlone(ctx, func(tx *Tx) error {
		for _, n := range counts {
			if _, err := tx.Exec(tx.ctx, `INSERT INTO decision_counts (workspace_id, day, purpose, channel, allowed, reason, count)
				VALUES ($1, $2::date, $3, $4, $5, $6, $7)
				ON CONFLICT (workspace_id, day, purpose, channel, allowed, reason) DO UPDATE SET count = decision_counts.count + excluded.count`,
				n.WorkspaceID, n.Day, n.Purpose, n.Channel, n.Allowed, string(n.Reason), n.Count); err != nil {
				return fmt.Errorf("adding decision counts: %w", err)
			}
		}
		return nil
	})
}

// bucketOf returns the SQL for the first day (YYYY-MM-DD) of the bucket
// of the timestamp (without time zone, UTC) expression t.
func bucketOf(interval, t string) (string, error) {
	switch interval {
	case "day", "week", "month": // weeks start on Monday
		return "to_char(date_trunc('" + interval + "', " + t + "), 'YYYY-MM-DD')", nil
	}
	return "", consentd.FieldErrorf(consentd.EINVALID, "interval", "interval is day, week or month")
}

var (
	decisionGroups = map[string]string{"purpose": "purpose", "channel": "channel", "reason": "reason"}
	// consentGroups are the groupings of consent_counts; a grouping's day
	// rows have its name as their dim (ConsentCountRanges names them).
	consentGroups = map[string]string{"purpose": "", "topic": "", "channel": "", "source": "", "jurisdiction": ""}
	// consentOrder is how the consent report orders a grouping's values:
	// as the consents table's column collates them (source and
	// jurisdiction in the database's default collation, the ids bytewise).
	consentOrder = map[string]string{"source": `value COLLATE "default"`, "jurisdiction": `value COLLATE "default"`}
)

// DecisionReport returns the workspace's decision counts of the days
// q.From..q.To grouped by bucket, q.GroupBy, outcome and reason, ordered.
func (db *DB) DecisionReport(ctx context.Context, wsID string, q consentd.ReportQuery) ([]consentd.DecisionReportRow, error) {
	bucket, err := bucketOf(q.Interval, "day::timestamp")
	if err != nil {
		return nil, err
	}
	group, err := consentd.ReportColumn(q.GroupBy, decisionGroups)
	if err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT `+bucket+` AS b, `+group+` AS g, allowed, reason, sum(count)
		FROM decision_counts WHERE workspace_id = $1 AND day >= $2::date AND day <= $3::date
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
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return out, nil
}

// ConsentReport returns the workspace's consents whose write in effect was
// captured on the days q.From..q.To, by their current status, grouped by
// the bucket of captured_at's day, q.GroupBy and status, ordered: the sums
// of consent_counts' rows of the grouping over q's ranges (month rows for
// a monthly report's months, less the days it leaves out, or day rows),
// leaving out those at zero.
func (db *DB) ConsentReport(ctx context.Context, wsID string, q consentd.ReportQuery) ([]consentd.ConsentReportRow, error) {
	bucket, err := bucketOf(q.Interval, "day::timestamp")
	if err != nil {
		return nil, err
	}
	if _, err := consentd.ReportColumn(q.GroupBy, consentGroups); err != nil {
		return nil, err
	}
	order := "value"
	if o, ok := consentOrder[q.GroupBy]; ok {
		order = o
	}
	var parts []string
	args := []any{wsID}
	for _, r := range q.ConsentCountRanges() {
		b, count := bucket, "count"
		if r.Months {
			b = "to_char(day, 'YYYY-MM-DD')" // a month row is dated its month's first day, its bucket
		}
		if r.Minus {
			count = "-count"
		}
		n := len(args)
		parts = append(parts, fmt.Sprintf(`SELECT %s AS b, value, status, %s AS count FROM consent_counts
			WHERE workspace_id = $1 AND dim = $%d AND day >= $%d::date AND day <= $%d::date`, b, count, n+1, n+2, n+3))
		args = append(args, r.Dim, r.From, r.To)
	}
	rows, err := db.pool.Query(ctx, `SELECT b, value, status, sum(count)::bigint FROM (`+strings.Join(parts, " UNION ALL ")+`) r
		GROUP BY b, value, status HAVING sum(count) > 0 ORDER BY b, `+order+`, status`, args...)
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
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return out, nil
}
