package feeds_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/consentd/consentd"
)

func basic(user, pass string) http.Header {
	r, _ := http.NewRequest("POST", "/", nil)
	r.SetBasicAuth(user, pass)
	return r.Header
}

func TestPostmark(t *testing.T) {
	e := newEnv(t)
	f := &consentd.Feed{ID: "pm", Provider: consentd.ProviderPostmark, SoftBounce: consentd.SoftBouncePolicy{Limit: 2, Window: "1h"}}
	pass := e.feed(e.ws, f)
	if len(pass) < 16 || f.Username == "" || strings.Contains(f.StoredSecret, pass) {
		t.Fatalf("Configure() shown %q, feed %+v; want a generated password stored hashed", pass, f)
	}
	auth := basic(f.Username, pass)
	path := "/feeds/" + e.ws + "/postmark/pm"
	hard := fixture(t, "postmark_hard_bounce.json")

	t.Run("bad credentials", func(t *testing.T) {
		e.unchanged(e.ws, "bad credentials", func() {
			for name, h := range map[string]http.Header{"none": nil, "wrong password": basic(f.Username, pass+"x"), "wrong user": basic("other", pass),
				"the stored hash": basic(f.Username, f.StoredSecret)} {
				if code, _ := e.post(path, hard, h); code != http.StatusUnauthorized {
					t.Errorf("%s = %d; want 401", name, code)
				}
			}
		})
	})
	t.Run("malformed", func(t *testing.T) {
		e.unchanged(e.ws, "malformed", func() {
			for _, b := range []string{`[]`, `{"Email":"a@example.com"}`, `nope`} {
				if code, _ := e.post(path, []byte(b), auth); code != http.StatusBadRequest {
					t.Errorf("%s = %d; want 400", b, code)
				}
			}
		})
	})
	t.Run("unknown record type", func(t *testing.T) {
		e.unchanged(e.ws, "ignored", func() {
			for _, b := range [][]byte{fixture(t, "postmark_delivery.json"), []byte(`{"RecordType":"SomethingNew","ID":7,"Email":"gone@example.com"}`)} {
				if code, _ := e.post(path, b, auth); code != http.StatusOK {
					t.Errorf("%.40s = %d; want 200", b, code)
				}
			}
		})
	})
	t.Run("another workspace's URL", func(t *testing.T) {
		e.unchanged(e.other, "another workspace", func() {
			if code, _ := e.post("/feeds/"+e.other+"/postmark/pm", hard, auth); code != http.StatusNotFound {
				t.Errorf("= %d; want 404", code)
			}
		})
	})
	t.Run("hard bounce", func(t *testing.T) {
		if code, ans := e.post(path, hard, auth); code != http.StatusOK {
			t.Fatalf("hard bounce = %d %v", code, ans)
		}
		if e.allowed(e.ws, "gone@example.com", "orders") {
			t.Errorf("transactional mail to a hard-bounced address is allowed")
		}
	})
	t.Run("replay acts once", func(t *testing.T) {
		e.unchanged(e.ws, "replay", func() {
			if code, ans := e.post(path, hard, auth); code != http.StatusOK || ans["duplicates"] != 1.0 {
				t.Errorf("replay = %d %v; want 200, a duplicate", code, ans)
			}
		})
	})
	t.Run("soft bounces within the window", func(t *testing.T) {
		soft := fixture(t, "postmark_soft_bounce.json")
		e.post(path, soft, auth)
		e.post(path, soft, auth) // a replay does not count
		if !e.allowed(e.ws, "full@example.com", "orders") {
			t.Fatalf("one soft bounce blocks mail")
		}
		second := []byte(strings.Replace(string(soft), "4323372036854775811", "4323372036854775812", 1))
		second = []byte(strings.Replace(string(second), "08:01:00Z", "08:31:00Z", 1))
		if code, ans := e.post(path, second, auth); code != http.StatusOK || ans["escalations"] != 1.0 {
			t.Errorf("second soft bounce = %d %v; want an escalation", code, ans)
		}
		if e.allowed(e.ws, "full@example.com", "orders") {
			t.Errorf("two soft bounces within the hour do not block mail")
		}
		if s := e.suppressions(e.ws, "full@example.com"); !slices.Equal(s, []consentd.SuppressionReason{consentd.SuppressHardBounce}) {
			t.Errorf("suppressions = %v; want hard_bounce", s)
		}
	})
	t.Run("complaint and unsubscribe with reference", func(t *testing.T) {
		e.optIn(e.ws, "angry@example.com")
		e.optIn(e.ws, "leaving@example.com")
		if code, _ := e.post(path, fixture(t, "postmark_spam_complaint.json", "{{REF}}", e.ref(e.ws, "angry@example.com")), auth); code != http.StatusOK {
			t.Fatalf("complaint = %d", code)
		}
		if st := e.status(e.ws, "angry@example.com"); st != consentd.OptedOut {
			t.Errorf("newsletter after a complaint = %q", st)
		}
		if e.allowed(e.ws, "angry@example.com", "newsletter") || !e.allowed(e.ws, "angry@example.com", "orders") {
			t.Errorf("after a complaint: commercial mail must be blocked, transactional allowed")
		}
		if code, _ := e.post(path, fixture(t, "postmark_subscription_change.json", "{{REF}}", e.ref(e.ws, "leaving@example.com")), auth); code != http.StatusOK {
			t.Fatalf("subscription change = %d", code)
		}
		if st := e.status(e.ws, "leaving@example.com"); st != consentd.OptedOut {
			t.Errorf("newsletter after an unsubscribe = %q", st)
		}
	})
	t.Run("unsubscribe without reference", func(t *testing.T) {
		e.optIn(e.ws, "stays@example.com")
		b := fixture(t, "postmark_subscription_change.json", "leaving@", "stays@", "883953f4", "aaaaaaaa", `{"consentd": "{{REF}}"}`, `{}`)
		e.unchanged(e.ws, "no reference", func() {
			if code, _ := e.post(path, b, auth); code != http.StatusOK {
				t.Errorf("= %d; want 200", code)
			}
		})
	})
}
