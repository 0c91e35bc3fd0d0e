package feeds

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/consentd/consentd"
)

// twilio is Twilio's incoming message webhook (a phone number's or a
// Messaging Service's "A message comes in" URL): one form-encoded message
// per request (MessageSid, AccountSid, From, To, Body and, with Advanced
// Opt-Out, OptOutType). X-Twilio-Signature is the base64 HMAC-SHA1, keyed
// with the account's Auth Token, of the URL Twilio posted to followed by
// each POST field's name and value, in name order. The message is handled
// once per MessageSid by the inbound SMS path; the answer is TwiML.
type twilio struct{}

func init() { register(twilio{}) }

func (twilio) Name() consentd.FeedProvider { return consentd.ProviderTwilio }

func (twilio) TakesSettings() {}

// twilioAccountSid is the shape of an Account SID.
var twilioAccountSid = regexp.MustCompile(`^AC[0-9a-f]{32}$`)

func (twilio) Configure(f *consentd.Feed) (string, error) {
	if f.PublicKey != "" || f.Username != "" {
		return "", consentd.FieldErrorf(consentd.EINVALID, "public_key", "a twilio feed takes secret (the Auth Token) and settings.account_sid only")
	}
	for k := range f.Settings {
		if k != "account_sid" {
			return "", consentd.FieldErrorf(consentd.EINVALID, "settings", "a twilio feed takes the setting account_sid only")
		}
	}
	if !twilioAccountSid.MatchString(f.Settings["account_sid"]) {
		return "", consentd.FieldErrorf(consentd.EINVALID, "settings", "settings.account_sid is required: the Account SID, AC and 32 hex digits")
	}
	switch {
	case f.Secret != "":
		f.StoredSecret = f.Secret // needed for the MAC, kept as webhook secrets are
	case f.StoredSecret == "":
		return "", consentd.FieldErrorf(consentd.EINVALID, "secret", "secret is required: the account's Auth Token")
	}
	return "", nil
}

// twilioForm parses a webhook's form body.
func twilioForm(body []byte) (url.Values, error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("%w: not a form", ErrMalformed)
	}
	return v, nil
}

func (twilio) Verify(f *consentd.Feed, r *Request) (string, error) {
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" {
		return "", fmt.Errorf("%w: no X-Twilio-Signature", ErrUnauthenticated)
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return "", fmt.Errorf("%w: bad signature", ErrUnauthenticated)
	}
	form, err := twilioForm(r.Body)
	if err != nil {
		return "", err
	}
	ok := false
	for _, u := range twilioURLs(r.URL) {
		if hmac.Equal(twilioSignature(f.StoredSecret, u, form), got) {
			ok = true
			break
		}
	}
	if !ok {
		return "", fmt.Errorf("%w: bad signature", ErrUnauthenticated)
	}
	// A signature by the token of another account is refused above; a
	// subaccount shares no token with its parent either. The check makes
	// a feed answer only the account it was set up for.
	if form.Get("AccountSid") != f.Settings["account_sid"] {
		return "", fmt.Errorf("%w: another account", ErrUnauthenticated)
	}
	return "", nil
}

// twilioSignature is the MAC Twilio sends for a form posted to u.
func twilioSignature(token, u string, form url.Values) []byte {
	m := hmac.New(sha1.New, []byte(token))
	m.Write([]byte(u))
	names := make([]string, 0, len(form))
	for k := range form {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		vs := slices.Clone(form[k])
		slices.Sort(vs)
		for _, v := range vs {
			m.Write([]byte(k))
			m.Write([]byte(v))
		}
	}
	return m.Sum(nil)
}

// twilioURLs are the forms of the URL a signature may be over: as given,
// and with the scheme's default port added or taken away, since Twilio's
// own libraries accept both (a proxy may add or drop ":443").
func twilioURLs(raw string) []string {
	out := []string{raw}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return out
	}
	def := map[string]string{"https": "443", "http": "80"}[u.Scheme]
	if def == "" {
		return out
	}
	switch u.Port() {
	case "":
		u.Host += ":" + def
		out = append(out, u.String())
	case def:
		u.Host = u.Hostname()
		if strings.Contains(u.Host, ":") { // an IPv6 literal
			u.Host = "[" + u.Host + "]"
		}
		out = append(out, u.String())
	}
	return out
}

// twilioOptOut maps Advanced Opt-Out's OptOutType to a keyword kind.
var twilioOptOut = map[string]string{"STOP": consentd.SMSStop, "START": consentd.SMSStart, "HELP": consentd.SMSHelp}

func (twilio) Parse(body []byte) ([]Event, error) {
	form, err := twilioForm(body)
	if err != nil {
		return nil, err
	}
	sid := form.Get("MessageSid")
	if sid == "" {
		sid = form.Get("SmsSid") // the older name, still sent
	}
	if sid == "" || form.Get("From") == "" {
		return nil, fmt.Errorf("%w: want a Twilio incoming message with MessageSid and From", ErrMalformed)
	}
	in := &consentd.InboundSMS{From: form.Get("From"), To: form.Get("To"), Text: form.Get("Body"),
		ProviderKind: twilioOptOut[strings.ToUpper(form.Get("OptOutType"))]}
	return []Event{{Kind: consentd.FeedSMSInbound, ID: sid, Recipient: in.From, Channel: consentd.ChannelSMS, Type: "incoming_message", SMS: in}}, nil
}

// twilioResponse is a TwiML answer: a <Message> per reply, or none.
type twilioResponse struct {
	XMLName  xml.Name `xml:"Response"`
	Messages []string `xml:"Message"`
}

// Respond answers TwiML. HELP and INFO are answered with the workspace's
// help text (consentd.SMSReply), unless Twilio's Advanced Opt-Out read
// the message as HELP (OptOutType) and so answered it itself: the person
// gets one answer. STOP and START get none: Twilio blocks and unblocks
// the number and, with Advanced Opt-Out, confirms it itself; without it
// Twilio's default opt-out handling sends its own confirmation too. A
// double opt-in confirmed by YES gets none either, since Twilio reads YES
// as its opt-in keyword and answers it.
func (twilio) Respond(w http.ResponseWriter, texts []Event, results []*consentd.InboundResult) {
	var resp twilioResponse
	for i, res := range results {
		if res == nil || res.Action != consentd.InboundHelp || res.Reply == "" {
			continue
		}
		if texts[i].SMS != nil && texts[i].SMS.ProviderKind == consentd.SMSHelp {
			continue
		}
		resp.Messages = append(resp.Messages, res.Reply)
	}
	b, err := xml.Marshal(resp)
	if err != nil { // strings only: cannot fail
		b = []byte("<Response></Response>")
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(xml.Header))
	w.Write(b)
}
