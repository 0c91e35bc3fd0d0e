package consentd

import (
	"slices"
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

// TestConsentCountRanges: a monthly report reads a month row for each
// whole month; for a partial month, the day rows it holds when they are
// at most half the month, else the month row minus the day rows it leaves
// out. Other intervals read day rows.
func TestConsentCountRanges(t *testing.T) {
	day := func(s string) time.Time {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	type r = ConsentCountRange
	tests := []struct {
		name, from, to, interval, group string
		want                            []r
	}{
		{"daily", "2026-01-15", "2026-12-03", "day", "purpose", []r{{"purpose", "2026-01-15", "2026-12-03", false, false}}},
		{"weekly", "2026-01-01", "2026-12-31", "week", "", []r{{"", "2026-01-01", "2026-12-31", false, false}}},
		{"12 months to today", "2026-01-01", "2026-12-03", "month", "", []r{
			{"m:", "2026-01-01", "2026-11-01", true, false}, {"", "2026-12-01", "2026-12-03", false, false}}},
		{"whole months only", "2025-01-01", "2025-12-31", "month", "source", []r{{"m:source", "2025-01-01", "2025-12-01", true, false}}},
		{"partial at both ends", "2025-01-15", "2025-04-02", "month", "channel", []r{
			{"m:channel", "2025-01-01", "2025-01-01", true, false}, {"channel", "2025-01-01", "2025-01-14", false, true},
			{"m:channel", "2025-02-01", "2025-03-01", true, false}, {"channel", "2025-04-01", "2025-04-02", false, false}}},
		{"one whole February", "2024-02-01", "2024-02-29", "month", "", []r{{"m:", "2024-02-01", "2024-02-01", true, false}}},
		{"starts on a month's last day", "2024-01-31", "2024-03-31", "month", "", []r{
			{"", "2024-01-31", "2024-01-31", false, false}, {"m:", "2024-02-01", "2024-03-01", true, false}}},
		{"most of a month", "2025-03-02", "2025-03-30", "month", "topic", []r{
			{"m:topic", "2025-03-01", "2025-03-01", true, false}, {"topic", "2025-03-01", "2025-03-01", false, true},
			{"topic", "2025-03-31", "2025-03-31", false, true}}},
		{"most of two months", "2025-03-02", "2025-04-29", "month", "", []r{
			{"m:", "2025-03-01", "2025-03-01", true, false}, {"", "2025-03-01", "2025-03-01", false, true},
			{"m:", "2025-04-01", "2025-04-01", true, false}, {"", "2025-04-30", "2025-04-30", false, true}}},
		{"the 30 days before a 30-day period", "2026-10-05", "2026-11-03", "month", "", []r{
			{"m:", "2026-10-01", "2026-10-01", true, false}, {"", "2026-10-01", "2026-10-04", false, true}, {"", "2026-11-01", "2026-11-03", false, false}}},
		{"half a month", "2025-04-16", "2025-04-30", "month", "", []r{{"", "2025-04-16", "2025-04-30", false, false}}},
		{"a few days across months", "2025-01-29", "2025-02-02", "month", "", []r{{"", "2025-01-29", "2025-02-02", false, false}}},
		{"one day", "2025-03-01", "2025-03-01", "month", "", []r{{"", "2025-03-01", "2025-03-01", false, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ReportQuery{From: day(tt.from), To: day(tt.to), Interval: tt.interval, GroupBy: tt.group}.ConsentCountRanges()
			if !slices.Equal(got, tt.want) {
				t.Errorf("ConsentCountRanges() = %v, want %v", got, tt.want)
			}
		})
	}
}
