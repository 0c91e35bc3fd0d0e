package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/consentd/consentd/internal/api"
	"github.com/prometheus/client_golang/prometheus"
)

// TestMetricsServe runs serve with --metrics-token and a webhook: /metrics
// answers 401 without the token and serves the state gauges with it; and
// every metric the Grafana dashboard in deploy/grafana names is one the
// server registers.
func TestMetricsServe(t *testing.T) {
	const token = "scrape-token-9f3c"
	srv := startInProcessServer(t, t.TempDir(), "--metrics-token", token, "--webhook-allow-private")
	hook := map[string]any{"id": "crm", "url": "http://127.0.0.1:1/hook"}
	if st, raw := apiCall(t, srv.base, "POST", "/v1/webhooks", hook, nil); st != 201 {
		t.Fatalf("POST /v1/webhooks = %d %s", st, raw)
	}
	scrape := func(auth string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("GET", srv.base+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := ledgerTestClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if st, _ := scrape(""); st != 401 {
		t.Errorf("GET /metrics without the token = %d; want 401", st)
	}
	if st, _ := scrape("Bearer " + ledgerTestAdminKey); st != 401 {
		t.Errorf("GET /metrics with an API key = %d; want 401", st)
	}
	st, body := scrape("Bearer " + token)
	if st != 200 {
		t.Fatalf("GET /metrics with the token = %d", st)
	}
	for _, want := range []string{"consentd_state_up 1", "consentd_index_mapped_bytes ", "consentd_log_size_entries{workspace_id=", `consentd_webhook_lag_entries{webhook_id="crm"`,
		`consentd_webhook_disabled{webhook_id="crm"`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%.3000s", want, body)
		}
	}
	if strings.Contains(body, "consentd_nats_lag_entries{") {
		t.Errorf("/metrics has consentd_nats_lag_entries without --nats-url")
	}

	// The dashboard names only registered metrics.
	registered := registeredMetrics()
	used := dashboardMetrics(t, "../../deploy/grafana/consentd.json")
	if len(used) < 20 {
		t.Fatalf("the dashboard names %d metrics: %v; the tokenizer is broken", len(used), used)
	}
	for _, name := range used {
		if !registered[name] && !registered[histogramOf(name)] {
			t.Errorf("the dashboard uses %s, which the server does not register", name)
		}
	}
}

// registeredMetrics returns the names of every metric /metrics serves,
// from the descriptors of the registered collectors (a vector with no
// series yet has one too).
func registeredMetrics() map[string]bool {
	ch := make(chan *prometheus.Desc)
	go func() { api.Describe(ch); close(ch) }()
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	out := map[string]bool{}
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			out[m[1]] = true
		}
	}
	return out
}

// histogramOf strips the suffix a histogram's series add to its name.
func histogramOf(name string) string {
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, s); ok {
			return base
		}
	}
	return name
}

var (
	promString = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promIdent  = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
)

// dashboardMetrics returns the metric names the dashboard's PromQL
// (panel targets and template variable queries) names: identifiers
// starting with consentd_, go_ or process_, outside string literals.
func dashboardMetrics(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var exprs []string
	var walk func(v any, key string)
	walk = func(v any, key string) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				walk(x, k)
			}
		case []any:
			for _, x := range v {
				walk(x, key)
			}
		case string:
			if key == "expr" || key == "query" || key == "definition" {
				exprs = append(exprs, v)
			}
		}
	}
	walk(doc, "")
	var out []string
	for _, e := range exprs {
		bare := promString.ReplaceAllString(e, `""`)
		if !balanced(bare) {
			t.Errorf("%s: unbalanced brackets in %q", path, e)
		}
		for _, id := range promIdent.FindAllString(bare, -1) {
			if strings.HasPrefix(id, "consentd_") || strings.HasPrefix(id, "go_") || strings.HasPrefix(id, "process_") {
				out = append(out, id)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// balanced reports whether the (), [] and {} of s nest: a check of the
// dashboard's PromQL short of a parser.
func balanced(s string) bool {
	var open []rune
	pair := map[rune]rune{')': '(', ']': '[', '}': '{'}
	for _, r := range s {
		switch r {
		case '(', '[', '{':
			open = append(open, r)
		case ')', ']', '}':
			if len(open) == 0 || open[len(open)-1] != pair[r] {
				return false
			}
			open = open[:len(open)-1]
		}
	}
	return len(open) == 0
}
