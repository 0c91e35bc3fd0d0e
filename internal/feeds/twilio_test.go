package feeds_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/feeds"
	"github.com/consentd/consentd/internal/sqlite"
)

const (
	twilioToken   = "0123456789abcdef0123456789abcdef"
	twilioAccount = "AC0123456789abcdef0123456789abcdef"
	twilioFrom    = "+4915112345678"
)

// twilioSign is X-Twilio-Signature as Twilio computes it: the URL, then
// each field's name and value in name order, HMAC-SHA1 with the token.
func twilioSign(token, u string, form url.Values) string {
	m := hmac.New(sha1.New, []byte(token))
	m.Write([]byte(u))
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range form[k] {
			m.Write([]byte(k + v))
		}
	}
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// twilioForm is an incoming message as Twilio posts it.
func twilioForm(sid, from, body string, extra ...string) url.Values {
	f := url.Values{"MessageSid": {sid}, "SmsSid": {sid}, "AccountSid": {twilioAccount}, "From": {from}, "To": {"+15005550006"},
		"Body": {body}, "NumMedia": {"0"}, "ApiVersion": {"2010-04-01"}}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Set(extra[i], extra[i+1])
	}
	return f
}

// postTwilio posts form to base+path signed over signedURL (base+path when
// ""), and returns the status, content type and body.
func postTwilio(t *testing.T, base, path, signedURL, token string, form url.Values) (int, string, string) {
	t.Helper()
	if signedURL == "" {
		signedURL = base + path
	}
	body := form.Encode()
	req, err := http.NewRequest("POST", base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twilioSign(token, signedURL, form))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// inbound lists the workspace's stored SMS replies, every state.
func (e *env) inbound(ws string) []*consentd.InboundMessage {
	e.t.Helper()
	ms, _, err := e.db.InboundMessages(e.ctx, ws, consentd.InboundFilter{State: "all"})
	if err != nil {
		e.t.Fatal(err)
	}
	return ms
}

func TestTwilio(t *testing.T) {
	e := newEnv(t)
	help := "Acme alerts: help at acme.example/help. Reply STOP to end & <START> to resume."
	if _, err := e.db.UpdateWorkspace(e.ctx, e.ws, consentd.WorkspaceUpdate{SMSHelpText: &help}, "test"); err != nil {
		t.Fatal(err)
	}
	e.feed(e.ws, &consentd.Feed{ID: "tw", Provider: consentd.ProviderTwilio, Secret: twilioToken, Settings: map[string]string{"account_sid": twilioAccount}})
	path := "/feeds/" + e.ws + "/twilio/tw"
	base := e.srv.URL

	t.Run("bad signature", func(t *testing.T) {
		e.unchanged(e.ws, "bad signature", func() {
			if code, _, _ := postTwilio(t, base, path, "", "another-token", twilioForm("SM1", twilioFrom, "STOP")); code != http.StatusUnauthorized {
				t.Errorf("another token = %d; want 401", code)
			}
			if code, _, _ := postTwilio(t, base, path, "https://elsewhere.example"+path, twilioToken, twilioForm("SM1", twilioFrom, "STOP")); code != http.StatusUnauthorized {
				t.Errorf("signed for another URL = %d; want 401", code)
			}
			req, _ := http.NewRequest("POST", base+path, strings.NewReader(twilioForm("SM1", twilioFrom, "STOP").Encode()))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("unsigned = %d; want 401", resp.StatusCode)
			}
			// Signed right, but for another account's message.
			f := twilioForm("SM1", twilioFrom, "STOP", "AccountSid", "ACffffffffffffffffffffffffffffffff")
			if code, _, _ := postTwilio(t, base, path, "", twilioToken, f); code != http.StatusUnauthorized {
				t.Errorf("another AccountSid = %d; want 401", code)
			}
		})
		if n := len(e.inbound(e.ws)); n != 0 {
			t.Errorf("%d replies stored; want none", n)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		e.unchanged(e.ws, "malformed", func() {
			f := twilioForm("", twilioFrom, "STOP")
			f.Del("MessageSid")
			f.Del("SmsSid")
			if code, _, _ := postTwilio(t, base, path, "", twilioToken, f); code != http.StatusBadRequest {
				t.Errorf("no MessageSid = %d; want 400", code)
			}
			req, _ := http.NewRequest("POST", base+path, strings.NewReader("Body=%zz"))
			req.Header.Set("X-Twilio-Signature", "AAAA")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("a body that is no form = %d; want 400", resp.StatusCode)
			}
		})
	})
	t.Run("another workspace's URL", func(t *testing.T) {
		e.feed(e.other, &consentd.Feed{ID: "tw", Provider: consentd.ProviderTwilio, Secret: "token-of-workspace-b", Settings: map[string]string{"account_sid": twilioAccount}})
		e.unchanged(e.other, "another workspace", func() {
			p := "/feeds/" + e.other + "/twilio/tw"
			if code, _, _ := postTwilio(t, base, p, "", twilioToken, twilioForm("SM1", twilioFrom, "STOP")); code != http.StatusUnauthorized {
				t.Errorf("= %d; want 401", code)
			}
		})
		if n := len(e.inbound(e.other)); n != 0 {
			t.Errorf("%d replies stored in the other workspace; want none", n)
		}
	})
	t.Run("STOP", func(t *testing.T) {
		code, ct, body := postTwilio(t, base, path, "", twilioToken, twilioForm("SM-stop", twilioFrom, "Stop."))
		if code != http.StatusOK || !strings.HasPrefix(ct, "text/xml") || !strings.Contains(body, "<Response></Response>") {
			t.Fatalf("STOP = %d %s %q; want 200, an empty TwiML response", code, ct, body)
		}
		if s := e.suppressions(e.ws, twilioFrom); !slices.Equal(s, []consentd.SuppressionReason{consentd.SuppressSMSStop}) {
			t.Errorf("suppressions = %v; want sms_stop", s)
		}
		ms := e.inbound(e.ws)
		if len(ms) != 1 || ms[0].Provider != "twilio" || ms[0].MessageID != "SM-stop" || ms[0].Action != consentd.InboundOptedOut || ms[0].Keyword != "STOP" {
			t.Errorf("stored replies = %+v; want the STOP, provider twilio, message id SM-stop", ms)
		}
	})
	t.Run("replay of a MessageSid acts once", func(t *testing.T) {
		e.unchanged(e.ws, "replay", func() {
			code, _, body := postTwilio(t, base, path, "", twilioToken, twilioForm("SM-stop", twilioFrom, "Stop."))
			if code != http.StatusOK || !strings.Contains(body, "<Response></Response>") {
				t.Errorf("replay = %d %q; want 200, empty TwiML", code, body)
			}
		})
		if n := len(e.inbound(e.ws)); n != 1 {
			t.Errorf("%d replies stored; want 1", n)
		}
	})
	t.Run("START", func(t *testing.T) {
		code, _, body := postTwilio(t, base, path, "", twilioToken, twilioForm("SM-start", twilioFrom, "start"))
		if code != http.StatusOK || !strings.Contains(body, "<Response></Response>") {
			t.Fatalf("START = %d %q; want 200, empty TwiML (Twilio confirms it)", code, body)
		}
		if s := e.suppressions(e.ws, twilioFrom); len(s) != 0 {
			t.Errorf("suppressions after START = %v; want none", s)
		}
	})
	t.Run("HELP", func(t *testing.T) {
		e.unchanged(e.ws, "HELP", func() {
			code, ct, body := postTwilio(t, base, path, "", twilioToken, twilioForm("SM-help", twilioFrom, "help"))
			want := "<Response><Message>Acme alerts: help at acme.example/help. Reply STOP to end &amp; &lt;START&gt; to resume.</Message></Response>"
			if code != http.StatusOK || !strings.HasPrefix(ct, "text/xml") || !strings.Contains(body, want) {
				t.Errorf("HELP = %d %s %q; want the workspace's help text in TwiML", code, ct, body)
			}
		})
	})
	t.Run("Advanced Opt-Out", func(t *testing.T) {
		// A keyword of the account's own (French ARRET) that Twilio read
		// as STOP: OptOutType decides.
		other := "+4915112345679"
		code, _, body := postTwilio(t, base, path, "", twilioToken, twilioForm("SM-arret", other, "ARRET", "OptOutType", "STOP"))
		if code != http.StatusOK || !strings.Contains(body, "<Response></Response>") {
			t.Fatalf("OptOutType STOP = %d %q", code, body)
		}
		if s := e.suppressions(e.ws, other); !slices.Equal(s, []consentd.SuppressionReason{consentd.SuppressSMSStop}) {
			t.Errorf("suppressions after ARRET/OptOutType STOP = %v; want sms_stop", s)
		}
		// Twilio answered HELP itself: consentd does not answer again.
		code, _, body = postTwilio(t, base, path, "", twilioToken, twilioForm("SM-aide", other, "AIDE", "OptOutType", "HELP"))
		if code != http.StatusOK || strings.Contains(body, "<Message>") {
			t.Errorf("OptOutType HELP = %d %q; want no message", code, body)
		}
		ms := e.inbound(e.ws)
		if last := ms[len(ms)-1]; last.Action != consentd.InboundHelp || last.Keyword != "HELP" {
			t.Errorf("stored AIDE = %+v; want help", last)
		}
	})
	t.Run("a text for review", func(t *testing.T) {
		code, _, body := postTwilio(t, base, path, "", twilioToken, twilioForm("SM-text", twilioFrom, "please don't stop"))
		if code != http.StatusOK || strings.Contains(body, "<Message>") {
			t.Errorf("= %d %q; want 200, no message", code, body)
		}
		ms := e.inbound(e.ws)
		if last := ms[len(ms)-1]; last.Action != consentd.InboundReview || last.MessageID != "SM-text" {
			t.Errorf("stored text = %+v; want review", last)
		}
	})
}

// TestTwilioBehindProxy signs for the public URL (https, another host and
// a path prefix the proxy strips) while the request reaches the server
// over plain HTTP on loopback.
func TestTwilioBehindProxy(t *testing.T) {
	e := newEnv(t)
	e.feed(e.ws, &consentd.Feed{ID: "tw", Provider: consentd.ProviderTwilio, Secret: twilioToken, Settings: map[string]string{"account_sid": twilioAccount}})
	h := feeds.NewHandler(e.db, e.links, slog.New(slog.DiscardHandler))
	h.PublicURL = "https://consent.example.com/consentd/"
	mux := http.NewServeMux()
	h.Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	path := "/feeds/" + e.ws + "/twilio/tw"
	public := "https://consent.example.com/consentd" + path

	if code, _, _ := postTwilio(t, srv.URL, path, "", twilioToken, twilioForm("SM-p0", twilioFrom, "STOP")); code != http.StatusUnauthorized {
		t.Errorf("signed for the loopback URL = %d; want 401", code)
	}
	if code, _, body := postTwilio(t, srv.URL, path, public, twilioToken, twilioForm("SM-p1", twilioFrom, "STOP")); code != http.StatusOK {
		t.Errorf("signed for the public URL = %d %q; want 200", code, body)
	}
	// Twilio's libraries sign with or without the default port.
	withPort := "https://consent.example.com:443/consentd" + path
	if code, _, body := postTwilio(t, srv.URL, path, withPort, twilioToken, twilioForm("SM-p2", twilioFrom, "HELP")); code != http.StatusOK {
		t.Errorf("signed for the public URL with :443 = %d %q; want 200", code, body)
	}
	// The query is part of what is signed.
	if code, _, _ := postTwilio(t, srv.URL, path+"?x=1", public, twilioToken, twilioForm("SM-p3", twilioFrom, "STOP")); code != http.StatusUnauthorized {
		t.Errorf("signed without the query = %d; want 401", code)
	}
	if code, _, _ := postTwilio(t, srv.URL, path+"?x=1", public+"?x=1", twilioToken, twilioForm("SM-p4", twilioFrom, "STOP")); code != http.StatusOK {
		t.Errorf("signed with the query = %d; want 200", code)
	}
	if n := len(e.inbound(e.ws)); n != 3 {
		t.Errorf("%d replies stored; want 3", n)
	}
}

func TestTwilioConfigure(t *testing.T) {
	for _, f := range []consentd.Feed{
		{ID: "tw", Provider: consentd.ProviderTwilio, Settings: map[string]string{"account_sid": twilioAccount}},
		{ID: "tw", Provider: consentd.ProviderTwilio, Secret: twilioToken},
		{ID: "tw", Provider: consentd.ProviderTwilio, Secret: twilioToken, Settings: map[string]string{"account_sid": "AC123"}},
		{ID: "tw", Provider: consentd.ProviderTwilio, Secret: twilioToken, Settings: map[string]string{"account_sid": twilioAccount, "region": "ie1"}},
	} {
		if _, err := feeds.Configure(&f); consentd.ErrorCode(err) != consentd.EINVALID {
			t.Errorf("Configure(%+v) = %v; want invalid", f, err)
		}
	}
	f := consentd.Feed{ID: "tw", Provider: consentd.ProviderTwilio, Secret: twilioToken, Settings: map[string]string{"account_sid": twilioAccount}}
	if _, err := feeds.Configure(&f); err != nil || f.StoredSecret != twilioToken {
		t.Errorf("Configure() = %v, stored %q", err, f.StoredSecret)
	}
}

// TestTwilioYesConfirms: a YES through the feed confirms the number's SMS
// double opt-in, with the message as the proof; a YES without one is kept
// for review.
func TestTwilioYesConfirms(t *testing.T) {
	e := newEnv(t)
	e.feed(e.ws, &consentd.Feed{ID: "tw", Provider: consentd.ProviderTwilio, Secret: twilioToken, Settings: map[string]string{"account_sid": twilioAccount}})
	p := &consentd.Purpose{ID: "alerts", Name: "Alerts", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"sms": {}}, DoubleOptIn: consentd.DoubleOptIn{"DE"}}
	if err := e.db.PutPurpose(e.ctx, e.ws, p, true, "test"); err != nil {
		t.Fatal(err)
	}
	res, err := e.db.WriteConsents(e.ctx, e.ws, []consentd.ConsentWrite{{ContactPoint: twilioFrom, Channel: "sms", Purpose: "alerts", Status: consentd.Pending,
		CapturedAt: e.now.Add(-time.Hour), Source: consentd.Source{Type: consentd.SourceForm}, Jurisdiction: "DE"}}, "test")
	if err != nil || res[0].Err != nil {
		t.Fatalf("pending: %v %v", err, res[0].Err)
	}
	c := res[0].Consent
	if _, err := e.db.CreateConfirmations(e.ctx, e.ws, []consentd.ConfirmationInput{{ContactPoint: twilioFrom, ChannelType: c.ChannelType, ConsentVersion: c.Version, Nonce: "n-sms"}}); err != nil {
		t.Fatal(err)
	}
	path := "/feeds/" + e.ws + "/twilio/tw"
	if code, _, body := postTwilio(t, e.srv.URL, path, "", twilioToken, twilioForm("SM-yes", twilioFrom, "yes")); code != http.StatusOK || strings.Contains(body, "<Message>") {
		t.Fatalf("YES = %d %q; want 200, no message (Twilio answers YES itself)", code, body)
	}
	got, err := e.db.Consent(e.ctx, e.ws, c.ID, time.Time{})
	if err != nil || got.Status != consentd.OptedIn || got.Source.Type != consentd.SourceDoubleOptIn || !strings.Contains(string(got.Source.Details), `"message_id":"SM-yes"`) ||
		!strings.Contains(string(got.Source.Details), `"provider":"twilio"`) {
		t.Errorf("consent after YES = %+v, %v; want opted_in by double opt-in, the message as proof", got, err)
	}
	// Another number, nothing waiting: kept for review.
	if code, _, _ := postTwilio(t, e.srv.URL, path, "", twilioToken, twilioForm("SM-yes2", "+4915112345600", "YES")); code != http.StatusOK {
		t.Fatalf("YES = %d", code)
	}
	ms := e.inbound(e.ws)
	if len(ms) != 2 || ms[0].Action != consentd.InboundConfirmed || ms[1].Action != consentd.InboundReview {
		t.Errorf("stored = %+v; want confirmed, then review", ms)
	}
}

// failingInbound is the real store whose inbound SMS path fails, as a
// database that is down does.
type failingInbound struct{ *sqlite.DB }

func (failingInbound) InboundSMS(context.Context, string, consentd.InboundSMS, string) (*consentd.InboundResult, error) {
	return nil, errors.New("database is locked")
}

// TestTwilioNotStored: a message that could not be stored is answered 503,
// so that Twilio tries again.
func TestTwilioNotStored(t *testing.T) {
	e := newEnv(t)
	e.feed(e.ws, &consentd.Feed{ID: "tw", Provider: consentd.ProviderTwilio, Secret: twilioToken, Settings: map[string]string{"account_sid": twilioAccount}})
	h := feeds.NewHandler(failingInbound{e.db}, e.links, slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	h.Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	if code, _, _ := postTwilio(t, srv.URL, "/feeds/"+e.ws+"/twilio/tw", "", twilioToken, twilioForm("SM-x", twilioFrom, "STOP")); code != http.StatusServiceUnavailable {
		t.Errorf("= %d; want 503", code)
	}
	if s := e.suppressions(e.ws, twilioFrom); len(s) != 0 {
		t.Errorf("suppressions = %v; want none", s)
	}
}
