package console

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/consentd/consentd"
)

// reportStore is what the overview, blocked-sends and log screens read
// beyond Store. Both backends (internal/sqlite, internal/postgres) have these methods;
// the screens assert them on the store when they answer, so that Store
// stays the list the first screens need.
type reportStore interface {
	DecisionReport(ctx context.Context, wsID string, q consentd.ReportQuery) ([]consentd.DecisionReportRow, error)
	ConsentReport(ctx context.Context, wsID string, q consentd.ReportQuery) ([]consentd.ConsentReportRow, error)
	LogSize(ctx context.Context, wsID string) (int64, error)
	LatestCheckpoint(ctx context.Context, wsID string) (string, int64, error)
	CheckpointsBetween(ctx context.Context, wsID string, from, to int64, limit int) ([]consentd.CheckpointRecord, error)
}

// addReportScreens registers the read-only report screens (blocked sends,
// the log) and parses their templates; New calls it once.
func (s *Server) addReportScreens() {
	for _, name := range []string{"blocked", "log"} {
		s.pages[name] = template.Must(template.New("layout.html").ParseFS(files, "templates/layout.html", "templates/"+name+".html"))
	}
	s.mux.HandleFunc("GET /admin/blocked", s.blocked)
	s.mux.HandleFunc("GET /admin/log", s.logScreen)
	s.mux.HandleFunc("POST /admin/log/verify", s.verifyLog)
}

// reports returns the store as a reportStore; false (and a 500 logged)
// when a backend lacks the methods.
func (s *Server) reports(w http.ResponseWriter, r *http.Request, op *operator) (reportStore, bool) {
	rs, ok := s.DB.(reportStore)
	if !ok {
		s.fail(w, r, op, fmt.Errorf("store %T has no reports", s.DB))
	}
	return rs, ok
}

// period is a preset period of the blocked-sends and overview screens:
// its key (presetSpan has its days) and how it is named.
type period struct {
	Key, Name string
}

var periods = []period{{"7d", "Last 7 days"}, {"30d", "Last 30 days"}, {"12m", "Last 12 months"}}

// blockedPage is the blocked-sends screen: one row per bucket of the
// period, and a summary of the period beside the previous one of the same
// length.
type blockedPage struct {
	Period   period
	Periods  []period
	Interval string // day or month
	From, To string
	Rows     []blockedRow
	Total    blockedRow
	Previous blockedRow
	Change   string // the blocked share's change in percentage points, signed
}

// blockedRow is one bucket (or a period's total): decisions allowed and
// blocked, the blocked share, and the blocked ones by reason in words.
type blockedRow struct {
	Start      string
	Allowed    int64
	Blocked    int64
	BlockedPct string
	ByReason   []reasonCount
}

type reasonCount struct {
	Words   string
	Count   int64
	Percent string // of the row's decisions
}

// blocked answers GET /admin/blocked?period=7d|30d|12m (default 30d): the
// decisions the send pipelines asked for, allowed and blocked, from the
// workspace's stored daily counts (aggregates; no contact point).
func (s *Server) blocked(w http.ResponseWriter, r *http.Request) {
	v, op, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	rs, ok := s.reports(w, r, op)
	if !ok {
		return
	}
	p := &blockedPage{Period: periods[1], Periods: periods}
	if key := r.URL.Query().Get("period"); key != "" {
		i := slices.IndexFunc(periods, func(x period) bool { return x.Key == key })
		if i < 0 {
			s.message(w, r, http.StatusBadRequest, op, "Bad request", "The period is one of 7d, 30d or 12m.")
			return
		}
		p.Period = periods[i]
	}
	to, from, prevFrom, interval := presetSpan(p.Period.Key, s.Now())
	p.Interval = interval
	starts := bucketStarts(from, to, interval)
	p.From, p.To = from.Format(time.DateOnly), to.Format(time.DateOnly)
	ctx := r.Context()
	rows, err := rs.DecisionReport(ctx, v.workspace, consentd.ReportQuery{From: from, To: to, Interval: p.Interval})
	if err != nil {
		s.fail(w, r, op, fmt.Errorf("decision report: %w", err))
		return
	}
	prev, err := rs.DecisionReport(ctx, v.workspace, consentd.ReportQuery{From: prevFrom, To: from.AddDate(0, 0, -1), Interval: p.Interval})
	if err != nil {
		s.fail(w, r, op, fmt.Errorf("decision report: %w", err))
		return
	}
	// Every bucket of the period gets a row, those without decisions too,
	// newest first.
	byStart := map[string][]consentd.DecisionReportRow{}
	for _, row := range rows {
		byStart[row.Bucket] = append(byStart[row.Bucket], row)
	}
	for i := len(starts) - 1; i >= 0; i-- {
		start := starts[i].Format(time.DateOnly)
		label := start
		if p.Interval == "month" {
			label = starts[i].Format("2006-01")
		}
		p.Rows = append(p.Rows, tally(label, byStart[start]))
	}
	p.Total = tally("This period", rows)
	p.Previous = tally("The period before", prev)
	p.Change = change(p.Total, p.Previous)
	s.render(w, r, http.StatusOK, "blocked", op, p)
}

// tally adds up rows as the API's decision report does (internal/api
// decisionBuckets): allowed, blocked, the blocked share of all decisions,
// and the blocked ones by reason, most first, each in percent of all.
func tally(label string, rows []consentd.DecisionReportRow) blockedRow {
	b := blockedRow{Start: label}
	counts := map[consentd.Reason]int64{}
	for _, row := range rows {
		if row.Allowed {
			b.Allowed += row.Count
			continue
		}
		b.Blocked += row.Count
		counts[row.Reason] += row.Count
	}
	total := b.Allowed + b.Blocked
	b.BlockedPct = pct(b.Blocked, total)
	for reason, n := range counts {
		words, ok := reasonWords[reason]
		if !ok {
			words = string(reason)
		}
		b.ByReason = append(b.ByReason, reasonCount{Words: words, Count: n, Percent: pct(n, total)})
	}
	slices.SortFunc(b.ByReason, func(x, y reasonCount) int {
		if x.Count != y.Count {
			return int(y.Count - x.Count)
		}
		return strings.Compare(x.Words, y.Words)
	})
	return b
}

// percent is n of total in percent, rounded to two decimals, as the API
// rounds blocked_pct.
func percent(n, total int64) float64 {
	if total == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(n)*100/float64(total), 'f', 2, 64), 64)
	return v
}

// pct is percent as text ("33.33%"), or "–" when there were no decisions.
func pct(n, total int64) string {
	if total == 0 {
		return "–"
	}
	return strconv.FormatFloat(percent(n, total), 'f', -1, 64) + "%"
}

// change says how the blocked share moved from the previous period, in
// percentage points ("+12.5 points"), or "" when either period had no
// decisions.
func change(cur, prev blockedRow) string {
	return pointsChange(cur.Blocked, cur.Allowed+cur.Blocked, prev.Blocked, prev.Allowed+prev.Blocked)
}

// pointsChange says how the share n of total moved from the previous
// period's pn of ptotal, in percentage points ("+12.5 points", "-3
// points", "no change"), or "" when either total is 0.
func pointsChange(n, total, pn, ptotal int64) string {
	if total == 0 || ptotal == 0 {
		return ""
	}
	d := percent(n, total) - percent(pn, ptotal)
	d, _ = strconv.ParseFloat(strconv.FormatFloat(d, 'f', 2, 64), 64)
	switch {
	case d > 0:
		return "+" + strconv.FormatFloat(d, 'f', -1, 64) + " points"
	case d < 0:
		return strconv.FormatFloat(d, 'f', -1, 64) + " points"
	}
	return "no change"
}

// presetSpan returns the days of the period key (7d, 30d or 12m) ending
// on now's UTC day: its first day, the first day of the previous period
// (as long, ending the day before from), and the buckets' interval: day
// for 7 and 30 days, month for 12 months (the current month and the 11
// before it, whole months but for the current one).
func presetSpan(key string, now time.Time) (to, from, prevFrom time.Time, interval string) {
	now = now.UTC()
	to = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	switch key {
	case "12m":
		from = time.Date(to.Year(), to.Month()-11, 1, 0, 0, 0, 0, time.UTC)
		return to, from, from.AddDate(-1, 0, 0), "month"
	case "7d":
		from = to.AddDate(0, 0, -6)
		return to, from, from.AddDate(0, 0, -7), "day"
	}
	from = to.AddDate(0, 0, -29)
	return to, from, from.AddDate(0, 0, -30), "day"
}

// bucketStarts returns the first day of every bucket from..to holds, as
// the reports bucket days: days, weeks starting on Monday, or months
// starting on the 1st (the first bucket may start before from).
func bucketStarts(from, to time.Time, interval string) []time.Time {
	var out []time.Time
	switch interval {
	case "week":
		d := from.AddDate(0, 0, -(int(from.Weekday())+6)%7)
		for ; !d.After(to); d = d.AddDate(0, 0, 7) {
			out = append(out, d)
		}
	case "month":
		for d := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC); !d.After(to); d = d.AddDate(0, 1, 0) {
			out = append(out, d)
		}
	default:
		for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
			out = append(out, d)
		}
	}
	return out
}
