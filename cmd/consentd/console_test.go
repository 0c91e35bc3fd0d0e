package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestServeMountsConsole: serve answers the operator console at /admin/,
// signs in with the admin key and shows the workspace, while the API keeps
// the rest of the paths.
func TestServeMountsConsole(t *testing.T) {
	s := startInProcessServer(t, t.TempDir())
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(s.base + "/admin/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "API key of the workspace") {
		t.Fatalf("GET /admin/ = %d:\n%s", resp.StatusCode, b)
	}
	resp, err = client.PostForm(s.base+"/admin/sign-in", url.Values{"key": {ledgerTestAdminKey}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		t.Fatalf("sign-in with the admin key = %d", resp.StatusCode)
	}
	// Signed in, the console's address leads to the overview.
	if loc := resp.Header.Get("Location"); loc != "/admin/overview" {
		t.Errorf("sign-in leads to %q; want /admin/overview", loc)
	}
	req, _ := http.NewRequest("GET", s.base+"/admin/overview", nil)
	req.AddCookie(resp.Cookies()[0])
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `<span class="ws">default</span>`) {
		t.Errorf("signed in, GET /admin/overview = %d:\n%s", resp.StatusCode, b)
	}
	if resp, err := client.Get(s.base + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("GET /healthz = %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}
