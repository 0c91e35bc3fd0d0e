package feeds

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/consentd/consentd"
)

// mailgun is Mailgun's HTTP webhooks: one JSON object per request, the
// event in "event-data" and, in "signature", a timestamp, a random token
// and the hex HMAC-SHA256 of timestamp followed by token, keyed with the
// account's HTTP webhook signing key. The token is used once: the store
// refuses a request whose token the feed has seen.
type mailgun struct{}

func init() { register(mailgun{}) }

func (mailgun) Name() consentd.FeedProvider { return consentd.ProviderMailgun }

func (mailgun) Configure(f *consentd.Feed) (string, error) {
	if f.PublicKey != "" || f.Username != "" {
		return "", consentd.FieldErrorf(consentd.EINVALID, "public_key", "a mailgun feed takes secret (the HTTP webhook signing key) only")
	}
	switch {
	case f.Secret != "":
		f.StoredSecret = f.Secret // needed for the MAC, kept as webhook secrets are
	case f.StoredSecret == "":
		return "", consentd.FieldErrorf(consentd.EINVALID, "secret", "secret is required: Mailgun's HTTP webhook signing key")
	}
	return "", nil
}

type mailgunBody struct {
	Signature *struct {
		Timestamp string `json:"timestamp"`
		Token     string `json:"token"`
		Signature string `json:"signature"`
	} `json:"signature"`
	EventData *mailgunEvent `json:"event-data"`
}

type mailgunEvent struct {
	Event         string         `json:"event"`
	ID            string         `json:"id"`
	Timestamp     float64        `json:"timestamp"`
	Severity      string         `json:"severity"` // of a failure: permanent or temporary
	Recipient     string         `json:"recipient"`
	UserVariables map[string]any `json:"user-variables"`
}

func (mailgun) Verify(f *consentd.Feed, r *Request) (string, error) {
	var b mailgunBody
	if err := json.Unmarshal(r.Body, &b); err != nil {
		return "", fmt.Errorf("%w: not JSON", ErrMalformed)
	}
	s := b.Signature
	if s == nil || s.Timestamp == "" || s.Token == "" || s.Signature == "" {
		return "", fmt.Errorf("%w: no signature", ErrUnauthenticated)
	}
	got, err := hex.DecodeString(s.Signature)
	if err != nil {
		return "", fmt.Errorf("%w: bad signature", ErrUnauthenticated)
	}
	m := hmac.New(sha256.New, []byte(f.StoredSecret))
	m.Write([]byte(s.Timestamp))
	m.Write([]byte(s.Token))
	if !hmac.Equal(m.Sum(nil), got) {
		return "", fmt.Errorf("%w: bad signature", ErrUnauthenticated)
	}
	sec, err := strconv.ParseInt(s.Timestamp, 10, 64)
	if err != nil || stale(time.Unix(sec, 0), r.Now) {
		return "", ErrStale
	}
	if len(s.Token) > 200 {
		return "", fmt.Errorf("%w: token too long", ErrMalformed)
	}
	return s.Token, nil
}

func (mailgun) Parse(body []byte) ([]Event, error) {
	var b mailgunBody
	if err := json.Unmarshal(body, &b); err != nil || b.EventData == nil || b.EventData.Event == "" {
		return nil, fmt.Errorf("%w: want a Mailgun webhook object with event-data", ErrMalformed)
	}
	d := b.EventData
	e := Event{Type: d.Event, ID: d.ID, Recipient: d.Recipient, Ref: refString(d.UserVariables[RefKey])}
	switch d.Event {
	case "failed":
		e.Type += "/" + d.Severity
		if d.Severity == "permanent" {
			e.Kind = consentd.FeedHardBounce
		} else {
			e.Kind = consentd.FeedSoftBounce
		}
	case "complained":
		e.Kind = consentd.FeedComplaint
	case "unsubscribed":
		e.Kind = consentd.FeedUnsubscribe
	default:
		e.Kind = consentd.FeedIgnored
	}
	if d.Timestamp > 0 && d.Timestamp < math.MaxInt32*4 {
		sec, frac := math.Modf(d.Timestamp)
		e.At = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	}
	if e.ID == "" {
		raw, _ := json.Marshal(d)
		e.ID = contentID(raw)
	}
	return []Event{e}, nil
}
