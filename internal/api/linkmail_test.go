package api_test

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/mail"
	"github.com/consentd/consentd/internal/mail/mailtest"
	"github.com/consentd/consentd/internal/signedlink"
)

var prefLinkRE = regexp.MustCompile(`/p/([A-Za-z0-9_.~-]+)`)

// TestSendPreferenceLink: POST /v1/links:send queues a link_mail job that
// mails the address a signed preference link through a real SMTP relay
// (retried after a temporary refusal); the job names no address. Bad
// input answers 4xx and queues nothing; a read key is refused.
func TestSendPreferenceLink(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		write, read := e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleRead)
		relay := mailtest.Start(t, "", "")
		sender, err := mail.Open(relay.URL(), "")
		if err != nil {
			t.Fatal(err)
		}
		relay.Fail(1, 451)
		e.startRunnerWith(sender, nil)

		for _, c := range []struct {
			name, key string
			body      any
			want      int
		}{
			{"no address", write, map[string]any{"contact_point": ""}, 422},
			{"not an address", write, map[string]any{"contact_point": "not-an-address"}, 422},
			{"an unknown field", write, map[string]any{"contact_point": "jane@example.com", "kind": "x"}, 400},
			{"a read key", read, map[string]any{"contact_point": "jane@example.com"}, 403},
		} {
			if r := e.do("POST", "/v1/links:send", c.key, c.body); r.status != c.want {
				t.Errorf("%s: %s; want %d", c.name, r, c.want)
			}
		}
		if js, _, _ := e.store.Jobs(t.Context(), e.a.id, consentd.JobFilter{Limit: 1000}); len(js) != 0 {
			t.Errorf("refused sends queued %d jobs", len(js))
		}

		var a struct {
			JobID string `json:"job_id"`
		}
		e.must("POST", "/v1/links:send", write, map[string]any{"contact_point": " Jane@Example.com "}, 202).decode(t, &a)
		j := e.waitJob(read, a.JobID)
		if j.State != "succeeded" || j.Result != "sent" || j.Attempts != 2 {
			t.Errorf("link_mail job = %+v; want sent on the second attempt", j)
		}
		msgs := relay.Wait(t, 1, 10*time.Second)
		if len(msgs) != 1 || msgs[0].To[0] != "jane@example.com" {
			t.Fatalf("the relay got %+v; want one mail to jane", msgs)
		}
		body := string(msgs[0].Data)
		m := prefLinkRE.FindStringSubmatch(strings.ReplaceAll(body, "=\r\n", ""))
		if m == nil || !strings.Contains(body, "Subject: Your preferences at") {
			t.Fatalf("the mail holds no preference link:\n%s", body)
		}
		c, err := e.links.Verify(m[1], time.Now())
		if err != nil || c.Kind != signedlink.Preferences || c.Workspace != e.a.id || c.ExpiresAt == 0 {
			t.Errorf("the mailed link's claims = %+v, %v; want a preference link of the workspace that expires", c, err)
		}

		// A suppressed address gets no mail: refused at once (409), and a
		// job queued before the suppression sends nothing.
		e.must("POST", "/v1/suppressions", write, map[string]any{"contact_point": "bob@example.com", "reason": "complaint"}, 201)
		if r := e.do("POST", "/v1/links:send", write, map[string]any{"contact_point": "Bob@example.com"}); r.status != 409 {
			t.Errorf("a link to a suppressed address: %s; want 409", r)
		}
		for _, c := range []struct{ cp, reason, want string }{
			{"carl@example.com", "hard_bounce", "the address was suppressed (hard_bounce): not sent"},
			{"dora@example.com", "erased", "the contact point was erased: not sent"},
		} {
			_, hash, err := e.store.PutContactPoint(t.Context(), e.a.id, consentd.KindEmail, c.cp)
			if err != nil {
				t.Fatal(err)
			}
			e.must("POST", "/v1/suppressions", e.a.key(consentd.RoleAdmin), map[string]any{"contact_point": c.cp, "reason": c.reason}, 201)
			j := &consentd.Job{ID: "job_test", WorkspaceID: e.a.id, Kind: consentd.JobKindLinkMail, Ref: base64.RawURLEncoding.EncodeToString(hash[:]) + ".n"}
			if res, err := e.api.RunLinkMailJob(t.Context(), j); err != nil || res != c.want {
				t.Errorf("a job for an address %s since it was queued = %q, %v; want %q", c.reason, res, err, c.want)
			}
		}
		if n := len(relay.Messages()); n != 1 {
			t.Errorf("the relay got %d messages; want jane's only", n)
		}
		js, _, _ := e.store.Jobs(t.Context(), e.a.id, consentd.JobFilter{Limit: 1000})
		for _, j := range js {
			if strings.Contains(j.Ref, "jane") || strings.Contains(j.LastError, "jane@") {
				t.Errorf("the job names the address: %+v", j)
			}
		}
	})
}
