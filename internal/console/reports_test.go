package console_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/api"
	"github.com/consentd/consentd/internal/console"
	"github.com/consentd/consentd/internal/ledger"
)

// decide makes a decision through the store and counts it on day, as the
// API's tally would, n times.
func (e *env) decide(day time.Time, n int64, cp, channel, purpose string) consentd.Reason {
	e.t.Helper()
	ctx := context.Background()
	d, err := e.db.Decide(ctx, e.ws, &consentd.DecisionRequest{ContactPoint: cp, Channel: channel, Purpose: purpose})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.AddDecisionCounts(ctx, []consentd.DecisionCount{{WorkspaceID: e.ws, Day: day.Format(time.DateOnly), Purpose: purpose,
		Channel: channel, Allowed: d.Allowed, Reason: d.Reason, Count: n}}); err != nil {
		e.t.Fatal(err)
	}
	return d.Reason
}

func TestBlockedSends(t *testing.T) {
	e := newEnv(t)
	today := time.Now().UTC()
	// Today: 1 allowed, 2 blocked (66.67%). Ten days ago, in the 7-day
	// view's previous period: 3 allowed, 1 blocked (25%).
	for _, c := range []struct {
		day                  time.Time
		n                    int64
		cp, channel, purpose string
		want                 consentd.Reason
	}{
		{today, 1, "jane@example.com", "email", "newsletter", consentd.ReasonOptedIn},
		{today, 1, "jane@example.com", "email", "partners", consentd.ReasonOptedOut},
		{today, 1, "+14155550123", "sms", "newsletter", consentd.ReasonSuppressed},
		{today.AddDate(0, 0, -10), 3, "jane@example.com", "email", "newsletter", consentd.ReasonOptedIn},
		{today.AddDate(0, 0, -10), 1, "jane@example.com", "email", "partners", consentd.ReasonOptedOut},
	} {
		if got := e.decide(c.day, c.n, c.cp, c.channel, c.purpose); got != c.want {
			t.Fatalf("decide %s %s %s = %s; want %s", c.cp, c.channel, c.purpose, got, c.want)
		}
	}

	if p := e.operator().do("GET", "/admin/blocked", nil); p.status != http.StatusUnauthorized || !strings.Contains(p.body, `name="key"`) {
		t.Errorf("signed out, GET /admin/blocked = %d; want the sign-in form", p.status)
	}
	o := e.operator()
	o.signIn(consentd.RoleRead) // the least a console role may do
	p := o.do("GET", "/admin/blocked?period=7d", nil)
	if p.status != 200 {
		t.Fatalf("GET /admin/blocked?period=7d = %d:\n%s", p.status, p.body)
	}
	for _, want := range []string{
		`<td data-label="Period">` + today.Format(time.DateOnly) + `</td><td data-label="Allowed">1</td><td data-label="Blocked">2</td>`,
		`<td data-label="Blocked %">66.67%</td>`,
		"they opted out: 1 (33.33%)",
		"the contact point is suppressed: 1 (33.33%)",
		`<td data-label="Period">The period before</td><td data-label="Allowed">3</td><td data-label="Blocked">1</td>`,
		`<td data-label="Blocked %">25%</td>`,
		"&#43;41.67 points", // html/template escapes the plus sign
		`<strong aria-current="page">Last 7 days</strong>`,
		`<a href="/admin/blocked?period=30d">`,
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the 7-day page lacks %q:\n%s", want, p.body)
		}
	}
	if n := strings.Count(p.body, `<td data-label="Period">`); n != 7+2 {
		t.Errorf("the 7-day page has %d rows; want 7 days and 2 totals", n)
	}

	// 30 days hold both days; the 30 before hold nothing.
	p = o.do("GET", "/admin/blocked", nil)
	for _, want := range []string{`<strong aria-current="page">Last 30 days</strong>`, `<td data-label="Allowed">4</td><td data-label="Blocked">3</td>`,
		`<td data-label="Blocked %">42.86%</td>`, "nothing to compare"} {
		if p.status != 200 || !strings.Contains(p.body, want) {
			t.Errorf("the 30-day page (%d) lacks %q", p.status, want)
		}
	}
	// 12 months, by month: this month's row holds today's decisions.
	p = o.do("GET", "/admin/blocked?period=12m", nil)
	if p.status != 200 || !strings.Contains(p.body, `<td data-label="Period">`+today.Format("2006-01")+`</td>`) || strings.Count(p.body, `<td data-label="Period">`) != 12+2 {
		t.Errorf("the 12-month page = %d:\n%s", p.status, p.body)
	}
	if p := o.do("GET", "/admin/blocked?period=1y", nil); p.status != http.StatusBadRequest {
		t.Errorf("an unknown period = %d; want 400", p.status)
	}
	if strings.Contains(e.logs.String(), "jane@example.com") {
		t.Errorf("a contact point reached the log:\n%s", e.logs.String())
	}
}

func TestLogScreen(t *testing.T) {
	e := newEnv(t)
	size, err := e.db.LogSize(context.Background(), e.ws)
	if err != nil || size == 0 {
		t.Fatalf("LogSize = %d, %v", size, err)
	}
	o := e.operator()
	o.signIn(consentd.RoleRead)
	p := o.do("GET", "/admin/log", nil)
	if p.status != 200 || !strings.Contains(p.body, "holds <strong>"+strconv.FormatInt(size, 10)+"</strong> entries") {
		t.Fatalf("GET /admin/log = %d; want size %d:\n%s", p.status, size, p.body)
	}

	if st, b := e.api("POST", "/v1/log/checkpoints", ""); st != 201 {
		t.Fatalf("sign a checkpoint = %d %s", st, b)
	}
	if st, b := e.api("POST", "/v1/suppressions", `{"contact_point":"bob@example.com","reason":"complaint"}`); st >= 300 {
		t.Fatalf("POST suppression = %d %s", st, b)
	}
	p = o.do("GET", "/admin/log", nil)
	for _, want := range []string{"holds <strong>" + strconv.FormatInt(size+1, 10) + "</strong>", "<td>" + strconv.FormatInt(size, 10) + " entries",
		"(1 appended since)", "(less than a minute ago)", `action="/admin/log/verify"`, "— consentd"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("GET /admin/log lacks %q:\n%s", want, p.body)
		}
	}

	if !strings.Contains(p.body, "The log has not been verified yet.") {
		t.Errorf("before any verification, GET /admin/log does not say so:\n%s", p.body)
	}

	// Verifying is a form: refused without the session's token, run with it.
	if p := o.do("POST", "/admin/log/verify", url.Values{}); p.status != http.StatusForbidden {
		t.Errorf("verify without a token = %d; want 403", p.status)
	}
	p = o.do("POST", "/admin/log/verify", url.Values{"csrf": {o.csrf()}})
	if p.status != 200 || !strings.Contains(p.body, "The log verifies.") || !strings.Contains(p.body, strconv.FormatInt(size+1, 10)+" entries, 1 checkpoint compared") ||
		!strings.Contains(p.body, "0 stored rows differ") {
		t.Errorf("verify = %d:\n%s", p.status, p.body)
	}
	// The result is kept: the screen shows it on the next visit.
	p = o.do("GET", "/admin/log", nil)
	for _, want := range []string{"Last verified", "(less than a minute ago, by the API or this console)", "the log verified",
		strconv.FormatInt(size+1, 10) + " entries, 0 stored rows differing"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("after a verification, GET /admin/log lacks %q:\n%s", want, p.body)
		}
	}
}

// receiptsOnly is a Receipts that cannot verify the log.
type receiptsOnly struct{ console.Receipts }

// TestLogScreenWithoutVerifier: a console whose Receipts cannot verify
// shows the log and its checkpoint, no button, and refuses the form.
func TestLogScreenWithoutVerifier(t *testing.T) {
	e := newEnv(t)
	signer, err := ledger.LoadOrCreateKey(filepath.Join(t.TempDir(), "checkpoint.key"), "consentd")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	console.New(e.db, receiptsOnly{api.New(e.db, signer, slog.Default())}, slog.Default()).Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	e2 := *e
	e2.srv = srv
	o := e2.operator()
	o.signIn(consentd.RoleAdmin)
	p := o.do("GET", "/admin/log", nil)
	if p.status != 200 || strings.Contains(p.body, `action="/admin/log/verify"`) || !strings.Contains(p.body, "Verification is not available here") {
		t.Errorf("GET /admin/log = %d:\n%s", p.status, p.body)
	}
	if p := o.do("POST", "/admin/log/verify", url.Values{"csrf": {o.csrf()}}); p.status != http.StatusForbidden {
		t.Errorf("verify = %d; want 403", p.status)
	}
}
