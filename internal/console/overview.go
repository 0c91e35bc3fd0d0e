package console

import (
	"cmp"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/consentd/consentd"
)

// This file is the overview screen, where an operator lands after signing
// in: the consents captured in a period against the period before, in
// figures, charts (server-drawn SVG) and tables, split by every grouping
// GET /v1/reports/consents knows. Its numbers are the store's ConsentReport,
// the API route's own.

// addOverview registers the overview screen and parses its template; New
// calls it once.
func (s *Server) addOverview() {
	s.pages["overview"] = template.Must(template.New("layout.html").ParseFS(files, "templates/layout.html", "templates/overview.html"))
	s.mux.HandleFunc("GET /admin/overview", s.overview)
}

// overviewPage is the overview screen.
type overviewPage struct {
	Periods        []period
	Key            string // a preset's key, or "custom"
	Name           string // the period in words
	From, To       string // the period's days, YYYY-MM-DD
	PrevFrom       string
	PrevTo         string
	Interval       string // day, week or month
	Empty          bool   // no consent was captured in the period
	Figures        []figure
	Chart          chart
	Buckets        []groupRow // per bucket, newest first
	Sections       []section
	MaxReportDays  int
	IntervalInText string // "per day", "per week (…)" or "per month"
}

// figure is one headline number of the period beside the previous one.
type figure struct {
	Name   string
	Value  string
	Before string
	Change string
}

// section is one breakdown: a chart over time and a table of its groups.
type section struct {
	ID, Title, Column string
	Chart             chart
	Rows              []groupRow
}

// groupRow is one group (or bucket) of a table: its counts, its opt-in
// rate, the previous period's, and the change.
type groupRow struct {
	Name             string
	In, Out, Pending int64
	Rate             string
	Previous         string
	Change           string
}

// counts are a report's consents of one bucket or group, by status.
type counts struct{ In, Out, Pending int64 }

func (c *counts) add(row consentd.ConsentReportRow) {
	switch row.Status {
	case consentd.OptedIn:
		c.In += row.Count
	case consentd.OptedOut:
		c.Out += row.Count
	case consentd.Pending:
		c.Pending += row.Count
	}
}

func (c counts) total() int64 { return c.In + c.Out + c.Pending }

// rate is the opt-in rate: opted in of opted in and opted out, in percent
// ("–" when neither).
func (c counts) rate() string { return pct(c.In, c.In+c.Out) }

// groupingTitles name the report's groupings as section titles and table
// column heads; a grouping the list lacks is shown by its key.
var groupingTitles = map[string][2]string{
	"purpose":      {"By purpose", "Purpose"},
	"topic":        {"By topic", "Topic"},
	"channel":      {"By channel", "Channel"},
	"source":       {"By source", "Source"},
	"jurisdiction": {"By jurisdiction", "Jurisdiction"},
}

// sourceWords says each source type of a consent's write in words.
var sourceWords = map[string]string{
	consentd.SourceForm:             "form",
	consentd.SourcePreferenceCenter: "preference center",
	consentd.SourceUnsubscribeLink:  "unsubscribe link",
	consentd.SourceImport:           "import",
	consentd.SourceAPI:              "API",
	consentd.SourceAgent:            "agent",
	consentd.SourceAutomation:       "automation",
	consentd.SourceDoubleOptIn:      "double opt-in",
	consentd.SourceDSR:              "data-subject request",
	consentd.SourceGPC:              "Global Privacy Control",
	consentd.SourceSync:             "sync",
	consentd.SourceProviderFeed:     "provider feed",
	consentd.SourceSMSKeyword:       "SMS keyword",
}

// groupName says a group's value in words: purposes and topics by their
// catalog names (a topic after its purpose's), source types in words, an
// empty value as such.
func groupName(grouping, value string, cat *consentd.Catalog) string {
	switch grouping {
	case "purpose":
		if p := cat.Purposes[value]; p != nil && p.Name != "" {
			return p.Name
		}
	case "topic":
		if value == "" {
			return "no topic (the whole purpose)"
		}
		if t := cat.Topics[value]; t != nil && t.Name != "" {
			if p := cat.Purposes[t.Purpose]; p != nil && p.Name != "" {
				return p.Name + " — " + t.Name
			}
			return t.Name
		}
	case "source":
		if w, ok := sourceWords[value]; ok {
			return w
		}
	case "jurisdiction":
		if value == "" {
			return "not given"
		}
	}
	if value == "" {
		return "none"
	}
	return value
}

// overview answers GET /admin/overview?period=7d|30d|12m|custom&from=&to=
// (default 30d; from and to, YYYY-MM-DD, make a custom period). A bad
// date, to before from, a span over the reports' limit or an unknown
// period answers 400 with the reason.
func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	v, op, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	rs, ok := s.reports(w, r, op)
	if !ok {
		return
	}
	p := &overviewPage{Periods: periods, MaxReportDays: consentd.MaxReportDays}
	sp, bad := choosePeriod(r.URL.Query(), s.Now(), p)
	if bad != "" {
		s.message(w, r, http.StatusBadRequest, op, "Bad request", bad)
		return
	}
	ctx := r.Context()
	report := func(from, to time.Time, interval, groupBy string) ([]consentd.ConsentReportRow, error) {
		rows, err := rs.ConsentReport(ctx, v.workspace, consentd.ReportQuery{From: from, To: to, Interval: interval, GroupBy: groupBy})
		if err != nil {
			return nil, fmt.Errorf("consent report by %q: %w", groupBy, err)
		}
		return rows, nil
	}
	// The previous period is only summed, per group, so it is read by
	// month: a few buckets, rather than a row per day, value and status.
	rows, err := report(sp.from, sp.to, p.Interval, "")
	if err != nil {
		s.fail(w, r, op, err)
		return
	}
	prev, err := report(sp.prevFrom, sp.prevTo, "month", "")
	if err != nil {
		s.fail(w, r, op, err)
		return
	}
	starts := bucketStarts(sp.from, sp.to, p.Interval)
	if p.headline(rows, prev, starts); p.Empty {
		s.render(w, r, http.StatusOK, "overview", op, p)
		return
	}
	cat, err := s.DB.Catalog(ctx, v.workspace)
	if err != nil {
		s.fail(w, r, op, fmt.Errorf("read catalog: %w", err))
		return
	}
	for _, g := range consentd.ConsentReportGroupings {
		rows, err := report(sp.from, sp.to, p.Interval, g)
		if err != nil {
			s.fail(w, r, op, err)
			return
		}
		prev, err := report(sp.prevFrom, sp.prevTo, "month", g)
		if err != nil {
			s.fail(w, r, op, err)
			return
		}
		p.Sections = append(p.Sections, breakdown(g, rows, prev, starts, p, cat))
	}
	s.render(w, r, http.StatusOK, "overview", op, p)
}

// span is a period of whole UTC days, both ends included, and the period
// of the same length just before it.
type span struct{ from, to, prevFrom, prevTo time.Time }

// choosePeriod reads the period q asks for into p: a preset (period=7d,
// 30d or 12m; 30d when q names none) or custom days (from and to, with or
// without period=custom), checked as the API checks a report's. A period
// that cannot be shown returns the sentence that says why.
func choosePeriod(q url.Values, now time.Time, p *overviewPage) (span, string) {
	var sp span
	p.Key = q.Get("period")
	if p.Key == "" {
		p.Key = "30d"
		if q.Get("from") != "" || q.Get("to") != "" {
			p.Key = "custom"
		}
	}
	switch i := slices.IndexFunc(periods, func(x period) bool { return x.Key == p.Key }); {
	case i >= 0:
		sp.to, sp.from, sp.prevFrom, p.Interval = presetSpan(p.Key, now)
		p.Name = periods[i].Name
	case p.Key == "custom":
		if q.Get("from") == "" || q.Get("to") == "" {
			return sp, "A custom period needs both a first and a last day."
		}
		// The API's checks: days as YYYY-MM-DD, to not before from, at
		// most MaxReportDays.
		rq, err := consentd.ParseReportQuery(q.Get("from"), q.Get("to"), "", "", nil, now)
		if err != nil {
			return sp, "The period cannot be shown: " + consentd.ErrorMessage(err) + "."
		}
		sp.from, sp.to = rq.From, rq.To
		days := int(sp.to.Sub(sp.from).Hours()/24) + 1
		sp.prevFrom = sp.from.AddDate(0, 0, -days)
		p.Interval = customInterval(days)
		p.Name = sp.from.Format(time.DateOnly) + " to " + sp.to.Format(time.DateOnly)
	default:
		return sp, "The period is one of 7d, 30d, 12m or custom."
	}
	sp.prevTo = sp.from.AddDate(0, 0, -1)
	p.From, p.To = sp.from.Format(time.DateOnly), sp.to.Format(time.DateOnly)
	p.PrevFrom, p.PrevTo = sp.prevFrom.Format(time.DateOnly), sp.prevTo.Format(time.DateOnly)
	p.IntervalInText = map[string]string{"day": "per day", "week": "per week (weeks start on Monday)", "month": "per month"}[p.Interval]
	return sp, ""
}

// headline fills the page's figures from the period's rows and the
// previous period's, and unless the period is empty, its chart and the
// table of its buckets (starts), newest first.
func (p *overviewPage) headline(rows, prev []consentd.ConsentReportRow, starts []time.Time) {
	var cur, before counts
	byBucket := map[string]*counts{}
	for _, row := range rows {
		cur.add(row)
		if byBucket[row.Bucket] == nil {
			byBucket[row.Bucket] = &counts{}
		}
		byBucket[row.Bucket].add(row)
	}
	for _, row := range prev {
		before.add(row)
	}
	p.Figures = []figure{
		{"Opt-ins", itoa(cur.In), itoa(before.In), countChange(cur.In, before.In)},
		{"Opt-outs", itoa(cur.Out), itoa(before.Out), countChange(cur.Out, before.Out)},
		{"Pending confirmations", itoa(cur.Pending), itoa(before.Pending), countChange(cur.Pending, before.Pending)},
		{"Opt-in rate", cur.rate(), before.rate(), pointsChange(cur.In, cur.In+cur.Out, before.In, before.In+before.Out)},
	}
	p.Empty = cur.total() == 0
	if p.Empty {
		return
	}
	all := []series{{Name: "Opt-ins", Class: "k-in", Up: true}, {Name: "Pending confirmations", Class: "k-pend", Up: true}, {Name: "Opt-outs", Class: "k-out"}}
	for _, d := range starts {
		var c counts
		if x := byBucket[d.Format(time.DateOnly)]; x != nil {
			c = *x
		}
		all[0].Values = append(all[0].Values, c.In)
		all[1].Values = append(all[1].Values, c.Pending)
		all[2].Values = append(all[2].Values, c.Out)
	}
	for i := len(starts) - 1; i >= 0; i-- {
		var c counts
		if x := byBucket[starts[i].Format(time.DateOnly)]; x != nil {
			c = *x
		}
		p.Buckets = append(p.Buckets, groupRow{Name: bucketLabel(starts[i], p.Interval, true), In: c.In, Out: c.Out, Pending: c.Pending, Rate: c.rate()})
	}
	p.Chart = newChart("all", "Consents captured "+p.IntervalInText, fmt.Sprintf(
		"Bars above the line are opt-ins with pending confirmations stacked on them, bars below are opt-outs, %s from %s to %s: %s, %d pending, %s in all. The table of the figures per %s follows the chart.",
		p.IntervalInText, p.From, p.To, plural(int(cur.In), "opt-in"), cur.Pending, plural(int(cur.Out), "opt-out"), p.Interval), starts, p.Interval, all)
	p.Chart.Note = "Above the line: opt-ins, with pending confirmations on top of them. Below the line: opt-outs."
}

// customInterval is the buckets' size for a custom period of days: days
// up to a month, weeks up to half a year, months beyond, so that a chart
// has at most about 31 bars.
func customInterval(days int) string {
	switch {
	case days <= 31:
		return "day"
	case days <= 183:
		return "week"
	}
	return "month"
}

// maxChartGroups is how many groups a breakdown's chart draws in their own
// colour; the rest are one bar, "other".
const maxChartGroups = 5

// breakdown builds the section of one grouping: every group of either
// period in the table, most consents first, and a chart of the biggest.
func breakdown(grouping string, rows, prev []consentd.ConsentReportRow, starts []time.Time, p *overviewPage, cat *consentd.Catalog) section {
	t, ok := groupingTitles[grouping]
	if !ok {
		t = [2]string{"By " + grouping, grouping}
	}
	sec := section{ID: "by-" + grouping, Title: t[0], Column: t[1]}
	cur, before := map[string]*counts{}, map[string]*counts{}
	at := map[string]map[string]*counts{} // group -> bucket -> counts
	get := func(m map[string]*counts, k string) *counts {
		if m[k] == nil {
			m[k] = &counts{}
		}
		return m[k]
	}
	for _, row := range rows {
		get(cur, row.Group).add(row)
		if at[row.Group] == nil {
			at[row.Group] = map[string]*counts{}
		}
		get(at[row.Group], row.Bucket).add(row)
	}
	for _, row := range prev {
		get(before, row.Group).add(row)
	}
	var groups []string
	for g := range cur {
		groups = append(groups, g)
	}
	for g := range before {
		if cur[g] == nil {
			groups = append(groups, g)
		}
	}
	total := func(m map[string]*counts, g string) int64 {
		if c := m[g]; c != nil {
			return c.total()
		}
		return 0
	}
	slices.SortFunc(groups, func(a, b string) int {
		if c := cmp.Compare(total(cur, b), total(cur, a)); c != 0 {
			return c
		}
		if c := cmp.Compare(total(before, b), total(before, a)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	for _, g := range groups {
		c, b := get(cur, g), get(before, g)
		sec.Rows = append(sec.Rows, groupRow{Name: groupName(grouping, g, cat), In: c.In, Out: c.Out, Pending: c.Pending, Rate: c.rate(),
			Previous: fmt.Sprintf("%d in, %d out, %d pending; rate %s", b.In, b.Out, b.Pending, b.rate()),
			Change:   pointsChange(c.In, c.In+c.Out, b.In, b.In+b.Out)})
	}

	// The chart: the groups with consents in this period, the biggest
	// maxChartGroups in their own colour and the rest as "other"; opt-ins
	// above the line, opt-outs below, in the group's colour.
	var drawn []string
	for _, g := range groups {
		if cur[g] != nil && cur[g].In+cur[g].Out > 0 {
			drawn = append(drawn, g)
		}
	}
	var ss []series
	var said []string
	addGroup := func(name, class string, gs []string) {
		in, out := series{Name: name, Class: class, Up: true}, series{Name: name, Class: class}
		var sumIn, sumOut int64
		for _, d := range starts {
			var c counts
			for _, g := range gs {
				if x := at[g][d.Format(time.DateOnly)]; x != nil {
					c.In += x.In
					c.Out += x.Out
				}
			}
			in.Values = append(in.Values, c.In)
			out.Values = append(out.Values, c.Out)
			sumIn += c.In
			sumOut += c.Out
		}
		ss = append(ss, in, out)
		said = append(said, name+" "+plural(int(sumIn), "opt-in")+", "+plural(int(sumOut), "opt-out"))
	}
	for i, g := range drawn {
		if i == maxChartGroups && len(drawn) > maxChartGroups+1 {
			addGroup("Other", "k"+strconv.Itoa(maxChartGroups), drawn[i:])
			break
		}
		addGroup(groupName(grouping, g, cat), "k"+strconv.Itoa(i), []string{g})
	}
	desc := fmt.Sprintf("Opt-ins above the line and opt-outs below it, %s from %s to %s, by %s: %s. Pending confirmations are in the table, which follows the chart.",
		p.IntervalInText, p.From, p.To, strings.ToLower(t[1]), strings.Join(said, "; "))
	if len(ss) == 0 {
		desc = "No opt-ins or opt-outs in this period, only pending confirmations; the table follows."
	}
	sec.Chart = newChart(grouping, "Opt-ins and opt-outs "+p.IntervalInText+", "+strings.ToLower(t[0]), desc, starts, p.Interval, ss)
	sec.Chart.Note = "Above the line: opt-ins; below it: opt-outs; in each group's colour. Pending confirmations are in the table."
	return sec
}

// countChange says how a count moved from the previous period: "+3
// (+33.33%)", "-1 (-50%)", "+2 (none before)" or "no change".
func countChange(cur, prev int64) string {
	d := cur - prev
	switch {
	case d == 0:
		return "no change"
	case prev == 0:
		return "+" + itoa(d) + " (none before)"
	}
	sign := ""
	if d > 0 {
		sign = "+"
	}
	return sign + itoa(d) + " (" + sign + strconv.FormatFloat(percent(d, prev), 'f', -1, 64) + "%)"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// bucketLabel names a bucket by its first day: "3 Dec" (full: the date),
// "week of 30 Nov", or "Dec 2026".
func bucketLabel(d time.Time, interval string, full bool) string {
	switch {
	case interval == "month":
		return d.Format("Jan 2006")
	case full && interval == "week":
		return "week of " + d.Format(time.DateOnly)
	case full:
		return d.Format(time.DateOnly)
	}
	return d.Format("2 Jan")
}
