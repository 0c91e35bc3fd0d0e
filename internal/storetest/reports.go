package storetest

import (
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// testDecisionCounts: flushed decision counts add up across flushes, per
// workspace, and the report buckets them by day, week or month.
func testDecisionCounts(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	other := newEnv(t, s, "other")
	count := func(ws, day, purpose string, allowed bool, reason consentd.Reason, n int64) consentd.DecisionCount {
		return consentd.DecisionCount{WorkspaceID: ws, Day: day, Purpose: purpose, Channel: "email", Allowed: allowed, Reason: reason, Count: n}
	}
	for _, flush := range [][]consentd.DecisionCount{
		{count(e.ws, "2026-03-02", "newsletter", true, consentd.ReasonOptedIn, 3), count(e.ws, "2026-03-02", "newsletter", false, consentd.ReasonOptedOut, 1),
			count(other.ws, "2026-03-02", "newsletter", true, consentd.ReasonOptedIn, 100)},
		{count(e.ws, "2026-03-02", "newsletter", true, consentd.ReasonOptedIn, 4), count(e.ws, "2026-03-08", "promo", false, consentd.ReasonSuppressed, 2),
			count(e.ws, "2026-04-01", "newsletter", true, consentd.ReasonOptedIn, 5)},
	} {
		if err := s.AddDecisionCounts(e.ctx, flush); err != nil {
			t.Fatalf("AddDecisionCounts() = %v", err)
		}
	}
	q := func(interval, groupBy string) consentd.ReportQuery {
		return consentd.ReportQuery{From: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC), Interval: interval, GroupBy: groupBy}
	}
	row := func(bucket, group string, allowed bool, reason consentd.Reason, n int64) consentd.DecisionReportRow {
		return consentd.DecisionReportRow{Bucket: bucket, Group: group, Allowed: allowed, Reason: reason, Count: n}
	}
	for _, tc := range []struct {
		q    consentd.ReportQuery
		want []consentd.DecisionReportRow
	}{
		{q("day", ""), []consentd.DecisionReportRow{row("2026-03-02", "", false, consentd.ReasonOptedOut, 1), row("2026-03-02", "", true, consentd.ReasonOptedIn, 7),
			row("2026-03-08", "", false, consentd.ReasonSuppressed, 2)}},
		// 2026-03-02 is a Monday, 2026-03-08 the Sunday of its week.
		{q("week", "purpose"), []consentd.DecisionReportRow{row("2026-03-02", "newsletter", false, consentd.ReasonOptedOut, 1), row("2026-03-02", "newsletter", true, consentd.ReasonOptedIn, 7),
			row("2026-03-02", "promo", false, consentd.ReasonSuppressed, 2)}},
		{q("month", "reason"), []consentd.DecisionReportRow{row("2026-03-01", "opted_out", false, consentd.ReasonOptedOut, 1), row("2026-03-01", "suppressed", false, consentd.ReasonSuppressed, 2),
			row("2026-03-01", "opted_in", true, consentd.ReasonOptedIn, 7)}},
	} {
		got, err := s.DecisionReport(e.ctx, e.ws, tc.q)
		if err != nil {
			t.Fatalf("DecisionReport(%s, %s) = %v", tc.q.Interval, tc.q.GroupBy, err)
		}
		if !sameRows(got, tc.want) {
			t.Errorf("DecisionReport(%s, %s) = %+v; want %+v", tc.q.Interval, tc.q.GroupBy, got, tc.want)
		}
	}
	got, err := s.DecisionReport(e.ctx, other.ws, q("month", ""))
	if want := []consentd.DecisionReportRow{row("2026-03-01", "", true, consentd.ReasonOptedIn, 100)}; err != nil || !sameRows(got, want) {
		t.Errorf("DecisionReport(other workspace) = %+v, %v; want %+v", got, err, want)
	}
	_, err = s.DecisionReport(e.ctx, e.ws, q("year", ""))
	wantCode(t, "DecisionReport(interval year)", err, consentd.EINVALID)
	_, err = s.DecisionReport(e.ctx, e.ws, q("day", "contact_point"))
	wantCode(t, "DecisionReport(group_by contact_point)", err, consentd.EINVALID)
}

// testConsentReport: consents are counted in the bucket of their
// captured_at, so imported history lands on the days it was captured.
func testConsentReport(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	imported := consentd.Source{Type: consentd.SourceImport, Name: "old crm"}
	w := func(cp, purpose string, status consentd.Status, at time.Time, src consentd.Source, jur string) consentd.ConsentWrite {
		return consentd.ConsentWrite{ContactPoint: cp, Channel: "email", Purpose: purpose, Status: status, CapturedAt: at, Source: src, Jurisdiction: jur}
	}
	jan := time.Date(2025, 1, 15, 23, 30, 0, 0, time.UTC)
	e.mustWrite(
		w("a@example.com", "newsletter", consentd.OptedIn, jan, imported, "DE"),
		w("b@example.com", "newsletter", consentd.OptedOut, jan.Add(time.Hour), imported, "DE"), // 2025-01-16
		w("c@example.com", "promo", consentd.Pending, jan.AddDate(0, 1, 0), imported, "FR"),
		w("d@example.com", "newsletter", consentd.OptedIn, e.t0, consentd.Source{Type: consentd.SourceAPI}, ""),
	)
	q := consentd.ReportQuery{From: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2025, 2, 28, 0, 0, 0, 0, time.UTC), Interval: "day"}
	row := func(bucket, group string, st consentd.Status, n int64) consentd.ConsentReportRow {
		return consentd.ConsentReportRow{Bucket: bucket, Group: group, Status: st, Count: n}
	}
	check := func(q consentd.ReportQuery, want ...consentd.ConsentReportRow) {
		t.Helper()
		got, err := s.ConsentReport(e.ctx, e.ws, q)
		if err != nil {
			t.Fatalf("ConsentReport(%s, %s) = %v", q.Interval, q.GroupBy, err)
		}
		if !sameRows(got, want) {
			t.Errorf("ConsentReport(%s, %s) = %+v; want %+v", q.Interval, q.GroupBy, got, want)
		}
	}
	check(q, row("2025-01-15", "", consentd.OptedIn, 1), row("2025-01-16", "", consentd.OptedOut, 1), row("2025-02-15", "", consentd.Pending, 1))
	q.Interval, q.GroupBy = "month", "jurisdiction"
	check(q, row("2025-01-01", "DE", consentd.OptedIn, 1), row("2025-01-01", "DE", consentd.OptedOut, 1), row("2025-02-01", "FR", consentd.Pending, 1))
	q.GroupBy = "source"
	check(q, row("2025-01-01", "import", consentd.OptedIn, 1), row("2025-01-01", "import", consentd.OptedOut, 1), row("2025-02-01", "import", consentd.Pending, 1))
	// Today's write counts today, whatever the import did.
	day := time.Date(e.t0.Year(), e.t0.Month(), e.t0.Day(), 0, 0, 0, 0, time.UTC)
	check(consentd.ReportQuery{From: day, To: day, Interval: "week", GroupBy: "purpose"},
		row(day.AddDate(0, 0, -(int(day.Weekday())+6)%7).Format(time.DateOnly), "newsletter", consentd.OptedIn, 1))
	_, err := s.ConsentReport(e.ctx, e.ws, consentd.ReportQuery{From: day, To: day, Interval: "day", GroupBy: "reason"})
	wantCode(t, "ConsentReport(group_by reason)", err, consentd.EINVALID)
}

// sameRows reports whether two row lists are equal, ignoring order.
func sameRows[T comparable](got, want []T) bool {
	if len(got) != len(want) {
		return false
	}
	seen := map[T]int{}
	for _, r := range got {
		seen[r]++
	}
	for _, r := range want {
		if seen[r] == 0 {
			return false
		}
		seen[r]--
	}
	return true
}
