package console_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// writeConsent writes one consent through the API, captured days before
// now (noon UTC).
func (e *env) writeConsent(cp, channelType string, status consentd.Status, source, jurisdiction string, daysAgo int) {
	e.t.Helper()
	now := time.Now().UTC()
	at := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -daysAgo).Add(time.Minute)
	j := ""
	if jurisdiction != "" {
		j = `,"jurisdiction":"` + jurisdiction + `"`
	}
	body := fmt.Sprintf(`{"contact_point":%q,"channel_type":%q,"status":%q,"captured_at":%q,"source":{"type":%q}%s}`,
		cp, channelType, status, at.Format(time.RFC3339), source, j)
	if st, b := e.api("POST", "/v1/consents", body); st >= 300 {
		e.t.Fatalf("POST consent %s = %d %s", body, st, b)
	}
}

// overviewHistory writes consents in the last 7 days and in the 7 before
// them. This period: 3 opt-ins, 2 opt-outs (one of them an opt-in of the
// period before, changed since), 1 pending: a rate of 60%. The period
// before: 1 opt-in, 1 opt-out: 50%.
func overviewHistory(e *env) {
	for _, c := range []struct {
		cp, ct      string
		status      consentd.Status
		source, jur string
		daysAgo     int
	}{
		{"a@example.com", "newsletter:email", consentd.OptedIn, "form", "US-CA", 1},
		{"b@example.com", "newsletter:email", consentd.OptedIn, "preference_center", "DE", 2},
		{"+14155550100", "newsletter:sms", consentd.OptedIn, "api", "", 0},
		{"c@example.com", "newsletter:email", consentd.OptedOut, "unsubscribe_link", "DE", 2},
		{"d@example.com", "partners:email", consentd.Pending, "form", "", 3},
		// The period before, imported as old history.
		{"e@example.com", "newsletter:email", consentd.OptedIn, "import", "", 10},
		{"f@example.com", "partners:email", consentd.OptedOut, "import", "", 10},
		// An opt-in of the period before, out since: an opt-out of this
		// period, and nothing of the one before.
		{"g@example.com", "newsletter:email", consentd.OptedIn, "form", "", 11},
		{"g@example.com", "newsletter:email", consentd.OptedOut, "agent", "", 1},
	} {
		e.writeConsent(c.cp, c.ct, c.status, c.source, c.jur, c.daysAgo)
	}
}

var tags = regexp.MustCompile(`<[^>]+>`)

// text is the text of a page's main element: without tags, entities
// unescaped, spaces folded; for checks of what a reader sees.
func text(body string) string {
	if i := strings.Index(body, "<main>"); i >= 0 {
		body = body[i:]
	}
	return strings.Join(strings.Fields(html.UnescapeString(tags.ReplaceAllString(body, " "))), " ")
}

// section is the HTML of the overview's section id.
func section(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `<section id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no section %s", id)
	}
	j := strings.Index(body[i:], "</section>")
	return body[i : i+j]
}

func TestOverview(t *testing.T) {
	e := newEnv(t)
	overviewHistory(e)
	if p := e.operator().do("GET", "/admin/overview", nil); p.status != http.StatusUnauthorized || !strings.Contains(p.body, `name="key"`) {
		t.Errorf("signed out, GET /admin/overview = %d; want the sign-in form", p.status)
	}
	o := e.operator()
	o.signIn(consentd.RoleRead) // the least a console role may do
	p := o.do("GET", "/admin/overview?period=7d", nil)
	if p.status != 200 {
		t.Fatalf("GET /admin/overview?period=7d = %d:\n%s", p.status, p.body)
	}
	txt := text(p.body)
	for _, want := range []string{
		"Opt-ins 3 before: 1 · change: +2 (+200%)",
		"Opt-outs 2 before: 1 · change: +1 (+100%)",
		"Pending confirmations 1 before: 0 · change: +1 (none before)",
		"Opt-in rate 60% before: 50% · change: +10 points",
		"opt-ins ÷ (opt-ins + opt-outs)",
	} {
		if !strings.Contains(txt, want) {
			t.Errorf("the 7-day page lacks %q:\n%s", want, txt)
		}
	}
	today := time.Now().UTC()
	if !strings.Contains(p.body, `<strong aria-current="page">Last 7 days</strong>`) || !strings.Contains(txt, today.AddDate(0, 0, -6).Format(time.DateOnly)+" to "+today.Format(time.DateOnly)) ||
		!strings.Contains(txt, today.AddDate(0, 0, -13).Format(time.DateOnly)+" to "+today.AddDate(0, 0, -7).Format(time.DateOnly)) {
		t.Errorf("the 7-day page does not name its days and the previous ones:\n%s", txt)
	}
	// The chart of all consents and the table of its days.
	if n := strings.Count(p.body, `role="img"`); n != 1+len(consentd.ConsentReportGroupings) {
		t.Errorf("%d charts; want one, and one per grouping", n)
	}
	if !strings.Contains(txt, "per day from "+today.AddDate(0, 0, -6).Format(time.DateOnly)+" to "+today.Format(time.DateOnly)+": 3 opt-ins, 1 pending, 2 opt-outs in all") {
		t.Errorf("the chart's description does not state the numbers:\n%s", txt)
	}
	if !strings.Contains(txt, today.AddDate(0, 0, -2).Format(time.DateOnly)+" 1 1 0 50%") || strings.Count(p.body, `<td data-label="Period">`) != 7 {
		t.Errorf("the table of days is wrong:\n%s", txt)
	}

	// Each breakdown's table: its groups by name, this period, the one
	// before, and the rate's change.
	for _, c := range []struct {
		id   string
		want []string
	}{
		{"by-purpose", []string{
			"Newsletter 3 2 0 60% 1 in, 0 out, 0 pending; rate 100% -40 points",
			"Partner offers 0 0 1 – 0 in, 1 out, 0 pending; rate 0% –",
		}},
		{"by-channel", []string{"email 2 2 1 50% 1 in, 1 out, 0 pending; rate 50% no change", "sms 1 0 0 100% 0 in, 0 out, 0 pending; rate – –"}},
		{"by-source", []string{"form 1 0 1 100%", "preference center 1 0 0", "unsubscribe link 0 1 0 0%", "API 1 0 0", "agent 0 1 0 0%", "import 0 0 0 – 1 in, 1 out, 0 pending; rate 50% –"}},
		{"by-jurisdiction", []string{"DE 1 1 0 50%", "US-CA 1 0 0 100%", "not given 1 1 1 50% 1 in, 1 out, 0 pending; rate 50% no change"}},
	} {
		sec := text(section(t, p.body, c.id))
		for _, want := range c.want {
			if !strings.Contains(sec, want) {
				t.Errorf("%s lacks %q:\n%s", c.id, want, sec)
			}
		}
	}
	// The purpose chart names its groups and their numbers.
	if sec := section(t, p.body, "by-purpose"); !strings.Contains(sec, "by purpose: Newsletter 3 opt-ins, 2 opt-outs.") {
		t.Errorf("the purpose chart's description:\n%s", sec)
	}

	// 30 days hold both weeks; the 30 days before nothing.
	p = o.do("GET", "/admin/overview", nil)
	if txt := text(p.body); p.status != 200 || !strings.Contains(p.body, `<strong aria-current="page">Last 30 days</strong>`) ||
		!strings.Contains(txt, "Opt-ins 4 before: 0 · change: +4 (none before)") || !strings.Contains(txt, "Opt-in rate 57.14% before: – ") {
		t.Errorf("the 30-day page = %d:\n%s", p.status, txt)
	}
	// 12 months, per month, against the 12 before: the env's two consents
	// of 2026-01-02 are in one or the other.
	p = o.do("GET", "/admin/overview?period=12m", nil)
	if p.status != 200 || !strings.Contains(p.body, `<th scope="col">Month</th>`) || strings.Count(p.body, `<td data-label="Period">`) != 12 {
		t.Errorf("the 12-month page = %d:\n%s", p.status, text(p.body))
	}
	// A custom period: the days asked, the same number before them.
	from, to := today.AddDate(0, 0, -2).Format(time.DateOnly), today.AddDate(0, 0, -1).Format(time.DateOnly)
	p = o.do("GET", "/admin/overview?"+url.Values{"from": {from}, "to": {to}}.Encode(), nil)
	if txt := text(p.body); p.status != 200 || !strings.Contains(txt, from+" to "+to+" against the period before") ||
		!strings.Contains(txt, today.AddDate(0, 0, -4).Format(time.DateOnly)+" to "+today.AddDate(0, 0, -3).Format(time.DateOnly)) ||
		!strings.Contains(txt, "Opt-ins 2 before: 0") || !strings.Contains(txt, "Pending confirmations 0 before: 1") {
		t.Errorf("a custom period = %d:\n%s", p.status, txt)
	}
	// Longer custom periods are counted per week (from Monday), then per
	// month: the env's two consents of Friday 2026-01-02 are in the week
	// of Monday 2025-12-29, and in January 2026.
	for q, wants := range map[string][]string{
		"from=2026-01-01&to=2026-03-31": {"Week Opt-ins Opt-outs Pending Opt-in rate", "week of 2025-12-29 1 1 0 50%"},
		"from=2025-01-01&to=2026-03-31": {"Month Opt-ins Opt-outs Pending Opt-in rate", "Jan 2026 1 1 0 50%"},
	} {
		p := o.do("GET", "/admin/overview?"+q, nil)
		for _, want := range wants {
			if txt := text(p.body); p.status != 200 || !strings.Contains(txt, want) {
				t.Errorf("%s = %d, lacks %q:\n%s", q, p.status, want, txt)
			}
		}
	}
	if strings.Contains(e.logs.String(), "@example.com") {
		t.Errorf("a contact point reached the log:\n%s", e.logs.String())
	}
}

// TestOverviewEmpty: a period without consents says so instead of
// drawing empty charts.
func TestOverviewEmpty(t *testing.T) {
	e := newEnv(t) // its consents are of 2026-01-02
	o := e.operator()
	o.signIn(consentd.RoleAdmin)
	p := o.do("GET", "/admin/overview?from=2020-01-01&to=2020-12-31", nil)
	if p.status != 200 || !strings.Contains(p.body, "No consents were captured in this period.") || strings.Contains(p.body, "<svg") || strings.Contains(p.body, "<section") {
		t.Errorf("an empty period = %d:\n%s", p.status, text(p.body))
	}
}

// TestOverviewBadInput: each bad period answers 400 with its reason.
func TestOverviewBadInput(t *testing.T) {
	e := newEnv(t)
	o := e.operator()
	o.signIn(consentd.RoleRead)
	before, _ := e.db.LogSize(t.Context(), e.ws)
	for _, c := range []struct{ query, want string }{
		{"period=1y", "The period is one of 7d, 30d, 12m or custom."},
		{"from=2026-03-01&to=2026-02-01", "to is before from"},
		{"from=2020-01-01&to=2025-12-31", "a report spans at most 1827 days"},
		{"from=2019-01-01&to=2025-01-02", "a report spans at most 1827 days"}, // over five years
		{"from=yesterday&to=2026-02-01", "from is a day, YYYY-MM-DD"},
		{"from=2026-01-01&to=2026-02-30", "to is a day, YYYY-MM-DD"},
		{"period=custom&from=2026-01-01", "needs both a first and a last day"},
	} {
		p := o.do("GET", "/admin/overview?"+c.query, nil)
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, c.want) || strings.Contains(p.body, "<svg") {
			t.Errorf("%s = %d; want 400 saying %q:\n%s", c.query, p.status, c.want, text(p.body))
		}
	}
	if after, _ := e.db.LogSize(t.Context(), e.ws); after != before {
		t.Errorf("bad periods logged %d entries", after-before)
	}
}

// day is today (UTC) plus offset days, YYYY-MM-DD.
func (e *env) day(offset int) string {
	return time.Now().UTC().AddDate(0, 0, offset).Format(time.DateOnly)
}
