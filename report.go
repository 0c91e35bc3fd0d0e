package consentd

import "time"

// This file holds the vocabulary of the reports: decision counts as the
// API flushes them to a backend, and the grouped rows a backend answers
// for a report's buckets.

// DecisionCount is how many decisions of one kind a workspace was answered
// on one UTC day: aggregates only, never a contact point.
type DecisionCount struct {
	WorkspaceID string
	Day         string // YYYY-MM-DD, UTC
	Purpose     string
	Channel     string
	Allowed     bool
	Reason      Reason
	Count       int64
}

// ReportQuery selects a report's rows: the UTC days From..To (both
// included, midnight UTC), bucketed by Interval, split by GroupBy (empty:
// one group). Backends take Interval and GroupBy only from the lists below
// and refuse others with EINVALID.
type ReportQuery struct {
	From, To time.Time
	Interval string // day, week (starting Monday) or month
	GroupBy  string
}

// Report intervals and groupings.
var (
	ReportIntervals         = []string{"day", "week", "month"}
	DecisionReportGroupings = []string{"purpose", "channel", "reason"}
	ConsentReportGroupings  = []string{"purpose", "topic", "channel", "source", "jurisdiction"}
)

// DecisionReportRow is one grouped count of a decision report: the
// bucket's first day, the group's value ("" without grouping), whether the
// decisions allowed, their reason, and how many there were.
type DecisionReportRow struct {
	Bucket  string
	Group   string
	Allowed bool
	Reason  Reason
	Count   int64
}

// ConsentReportRow is one grouped count of a consent report: consents
// whose write in effect was captured in the bucket, by status.
type ConsentReportRow struct {
	Bucket string
	Group  string
	Status Status
	Count  int64
}

// ReportColumn returns the SQL expression a backend groups a report by:
// the one allowed names for groupBy (group name -> its dialect's column
// expression), or an empty SQL string literal without grouping. Only names from
// allowed reach the SQL; any other is EINVALID naming group_by.
func ReportColumn(groupBy string, allowed map[string]string) (string, error) {
	if groupBy == "" {
		return "''", nil
	}
	c, ok := allowed[groupBy]
	if !ok {
		return "", FieldErrorf(EINVALID, "group_by", "cannot group by %q", groupBy)
	}
	return c, nil
}
