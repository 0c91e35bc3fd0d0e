package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/consentd/consentd"
)

// The proof IP of an unsubscribe is the client's as a trusted proxy
// forwards it; from anyone else a forged X-Forwarded-For is ignored.
func TestTrustedProxies(t *testing.T) {
	for _, c := range []struct {
		name, trusted, want string
	}{
		{"untrusted", "", "127.0.0.1"},
		{"trusted", "127.0.0.1/32, ::1", "203.0.113.9"},
	} {
		t.Run(c.name, func(t *testing.T) {
			extra := []string{}
			if c.trusted != "" {
				extra = append(extra, "--trusted-proxies", c.trusted)
			}
			srv := startInProcessServer(t, t.TempDir(), extra...)
			if st, raw := apiCall(t, srv.base, "POST", "/v1/purposes", map[string]any{"id": "news", "name": "News", "type": "commercial",
				"channels": map[string]any{"email": map[string]any{}}}, nil); st != 201 {
				t.Fatalf("POST purpose = %d %s", st, raw)
			}
			var link struct{ URL string }
			if st, raw := apiCall(t, srv.base, "POST", "/v1/links", map[string]any{"kind": "unsubscribe", "contact_point": "jane@example.com",
				"channel_type": "news:email"}, &link); st != 201 && st != 200 {
				t.Fatalf("POST link = %d %s", st, raw)
			}
			req, _ := http.NewRequest("POST", link.URL, strings.NewReader("List-Unsubscribe=One-Click"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Forwarded-For", "203.0.113.9")
			resp, err := ledgerTestClient.Do(req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("one-click POST = %v, %v", resp, err)
			}
			resp.Body.Close()
			var got consentd.Consent
			if st, raw := apiCall(t, srv.base, "GET", "/v1/consents/"+url.PathEscape("jane@example.com#news:email"), nil, &got); st != 200 {
				t.Fatalf("GET consent = %d %s", st, raw)
			}
			if got.Proof == nil || got.Proof.IP != c.want {
				t.Errorf("proof = %+v; want IP %s", got.Proof, c.want)
			}
		})
	}
	if code, _, errOut := runCLI(t, nil, "serve", "--data", t.TempDir(), "--trusted-proxies", "proxy.local"); code != 2 || !strings.Contains(errOut, "proxy.local") {
		t.Errorf("serve --trusted-proxies proxy.local = %d %s; want 2 naming the value", code, errOut)
	}
}
