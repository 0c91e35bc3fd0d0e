package main

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// TestServeMailsPreferenceLink: serve runs the link_mail jobs of
// POST /v1/links:send through the confirmation mail's path: without an
// SMTP relay, the outbox folder gets the mail with a preference link.
func TestServeMailsPreferenceLink(t *testing.T) {
	dir := t.TempDir()
	s := startInProcessServer(t, dir)
	req, _ := http.NewRequest("POST", s.base+"/v1/links:send", strings.NewReader(`{"contact_point":"jane@example.com"}`))
	req.Header.Set("Authorization", "Bearer "+ledgerTestAdminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || !strings.Contains(string(b), `"job_id":"job_`) {
		t.Fatalf("POST /v1/links:send = %d %s", resp.StatusCode, b)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "outbox", "*.eml"))
		if len(files) == 1 {
			m, _ := os.ReadFile(files[0])
			if !strings.Contains(string(m), "To: <jane@example.com>") && !strings.Contains(string(m), "To: jane@example.com") || !strings.Contains(strings.ReplaceAll(string(m), "=\r\n", ""), "/p/") {
				t.Errorf("the mail is not jane's preference link:\n%s", m)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the outbox holds %d mails after 20s; want 1", len(files))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
