package feeds_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/feeds"
)

func TestRFC822(t *testing.T) {
	e := newEnv(t)
	f := &consentd.Feed{ID: "mx", Provider: consentd.ProviderRFC822, SoftBounce: consentd.SoftBouncePolicy{Limit: 2, Window: "72h"}}
	pass := e.feed(e.ws, f)
	if len(pass) < 16 || f.Username != "consentd" || strings.Contains(f.StoredSecret, pass) {
		t.Fatalf("Configure() shown %q, feed %+v; want a generated password stored hashed", pass, f)
	}
	if _, err := feeds.Configure(&consentd.Feed{ID: "x", Provider: consentd.ProviderRFC822, Settings: map[string]string{"a": "b"}}); consentd.ErrorCode(err) != consentd.EINVALID {
		t.Errorf("Configure(settings) = %v; want invalid", err)
	}
	path := "/feeds/" + e.ws + "/rfc822/mx"
	auth := basic(f.Username, pass)
	auth.Set("Content-Type", "message/rfc822")
	post := func(b []byte) (int, map[string]any) { return e.post(path, b, auth) }
	unknown := fixture(t, "rfc822_dsn_user_unknown.eml", "{{REF}}", "")

	t.Run("authentication", func(t *testing.T) {
		e.unchanged(e.ws, "bad credentials", func() {
			wrong := basic(f.Username, pass+"x")
			wrong.Set("Content-Type", "message/rfc822")
			for name, h := range map[string]http.Header{"none": {"Content-Type": {"message/rfc822"}}, "wrong password": wrong} {
				if code, _ := e.post(path, unknown, h); code != http.StatusUnauthorized {
					t.Errorf("%s = %d; want 401", name, code)
				}
			}
			json := basic(f.Username, pass)
			if code, _ := e.post(path, unknown, json); code != http.StatusBadRequest {
				t.Errorf("as application/json = %d; want 400", code)
			}
		})
	})
	t.Run("DSN 5.1.1 user unknown", func(t *testing.T) {
		if code, ans := post(unknown); code != http.StatusOK || ans["suppressions"] != 1.0 {
			t.Fatalf("= %d %v; want a suppression", code, ans)
		}
		if s := e.suppressions(e.ws, "nobody@example.net"); !slices.Equal(s, []consentd.SuppressionReason{consentd.SuppressHardBounce}) {
			t.Errorf("suppressions = %v; want hard_bounce", s)
		}
	})
	t.Run("replayed report acts once", func(t *testing.T) {
		e.unchanged(e.ws, "replay", func() {
			if code, ans := post(unknown); code != http.StatusOK || ans["duplicates"] != 1.0 {
				t.Errorf("replay = %d %v; want 200, a duplicate", code, ans)
			}
		})
	})
	t.Run("DSN 4.2.2 mailbox full", func(t *testing.T) {
		full := fixture(t, "rfc822_dsn_mailbox_full.eml")
		if code, ans := post(full); code != http.StatusOK || ans["escalations"] != 0.0 || ans["events"] != 1.0 {
			t.Fatalf("= %d %v; want a soft bounce", code, ans)
		}
		if !e.allowed(e.ws, "full@example.com", "orders") {
			t.Fatalf("one soft bounce blocks mail")
		}
		// Another report about another message: the second soft bounce.
		again := []byte(strings.NewReplacer("dsn-9d81", "dsn-9d82", "digest-48", "digest-49").Replace(string(full)))
		if code, ans := post(again); code != http.StatusOK || ans["escalations"] != 1.0 {
			t.Errorf("second report = %d %v; want an escalation", code, ans)
		}
	})
	t.Run("delayed DSN ignored", func(t *testing.T) {
		e.unchanged(e.ws, "delayed", func() {
			if code, ans := post(fixture(t, "rfc822_dsn_delayed.eml")); code != http.StatusOK || ans["ignored"] != 1.0 {
				t.Errorf("= %d %v; want 200, ignored", code, ans)
			}
		})
		if s := e.suppressions(e.ws, "slow@example.com"); len(s) != 0 {
			t.Errorf("suppressions = %v; want none", s)
		}
	})
	t.Run("ARF abuse report with a redacted recipient", func(t *testing.T) {
		e.optIn(e.ws, "angry@example.com")
		arf := fixture(t, "rfc822_arf_abuse.eml", "{{REF}}", e.ref(e.ws, "angry@example.com"))
		if code, ans := post(arf); code != http.StatusOK || ans["consents"] != 1.0 || ans["suppressions"] != 1.0 {
			t.Fatalf("= %d %v; want an opt-out and a suppression", code, ans)
		}
		if st := e.status(e.ws, "angry@example.com"); st != consentd.OptedOut {
			t.Errorf("newsletter after a complaint = %q", st)
		}
		if e.allowed(e.ws, "angry@example.com", "newsletter") || !e.allowed(e.ws, "angry@example.com", "orders") {
			t.Errorf("after a complaint: commercial mail must be blocked, transactional allowed")
		}
		if s := e.suppressions(e.ws, "redacted@mailbox.example"); len(s) != 0 {
			t.Errorf("the redacted address was suppressed: %v", s)
		}
		e.unchanged(e.ws, "replayed ARF", func() {
			if code, ans := post(arf); code != http.StatusOK || ans["duplicates"] != 1.0 {
				t.Errorf("replay = %d %v; want a duplicate", code, ans)
			}
		})
	})
	t.Run("ARF with the reference header", func(t *testing.T) {
		e.optIn(e.ws, "header@example.com")
		arf := fixture(t, "rfc822_arf_abuse.eml", "{{REF}}", "x", "fbl.7f3a9c21", "fbl.99999999",
			"List-Unsubscribe-Post: List-Unsubscribe=One-Click", "X-Consentd-Ref: "+e.ref(e.ws, "header@example.com"))
		if code, ans := post(arf); code != http.StatusOK || ans["consents"] != 1.0 {
			t.Fatalf("= %d %v; want an opt-out", code, ans)
		}
		if st := e.status(e.ws, "header@example.com"); st != consentd.OptedOut {
			t.Errorf("newsletter after a complaint = %q", st)
		}
	})
	t.Run("report without a reference", func(t *testing.T) {
		e.unchanged(e.ws, "no reference", func() {
			if code, ans := post(fixture(t, "rfc822_arf_noref.eml")); code != http.StatusOK || ans["ignored"] != 1.0 {
				t.Errorf("= %d %v; want 200, ignored", code, ans)
			}
			// A reference to an address the ledger does not know.
			tok := e.ref(e.ws, "stranger@example.com")
			if code, ans := post(fixture(t, "rfc822_arf_abuse.eml", "{{REF}}", tok, "fbl.7f3a9c21", "fbl.88888888")); code != http.StatusOK || ans["ignored"] != 1.0 {
				t.Errorf("unknown contact point = %d %v; want 200, ignored", code, ans)
			}
			// Another workspace's reference.
			e.optIn(e.other, "angry@example.com")
			tok = e.ref(e.other, "angry@example.com")
			if code, ans := post(fixture(t, "rfc822_arf_abuse.eml", "{{REF}}", tok, "fbl.7f3a9c21", "fbl.77777777")); code != http.StatusOK || ans["ignored"] != 1.0 {
				t.Errorf("foreign reference = %d %v; want 200, ignored", code, ans)
			}
		})
	})
	t.Run("malformed", func(t *testing.T) {
		e.unchanged(e.ws, "malformed", func() {
			for name, b := range map[string][]byte{
				"truncated MIME":  fixture(t, "rfc822_malformed.eml"),
				"not a report":    []byte("From: a@example.org\r\nSubject: hi\r\nContent-Type: text/plain\r\n\r\nhello\r\n"),
				"not a message":   []byte("\x00\x01 nothing"),
				"no status part":  []byte(strings.Replace(string(unknown), "message/delivery-status", "text/plain", 1)),
				"other report":    []byte(strings.Replace(string(unknown), "report-type=delivery-status", "report-type=disposition-notification", 1)),
				"no failed party": []byte(strings.Replace(string(unknown), "Final-Recipient: rfc822; nobody@example.net\nOriginal-Recipient: rfc822;nobody@example.net\n", "", 1)),
			} {
				if code, ans := post(b); code != http.StatusBadRequest {
					t.Errorf("%s = %d %v; want 400", name, code, ans)
				}
			}
		})
	})
}
