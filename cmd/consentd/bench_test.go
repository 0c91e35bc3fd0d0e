package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) {
	if os.Getenv(benchChildEnv) == "1" {
		main()
	}
	os.Exit(m.Run())
}

// benchTestPostgres returns the PostgreSQL admin URL the bench makes its
// databases next to, and whether it answers; under CI=true it must.
func benchTestPostgres(t *testing.T) (string, bool) {
	t.Helper()
	admin := os.Getenv("CONSENTD_TEST_POSTGRES")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI=true: %v", err)
		}
		t.Logf("PostgreSQL not reachable (%v); the bench must say it skipped it", err)
		return admin, false
	}
	conn.Close(ctx)
	return admin, true
}

// runBench runs consentd bench --json with args and returns its results by
// scenario.
func runBench(t *testing.T, pgURL string, args ...string) map[string]*benchResult {
	t.Helper()
	t.Setenv(benchChildEnv, "1")
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return map[string]string{"CONSENTD_BENCH_POSTGRES": pgURL}[k] }}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if code := m.Run(ctx, append([]string{"bench", "--json"}, args...)); code != 0 {
		t.Fatalf("bench %v = %d\n%s%s", args, code, out.String(), errb.String())
	}
	results := map[string]*benchResult{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var r benchResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("bench printed %q: %v", sc.Text(), err)
		}
		results[r.Scenario] = &r
	}
	return results
}

// figure returns the figure named name, failing the test when it is
// missing or its value is not a positive number.
func figure(t *testing.T, r *benchResult, name string) benchFigure {
	t.Helper()
	for _, f := range r.Figures {
		if f.Name == name {
			if !(f.Value > 0) || math.IsInf(f.Value, 0) {
				t.Errorf("%s: %s = %v %s; want a positive number", r.Scenario, name, f.Value, f.Unit)
			}
			return f
		}
	}
	t.Fatalf("%s has no figure %q: %+v", r.Scenario, name, r.Figures)
	return benchFigure{}
}

// checkAgainstReference checks a figure measured against a reference: both
// positive, the ratio theirs, and, when it has a goal, a verdict on it.
func checkAgainstReference(t *testing.T, r *benchResult, f benchFigure, ratio float64, goal bool) {
	t.Helper()
	if !(f.Reference > 0) || math.IsInf(f.Reference, 0) || f.RefName == "" {
		t.Errorf("%s: %s reference = %v (%q); want a positive measured reference", r.Scenario, f.Name, f.Reference, f.RefName)
	}
	if math.Abs(f.Ratio-ratio) > 1e-9*ratio {
		t.Errorf("%s: %s ratio = %v; want %v", r.Scenario, f.Name, f.Ratio, ratio)
	}
	if (f.Goal != "") != goal || (f.Met != nil) != goal {
		t.Errorf("%s: %s has goal %q, met %v; want a goal and a verdict: %v", r.Scenario, f.Name, f.Goal, f.Met, goal)
	}
}

// TestBenchBatchWriteAndLog runs the batch-write, log-size and log-verify
// scenarios at a tiny size and checks that each produces its figures, for
// SQLite and, when it answers, PostgreSQL, with values that make sense:
// never how fast anything was.
func TestBenchBatchWriteAndLog(t *testing.T) {
	if testing.Short() {
		t.Skip("imports and serves on both backends")
	}
	pgURL, pgUp := benchTestPostgres(t)
	const entries = 2000
	results := runBench(t, pgURL, "--batches", "1", "--entries", "2000", "batch-write", "log-size", "log-verify")
	backends := []string{"sqlite"}
	if pgUp {
		backends = append(backends, "postgres")
	}
	for _, name := range []string{"batch-write", "log-size", "log-verify"} {
		r := results[name]
		if r == nil {
			t.Fatalf("bench printed no %s result: %v", name, results)
		}
		if note, skipped := r.Notes["postgres"]; skipped == pgUp {
			t.Errorf("%s: PostgreSQL reachable = %v, but the note on it is %v", name, pgUp, note)
		}
	}

	r := results["batch-write"]
	if r.Notes["consents"] != float64(benchBatchSize) {
		t.Errorf("batch-write wrote %v consents; want one batch of %d", r.Notes["consents"], benchBatchSize)
	}
	for _, b := range backends {
		f := figure(t, r, b+" batch writes")
		checkAgainstReference(t, r, f, f.Value/f.Reference, true)
	}

	r = results["log-size"]
	for _, b := range backends {
		total := figure(t, r, b+" log bytes per entry")
		// An entry stores at least its leaf hash and its share of the
		// tiles' hashes; a compact one far less than 4 KiB.
		if total.Reference > 0 {
			checkAgainstReference(t, r, total, total.Reference/total.Value, true)
		}
		if total.Value < 64 || total.Value > 4096 {
			t.Errorf("log-size: %s = %.1f B per entry; want between 64 B and 4 KiB", total.Name, total.Value)
		}
		if n, _ := r.Notes[b+"_entries"].(float64); n < entries {
			t.Errorf("log-size: %s measured %v entries; want at least %d", b, r.Notes[b+"_entries"], entries)
		}
		var parts float64
		seen := map[string]bool{}
		for _, f := range r.Figures {
			if rest, ok := strings.CutPrefix(f.Name, b+" "); ok && f.Name != total.Name {
				parts += f.Value
				seen[strings.SplitN(rest, ":", 2)[0]] = true
			}
		}
		if math.Abs(parts-total.Value) > 1e-6*total.Value {
			t.Errorf("log-size: %s parts add up to %.3f B per entry; the total is %.3f", b, parts, total.Value)
		}
		for _, part := range []string{"leaves", "tiles", "checkpoints"} {
			if !seen[part] {
				t.Errorf("log-size: %s has no %s figure: %+v", b, part, r.Figures)
			}
		}
		figure(t, r, b+" leaves: log_entries_subject (index)")
	}

	r = results["log-verify"]
	for _, b := range backends {
		rate := figure(t, r, b+" log verify at 2000 rows")
		checkAgainstReference(t, r, rate, rate.Value/rate.Reference, false)
		rss := figure(t, r, b+" log verify peak RSS at 2000 rows")
		checkAgainstReference(t, r, rss, rss.Reference/rss.Value, true)
		if rss.Value < 1 || rss.Value > 1024 || rss.Reference < 1 || rss.Reference > 1024 {
			t.Errorf("log-verify: %s = %.1f MB, %.1f MB at a quarter; want the peak of a small process", rss.Name, rss.Value, rss.Reference)
		}
	}
}

// TestBenchFeeds runs the feeds scenario and checks that it produces its
// figures with a goal, for SQLite and, when it answers, PostgreSQL: never
// how fast anything was.
func TestBenchFeeds(t *testing.T) {
	if testing.Short() {
		t.Skip("serves and posts a few thousand events")
	}
	pgURL, pgUp := benchTestPostgres(t)
	results := runBench(t, pgURL, "feeds")
	r := results["feeds"]
	if r == nil {
		t.Fatalf("bench printed no feeds result: %v", results)
	}
	backends := []string{"sqlite"}
	if pgUp {
		backends = append(backends, "postgres")
	}
	for _, b := range backends {
		f := figure(t, r, b+" SendGrid feed events")
		checkAgainstReference(t, r, f, f.Value/f.Reference, true)
	}
}

// TestBenchConsole runs the console scenario at a tiny size and checks
// that it measures every report page against the small workspace, with a
// goal, for SQLite and, when it answers, PostgreSQL: never how fast
// anything was.
func TestBenchConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds and serves two workspaces on both backends")
	}
	pgURL, pgUp := benchTestPostgres(t)
	results := runBench(t, pgURL, "--console-size", "2000", "console")
	r := results["console"]
	if r == nil {
		t.Fatalf("bench printed no console result: %v", results)
	}
	if note, skipped := r.Notes["postgres"]; skipped == pgUp {
		t.Errorf("console: PostgreSQL reachable = %v, but the note on it is %v", pgUp, note)
	}
	if r.Notes["consents"] != float64(2000) || r.Notes["reference_consents"] != float64(20) {
		t.Errorf("console notes = %v; want 2000 consents against 20", r.Notes)
	}
	backends := []string{"sqlite"}
	if pgUp {
		backends = append(backends, "postgres")
	}
	for _, b := range backends {
		for _, page := range []string{"GET /v1/reports/consents 30d", "GET /v1/reports/consents 12m group_by=purpose",
			"GET /v1/reports/decisions 30d", "GET /v1/reports/decisions 12m group_by=purpose", "GET /admin/blocked 30d", "GET /admin/blocked 12m"} {
			f := figure(t, r, b+" "+page+" p95")
			checkAgainstReference(t, r, f, f.Reference/f.Value, true)
		}
	}
}

// TestBenchFilter runs the filter scenario on a small list and checks what
// it filtered, on SQLite and, when it answers, PostgreSQL: every row read,
// the opted-out ones denied, the rest kept.
func TestBenchFilter(t *testing.T) {
	const rows = 3000
	pgURL, pgUp := benchTestPostgres(t)
	r := runBench(t, pgURL, "--filter-rows", fmt.Sprint(rows), "filter")["filter"]
	if r == nil {
		t.Fatal("bench printed no filter result")
	}
	consents := (rows/3 + 9) / 10
	want := fmt.Sprintf("consentd filter: kept %d of %d rows (%d denied, 0 invalid addresses)", rows-consents, rows, consents)
	figures := map[string]string{"counts": "rows filtered from a local CSV"}
	if pgUp {
		figures["counts_postgres"] = "rows filtered from a local CSV (PostgreSQL)"
	}
	for note, name := range figures {
		if r.Notes[note] != want {
			t.Errorf("bench filter notes %s = %v; want %q", note, r.Notes[note], want)
		}
		f := figure(t, r, name)
		if f.Value <= 0 || f.Reference <= 0 {
			t.Errorf("bench filter figure = %+v", f)
		}
		// The figure is the median of the runs in the notes.
		runs, _ := r.Notes["runs_s"+strings.TrimPrefix(note, "counts")].([]any)
		var secs []float64
		for _, v := range runs {
			secs = append(secs, v.(float64))
		}
		if len(secs) != filterRuns || math.Abs(f.Value-rows/median(secs)) > 1e-6*f.Value {
			t.Errorf("bench filter %s = %v; its runs are %v", name, f.Value, runs)
		}
	}
	if r.Notes["consents"] != float64(consents) || len(r.Figures) != len(figures) {
		t.Errorf("bench filter = %+v; want %d consents and %d figures", r, consents, len(figures))
	}
}

// TestBenchHTTPDecide runs the http-decide scenario briefly and checks its
// shape, on SQLite and, when it answers, PostgreSQL: serve and the
// reference in child processes, rounds alternating, the peak the ratio of
// the rounds' medians, each server's CPU seconds and the load average in
// the notes. Never how fast anything was.
func TestBenchHTTPDecide(t *testing.T) {
	pgURL, pgUp := benchTestPostgres(t)
	r := runBench(t, pgURL, "--seconds", "0.6", "http-decide")["http-decide"]
	if r == nil {
		t.Fatal("bench printed no http-decide result")
	}
	prefixes := []string{""}
	if pgUp {
		prefixes = append(prefixes, "postgres ")
	} else if r.Notes["postgres"] == nil {
		t.Errorf("PostgreSQL did not answer, and the notes do not say it was skipped: %v", r.Notes)
	}
	if len(r.Figures) != 2*len(prefixes) {
		t.Errorf("http-decide has %d figures; want %d", len(r.Figures), 2*len(prefixes))
	}
	for _, prefix := range prefixes {
		peak := figure(t, r, prefix+"peak decisions")
		checkAgainstReference(t, r, peak, peak.Value/peak.Reference, true)
		if peak.Goal != ">= 0.85 of the reference" {
			t.Errorf("peak goal = %q", peak.Goal)
		}
		p99 := figure(t, r, prefix+"p99 at half the reference's peak")
		checkAgainstReference(t, r, p99, p99.Reference/max(p99.Value, 0.001), true)
		rounds := r.Notes[prefix+"rounds"].(float64)
		for _, k := range []string{"rounds_per_s", "reference_rounds_per_s"} {
			rs, _ := r.Notes[prefix+k].([]any)
			if float64(len(rs)) != rounds {
				t.Errorf("notes %s%s = %v; want %v rounds", prefix, k, r.Notes[prefix+k], rounds)
			}
			var all []float64
			for _, v := range rs {
				all = append(all, v.(float64))
			}
			want := peak.Value
			if k != "rounds_per_s" {
				want = peak.Reference
			}
			if m := median(all); math.Abs(m-want) > 1.5 { // the notes' rates are rounded down
				t.Errorf("median of %s%s = %v; the figure says %v", prefix, k, m, want)
			}
		}
		for _, k := range []string{prefix + "server_cpu_s", prefix + "reference_cpu_s", "load_1m_before", "load_1m_after"} {
			if runtime.GOOS != "linux" {
				break // both are read from /proc
			}
			if v, ok := r.Notes[k].(float64); !ok || v < 0 {
				t.Errorf("notes %s = %v; want a number", k, r.Notes[k])
			}
		}
	}
}

// TestBenchDecideInProc runs decide-inproc on a small index and checks its
// figures, each against the plain map measured with the same load, and the
// notes that say what was measured and under what load.
func TestBenchDecideInProc(t *testing.T) {
	r := runBench(t, "", "--seconds", "0.3", "--size", "100000", "decide-inproc")["decide-inproc"]
	if r == nil {
		t.Fatal("bench printed no decide-inproc result")
	}
	if len(r.Figures) != 2 {
		t.Errorf("decide-inproc has %d figures; want 2", len(r.Figures))
	}
	for _, name := range []string{"decision", "index lookup"} {
		f := figure(t, r, name)
		checkAgainstReference(t, r, f, f.Reference/f.Value, true)
	}
	if v, ok := r.Notes["load_requests_per_s"].(float64); !ok || v <= 0 {
		t.Errorf("notes load_requests_per_s = %v; want the load client's rate", r.Notes["load_requests_per_s"])
	}
	for _, k := range []string{"decision_ns_quiet", "lookup_ns_quiet", "lookup_by_name_ns_quiet", "decision_wall_ns_with_load", "reference_ns_quiet"} {
		if v, ok := r.Notes[k].(float64); !ok || v <= 0 {
			t.Errorf("notes %s = %v; want a positive number", k, r.Notes[k])
		}
	}
	if m, _ := r.Notes["measured"].(string); !strings.Contains(m, "with the bench's load running") {
		t.Errorf("notes measured = %q", m)
	}
}
