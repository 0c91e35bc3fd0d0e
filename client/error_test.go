package client_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/client"
	"github.com/consentd/consentd/internal/api"
)

// TestRateLimited: the server's 429 rate_limited comes back as an *Error
// with the Retry-After, and the client does not retry it.
func TestRateLimited(t *testing.T) {
	srv := newServer(t)
	srv.api.SetLimits(api.Limits{PerKey: 0.001, KeyBurst: 1, Entries: 10})
	c := client.New(srv.url, srv.admin, checked(t))
	if _, err := c.GetWorkspace(t.Context()); err != nil {
		t.Fatalf("first request: %v", err)
	}
	_, err := c.GetWorkspace(t.Context())
	e := wantError(t, "second request", err, 429, consentd.ERATELIMITED)
	if e.RetryAfter < time.Second {
		t.Errorf("RetryAfter = %v; want the server's Retry-After, at least 1s", e.RetryAfter)
	}
}

// TestErrorShapes: an answer that is not a problem document (a proxy's
// page) is an *Error with the body and no code; a problem's unknown
// members are kept; a transport failure is not an *Error.
func TestErrorShapes(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/workspace":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			w.Write([]byte("<html>Bad Gateway</html>"))
		default:
			if got := r.Header.Get("User-Agent"); got != client.DefaultUserAgent {
				t.Errorf("User-Agent %q; want %q", got, client.DefaultUserAgent)
			}
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(409)
			json.NewEncoder(w).Encode(map[string]any{"type": "urn:consentd:problem:conflict", "title": "Conflict", "status": 409,
				"code": "conflict", "detail": "exists", "instance": "/v1/purposes/x"})
		}
	}))
	defer hs.Close()
	c := client.New(hs.URL, "k")
	_, err := c.GetWorkspace(t.Context())
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != 502 || e.Code != "" || !strings.Contains(string(e.Body), "Bad Gateway") ||
		!strings.Contains(err.Error(), "502") || errors.Unwrap(err) != nil {
		t.Errorf("502 page: %v (%+v)", err, e)
	}
	if consentd.ErrorCode(err) != consentd.EINTERNAL {
		t.Errorf("ErrorCode of a non-problem answer = %q; want internal", consentd.ErrorCode(err))
	}
	_, err = c.CreatePurpose(t.Context(), client.PurposeInput{ID: "x"})
	if !errors.As(err, &e) || e.Code != consentd.ECONFLICT || string(e.Extensions["instance"]) != `"/v1/purposes/x"` {
		t.Errorf("409: %v (%+v)", err, e)
	}
	if client.Code(err) != consentd.ECONFLICT {
		t.Errorf("client.Code = %q", client.Code(err))
	}
	hs.Close()
	_, err = c.GetWorkspace(t.Context())
	if err == nil || errors.As(err, &e) || !strings.Contains(err.Error(), "GET /v1/workspace") {
		t.Errorf("transport failure: %v; want a wrapped error that is not *client.Error", err)
	}
}
