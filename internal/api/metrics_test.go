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
