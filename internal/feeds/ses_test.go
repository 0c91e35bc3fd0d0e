package feeds_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/feeds"
)

const (
	snsTopic   = "arn:aws:sns:us-east-1:123456789012:ses-bounces"
	snsHost    = "sns.us-east-1.amazonaws.com"
	snsCertURL = "https://" + snsHost + "/SimpleNotificationService-0000test.pem"
)

// fakeSNS is Amazon SNS's side on loopback: an HTTPS server with a
// certificate for sns.us-east-1.amazonaws.com from the test's own CA,
// which serves the signing certificate and records subscription
// confirmations. The client it gives the adapter dials it whatever the
// host, so the adapter's host checks run on real URLs and nothing leaves
// the machine.
type fakeSNS struct {
	key      *rsa.PrivateKey
	mu       sync.Mutex
	hits     map[string]int    // requests by path
	confirms []url.Values      // the confirmation GETs' queries
	srv      *httptest.Server  //
	roots    *x509.CertPool    // the test CA: the adapter's trust store
	certs    map[string][]byte // PEM by path
}

var snsKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// testCA is a CA key and certificate.
type testCA struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
}

func newTestCA(t *testing.T, name string) testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return testCA{key, cert}
}

// issue returns a certificate for pub signed by the CA, and its DER.
func (ca testCA) issue(t *testing.T, cn string, dns []string, pub any) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn}, DNSNames: dns,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func newFakeSNS(t *testing.T) *fakeSNS {
	t.Helper()
	ca, rogue := newTestCA(t, "test CA"), newTestCA(t, "rogue CA")
	f := &fakeSNS{key: snsKey(), hits: map[string]int{}, roots: x509.NewCertPool()}
	f.roots.AddCert(ca.cert)
	pemOf := func(der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}) }
	f.certs = map[string][]byte{
		"/SimpleNotificationService-0000test.pem": pemOf(ca.issue(t, "sns.amazonaws.com", nil, &f.key.PublicKey)),
		// The same key, from a CA outside the trust store.
		"/SimpleNotificationService-rogue.pem": pemOf(rogue.issue(t, "sns.amazonaws.com", nil, &f.key.PublicKey)),
	}
	tlsKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tlsCert := tls.Certificate{Certificate: [][]byte{ca.issue(t, snsHost, []string{snsHost}, &tlsKey.PublicKey)}, PrivateKey: tlsKey}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.hits[r.URL.Path]++
		if r.URL.Path == "/" && r.URL.Query().Get("Action") == "ConfirmSubscription" {
			f.confirms = append(f.confirms, r.URL.Query())
			w.Write([]byte(`<ConfirmSubscriptionResponse/>`))
			return
		}
		if c, ok := f.certs[r.URL.Path]; ok {
			w.Write(c)
			return
		}
		http.NotFound(w, r)
	}))
	f.srv.TLS = &tls.Config{Certificates: []tls.Certificate{tlsCert}}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	tlsRoots := x509.NewCertPool()
	tlsRoots.AddCert(ca.cert)
	addr := f.srv.Listener.Addr().String()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: tlsRoots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr) // every host is the fake
		},
	}}
	feeds.SetSNSOptions(feeds.SNSOptions{Client: client, Roots: f.roots})
	t.Cleanup(func() { feeds.SetSNSOptions(feeds.SNSOptions{}) })
	return f
}

// requests counts the requests the fake has had.
func (f *fakeSNS) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.hits {
		n += c
	}
	return n
}

// snsMsg is an SNS delivery before signing.
type snsMsg map[string]string

// sign signs m as SNS does (version "1" or "2") and returns its JSON.
func (f *fakeSNS) sign(t *testing.T, m snsMsg, version string) []byte {
	t.Helper()
	keys := []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	if m["Type"] != "Notification" {
		keys = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	}
	var s strings.Builder
	for _, k := range keys {
		if v, ok := m[k]; ok {
			s.WriteString(k + "\n" + v + "\n")
		}
	}
	var sig []byte
	var err error
	if version == "1" {
		h := sha1.Sum([]byte(s.String()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, f.key, crypto.SHA1, h[:])
	} else {
		h := sha256.Sum256([]byte(s.String()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, f.key, crypto.SHA256, h[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	out := snsMsg{"SignatureVersion": version, "Signature": base64.StdEncoding.EncodeToString(sig)}
	for k, v := range m {
		out[k] = v
	}
	if _, ok := out["SigningCertURL"]; !ok {
		out["SigningCertURL"] = snsCertURL
	}
	b, _ := json.Marshal(out)
	return b
}

// notification is an SNS notification carrying an SES event.
func notification(id string, at time.Time, sesEvent string) snsMsg {
	return snsMsg{"Type": "Notification", "MessageId": id, "TopicArn": snsTopic, "Message": sesEvent,
		"Timestamp": at.UTC().Format("2006-01-02T15:04:05.000Z"), "UnsubscribeURL": "https://" + snsHost + "/?Action=Unsubscribe"}
}

// sesBounce is an SES bounce notification of one recipient.
func sesBounce(typ, rcpt string) string {
	return `{"notificationType":"Bounce","bounce":{"bounceType":"` + typ + `","bounceSubType":"General","bouncedRecipients":[{"emailAddress":"` + rcpt +
		`","action":"failed","status":"5.1.1","diagnosticCode":"smtp; 550 5.1.1 user unknown"}],"timestamp":"2025-12-03T08:00:00.000Z","feedbackId":"0100018c-aaaa"},` +
		`"mail":{"timestamp":"2025-12-03T07:59:58.000Z","source":"news@example.org","messageId":"0100018c-bbbb","destination":["` + rcpt + `"],"headersTruncated":false,` +
		`"headers":[{"name":"From","value":"news@example.org"},{"name":"To","value":"` + rcpt + `"}]}}`
}

func TestSES(t *testing.T) {
	e := newEnv(t)
	sns := newFakeSNS(t)
	e.now = time.Now().UTC()
	for _, bad := range []*consentd.Feed{
		{ID: "s", Provider: consentd.ProviderSES},
		{ID: "s", Provider: consentd.ProviderSES, Settings: map[string]string{"topic_arns": "arn:aws:sqs:us-east-1:123456789012:q"}},
		{ID: "s", Provider: consentd.ProviderSES, Settings: map[string]string{"topic_arns": snsTopic}, Secret: "a-long-enough-secret"},
		{ID: "s", Provider: consentd.ProviderSES, Settings: map[string]string{"topic_arns": snsTopic, "region": "us-east-1"}},
	} {
		if _, err := feeds.Configure(bad); consentd.ErrorCode(err) != consentd.EINVALID {
			t.Errorf("Configure(%+v) = %v; want invalid", bad, err)
		}
	}
	e.feed(e.ws, &consentd.Feed{ID: "ses", Provider: consentd.ProviderSES, SoftBounce: consentd.SoftBouncePolicy{Limit: 2, Window: "1h"},
		Settings: map[string]string{"topic_arns": "arn:aws:sns:eu-west-1:123456789012:other, " + snsTopic}})
	path := "/feeds/" + e.ws + "/ses/ses"
	post := func(b []byte, typ string) (int, map[string]any) {
		return e.post(path, b, http.Header{"X-Amz-Sns-Message-Type": {typ}, "Content-Type": {"text/plain; charset=UTF-8"}})
	}
	hard := sns.sign(t, notification("11111111-0000-0000-0000-000000000001", e.now.Add(-time.Minute), sesBounce("Permanent", "gone@example.com")), "2")

	t.Run("subscription confirmation", func(t *testing.T) {
		m := snsMsg{"Type": "SubscriptionConfirmation", "MessageId": "22222222-0000-0000-0000-000000000001", "Token": "tok-123", "TopicArn": snsTopic,
			"Message": "You have chosen to subscribe to the topic " + snsTopic + ".", "Timestamp": e.now.Format(time.RFC3339),
			"SubscribeURL": "https://" + snsHost + "/?Action=ConfirmSubscription&TopicArn=" + url.QueryEscape(snsTopic) + "&Token=tok-123"}
		if code, ans := post(sns.sign(t, m, "1"), "SubscriptionConfirmation"); code != http.StatusOK || ans["status"] != "subscribed" {
			t.Fatalf("confirmation = %d %v", code, ans)
		}
		sns.mu.Lock()
		confirms := slices.Clone(sns.confirms)
		sns.mu.Unlock()
		if len(confirms) != 1 || confirms[0].Get("Token") != "tok-123" || confirms[0].Get("TopicArn") != snsTopic {
			t.Errorf("the fake SNS got confirmations %v; want one with the token", confirms)
		}
		// A SubscribeURL elsewhere is not visited, however well signed.
		m["SubscribeURL"] = "https://attacker.example/?Action=ConfirmSubscription&Token=tok-123"
		before := sns.requests()
		if code, _ := post(sns.sign(t, m, "2"), "SubscriptionConfirmation"); code != http.StatusUnauthorized {
			t.Errorf("confirmation to another host = %d; want 401", code)
		}
		if sns.requests() != before {
			t.Errorf("a SubscribeURL on another host was fetched")
		}
	})
	t.Run("unsubscribe confirmation", func(t *testing.T) {
		m := snsMsg{"Type": "UnsubscribeConfirmation", "MessageId": "22222222-0000-0000-0000-000000000002", "Token": "tok-456", "TopicArn": snsTopic,
			"Message": "You have unsubscribed.", "Timestamp": e.now.Format(time.RFC3339), "SubscribeURL": "https://" + snsHost + "/?Action=ConfirmSubscription&Token=tok-456"}
		e.unchanged(e.ws, "unsubscribe confirmation", func() {
			if code, ans := post(sns.sign(t, m, "2"), "UnsubscribeConfirmation"); code != http.StatusOK || ans["status"] != "ignored" {
				t.Errorf("= %d %v; want 200 ignored", code, ans)
			}
		})
		if len(sns.confirms) != 1 {
			t.Errorf("an unsubscribe confirmation confirmed something")
		}
	})
	t.Run("hard bounce, signature version 2", func(t *testing.T) {
		if code, ans := post(hard, "Notification"); code != http.StatusOK || ans["suppressions"] != 1.0 {
			t.Fatalf("bounce = %d %v", code, ans)
		}
		if e.allowed(e.ws, "gone@example.com", "orders") {
			t.Errorf("transactional mail to a hard-bounced address is allowed")
		}
	})
	t.Run("replay acts once", func(t *testing.T) {
		e.unchanged(e.ws, "replay", func() {
			if code, ans := post(hard, "Notification"); code != http.StatusOK || ans["duplicates"] != 1.0 {
				t.Errorf("replay = %d %v; want 200, a duplicate", code, ans)
			}
		})
	})
	t.Run("the certificate is fetched once", func(t *testing.T) {
		sns.mu.Lock()
		n := sns.hits["/SimpleNotificationService-0000test.pem"]
		sns.mu.Unlock()
		if n != 1 {
			t.Errorf("the signing certificate was fetched %d times; want once", n)
		}
	})
	t.Run("soft bounces", func(t *testing.T) {
		for i, id := range []string{"11111111-0000-0000-0000-000000000002", "11111111-0000-0000-0000-000000000003"} {
			b := sns.sign(t, notification(id, e.now, sesBounce("Transient", "full@example.com")), "1")
			if code, ans := post(b, "Notification"); code != http.StatusOK || (i == 1) != (ans["escalations"] == 1.0) {
				t.Errorf("soft bounce %d = %d %v", i, code, ans)
			}
		}
		if e.allowed(e.ws, "full@example.com", "orders") {
			t.Errorf("two transient bounces within the window do not block mail")
		}
	})
	t.Run("complaint with the List-Unsubscribe link, signature version 1", func(t *testing.T) {
		e.optIn(e.ws, "angry@example.com")
		ev := `{"eventType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"angry@example.com"}],"complaintFeedbackType":"abuse",` +
			`"timestamp":"2025-12-03T08:05:00.000Z","feedbackId":"0100018c-cccc","userAgent":"Mail provider FBL"},` +
			`"mail":{"messageId":"0100018c-dddd","headersTruncated":false,"headers":[{"name":"List-Unsubscribe","value":"<mailto:u@example.org>, <https://consent.example.com/u/` + e.ref(e.ws, "angry@example.com") + `>"}],"tags":{"ses:configuration-set":["news"]}}}`
		m := notification("11111111-0000-0000-0000-000000000004", e.now, ev)
		m["Subject"] = "Amazon SES Email Event Notification"
		if code, ans := post(sns.sign(t, m, "1"), "Notification"); code != http.StatusOK || ans["consents"] != 1.0 {
			t.Fatalf("complaint = %d %v", code, ans)
		}
		if st := e.status(e.ws, "angry@example.com"); st != consentd.OptedOut {
			t.Errorf("newsletter after a complaint = %q", st)
		}
		if s := e.suppressions(e.ws, "angry@example.com"); !slices.Equal(s, []consentd.SuppressionReason{consentd.SuppressComplaint}) {
			t.Errorf("suppressions = %v; want complaint", s)
		}
	})
	t.Run("complaint with the reference header", func(t *testing.T) {
		e.optIn(e.ws, "cross@example.com")
		ev := `{"notificationType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"cross@example.com"}],"timestamp":"2025-12-03T08:06:00.000Z"},` +
			`"mail":{"headersTruncated":false,"headers":[{"name":"x-consentd-ref","value":"` + e.ref(e.ws, "cross@example.com") + `"}]}}`
		if code, ans := post(sns.sign(t, notification("11111111-0000-0000-0000-000000000005", e.now, ev), "2"), "Notification"); code != http.StatusOK || ans["consents"] != 1.0 {
			t.Fatalf("complaint = %d %v", code, ans)
		}
		if st := e.status(e.ws, "cross@example.com"); st != consentd.OptedOut {
			t.Errorf("newsletter after a complaint = %q", st)
		}
	})
	t.Run("delivery ignored", func(t *testing.T) {
		ev := `{"notificationType":"Delivery","delivery":{"recipients":["ok@example.com"]},"mail":{}}`
		e.unchanged(e.ws, "delivery", func() {
			if code, ans := post(sns.sign(t, notification("11111111-0000-0000-0000-000000000006", e.now, ev), "2"), "Notification"); code != http.StatusOK || ans["ignored"] != 1.0 {
				t.Errorf("delivery = %d %v", code, ans)
			}
		})
	})

	// Refusals: nothing changes, and what can be refused without the
	// network is.
	bounce := func(id string) snsMsg {
		return notification(id, e.now, sesBounce("Permanent", "victim@example.com"))
	}
	for _, c := range []struct {
		name  string
		body  func() []byte
		code  int
		fetch bool // whether the refusal may fetch anything
	}{
		{"bad signature", func() []byte {
			b := sns.sign(t, bounce("33333333-0000-0000-0000-000000000001"), "2")
			return []byte(strings.Replace(string(b), "victim@", "other@", 1))
		}, http.StatusUnauthorized, true},
		{"signature version 1 checked as 2", func() []byte {
			b := sns.sign(t, bounce("33333333-0000-0000-0000-000000000002"), "1")
			return []byte(strings.Replace(string(b), `"SignatureVersion":"1"`, `"SignatureVersion":"2"`, 1))
		}, http.StatusUnauthorized, true},
		{"certificate on another host", func() []byte {
			m := bounce("33333333-0000-0000-0000-000000000003")
			m["SigningCertURL"] = "https://sns.us-east-1.amazonaws.com.attacker.example/SimpleNotificationService-0000test.pem"
			return sns.sign(t, m, "2")
		}, http.StatusUnauthorized, false},
		{"certificate over http", func() []byte {
			m := bounce("33333333-0000-0000-0000-000000000004")
			m["SigningCertURL"] = "http://" + snsHost + "/SimpleNotificationService-0000test.pem"
			return sns.sign(t, m, "2")
		}, http.StatusUnauthorized, false},
		{"certificate of another region", func() []byte {
			m := bounce("33333333-0000-0000-0000-000000000005")
			m["SigningCertURL"] = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000test.pem"
			return sns.sign(t, m, "2")
		}, http.StatusUnauthorized, false},
		{"certificate not chaining to the trust store", func() []byte {
			m := bounce("33333333-0000-0000-0000-000000000006")
			m["SigningCertURL"] = "https://" + snsHost + "/SimpleNotificationService-rogue.pem"
			return sns.sign(t, m, "2")
		}, http.StatusUnauthorized, true},
		{"topic not allowed", func() []byte {
			m := bounce("33333333-0000-0000-0000-000000000007")
			m["TopicArn"] = "arn:aws:sns:us-east-1:123456789012:someone-elses"
			return sns.sign(t, m, "2")
		}, http.StatusUnauthorized, false},
		{"stale timestamp", func() []byte {
			return sns.sign(t, notification("33333333-0000-0000-0000-000000000008", e.now.Add(-2*time.Hour), sesBounce("Permanent", "victim@example.com")), "2")
		}, http.StatusForbidden, true},
		{"not JSON", func() []byte { return []byte("nope") }, http.StatusBadRequest, false},
		{"unknown type", func() []byte { return []byte(`{"Type":"Surprise","MessageId":"x","TopicArn":"` + snsTopic + `"}`) }, http.StatusBadRequest, false},
		{"signed message that is not an SES event", func() []byte {
			return sns.sign(t, notification("33333333-0000-0000-0000-000000000009", e.now, "hello"), "2")
		}, http.StatusBadRequest, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := sns.requests()
			b := c.body()
			typ := "Notification"
			if strings.Contains(string(b), "Surprise") {
				typ = ""
			}
			e.unchanged(e.ws, c.name, func() {
				if code, ans := post(b, typ); code != c.code {
					t.Errorf("= %d %v; want %d", code, ans, c.code)
				}
			})
			if !c.fetch && sns.requests() != before {
				t.Errorf("fetched something before refusing")
			}
			if s := e.suppressions(e.ws, "victim@example.com"); len(s) != 0 {
				t.Errorf("victim suppressed: %v", s)
			}
		})
	}
}
