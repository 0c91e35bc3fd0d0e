package feeds

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/consentd/consentd"
)

// vonage is Vonage's (Nexmo's) SMS API inbound message webhook, signed
// with the account's signature secret: the parameters (JSON or a form:
// msisdn, to, messageId, text, message-timestamp, timestamp, sig...) other
// than sig, sorted by name, each as "&name=value" with & and = in the
// value replaced by _, and then either the secret appended and the whole
// hashed with MD5 (method md5hash) or the whole MACed with HMAC-SHA256 or
// HMAC-SHA512 keyed with the secret (methods sha256, sha512); sig is the
// hex digest. timestamp, the Unix time of signing, must be within 5
// minutes of now. The message is handled once per messageId by the
// inbound SMS path; Vonage takes no answer body.
type vonage struct{}

func init() { register(vonage{}) }

func (vonage) Name() consentd.FeedProvider { return consentd.ProviderVonage }

func (vonage) TakesSettings() {}

// vonageMethods are the signature methods, by the name of the setting.
var vonageMethods = map[string]func() hash.Hash{"md5hash": nil, "sha256": sha256.New, "sha512": sha512.New}

// vonageSkew is how far the signed timestamp may be from now: Vonage
// signs each request as it sends it.
const vonageSkew = 5 * time.Minute

func (vonage) Configure(f *consentd.Feed) (string, error) {
	if f.PublicKey != "" || f.Username != "" {
		return "", consentd.FieldErrorf(consentd.EINVALID, "public_key", "a vonage feed takes secret (the signature secret) and settings.signature_method only")
	}
	for k, v := range f.Settings {
		if k != "signature_method" {
			return "", consentd.FieldErrorf(consentd.EINVALID, "settings", "a vonage feed takes the setting signature_method only")
		}
		if _, ok := vonageMethods[v]; !ok {
			return "", consentd.FieldErrorf(consentd.EINVALID, "settings", "settings.signature_method must be md5hash, sha256 or sha512")
		}
	}
	switch {
	case f.Secret != "":
		f.StoredSecret = f.Secret // needed for the MAC, kept as webhook secrets are
	case f.StoredSecret == "":
		return "", consentd.FieldErrorf(consentd.EINVALID, "secret", "secret is required: the account's signature secret")
	}
	return "", nil
}

// vonageParams reads a webhook's parameters: a JSON object of scalars, or
// a form.
func vonageParams(body []byte) (map[string]string, error) {
	out := map[string]string{}
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '{' {
		d := json.NewDecoder(bytes.NewReader(t))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			return nil, fmt.Errorf("%w: not JSON", ErrMalformed)
		}
		for k, v := range m {
			switch v := v.(type) {
			case string:
				out[k] = v
			case json.Number:
				out[k] = v.String()
			case bool:
				out[k] = strconv.FormatBool(v)
			case nil:
				out[k] = ""
			default:
				return nil, fmt.Errorf("%w: parameter %q is not a scalar", ErrMalformed, k)
			}
		}
		return out, nil
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("%w: not a form", ErrMalformed)
	}
	for k := range v {
		out[k] = v.Get(k)
	}
	return out, nil
}

// vonageSignature is the hex signature of params (sig left out) by method.
func vonageSignature(method, secret string, params map[string]string) string {
	names := make([]string, 0, len(params))
	for k := range params {
		if k != "sig" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	var b strings.Builder
	clean := strings.NewReplacer("&", "_", "=", "_")
	for _, k := range names {
		b.WriteString("&" + k + "=" + clean.Replace(params[k]))
	}
	newHash := vonageMethods[method]
	if newHash == nil { // md5hash: the secret appended, then hashed
		s := md5.Sum([]byte(b.String() + secret))
		return hex.EncodeToString(s[:])
	}
	m := hmac.New(newHash, []byte(secret))
	m.Write([]byte(b.String()))
	return hex.EncodeToString(m.Sum(nil))
}

func (vonage) Verify(f *consentd.Feed, r *Request) (string, error) {
	params, err := vonageParams(r.Body)
	if err != nil {
		return "", err
	}
	if params["sig"] == "" || params["timestamp"] == "" {
		return "", fmt.Errorf("%w: no sig or timestamp", ErrUnauthenticated)
	}
	method := f.Settings["signature_method"]
	if method == "" {
		method = "sha256"
	}
	got, err := hex.DecodeString(params["sig"]) // Vonage's libraries send either case
	want, _ := hex.DecodeString(vonageSignature(method, f.StoredSecret, params))
	if err != nil || !hmac.Equal(got, want) {
		return "", fmt.Errorf("%w: bad signature", ErrUnauthenticated)
	}
	sec, err := strconv.ParseInt(params["timestamp"], 10, 64)
	if err != nil {
		return "", fmt.Errorf("%w: bad timestamp", ErrMalformed)
	}
	if d := r.Now.Sub(time.Unix(sec, 0)); d > vonageSkew || d < -vonageSkew {
		return "", ErrStale
	}
	return "", nil
}

func (vonage) Parse(body []byte) ([]Event, error) {
	p, err := vonageParams(body)
	if err != nil {
		return nil, err
	}
	if p["messageId"] == "" || p["msisdn"] == "" {
		return nil, fmt.Errorf("%w: want a Vonage inbound message with messageId and msisdn", ErrMalformed)
	}
	// Vonage sends numbers in international form without the +.
	from := p["msisdn"]
	if !strings.HasPrefix(from, "+") {
		from = "+" + from
	}
	in := &consentd.InboundSMS{From: from, To: p["to"], Text: p["text"]}
	e := Event{Kind: consentd.FeedSMSInbound, ID: p["messageId"], Recipient: from, Channel: consentd.ChannelSMS, Type: "inbound", SMS: in}
	// message-timestamp is when Vonage received it, UTC, "2006-01-02 15:04:05".
	if at, err := time.Parse(time.DateTime, p["message-timestamp"]); err == nil {
		e.At = at.UTC()
	}
	return []Event{e}, nil
}
