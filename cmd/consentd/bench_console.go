package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/api"
)

// The console scenario: the reports API and the console's report screens
// of a workspace of --console-size consents (and as many log entries, one
// per write) answer, at the 95th percentile, within twice the time of the
// same page of a workspace a hundredth of its size, served by the same
// server: they read aggregates (decision_counts, consent_counts), whose
// rows grow with the days and the catalog's groups, not with the consents.

// consoleSamples is how many times each page is fetched per workspace (the
// two workspaces alternate, so that both see the same noise).
const consoleSamples = 60

// consoleWorkspace is a seeded workspace and a signed-in console session.
type consoleWorkspace struct {
	name     string
	consents int
	key      string       // a read key
	base     string       // the server's URL
	console  *http.Client // with the session cookie
}

// consolePage is one page measured: an API path (with the read key) or a
// console path (with the session).
type consolePage struct {
	label, path string
	console     bool
}

func benchConsole(ctx context.Context, e *benchEnv) (*benchResult, error) {
	big := e.consoleSize
	small := max(big/100, 1)
	r := &benchResult{Scenario: "console", Notes: map[string]any{"consents": big, "log_entries": big, "reference_consents": small,
		"samples": consoleSamples, "server": "consentd serve in this process, HTTP on loopback, one client"}}
	for _, backend := range []string{"sqlite", "postgres"} {
		dir := filepath.Join(e.dir, "console-"+backend)
		database := filepath.Join(dir, "consentd.db")
		if backend == "postgres" {
			u, drop, err := freshPostgres(ctx, e.pgURL, "consentd_bench_console_")
			if err != nil {
				r.Notes["postgres"] = "skipped: " + err.Error()
				break
			}
			defer drop()
			database = u
		}
		figs, notes, err := benchConsoleBackend(ctx, dir, database, small, big)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", backend, err)
		}
		for k, v := range notes {
			r.Notes[backend+"_"+k] = v
		}
		for _, f := range figs {
			f.Name = backend + " " + f.Name
			r.Figures = append(r.Figures, f)
		}
	}
	return r, nil
}

// benchConsoleBackend seeds the two workspaces in one store, serves it,
// and measures every page on both.
func benchConsoleBackend(ctx context.Context, dir, database string, small, big int) ([]benchFigure, map[string]any, error) {
	notes := map[string]any{}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	c := &config{Data: dir, Database: database}
	db, _, err := c.open(true)
	if err != nil {
		return nil, nil, err
	}
	wss := []*consoleWorkspace{{name: "console-small", consents: small}, {name: "console-big", consents: big}}
	for _, w := range wss {
		start := time.Now()
		if w.key, err = seedConsoleWorkspace(ctx, db, w.name, w.consents); err != nil {
			db.Close()
			return nil, nil, fmt.Errorf("seeding %s: %w", w.name, err)
		}
		notes[fmt.Sprintf("seed_%d_seconds", w.consents)] = time.Since(start).Seconds()
	}
	if err := db.Close(); err != nil {
		return nil, nil, err
	}
	args := []string{"--data", dir, "--database", database}
	srv, err := startReplica(ctx, map[string]string{}, io.Discard, args...)
	if err != nil {
		return nil, nil, err
	}
	defer srv.close()
	base := "http://" + srv.addr
	for _, w := range wss {
		w.base = base
		if w.console, err = consoleSignIn(ctx, base, w.key); err != nil {
			return nil, nil, err
		}
	}

	today := time.Now().UTC()
	month := today.AddDate(0, 0, -29).Format(time.DateOnly)
	year := time.Date(today.Year(), today.Month()-11, 1, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
	var pages []consolePage
	for _, rep := range []string{"consents", "decisions"} {
		for _, span := range []struct{ label, query string }{{"30d", "from=" + month}, {"12m", "from=" + year + "&interval=month"}} {
			for _, group := range []string{"", "purpose"} {
				p := consolePage{label: "GET /v1/reports/" + rep + " " + span.label, path: "/v1/reports/" + rep + "?" + span.query}
				if group != "" {
					p.label += " group_by=" + group
					p.path += "&group_by=" + group
				}
				pages = append(pages, p)
			}
		}
	}
	pages = append(pages, consolePage{"GET /admin/blocked 30d", "/admin/blocked?period=30d", true},
		consolePage{"GET /admin/blocked 12m", "/admin/blocked?period=12m", true})
	// The overview screen, when this build has it: with the periods of
	// the blocked sends screen when it takes them, else as it opens.
	probe := func(path string) bool {
		status, err := consoleGet(ctx, wss[0], consolePage{path: path, console: true})
		return err == nil && status == 200
	}
	switch {
	case probe("/admin/overview?period=30d") && probe("/admin/overview?period=12m"):
		pages = append(pages, consolePage{"GET /admin/overview 30d", "/admin/overview?period=30d", true},
			consolePage{"GET /admin/overview 12m", "/admin/overview?period=12m", true})
	case probe("/admin/overview"):
		pages = append(pages, consolePage{"GET /admin/overview", "/admin/overview", true})
	default:
		notes["overview"] = "not measured: this build has no /admin/overview"
	}

	var figs []benchFigure
	for _, p := range pages {
		lat := make([][]time.Duration, len(wss))
		for i := range 5 + consoleSamples { // five to warm up
			for j, w := range wss {
				start := time.Now()
				status, err := consoleGet(ctx, w, p)
				d := time.Since(start)
				if err != nil {
					return nil, nil, err
				}
				if status != 200 {
					return nil, nil, fmt.Errorf("%s on %s = %d", p.path, w.name, status)
				}
				if i >= 5 {
					lat[j] = append(lat[j], d)
				}
			}
		}
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		ref, ours := ms(percentile(lat[0], 95)), ms(percentile(lat[1], 95))
		figs = append(figs, benchFigure{Name: p.label + " p95", Unit: "ms", Value: ours, Reference: ref,
			RefName: fmt.Sprintf("the same page at %d consents", small), Ratio: ref / ours,
			Goal: "<= 2x the reference", Met: met(ours <= 2*ref)})
	}
	return figs, notes, nil
}

// consoleGet fetches one page for workspace w and reads its body.
func consoleGet(ctx context.Context, w *consoleWorkspace, p consolePage) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", w.base+p.path, nil)
	if err != nil {
		return 0, err
	}
	if !p.console {
		req.Header.Set("Authorization", "Bearer "+w.key)
	}
	resp, err := w.console.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// consoleSignIn signs in to the console with key and returns a client
// that carries the session cookie (and does not follow redirects, so that
// a lost session shows as a status other than 200).
func consoleSignIn(ctx context.Context, base, key string) (*http.Client, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	c := &http.Client{Jar: jar, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/admin/sign-in", strings.NewReader(url.Values{"key": {key}}.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("console sign-in = %d", resp.StatusCode)
	}
	return c, nil
}

// consoleSeedStore is what seeding needs of a backend.
type consoleSeedStore interface {
	CreateWorkspace(ctx context.Context, name string) (*consentd.Workspace, error)
	CreateKey(ctx context.Context, wsID string, role consentd.Role, name, secret string) (*consentd.APIKey, string, error)
	PutPurpose(ctx context.Context, wsID string, p *consentd.Purpose, create bool, actor string) error
	PutTopic(ctx context.Context, wsID string, t *consentd.Topic, create bool, actor string) error
	WriteConsents(ctx context.Context, wsID string, writes []consentd.ConsentWrite, actor string) ([]consentd.WriteResult, error)
	AddDecisionCounts(ctx context.Context, counts []consentd.DecisionCount) error
}

// seedConsoleWorkspace makes workspace name with two purposes and a topic
// each, n consents written through the store's write path in batches of
// api.MaxBatch (one log entry each), captured over the last two years with
// a mix of statuses, sources and jurisdictions, and two years of decision
// counts (n decisions a day); it returns a read key of the workspace.
func seedConsoleWorkspace(ctx context.Context, db consoleSeedStore, name string, n int) (string, error) {
	ws, err := db.CreateWorkspace(ctx, name)
	if err != nil {
		return "", err
	}
	_, secret, err := db.CreateKey(ctx, ws.ID, consentd.RoleRead, "bench", "")
	if err != nil {
		return "", err
	}
	for _, p := range []*consentd.Purpose{
		{ID: "news", Name: "News", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"email": {}, "sms": {}}},
		{ID: "promo", Name: "Promotions", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"email": {}}},
	} {
		if err := db.PutPurpose(ctx, ws.ID, p, true, "bench"); err != nil {
			return "", err
		}
	}
	for _, t := range []*consentd.Topic{{ID: "weekly", Purpose: "news", Name: "Weekly"}, {ID: "deals", Purpose: "promo", Name: "Deals"}} {
		if err := db.PutTopic(ctx, ws.ID, t, true, "bench"); err != nil {
			return "", err
		}
	}
	// Skewed as real consents are: mostly forms, opt-ins and a few
	// jurisdictions.
	subs := []struct{ purpose, topic, channel string }{{"news", "", "email"}, {"news", "", "email"}, {"news", "weekly", "email"},
		{"promo", "", "email"}, {"promo", "deals", "email"}, {"news", "", "sms"}}
	sources := []string{consentd.SourceForm, consentd.SourceForm, consentd.SourceForm, consentd.SourceImport, consentd.SourceAPI, consentd.SourcePreferenceCenter}
	statuses := []consentd.Status{consentd.OptedIn, consentd.OptedIn, consentd.OptedIn, consentd.OptedOut, consentd.Pending}
	jurs := []string{"DE", "DE", "FR", "US-CA", ""}
	now := time.Now().UTC()
	span := 2 * 365 * 24 * time.Hour
	writes := make([]consentd.ConsentWrite, 0, api.MaxBatch)
	flush := func() error {
		if len(writes) == 0 {
			return nil
		}
		res, err := db.WriteConsents(ctx, ws.ID, writes, "bench")
		if err != nil {
			return err
		}
		for _, r := range res {
			if r.Err != nil {
				return r.Err
			}
		}
		writes = writes[:0]
		return nil
	}
	for i := range n {
		s := subs[i%len(subs)]
		cp := fmt.Sprintf("user%d@example.com", i)
		if s.channel == "sms" {
			cp = fmt.Sprintf("+49151%08d", 10_000_000+i%90_000_000)
		}
		writes = append(writes, consentd.ConsentWrite{ContactPoint: cp, Channel: s.channel, Purpose: s.purpose, Topic: s.topic,
			Status: statuses[(i/7)%len(statuses)], CapturedAt: now.Add(-span + time.Duration(int64(span)/int64(n)*int64(i))),
			Source: consentd.Source{Type: sources[(i/3)%len(sources)], Name: "bench"}, Jurisdiction: jurs[(i/11)%len(jurs)]})
		if len(writes) == api.MaxBatch {
			if err := flush(); err != nil {
				return "", err
			}
		}
	}
	if err := flush(); err != nil {
		return "", err
	}
	// Decisions: n a day over two years, by purpose, channel and reason,
	// as the API's flush adds them (the table holds days x groups rows
	// whatever n is).
	var counts []consentd.DecisionCount
	reasons := []struct {
		allowed bool
		reason  consentd.Reason
		share   int64 // in twentieths
	}{{true, consentd.ReasonOptedIn, 14}, {false, consentd.ReasonOptedOut, 3}, {false, consentd.ReasonSuppressed, 1}, {false, consentd.ReasonNoConsent, 2}}
	for d := now.Add(-span); !d.After(now); d = d.AddDate(0, 0, 1) {
		for _, pc := range [][2]string{{"news", "email"}, {"news", "sms"}, {"promo", "email"}} {
			for _, rs := range reasons {
				counts = append(counts, consentd.DecisionCount{WorkspaceID: ws.ID, Day: d.Format(time.DateOnly), Purpose: pc[0], Channel: pc[1],
					Allowed: rs.allowed, Reason: rs.reason, Count: max(int64(n)*rs.share/20/3, 1)})
			}
		}
	}
	if err := db.AddDecisionCounts(ctx, counts); err != nil {
		return "", err
	}
	return secret, nil
}
