package feeds_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/feeds"
)

// sendGridKey is a signing key as SendGrid holds it, and its public half
// as the feed is given it.
type sendGridKey struct {
	priv *ecdsa.PrivateKey
	pem  string
}

func newSendGridKey(t *testing.T) sendGridKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return sendGridKey{priv, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}
}

// sign returns SendGrid's headers for body sent at ts.
func (k sendGridKey) sign(t *testing.T, body []byte, ts time.Time) http.Header {
	t.Helper()
	s := strconv.FormatInt(ts.Unix(), 10)
	h := sha256.Sum256(append([]byte(s), body...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return http.Header{feeds.SendGridSignatureHeader: {base64.StdEncoding.EncodeToString(sig)}, feeds.SendGridTimestampHeader: {s}}
}

func TestSendGrid(t *testing.T) {
	e := newEnv(t)
	key := newSendGridKey(t)
	e.feed(e.ws, &consentd.Feed{ID: "sg", Provider: consentd.ProviderSendGrid, PublicKey: key.pem})
	path := "/feeds/" + e.ws + "/sendgrid/sg"
	for _, cp := range []string{"angry@example.com", "leaving@example.com", "group@example.com"} {
		e.optIn(e.ws, cp)
	}
	body := fixture(t, "sendgrid_events.json", "{{REF_ANGRY}}", e.ref(e.ws, "angry@example.com"), "{{REF_LEAVING}}", e.ref(e.ws, "leaving@example.com"))

	t.Run("bad signature", func(t *testing.T) {
		e.unchanged(e.ws, "bad signature", func() {
			tampered := append([]byte(nil), body...)
			tampered[10] ^= 1
			if code, _ := e.post(path, tampered, key.sign(t, body, e.now)); code != http.StatusUnauthorized {
				t.Errorf("tampered body = %d; want 401", code)
			}
			other := newSendGridKey(t)
			if code, _ := e.post(path, body, other.sign(t, body, e.now)); code != http.StatusUnauthorized {
				t.Errorf("another key's signature = %d; want 401", code)
			}
			if code, _ := e.post(path, body, nil); code != http.StatusUnauthorized {
				t.Errorf("no signature = %d; want 401", code)
			}
		})
	})
	t.Run("stale timestamp", func(t *testing.T) {
		e.unchanged(e.ws, "stale", func() {
			if code, _ := e.post(path, body, key.sign(t, body, e.now.Add(-11*time.Minute))); code != http.StatusForbidden {
				t.Errorf("11 minutes old = %d; want 403", code)
			}
		})
	})
	t.Run("malformed", func(t *testing.T) {
		e.unchanged(e.ws, "malformed", func() {
			for _, b := range []string{`{"event":"bounce"}`, `[{"email":"x@example.com"}]`, `[1]`, `not json`} {
				if code, _ := e.post(path, []byte(b), key.sign(t, []byte(b), e.now)); code != http.StatusBadRequest {
					t.Errorf("%s = %d; want 400", b, code)
				}
			}
		})
	})
	t.Run("unknown event type", func(t *testing.T) {
		b := []byte(`[{"email":"gone@example.com","timestamp":1764750000,"event":"brand_new_event","sg_event_id":"sg-new-1"}]`)
		e.unchanged(e.ws, "unknown type", func() {
			if code, ans := e.post(path, b, key.sign(t, b, e.now)); code != http.StatusOK || ans["ignored"] != 1.0 {
				t.Errorf("unknown event type = %d %v; want 200, ignored", code, ans)
			}
		})
	})
	t.Run("another workspace's URL", func(t *testing.T) {
		e.feed(e.other, &consentd.Feed{ID: "sg-b", Provider: consentd.ProviderSendGrid, PublicKey: newSendGridKey(t).pem})
		e.unchanged(e.other, "another workspace", func() {
			e.unchanged(e.ws, "another workspace", func() {
				if code, _ := e.post("/feeds/"+e.other+"/sendgrid/sg", body, key.sign(t, body, e.now)); code != http.StatusNotFound {
					t.Errorf("feed id under another workspace = %d; want 404", code)
				}
				if code, _ := e.post("/feeds/"+e.other+"/sendgrid/sg-b", body, key.sign(t, body, e.now)); code != http.StatusUnauthorized {
					t.Errorf("another workspace's feed = %d; want 401", code)
				}
				if code, _ := e.post("/feeds/"+e.ws+"/postmark/sg", body, key.sign(t, body, e.now)); code != http.StatusNotFound {
					t.Errorf("wrong provider in the URL = %d; want 404", code)
				}
			})
		})
	})
	t.Run("valid batch", func(t *testing.T) {
		code, ans := e.post(path, body, key.sign(t, body, e.now))
		if code != http.StatusOK {
			t.Fatalf("valid batch = %d %v; want 200", code, ans)
		}
		// Hard bounce: every purpose on email is blocked, transactional too.
		if e.allowed(e.ws, "gone@example.com", "orders") {
			t.Errorf("transactional mail to a hard-bounced address is allowed")
		}
		// Complaint: the referenced purpose opted out, commercial mail suppressed.
		if st := e.status(e.ws, "angry@example.com"); st != consentd.OptedOut {
			t.Errorf("newsletter after a complaint = %q; want opted_out", st)
		}
		if s := e.suppressions(e.ws, "angry@example.com"); !slices.Equal(s, []consentd.SuppressionReason{consentd.SuppressComplaint}) {
			t.Errorf("suppressions after a complaint = %v; want complaint", s)
		}
		if !e.allowed(e.ws, "angry@example.com", "orders") {
			t.Errorf("transactional mail after a complaint is blocked; a complaint blocks commercial mail")
		}
		if st := e.status(e.ws, "leaving@example.com"); st != consentd.OptedOut {
			t.Errorf("newsletter after an unsubscribe = %q; want opted_out", st)
		}
		// An unsubscribe without a reference changes nothing.
		if st := e.status(e.ws, "group@example.com"); st != consentd.OptedIn {
			t.Errorf("newsletter after a group unsubscribe without reference = %q; want opted_in", st)
		}
		// One soft bounce is below the default limit.
		if !e.allowed(e.ws, "full@example.com", "orders") {
			t.Errorf("one soft bounce blocks mail")
		}
	})
	t.Run("replay acts once", func(t *testing.T) {
		e.unchanged(e.ws, "replay", func() {
			code, ans := e.post(path, body, key.sign(t, body, e.now.Add(time.Second)))
			if code != http.StatusOK || ans["duplicates"] != 4.0 {
				t.Errorf("replayed batch = %d %v; want 200 and 4 duplicates", code, ans)
			}
		})
	})
	t.Run("reference of another address", func(t *testing.T) {
		e.optIn(e.ws, "x@example.com")
		b := []byte(`[{"email":"x@example.com","timestamp":1764750000,"event":"unsubscribe","sg_event_id":"sg-x-1","consentd":"` + e.ref(e.ws, "y@example.com") + `"}]`)
		e.unchanged(e.ws, "mismatched reference", func() {
			if code, _ := e.post(path, b, key.sign(t, b, e.now)); code != http.StatusOK {
				t.Errorf("mismatched reference = %d; want 200", code)
			}
		})
		b = []byte(`[{"email":"x@example.com","timestamp":1764750000,"event":"unsubscribe","sg_event_id":"sg-x-2","consentd":"` + e.ref(e.other, "x@example.com") + `"}]`)
		e.unchanged(e.ws, "another workspace's reference", func() {
			if code, _ := e.post(path, b, key.sign(t, b, e.now)); code != http.StatusOK {
				t.Errorf("another workspace's reference = %d; want 200", code)
			}
		})
		if st := e.status(e.ws, "x@example.com"); st != consentd.OptedIn {
			t.Errorf("status = %q; want opted_in", st)
		}
	})
	t.Run("too large", func(t *testing.T) {
		b := make([]byte, feeds.MaxBody+1)
		if code, _ := e.post(path, b, key.sign(t, b, e.now)); code != http.StatusRequestEntityTooLarge {
			t.Errorf("a body over 1 MiB = %d; want 413", code)
		}
	})
}

func TestSendGridKeyForms(t *testing.T) {
	k := newSendGridKey(t)
	der, _ := x509.MarshalPKIXPublicKey(&k.priv.PublicKey)
	for _, pk := range []string{k.pem, base64.StdEncoding.EncodeToString(der)} {
		if _, err := feeds.Configure(&consentd.Feed{ID: "sg", Provider: consentd.ProviderSendGrid, PublicKey: pk}); err != nil {
			t.Errorf("Configure(%.20q...) = %v", pk, err)
		}
	}
	for _, pk := range []string{"", "bm90IGEga2V5", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"} {
		if _, err := feeds.Configure(&consentd.Feed{ID: "sg", Provider: consentd.ProviderSendGrid, PublicKey: pk}); consentd.ErrorCode(err) != consentd.EINVALID {
			t.Errorf("Configure(%q) = %v; want invalid", pk, err)
		}
	}
}
