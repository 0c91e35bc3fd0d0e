package api_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/tally"
)

type decisionReportJSON struct {
	From, To, Interval string
	GroupBy            string `json:"group_by"`
	Buckets            []struct {
		Start, Group     string
		Allowed, Blocked int64
		BlockedPct       float64 `json:"blocked_pct"`
		ByReason         []struct {
			Reason  string
			Count   int64
			Percent float64
		} `json:"blocked_by_reason"`
	}
}

// TestDecisionReport: every decision answered, single, in a JSON batch and
// on both paths of an NDJSON stream, is counted once per workspace, and
// the report answers the counts flushed, as JSON and CSV.
func TestDecisionReport(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		e.api.Tally = tally.New()
		check := e.a.key(consentd.RoleCheck)
		// newsletter on email is non_restrictive (allowed unless opted
		// out), on sms restrictive (blocked without consent).
		e.must("POST", "/v1/decisions", check, `{"contact_point":"a@example.com","channel":"email","purpose":"newsletter"}`, 200)
		e.must("POST", "/v1/decisions:batch", check, `{"purpose":"newsletter","channel":"sms","contact_points":["+14155550100","+14155550101"]}`, 200)
		lines := `{"contact_point":"+14155550102"}` + "\n" + `{"contact_point":"c@example.com","channel":"email"}` + "\n"
		if r := e.do("POST", "/v1/decisions:batch?purpose=newsletter&channel=sms", check, lines, "Content-Type", "application/x-ndjson"); r.status != 200 || strings.Count(string(r.body), "\n") != 2 {
			t.Fatalf("NDJSON stream = %s; want two answers", r)
		}
		e.must("POST", "/v1/decisions", e.b.key(consentd.RoleCheck), `{"contact_point":"b@example.com","channel":"email","purpose":"newsletter"}`, 200)
		if err := e.api.Tally.Flush(context.Background(), e.store.AddDecisionCounts); err != nil {
			t.Fatal(err)
		}
		read := e.a.key(consentd.RoleRead)
		var rep decisionReportJSON
		e.must("GET", "/v1/reports/decisions?group_by=channel", read, nil, 200).decode(t, &rep)
		today := time.Now().UTC().Format(time.DateOnly)
		if rep.To != today || rep.From != time.Now().UTC().AddDate(0, 0, -29).Format(time.DateOnly) || rep.Interval != "day" || len(rep.Buckets) != 2 {
			t.Fatalf("GET /v1/reports/decisions = %+v; want the last 30 days, two buckets", rep)
		}
		email, sms := rep.Buckets[0], rep.Buckets[1]
		if email.Start != today || email.Group != "email" || email.Allowed != 2 || email.Blocked != 0 || len(email.ByReason) != 0 {
			t.Errorf("email bucket = %+v; want 2 allowed", email)
		}
		if sms.Group != "sms" || sms.Allowed != 0 || sms.Blocked != 3 || sms.BlockedPct != 100 || len(sms.ByReason) != 1 ||
			sms.ByReason[0].Reason != "no_consent" || sms.ByReason[0].Count != 3 || sms.ByReason[0].Percent != 100 {
			t.Errorf("sms bucket = %+v; want 3 blocked, no_consent", sms)
		}
		e.must("GET", "/v1/reports/decisions?interval=month", read, nil, 200).decode(t, &rep)
		if len(rep.Buckets) != 1 || rep.Buckets[0].Allowed != 2 || rep.Buckets[0].Blocked != 3 || rep.Buckets[0].BlockedPct != 60 || rep.Buckets[0].ByReason[0].Percent != 60 {
			t.Errorf("monthly report = %+v; want 2 allowed, 3 blocked (60%%)", rep)
		}
		// A second flush adds to the first.
		e.must("POST", "/v1/decisions", check, `{"contact_point":"d@example.com","channel":"email","purpose":"newsletter"}`, 200)
		if err := e.api.Tally.Flush(context.Background(), e.store.AddDecisionCounts); err != nil {
			t.Fatal(err)
		}
		r := e.do("GET", "/v1/reports/decisions?group_by=reason", read, nil, "Accept", "text/csv")
		if ct := r.header.Get("Content-Type"); r.status != 200 || ct != "text/csv; charset=utf-8" {
			t.Errorf("GET /v1/reports/decisions as CSV = %s, Content-Type %q", r, ct)
		}
		rows, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		want := [][]string{
			{"start", "group", "allowed", "blocked", "blocked_pct", "reason", "reason_count", "reason_pct"},
			{today, "no_consent", "0", "3", "100", "no_consent", "3", "100"},
			{today, "not_opted_out", "3", "0", "0", "", "", ""},
		}
		if fmt.Sprint(rows) != fmt.Sprint(want) {
			t.Errorf("CSV report =\n%v\nwant\n%v", rows, want)
		}
		var other decisionReportJSON
		e.must("GET", "/v1/reports/decisions", e.b.key(consentd.RoleRead), nil, 200).decode(t, &other)
		if len(other.Buckets) != 1 || other.Buckets[0].Allowed != 1 {
			t.Errorf("the other workspace's report = %+v; want its one decision", other)
		}
		e.must("GET", "/v1/reports/decisions", check, nil, 403)
	})
}

// TestConsentReport: consents are counted by the day they were captured,
// so an import of old history lands on its days.
func TestConsentReport(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		write := e.a.key(consentd.RoleWrite)
		e.must("POST", "/v1/consents:batch", write, `{"consents":[
			{"contact_point":"a@example.com","channel":"email","purpose":"newsletter","status":"opted_in","captured_at":"2025-01-06T10:00:00Z","source":{"type":"import"}},
			{"contact_point":"b@example.com","channel":"email","purpose":"newsletter","status":"opted_out","captured_at":"2025-01-12T23:59:00Z","source":{"type":"import"}},
			{"contact_point":"c@example.com","channel":"email","purpose":"newsletter","status":"pending","captured_at":"2025-01-13T00:00:00Z","source":{"type":"form"}},
			{"contact_point":"c@example.com","channel":"email","purpose":"newsletter","topic":"weekly","status":"opted_in","captured_at":"2025-02-03T00:00:00Z","source":{"type":"form"}}]}`, 200)
		var rep struct {
			Buckets []struct {
				Start, Group string
				OptedIn      int64 `json:"opted_in"`
				OptedOut     int64 `json:"opted_out"`
				Pending      int64
			}
		}
		e.must("GET", "/v1/reports/consents?from=2025-01-01&to=2025-01-31&interval=week&group_by=source", e.a.key(consentd.RoleRead), nil, 200).decode(t, &rep)
		got := fmt.Sprint(rep.Buckets)
		if want := "[{2025-01-06 import 1 1 0} {2025-01-13 form 0 0 1}]"; got != want {
			t.Errorf("weekly consent report = %s; want %s", got, want)
		}
		// By topic: a purpose's own consents are the group "" (which the
		// JSON leaves out: decode into new buckets).
		rep.Buckets = nil
		e.must("GET", "/v1/reports/consents?from=2025-01-01&to=2025-02-28&interval=month&group_by=topic", e.a.key(consentd.RoleRead), nil, 200).decode(t, &rep)
		if got, want := fmt.Sprint(rep.Buckets), "[{2025-01-01  1 1 1} {2025-02-01 weekly 1 0 0}]"; got != want {
			t.Errorf("consent report by topic = %s; want %s", got, want)
		}
		r := e.do("GET", "/v1/reports/consents?from=2025-01-01&to=2025-01-31&interval=month", e.a.key(consentd.RoleRead), nil, "Accept", "text/csv")
		if want := "start,group,opted_in,opted_out,pending\n2025-01-01,,1,1,1\n"; string(r.body) != want {
			t.Errorf("CSV consent report = %q; want %q", r.body, want)
		}
		e.must("GET", "/v1/reports/consents?from=2025-01-01&to=2025-01-31", e.b.key(consentd.RoleRead), nil, 200).decode(t, &rep)
		if len(rep.Buckets) != 0 {
			t.Errorf("the other workspace's report = %+v; want none", rep)
		}
	})
}

// TestReportParameters: bad parameters are answered 422 naming the
// parameter.
func TestReportParameters(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		read := e.a.key(consentd.RoleRead)
		for _, tc := range []struct{ path, param string }{
			{"/v1/reports/decisions?from=yesterday", "from"},
			{"/v1/reports/decisions?to=2025-02-30", "to"},
			{"/v1/reports/decisions?from=2025-02-01&to=2025-01-01", "to"},
			{"/v1/reports/decisions?from=2020-01-01&to=2025-01-01", "from"},
			{"/v1/reports/decisions?interval=year", "interval"},
			{"/v1/reports/decisions?group_by=contact_point", "group_by"},
			{"/v1/reports/consents?group_by=reason", "group_by"},
		} {
			r := e.do("GET", tc.path, read, nil)
			if r.status != 422 {
				t.Errorf("GET %s = %s; want 422", tc.path, r)
				continue
			}
			if p := r.problem(t); !strings.Contains(fmt.Sprint(p), tc.param) {
				t.Errorf("GET %s = %+v; want the problem to name %s", tc.path, p, tc.param)
			}
		}
		e.must("GET", "/v1/reports/consents?from=2023-01-01&to=2024-12-31", read, nil, 200) // 731 days
	})
}
