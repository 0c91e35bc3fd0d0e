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

// ConsentCountRange is a run of consent_counts rows the consent report
// sums: the dim of its rows (a grouping's day rows, or its month rows) and
// the first and last day of the rows read (YYYY-MM-DD). Month rows are
// dated the first of their month. Minus rows are subtracted: the days of a
// month row's month that the report leaves out.
type ConsentCountRange struct {
	Dim      string
	From, To string
	Months   bool // month rows, each already its month's bucket
	Minus    bool
}

// MonthDim is the consent_counts dim of a grouping's month rows (dim ""
// for every consent, as for its day rows): the same counts as the day
// rows of the grouping, summed by the month of their day.
func MonthDim(dim string) string { return "m:" + dim }

// ConsentCountRanges splits q's days into the ranges of consent_counts
// rows a backend sums for the consent report. A daily or weekly report
// reads day rows. A monthly report reads, for each month its days touch,
// the month's row when it holds the whole month, the day rows of the days
// it holds when they are at most half the month, and otherwise the
// month's row minus the day rows of the days it leaves out: a year costs
// about twelve rows per value and status instead of 365, and a partial
// month at most half its days. Adjacent ranges of one kind are one range.
// The backends sum the ranges' rows (minus rows negated) by bucket, value
// and status.
func (q ReportQuery) ConsentCountRanges() []ConsentCountRange {
	from, to := q.From.UTC(), q.To.UTC()
	type run struct {
		from, to      time.Time
		months, minus bool
	}
	var runs []run
	add := func(r run) {
		// A run of the same kind that starts the day (or month) after the
		// previous run's last joins it.
		if n := len(runs); n > 0 {
			p := &runs[n-1]
			next := p.to.AddDate(0, 0, 1)
			if p.months {
				next = p.to.AddDate(0, 1, 0)
			}
			if p.months == r.months && p.minus == r.minus && next.Equal(r.from) {
				p.to = r.to
				return
			}
		}
		runs = append(runs, r)
	}
	if q.Interval != "month" {
		return []ConsentCountRange{{Dim: q.GroupBy, From: from.Format(time.DateOnly), To: to.Format(time.DateOnly)}}
	}
	for m := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC); !m.After(to); m = m.AddDate(0, 1, 0) {
		end := m.AddDate(0, 1, -1)
		a, b := from, to // the month's days the report holds, a..b
		if a.Before(m) {
			a = m
		}
		if b.After(end) {
			b = end
		}
		held := int(b.Sub(a).Hours()/24) + 1
		if held*2 <= end.Day() {
			add(run{from: a, to: b})
			continue
		}
		add(run{from: m, to: m, months: true})
		if a.After(m) {
			add(run{from: m, to: a.AddDate(0, 0, -1), minus: true})
		}
		if b.Before(end) {
			add(run{from: b.AddDate(0, 0, 1), to: end, minus: true})
		}
	}
	out := make([]ConsentCountRange, len(runs))
	for i, r := range runs {
		out[i] = ConsentCountRange{Dim: q.GroupBy, From: r.from.Format(time.DateOnly), To: r.to.Format(time.DateOnly), Months: r.months, Minus: r.minus}
		if r.months {
			out[i].Dim = MonthDim(q.GroupBy)
		}
	}
	return out
}
