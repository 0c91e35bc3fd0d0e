package feeds_test

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/feeds"
)

const mailgunKey = "key-0123456789abcdef0123456789abcdef"

// mailgunBody wraps event data in Mailgun's webhook body, signed with key
// at ts with a fresh token.
func mailgunBody(t *testing.T, key string, ts time.Time, eventData []byte) []byte {
	t.Helper()
	tok := make([]byte, 25)
	rand.Read(tok)
	token := hex.EncodeToString(tok)
	stamp := strconv.FormatInt(ts.Unix(), 10)
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(stamp + token))
	b, err := json.Marshal(map[string]any{
		"signature":  map[string]string{"timestamp": stamp, "token": token, "signature": hex.EncodeToString(m.Sum(nil))},
		"event-data": json.RawMessage(eventData),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMailgun(t *testing.T) {
	e := newEnv(t)
	e.feed(e.ws, &consentd.Feed{ID: "mg", Provider: consentd.ProviderMailgun, Secret: mailgunKey})
	path := "/feeds/" + e.ws + "/mailgun/mg"
	failed := fixture(t, "mailgun_failed_permanent.json")

	t.Run("bad signature", func(t *testing.T) {
		e.unchanged(e.ws, "bad signature", func() {
			if code, _ := e.post(path, mailgunBody(t, "key-other", e.now, failed), nil); code != http.StatusUnauthorized {
				t.Errorf("another key = %d; want 401", code)
			}
			b := []byte(`{"event-data":` + string(failed) + `}`)
			if code, _ := e.post(path, b, nil); code != http.StatusUnauthorized {
				t.Errorf("no signature = %d; want 401", code)
			}
		})
	})
	t.Run("stale timestamp", func(t *testing.T) {
		e.unchanged(e.ws, "stale", func() {
			if code, _ := e.post(path, mailgunBody(t, mailgunKey, e.now.Add(-time.Hour), failed), nil); code != http.StatusForbidden {
				t.Errorf("an hour old = %d; want 403", code)
			}
		})
	})
	t.Run("malformed", func(t *testing.T) {
		e.unchanged(e.ws, "malformed", func() {
			if code, _ := e.post(path, []byte(`{"signature":`), nil); code != http.StatusBadRequest {
				t.Errorf("truncated JSON = %d; want 400", code)
			}
			if code, _ := e.post(path, mailgunBody(t, mailgunKey, e.now, []byte(`{"id":"x"}`)), nil); code != http.StatusBadRequest {
				t.Errorf("event-data without event = %d; want 400", code)
			}
		})
	})
	t.Run("unknown event type", func(t *testing.T) {
		e.unchanged(e.ws, "ignored", func() {
			for _, name := range []string{"mailgun_delivered.json", "mailgun_unknown.json"} {
				if code, _ := e.post(path, mailgunBody(t, mailgunKey, e.now, fixture(t, name)), nil); code != http.StatusOK {
					t.Errorf("%s = %d; want 200", name, code)
				}
			}
		})
	})
	t.Run("another workspace's URL", func(t *testing.T) {
		e.feed(e.other, &consentd.Feed{ID: "mg", Provider: consentd.ProviderMailgun, Secret: "key-of-workspace-b"})
		e.unchanged(e.other, "another workspace", func() {
			if code, _ := e.post("/feeds/"+e.other+"/mailgun/mg", mailgunBody(t, mailgunKey, e.now, failed), nil); code != http.StatusUnauthorized {
				t.Errorf("= %d; want 401", code)
			}
		})
	})
	body := mailgunBody(t, mailgunKey, e.now, failed)
	t.Run("permanent failure", func(t *testing.T) {
		if code, ans := e.post(path, body, nil); code != http.StatusOK {
			t.Fatalf("= %d %v", code, ans)
		}
		if e.allowed(e.ws, "gone@example.com", "orders") {
			t.Errorf("transactional mail to a hard-bounced address is allowed")
		}
	})
	t.Run("token replay", func(t *testing.T) {
		e.unchanged(e.ws, "token replay", func() {
			if code, _ := e.post(path, body, nil); code != http.StatusForbidden {
				t.Errorf("the same signed request again = %d; want 403", code)
			}
		})
	})
	t.Run("event replay acts once", func(t *testing.T) {
		e.unchanged(e.ws, "event replay", func() {
			if code, ans := e.post(path, mailgunBody(t, mailgunKey, e.now, failed), nil); code != http.StatusOK || ans["duplicates"] != 1.0 {
				t.Errorf("the same event, signed again = %d %v; want 200, a duplicate", code, ans)
			}
		})
	})
	t.Run("complaint with reference", func(t *testing.T) {
		e.optIn(e.ws, "angry@example.com")
		b := mailgunBody(t, mailgunKey, e.now, fixture(t, "mailgun_complained.json", "{{REF}}", e.ref(e.ws, "angry@example.com")))
		if code, _ := e.post(path, b, nil); code != http.StatusOK {
			t.Fatalf("complaint = %d", code)
		}
		if st := e.status(e.ws, "angry@example.com"); st != consentd.OptedOut {
			t.Errorf("newsletter after a complaint = %q", st)
		}
		if s := e.suppressions(e.ws, "angry@example.com"); !slices.Equal(s, []consentd.SuppressionReason{consentd.SuppressComplaint}) {
			t.Errorf("suppressions = %v; want complaint", s)
		}
	})
}

func TestMailgunNeedsKey(t *testing.T) {
	if _, err := feeds.Configure(&consentd.Feed{ID: "mg", Provider: consentd.ProviderMailgun}); consentd.ErrorCode(err) != consentd.EINVALID {
		t.Errorf("Configure(no signing key) = %v; want invalid", err)
	}
}
