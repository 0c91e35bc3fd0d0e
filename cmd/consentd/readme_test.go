package main

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readmeBlock returns the first fenced block of the given language after
// the line containing marker in README.md.
func readmeBlock(t *testing.T, marker, lang string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, marker)
	if i < 0 {
		t.Fatalf("README.md has no %q", marker)
	}
	s = s[i:]
	start := strings.Index(s, "```"+lang+"\n")
	if start < 0 {
		t.Fatalf("README.md has no %s block after %q", lang, marker)
	}
	s = s[start+len("```"+lang+"\n"):]
	return s[:strings.Index(s, "```")]
}

// TestReadmeSeedFlows applies the README's two seed flows and runs them:
// the Dynamics contact rule writes consent at once; the Salesforce lead
// rule waits for its scheduled path.
func TestReadmeSeedFlows(t *testing.T) {
	dir := t.TempDir()
	srv := startJobServer(t, dir)
	file := filepath.Join(dir, "flows.yaml")
	if err := os.WriteFile(file, []byte(readmeBlock(t, "The two seed flows", "yaml")), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, nil, "apply", "-f", file, "--data", dir); code != 0 {
		t.Fatalf("apply README flows = %d\n%s%s", code, out, errOut)
	}

	var rec struct {
		Change string `json:"change"`
		Jobs   []struct {
			ID    string    `json:"id"`
			RunAt time.Time `json:"run_at"`
		} `json:"jobs"`
	}
	contact := map[string]any{"contactid": "C-1", "emailaddress1": "Jane@Example.com", "donotemail": false, "donotbulkemail": false,
		"modifiedon": "2026-03-14T09:30:00Z"}
	if st, raw := apiCall(t, srv.base, "PUT", "/v1/records/contact/C-1", contact, &rec); st != 200 || rec.Change != "created" || len(rec.Jobs) != 1 {
		t.Fatalf("PUT contact = %d %s", st, raw)
	}
	if j := waitJobDone(t, srv.base, rec.Jobs[0].ID); j.State != "succeeded" {
		t.Fatalf("contact job = %+v", j)
	}
	var c struct {
		Status     string    `json:"status"`
		PartyID    string    `json:"party_id"`
		CapturedAt time.Time `json:"captured_at"`
	}
	if st, raw := apiCall(t, srv.base, "GET", "/v1/consents/jane%40example.com%23newsletter%3Aemail", nil, &c); st != 200 ||
		c.Status != "opted_in" || c.PartyID != "C-1" || !c.CapturedAt.Equal(time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)) {
		t.Fatalf("consent from the contact rule = %d %s", st, raw)
	}

	// The run is counted on /metrics.
	res, err := ledgerTestClient.Get(srv.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(metrics), `consentd_jobs_total{outcome="succeeded"}`) {
		t.Errorf("/metrics has no succeeded job count:\n%.2000s", metrics)
	}

	// The README's lead example: a job scheduled a minute out.
	var lead map[string]any
	if err := jsonFromCurl(readmeBlock(t, "```sh\ncurl -s -X PUT localhost:8080/v1/records/lead", "sh"), &lead); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if st, raw := apiCall(t, srv.base, "PUT", "/v1/records/lead/00Q5e000001", lead, &rec); st != 200 || rec.Change != "created" || len(rec.Jobs) != 1 {
		t.Fatalf("PUT lead = %d %s", st, raw)
	}
	if d := rec.Jobs[0].RunAt.Sub(start); d < 50*time.Second || d > 70*time.Second {
		t.Errorf("lead job runs %v after the record, want the rule's 1m", d)
	}
}

// jsonFromCurl decodes the JSON body (-d '...') of a curl command.
func jsonFromCurl(cmd string, v any) error {
	i := strings.Index(cmd, "-d '")
	if i < 0 {
		return errNoBody
	}
	body := cmd[i+4:]
	body = body[:strings.Index(body, "'")]
	return json.Unmarshal([]byte(body), v)
}

var errNoBody = errors.New("no -d '...' body in the README's curl command")
