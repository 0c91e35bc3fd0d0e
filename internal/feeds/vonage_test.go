package feeds_test

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/feeds"
)

const vonageSecret = "vonage-signature-secret-0123456789"

// vonageSign adds timestamp and sig to params as Vonage signs them: the
// sorted "&name=value" pairs (& and = in values as _), HMAC-SHA256 with
// the secret, or with md5hash the secret appended and hashed.
func vonageSign(method, secret string, params map[string]string, at time.Time) map[string]string {
	p := map[string]string{"timestamp": strconv.FormatInt(at.Unix(), 10)}
	for k, v := range params {
		p[k] = v
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for _, k := range keys {
		s += "&" + k + "=" + strings.NewReplacer("&", "_", "=", "_").Replace(p[k])
	}
	if method == "md5hash" {
		h := md5.Sum([]byte(s + secret))
		p["sig"] = hex.EncodeToString(h[:])
	} else {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(s))
		p["sig"] = strings.ToUpper(hex.EncodeToString(m.Sum(nil)))
	}
	return p
}

// vonageMessage is an inbound SMS as Vonage sends it.
func vonageMessage(id, msisdn, text string, at time.Time) map[string]string {
	return map[string]string{"msisdn": msisdn, "to": "447700900000", "messageId": id, "text": text, "type": "text",
		"keyword": strings.ToUpper(strings.Fields(text + " x")[0]), "api-key": "abcd1234", "message-timestamp": at.UTC().Format(time.DateTime)}
}

func vonageJSON(t *testing.T, p map[string]string) []byte {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVonage(t *testing.T) {
	e := newEnv(t)
	e.feed(e.ws, &consentd.Feed{ID: "vg", Provider: consentd.ProviderVonage, Secret: vonageSecret})
	e.feed(e.ws, &consentd.Feed{ID: "vg-md5", Provider: consentd.ProviderVonage, Secret: vonageSecret, Settings: map[string]string{"signature_method": "md5hash"}})
	path := "/feeds/" + e.ws + "/vonage/vg"
	const number = "+447700900001"
	stop := vonageMessage("0A0000000123ABCD1", "447700900001", "STOP", e.now.Add(-time.Second))

	t.Run("bad signature", func(t *testing.T) {
		e.unchanged(e.ws, "bad signature", func() {
			if code, _ := e.post(path, vonageJSON(t, vonageSign("sha256", "another-secret", stop, e.now)), nil); code != http.StatusUnauthorized {
				t.Errorf("another secret = %d; want 401", code)
			}
			if code, _ := e.post(path, vonageJSON(t, stop), nil); code != http.StatusUnauthorized {
				t.Errorf("unsigned = %d; want 401", code)
			}
			p := vonageSign("sha256", vonageSecret, stop, e.now)
			p["text"] = "START"
			if code, _ := e.post(path, vonageJSON(t, p), nil); code != http.StatusUnauthorized {
				t.Errorf("text changed after signing = %d; want 401", code)
			}
		})
	})
	t.Run("stale timestamp", func(t *testing.T) {
		e.unchanged(e.ws, "stale", func() {
			if code, _ := e.post(path, vonageJSON(t, vonageSign("sha256", vonageSecret, stop, e.now.Add(-6*time.Minute))), nil); code != http.StatusForbidden {
				t.Errorf("signed 6 minutes ago = %d; want 403", code)
			}
			if code, _ := e.post(path, vonageJSON(t, vonageSign("sha256", vonageSecret, stop, e.now.Add(6*time.Minute))), nil); code != http.StatusForbidden {
				t.Errorf("signed 6 minutes ahead = %d; want 403", code)
			}
		})
	})
	t.Run("malformed", func(t *testing.T) {
		e.unchanged(e.ws, "malformed", func() {
			if code, _ := e.post(path, []byte(`{"msisdn":`), nil); code != http.StatusBadRequest {
				t.Errorf("truncated JSON = %d; want 400", code)
			}
			p := vonageMessage("", "447700900001", "STOP", e.now)
			delete(p, "messageId")
			if code, _ := e.post(path, vonageJSON(t, vonageSign("sha256", vonageSecret, p, e.now)), nil); code != http.StatusBadRequest {
				t.Errorf("no messageId = %d; want 400", code)
			}
		})
	})
	t.Run("valid STOP", func(t *testing.T) {
		if code, ans := e.post(path, vonageJSON(t, vonageSign("sha256", vonageSecret, stop, e.now.Add(-2*time.Minute))), nil); code != http.StatusOK || ans["events"] != 1.0 {
			t.Fatalf("STOP = %d %v; want 200, one event", code, ans)
		}
		if s := e.suppressions(e.ws, number); !slices.Equal(s, []consentd.SuppressionReason{consentd.SuppressSMSStop}) {
			t.Errorf("suppressions = %v; want sms_stop", s)
		}
		ms := e.inbound(e.ws)
		if len(ms) != 1 || ms[0].Provider != "vonage" || ms[0].MessageID != "0A0000000123ABCD1" || ms[0].From != number ||
			!ms[0].ReceivedAt.Equal(e.now.Add(-time.Second).Truncate(time.Second)) {
			t.Errorf("stored = %+v; want the STOP from %s, received at message-timestamp", ms, number)
		}
	})
	t.Run("replay", func(t *testing.T) {
		e.unchanged(e.ws, "replay", func() {
			if code, ans := e.post(path, vonageJSON(t, vonageSign("sha256", vonageSecret, stop, e.now)), nil); code != http.StatusOK || ans["duplicates"] != 1.0 {
				t.Errorf("the same messageId, signed again = %d %v; want 200, a duplicate", code, ans)
			}
		})
	})
	t.Run("form body, md5hash", func(t *testing.T) {
		p := vonageSign("md5hash", vonageSecret, vonageMessage("0A0000000123ABCD2", "447700900001", "start", e.now), e.now)
		form := url.Values{}
		for k, v := range p {
			form.Set(k, v)
		}
		h := http.Header{}
		code, ans := e.postType("/feeds/"+e.ws+"/vonage/vg-md5", []byte(form.Encode()), "application/x-www-form-urlencoded", h)
		if code != http.StatusOK || ans["events"] != 1.0 {
			t.Fatalf("START as a form = %d %v", code, ans)
		}
		if s := e.suppressions(e.ws, number); len(s) != 0 {
			t.Errorf("suppressions after START = %v; want none", s)
		}
		// The sha256 feed does not take an md5hash signature.
		if code, _ := e.post(path, vonageJSON(t, vonageSign("md5hash", vonageSecret, vonageMessage("0A3", "447700900001", "STOP", e.now), e.now)), nil); code != http.StatusUnauthorized {
			t.Errorf("md5hash on a sha256 feed = %d; want 401", code)
		}
	})
}

func TestVonageConfigure(t *testing.T) {
	for _, f := range []consentd.Feed{
		{ID: "vg", Provider: consentd.ProviderVonage},
		{ID: "vg", Provider: consentd.ProviderVonage, Secret: vonageSecret, Settings: map[string]string{"signature_method": "md5"}},
		{ID: "vg", Provider: consentd.ProviderVonage, Secret: vonageSecret, Settings: map[string]string{"api_key": "x"}},
	} {
		if _, err := feeds.Configure(&f); consentd.ErrorCode(err) != consentd.EINVALID {
			t.Errorf("Configure(%+v) = %v; want invalid", f, err)
		}
	}
}
