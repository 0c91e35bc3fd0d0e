package main

import (
	"fmt"
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
	const lines = 2000
	ds := startDecisionStream(t, srv.base, lines)
	ds.body.Close()
	if n := <-ds.lines; n != lines {
		t.Fatalf("the stream answered %d lines; want %d", n, lines)
	}
	ds.res.Body.Close()
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
