package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/consentd/consentd"
)

// TestMetrics checks that /metrics answers without a key and carries the
// decision latency histogram, with no personal data in it.
func TestMetrics(t *testing.T) {
	e := newEnv(t)
	check := e.a.key(consentd.RoleCheck)
	e.must("POST", "/v1/decisions", check, map[string]any{"contact_point": "metrics-person@example.com", "channel": "email", "purpose": "newsletter"}, 200)
	resp, err := http.Get(e.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics = %d", resp.StatusCode)
	}
	for _, want := range []string{`consentd_decision_duration_seconds_bucket{allowed="true"`, "consentd_decision_duration_seconds_count"} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "metrics-person") {
		t.Errorf("GET /metrics contains a contact point")
	}
}

// TestMetricsToken checks that with a metrics token /metrics answers 401
// without it, with another bearer (an API key is not the token) or a
// wrong one, and 200 with it.
func TestMetricsToken(t *testing.T) {
	e := newEnv(t)
	const token = "metrics-token-0123456789"
	e.api.MetricsToken = token
	get := func(auth string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("GET", e.srv.URL+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}
	for _, auth := range []string{"", "Bearer " + e.a.key(consentd.RoleAdmin), "Bearer " + token + "x", "Bearer " + token[:len(token)-1], token, "Basic " + token} {
		if st, challenge := get(auth); st != 401 || !strings.HasPrefix(challenge, "Bearer") {
			t.Errorf("GET /metrics with Authorization %q = %d, WWW-Authenticate %q; want 401 with a Bearer challenge", auth, st, challenge)
		}
	}
	if st, _ := get("Bearer " + token); st != 200 {
		t.Errorf("GET /metrics with the token = %d; want 200", st)
	}
	e.api.MetricsToken = ""
	if st, _ := get(""); st != 200 {
		t.Errorf("GET /metrics without a token set = %d; want 200", st)
	}
}
