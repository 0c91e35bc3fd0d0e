package api

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/openapi"
	"github.com/consentd/consentd/internal/safecsv"
)

// ReportStore is what the reports need of a backend. Backends: reports.go.
type ReportStore interface {
	// AddDecisionCounts adds counts to the stored ones (internal/tally's
	// flush).
	AddDecisionCounts(ctx context.Context, counts []consentd.DecisionCount) error
	// DecisionReport returns the workspace's decision counts grouped by
	// bucket, q.GroupBy, outcome and reason; EINVALID naming interval or
	// group_by for a value it does not know.
	DecisionReport(ctx context.Context, wsID string, q consentd.ReportQuery) ([]consentd.DecisionReportRow, error)
	// ConsentReport returns the workspace's consents grouped by the bucket
	// of their captured_at, q.GroupBy and status.
	ConsentReport(ctx context.Context, wsID string, q consentd.ReportQuery) ([]consentd.ConsentReportRow, error)
}

type decisionReport struct {
	From     string           `json:"from" doc:"the first day, UTC"`
	To       string           `json:"to" doc:"the last day, UTC"`
	Interval string           `json:"interval" enum:"day,week,month"`
	GroupBy  string           `json:"group_by,omitempty" enum:"purpose,channel,reason"`
	Buckets  []decisionBucket `json:"buckets" doc:"buckets with decisions, by start then group"`
}

type decisionBucket struct {
	Start      string          `json:"start" doc:"the bucket's first day (a Monday for weeks, the 1st for months)"`
	Group      string          `json:"group,omitempty" doc:"the value of group_by"`
	Allowed    int64           `json:"allowed"`
	Blocked    int64           `json:"blocked"`
	BlockedPct float64         `json:"blocked_pct" doc:"blocked, in percent of the bucket's decisions"`
	ByReason   []reasonPercent `json:"blocked_by_reason" doc:"the blocked decisions by reason, most first"`
}

type reasonPercent struct {
	Reason  consentd.Reason `json:"reason"`
	Count   int64           `json:"count"`
	Percent float64         `json:"percent" doc:"in percent of the bucket's decisions"`
}

type consentReport struct {
	From     string          `json:"from" doc:"the first day, UTC"`
	To       string          `json:"to" doc:"the last day, UTC"`
	Interval string          `json:"interval" enum:"day,week,month"`
	GroupBy  string          `json:"group_by,omitempty" enum:"purpose,topic,channel,source,jurisdiction"`
	Buckets  []consentBucket `json:"buckets" doc:"buckets with consents, by start then group"`
}

type consentBucket struct {
	Start    string `json:"start" doc:"the bucket's first day (a Monday for weeks, the 1st for months)"`
	Group    string `json:"group,omitempty" doc:"the value of group_by"`
	OptedIn  int64  `json:"opted_in"`
	OptedOut int64  `json:"opted_out"`
	Pending  int64  `json:"pending"`
}

func (s *Server) reportRoutes() []route {
	query := func(groups []string) []openapi.Param {
		return []openapi.Param{
			{Name: "from", Description: "the first day, YYYY-MM-DD (UTC); default 29 days before to"},
			{Name: "to", Description: "the last day, YYYY-MM-DD (UTC); default today; at most 1827 days (five years) after from"},
			{Name: "interval", Enum: consentd.ReportIntervals, Description: "the buckets' size; default day; weeks start on Monday"},
			{Name: "group_by", Enum: groups, Description: "split each bucket by this; default none"},
		}
	}
	op := func(path, summary string, resp any, q []openapi.Param) openapi.Operation {
		return openapi.Operation{Method: "GET", Path: path, Summary: summary, Tags: []string{"reports"}, Response: resp, ResponseTypes: []string{"text/csv"}, Query: q}
	}
	return []route{
		{op("/v1/reports/decisions", "Decisions answered per day, week or month: allowed, blocked, and blocked by reason; JSON, or CSV with Accept: text/csv",
			decisionReport{}, query(consentd.DecisionReportGroupings)), readers, s.reportDecisions},
		{op("/v1/reports/consents", "Consents by the day, week or month they were captured: opted in, opted out, pending; JSON, or CSV with Accept: text/csv",
			consentReport{}, query(consentd.ConsentReportGroupings)), readers, s.reportConsents},
	}
}

// reportQuery reads and checks a report's parameters
// (consentd.ParseReportQuery): 422 naming the parameter for a bad date, a
// span over two years or to before from, an unknown interval or grouping.
func (s *Server) reportQuery(q url.Values, groups []string) (consentd.ReportQuery, error) {
	return consentd.ParseReportQuery(q.Get("from"), q.Get("to"), q.Get("interval"), q.Get("group_by"), groups, s.Now())
}

func (s *Server) reportDecisions(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	q, err := s.reportQuery(r.URL.Query(), consentd.DecisionReportGroupings)
	if err != nil {
		return err
	}
	rows, err := s.DB.DecisionReport(r.Context(), k.WorkspaceID, q)
	if err != nil {
		return err
	}
	rep := decisionReport{From: q.From.Format(time.DateOnly), To: q.To.Format(time.DateOnly), Interval: q.Interval, GroupBy: q.GroupBy, Buckets: decisionBuckets(rows)}
	w.Header().Add("Vary", "Accept")
	if !prefers(r, "text/csv", "application/json") {
		writeJSON(w, 200, rep)
		return nil
	}
	// One line per bucket and blocking reason; a bucket without blocked
	// decisions has one line with an empty reason.
	return writeCSV(w, []string{"start", "group", "allowed", "blocked", "blocked_pct", "reason", "reason_count", "reason_pct"}, func(add func(...string)) {
		for _, b := range rep.Buckets {
			head := []string{b.Start, b.Group, itoa(b.Allowed), itoa(b.Blocked), ftoa(b.BlockedPct)}
			if len(b.ByReason) == 0 {
				add(append(head, "", "", "")...)
			}
			for _, rp := range b.ByReason {
				add(append(slices.Clip(head), string(rp.Reason), itoa(rp.Count), ftoa(rp.Percent))...)
			}
		}
	})
}

// decisionBuckets folds rows, ordered by bucket and group, into buckets.
func decisionBuckets(rows []consentd.DecisionReportRow) []decisionBucket {
	out := []decisionBucket{}
	for _, row := range rows {
		if n := len(out); n == 0 || out[n-1].Start != row.Bucket || out[n-1].Group != row.Group {
			out = append(out, decisionBucket{Start: row.Bucket, Group: row.Group, ByReason: []reasonPercent{}})
		}
		b := &out[len(out)-1]
		if row.Allowed {
			b.Allowed += row.Count
			continue
		}
		b.Blocked += row.Count
		b.ByReason = append(b.ByReason, reasonPercent{Reason: row.Reason, Count: row.Count})
	}
	for i := range out {
		b := &out[i]
		total := b.Allowed + b.Blocked
		b.BlockedPct = percent(b.Blocked, total)
		for j := range b.ByReason {
			b.ByReason[j].Percent = percent(b.ByReason[j].Count, total)
		}
		slices.SortStableFunc(b.ByReason, func(x, y reasonPercent) int { return int(y.Count - x.Count) })
	}
	return out
}

// percent is n of total in percent, rounded to two decimals.
func percent(n, total int64) float64 {
	if total == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(n)*100/float64(total), 'f', 2, 64), 64)
	return v
}

func (s *Server) reportConsents(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	q, err := s.reportQuery(r.URL.Query(), consentd.ConsentReportGroupings)
	if err != nil {
		return err
	}
	rows, err := s.DB.ConsentReport(r.Context(), k.WorkspaceID, q)
	if err != nil {
		return err
	}
	rep := consentReport{From: q.From.Format(time.DateOnly), To: q.To.Format(time.DateOnly), Interval: q.Interval, GroupBy: q.GroupBy, Buckets: []consentBucket{}}
	for _, row := range rows {
		if n := len(rep.Buckets); n == 0 || rep.Buckets[n-1].Start != row.Bucket || rep.Buckets[n-1].Group != row.Group {
			rep.Buckets = append(rep.Buckets, consentBucket{Start: row.Bucket, Group: row.Group})
		}
		b := &rep.Buckets[len(rep.Buckets)-1]
		switch row.Status {
		case consentd.OptedIn:
			b.OptedIn += row.Count
		case consentd.OptedOut:
			b.OptedOut += row.Count
		case consentd.Pending:
			b.Pending += row.Count
		}
	}
	w.Header().Add("Vary", "Accept")
	if !prefers(r, "text/csv", "application/json") {
		writeJSON(w, 200, rep)
		return nil
	}
	return writeCSV(w, []string{"start", "group", "opted_in", "opted_out", "pending"}, func(add func(...string)) {
		for _, b := range rep.Buckets {
			add(b.Start, b.Group, itoa(b.OptedIn), itoa(b.OptedOut), itoa(b.Pending))
		}
	})
}

// writeCSV answers a CSV file with a header line and the lines rows adds,
// its cells escaped against formula injection (a group is stored text).
func writeCSV(w http.ResponseWriter, header []string, rows func(add func(...string))) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	cw := safecsv.NewWriter(w)
	cw.Write(header)
	rows(func(cells ...string) { cw.Write(cells) })
	cw.Flush()
	return cw.Error()
}

func itoa(n int64) string   { return strconv.FormatInt(n, 10) }
func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
