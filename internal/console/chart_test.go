package console

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// TestNewChart: bars stand on one line, opt-ins above and opt-outs below,
// each side scaled to its tallest stack, inside the viewBox.
func TestNewChart(t *testing.T) {
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	starts := []time.Time{day, day.AddDate(0, 0, 1), day.AddDate(0, 0, 2)}
	c := newChart("x", "T", "D", starts, "day", []series{
		{Name: "in", Class: "k-in", Up: true, Values: []int64{3, 0, 1}},
		{Name: "pending", Class: "k-pend", Up: true, Values: []int64{1, 0, 0}},
		{Name: "out", Class: "k-out", Values: []int64{0, 0, 4}},
	})
	if len(c.Rects) != 4 {
		t.Fatalf("%d bars; want 4 (no bar for a 0)", len(c.Rects))
	}
	f := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
	// 4 up and 4 down share the plot's height: the line is in its middle.
	base := padTop + chartPlotH/2
	unit := chartPlotH / 8
	for i, want := range []struct {
		y, h  float64
		class string
	}{{base - 3*unit, 3 * unit, "k-in"}, {base - 4*unit, unit, "k-pend"}, {base - unit, unit, "k-in"}, {base, 4 * unit, "k-out"}} {
		r := c.Rects[i]
		if d := f(r.Y) - want.y; d > 0.1 || d < -0.1 || r.Class != want.class {
			t.Errorf("bar %d = %+v; want y %.1f h %.1f %s", i, r, want.y, want.h, want.class)
		}
		if d := f(r.H) - want.h; d > 0.1 || d < -0.1 {
			t.Errorf("bar %d height %s; want %.1f", i, r.H, want.h)
		}
		if f(r.X) < padLeft || f(r.X)+f(r.W) > chartW-padRight {
			t.Errorf("bar %d leaves the plot: %+v", i, r)
		}
	}
	// The template draws the bars as Bars writes them: one rect each.
	bars := string(c.Bars())
	if n := strings.Count(bars, "<rect "); n != 4 {
		t.Errorf("Bars() has %d rects; want 4:\n%s", n, bars)
	}
	r := c.Rects[3]
	if want := `<rect x="` + r.X + `" y="` + r.Y + `" width="` + r.W + `" height="` + r.H + `" class="k-out"/>`; !strings.Contains(bars, want) {
		t.Errorf("Bars() = %s; want it to hold %s", bars, want)
	}
	if got := string(chart{Rects: []svgRect{{X: "1", Y: "2", W: "3", H: "4", Class: `a"b`}}}.Bars()); strings.Contains(got, `a"b`) {
		t.Errorf("Bars() does not escape: %s", got)
	}
	var labels []string
	for _, l := range c.Labels {
		labels = append(labels, l.Text)
	}
	if got := strings.Join(labels, ","); got != "0,4,4,3 Mar,2 Mar,1 Mar" {
		t.Errorf("labels %s", got)
	}
	if len(c.Legend) != 3 {
		t.Errorf("legend %v", c.Legend)
	}
	// Nothing to draw: no bars, and the page says so in words.
	if c := newChart("x", "T", "D", starts, "day", nil); len(c.Rects) != 0 {
		t.Errorf("an empty chart has bars")
	}
}

// TestBreakdownOther: a grouping of many groups draws the biggest five in
// their own colours and the rest as "Other", and lists every one in its
// table, most consents first.
func TestBreakdownOther(t *testing.T) {
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var rows []consentd.ConsentReportRow
	for i, j := range []string{"DE", "FR", "IT", "ES", "NL", "BE", "AT"} {
		rows = append(rows, consentd.ConsentReportRow{Bucket: "2026-03-01", Group: j, Status: consentd.OptedIn, Count: int64(10 - i)})
	}
	p := &overviewPage{From: "2026-03-01", To: "2026-03-01", Interval: "day", IntervalInText: "per day"}
	sec := breakdown("jurisdiction", rows, nil, []time.Time{day}, p, consentd.NewCatalog(nil, nil))
	var legend []string
	for _, l := range sec.Chart.Legend {
		legend = append(legend, l.Name+"="+l.Class)
	}
	if got := strings.Join(legend, " "); got != "DE=k0 FR=k1 IT=k2 ES=k3 NL=k4 Other=k5" {
		t.Errorf("legend %s", got)
	}
	if !strings.Contains(sec.Chart.Desc, "Other 9 opt-ins, 0 opt-outs") {
		t.Errorf("description %q", sec.Chart.Desc)
	}
	if len(sec.Rows) != 7 || sec.Rows[0].Name != "DE" || sec.Rows[6].Name != "AT" || sec.Rows[6].In != 4 {
		t.Errorf("rows %+v", sec.Rows)
	}
}

// TestGroupName: groups in words, by the catalog's names.
func TestGroupName(t *testing.T) {
	cat := consentd.NewCatalog([]*consentd.Purpose{{ID: "newsletter", Name: "Newsletter"}}, []*consentd.Topic{{ID: "weekly", Purpose: "newsletter", Name: "Weekly digest"}})
	for _, c := range []struct{ grouping, value, want string }{
		{"purpose", "newsletter", "Newsletter"},
		{"purpose", "gone", "gone"},
		{"topic", "weekly", "Newsletter — Weekly digest"},
		{"topic", "", "no topic (the whole purpose)"},
		{"source", "preference_center", "preference center"},
		{"source", "sms_keyword", "SMS keyword"},
		{"source", "something_new", "something_new"},
		{"jurisdiction", "", "not given"},
		{"jurisdiction", "US-CA", "US-CA"},
		{"channel", "", "none"},
	} {
		if got := groupName(c.grouping, c.value, cat); got != c.want {
			t.Errorf("groupName(%s, %q) = %q; want %q", c.grouping, c.value, got, c.want)
		}
	}
}
