package consentd

import (
	"slices"
	"strings"
	"time"
)

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

// MaxReportDays bounds a report's From..To, both days included: five
// years (with two leap days at most). Reports read aggregates, so a long
// range costs its buckets, never a scan of the consents.
const MaxReportDays = 1827

// DefaultReportDays is the span of a report without from: the last 30
// days, the last day included.
const DefaultReportDays = 30

// ParseReportQuery reads a report's parameters as the API and the console
// take them: from and to are UTC days (YYYY-MM-DD; to defaults to today,
// from to DefaultReportDays days ending at to), interval one of
// ReportIntervals (default day), groupBy empty or one of groups. A bad
// date, to before from, a span over MaxReportDays, an unknown interval or
// grouping is EINVALID naming the parameter.
func ParseReportQuery(from, to, interval, groupBy string, groups []string, today time.Time) (ReportQuery, error) {
	today = today.UTC()
	rq := ReportQuery{To: time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, time.UTC), Interval: "day", GroupBy: groupBy}
	if to != "" {
		t, err := time.Parse(time.DateOnly, to)
		if err != nil {
			return rq, FieldErrorf(EINVALID, "to", "to is a day, YYYY-MM-DD")
		}
		rq.To = t
	}
	rq.From = rq.To.AddDate(0, 0, 1-DefaultReportDays)
	if from != "" {
		t, err := time.Parse(time.DateOnly, from)
		if err != nil {
			return rq, FieldErrorf(EINVALID, "from", "from is a day, YYYY-MM-DD")
		}
		rq.From = t
	}
	switch {
	case rq.To.Before(rq.From):
		return rq, FieldErrorf(EINVALID, "to", "to is before from")
	case rq.To.Sub(rq.From) >= MaxReportDays*24*time.Hour:
		return rq, FieldErrorf(EINVALID, "from", "a report spans at most %d days", MaxReportDays)
	}
	if interval != "" {
		if !slices.Contains(ReportIntervals, interval) {
			return rq, FieldErrorf(EINVALID, "interval", "interval is one of %s", strings.Join(ReportIntervals, ", "))
		}
		rq.Interval = interval
	}
	if rq.GroupBy != "" && !slices.Contains(groups, rq.GroupBy) {
		return rq, FieldErrorf(EINVALID, "group_by", "group_by is one of %s", strings.Join(groups, ", "))
	}
	return rq, nil
}

// ConsentCountRange is a run of days the consent report reads from the
// consent_counts aggregate: the dim of its rows (a grouping's day rows, or
// its month rows) and the first and last day of the rows read
// (YYYY-MM-DD). Month rows are dated the first of their month.
type ConsentCountRange struct {
	Dim      string
	From, To string
	Months   bool // rows of whole months, each already its month's bucket
}

// MonthDim is the consent_counts dim of a grouping's month rows (dim ""
// for every consent, as for its day rows): the same counts as the day
// rows of the grouping, summed by the month of their day.
func MonthDim(dim string) string { return "m:" + dim }

// ConsentCountRanges splits q's days into the ranges of consent_counts
// rows a backend sums for the consent report: a monthly report reads the
// month rows of the whole months From..To holds and the day rows of the
// partial months at either end, so a year costs about twelve rows per
// value and status instead of 365; a daily or weekly report reads day
// rows. The backends sum the ranges' rows by bucket, value and status.
func (q ReportQuery) ConsentCountRanges() []ConsentCountRange {
	from, to := q.From.UTC(), q.To.UTC()
	days := func(a, b time.Time) ConsentCountRange {
		return ConsentCountRange{Dim: q.GroupBy, From: a.Format(time.DateOnly), To: b.Format(time.DateOnly)}
	}
	if q.Interval != "month" {
		return []ConsentCountRange{days(from, to)}
	}
	// first: the first day of the first whole month; end: the day after
	// the last whole month.
	first := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC)
	if first.Before(from) {
		first = first.AddDate(0, 1, 0)
	}
	end := time.Date(to.Year(), to.Month(), 1, 0, 0, 0, 0, time.UTC)
	if to.AddDate(0, 0, 1).Day() == 1 {
		end = to.AddDate(0, 0, 1)
	}
	if !first.Before(end) {
		return []ConsentCountRange{days(from, to)}
	}
	var out []ConsentCountRange
	if from.Before(first) {
		out = append(out, days(from, first.AddDate(0, 0, -1)))
	}
	out = append(out, ConsentCountRange{Dim: MonthDim(q.GroupBy), From: first.Format(time.DateOnly),
		To: end.AddDate(0, -1, 0).Format(time.DateOnly), Months: true})
	if !end.After(to) {
		out = append(out, days(end, to))
	}
	return out
}
