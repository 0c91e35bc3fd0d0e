package consentd

import (
	"testing"
	"time"
)

func TestParseReportQuery(t *testing.T) {
	today := time.Date(2026, 3, 10, 15, 4, 5, 0, time.UTC)
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	groups := []string{"purpose", "channel"}
	for _, c := range []struct {
		from, to, interval, groupBy string
		want                        ReportQuery
		field                       string // the parameter an error names
	}{
		{want: ReportQuery{From: day("2026-02-09"), To: day("2026-03-10"), Interval: "day"}},
		{from: "2026-01-01", to: "2026-01-31", interval: "week", groupBy: "channel", want: ReportQuery{From: day("2026-01-01"), To: day("2026-01-31"), Interval: "week", GroupBy: "channel"}},
		{to: "2026-01-31", want: ReportQuery{From: day("2026-01-02"), To: day("2026-01-31"), Interval: "day"}},
		{from: "2024-01-01", to: "2025-12-31", want: ReportQuery{From: day("2024-01-01"), To: day("2025-12-31"), Interval: "day"}}, // 731 days
		{from: "2021-01-01", to: "2025-12-31", want: ReportQuery{From: day("2021-01-01"), To: day("2025-12-31"), Interval: "day"}}, // five years
		{from: "2020-01-01", to: "2025-01-01", field: "from"},                                                                      // over five years
		{from: "2026-02-01", to: "2026-01-01", field: "to"},
		{from: "yesterday", field: "from"},
		{to: "2026-02-30", field: "to"},
		{interval: "year", field: "interval"},
		{groupBy: "reason", field: "group_by"},
	} {
		got, err := ParseReportQuery(c.from, c.to, c.interval, c.groupBy, groups, today)
		if c.field != "" {
			e, ok := err.(*Error)
			if !ok || e.Code != EINVALID || len(e.Fields) != 1 || e.Fields[0].Field != c.field {
				t.Errorf("%+v: error %v; want EINVALID naming %s", c, err, c.field)
			}
			continue
		}
		if err != nil || !got.From.Equal(c.want.From) || !got.To.Equal(c.want.To) || got.Interval != c.want.Interval || got.GroupBy != c.want.GroupBy {
			t.Errorf("%+v = %+v, %v; want %+v", c, got, err, c.want)
		}
	}
}
