package main

import (
	"bufio"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestDecisionCountsSurviveShutdown: the decisions a server answered, a
// single one and a streamed batch, are in its report after a restart: the
// last counts are stored at shutdown, after the last request.
func TestDecisionCountsSurviveShutdown(t *testing.T) {
	dir := t.TempDir()
	srv := startInProcessServer(t, dir)
	if st, raw := apiCall(t, srv.base, "POST", "/v1/purposes", newsletterPurpose, nil); st != 201 {
		t.Fatalf("POST /v1/purposes = %d %s", st, raw)
	}
	if st, raw := apiCall(t, srv.base, "POST", "/v1/decisions", map[string]string{"contact_point": "one@example.com", "channel": "email", "purpose": "newsletter"}, nil); st != 200 {
		t.Fatalf("POST /v1/decisions = %d %s", st, raw)
	}
	// A stream of lines, the whole body sent before its answers are read.
	const lines = 2000
	var body strings.Builder
	for i := range lines {
		fmt.Fprintf(&body, "{\"contact_point\":\"s%d@example.com\"}\n", i)
	}
	req, err := http.NewRequest("POST", srv.base+"/v1/decisions:batch?purpose=newsletter&channel=email", strings.NewReader(body.String()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+ledgerTestAdminKey)
	req.Header.Set("Content-Type", "application/x-ndjson")
	res, err := ledgerTestClient.Do(req)
	if err != nil {
		t.Fatalf("POST /v1/decisions:batch (NDJSON): %v", err)
	}
	n := 0
	for sc := bufio.NewScanner(res.Body); sc.Scan(); {
		n++
	}
	res.Body.Close()
	if res.StatusCode != 200 || n != lines {
		t.Fatalf("the stream = %d with %d lines; want 200 with %d", res.StatusCode, n, lines)
	}
	if code := srv.stop(); code != 0 {
		t.Fatalf("serve exited %d; stderr:\n%s", code, srv.stderr)
	}

	srv = startInProcessServer(t, dir)
	defer srv.stop()
	var rep struct {
		Buckets []struct {
			Allowed, Blocked int64
		}
	}
	if st, raw := apiCall(t, srv.base, "GET", "/v1/reports/decisions?interval=month", nil, &rep); st != 200 {
		t.Fatalf("GET /v1/reports/decisions = %d %s", st, raw)
	}
	var total int64
	for _, b := range rep.Buckets {
		total += b.Allowed + b.Blocked
	}
	if total != lines+1 {
		t.Errorf("the report counts %d decisions (%s); want %d", total, fmt.Sprint(rep.Buckets), lines+1)
	}
}
