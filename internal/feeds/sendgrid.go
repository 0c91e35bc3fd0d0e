package feeds

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/consentd/consentd"
)

// sendGrid is SendGrid's signed Event Webhook: a JSON array of events
// (up to about a thousand, usually fewer), signed with ECDSA P-256 over the
// timestamp header followed by the raw body; the signature is base64 of
// ASN.1 DER, the public key the one SendGrid shows in its settings.
type sendGrid struct{}

func init() { register(sendGrid{}) }

// SendGrid's signature headers.
const (
	SendGridSignatureHeader = "X-Twilio-Email-Event-Webhook-Signature"
	SendGridTimestampHeader = "X-Twilio-Email-Event-Webhook-Timestamp"
)

func (sendGrid) Name() consentd.FeedProvider { return consentd.ProviderSendGrid }

func (sendGrid) Configure(f *consentd.Feed) (string, error) {
	if f.Secret != "" || f.Username != "" {
		return "", consentd.FieldErrorf(consentd.EINVALID, "secret", "a sendgrid feed takes public_key only")
	}
	if _, err := parseECKey(f.PublicKey); err != nil {
		return "", consentd.FieldErrorf(consentd.EINVALID, "public_key", "public_key: %v", err)
	}
	f.StoredSecret = ""
	return "", nil
}

// parseECKey reads a P-256 public key: PEM, or base64 of the DER
// SubjectPublicKeyInfo (what SendGrid's settings page shows).
func parseECKey(s string) (*ecdsa.PublicKey, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("required: the verification key of SendGrid's signed event webhook")
	}
	var der []byte
	if b, _ := pem.Decode([]byte(s)); b != nil {
		der = b.Bytes
	} else {
		var err error
		if der, err = base64.StdEncoding.DecodeString(s); err != nil {
			return nil, fmt.Errorf("neither PEM nor base64")
		}
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("not a public key")
	}
	ec, ok := k.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, fmt.Errorf("not an ECDSA P-256 key")
	}
	return ec, nil
}

func (sendGrid) Verify(f *consentd.Feed, r *Request) (string, error) {
	key, err := parseECKey(f.PublicKey)
	if err != nil {
		return "", fmt.Errorf("%w: the feed's key: %v", ErrUnauthenticated, err)
	}
	ts := r.Header.Get(SendGridTimestampHeader)
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get(SendGridSignatureHeader))
	if ts == "" || err != nil || len(sig) == 0 {
		return "", fmt.Errorf("%w: no signature", ErrUnauthenticated)
	}
	h := sha256.New()
	h.Write([]byte(ts))
	h.Write(r.Body)
	if !ecdsa.VerifyASN1(key, h.Sum(nil), sig) {
		return "", fmt.Errorf("%w: bad signature", ErrUnauthenticated)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || stale(time.Unix(sec, 0), r.Now) {
		return "", ErrStale
	}
	return "", nil
}

// sendGridEvent is the part of a SendGrid event the ledger reads. Custom
// args come back as top-level keys: "consentd" is the message reference.
type sendGridEvent struct {
	Email     string `json:"email"`
	Timestamp int64  `json:"timestamp"`
	Event     string `json:"event"`
	Type      string `json:"type"` // of a bounce: bounce or blocked
	ID        string `json:"sg_event_id"`
	Ref       any    `json:"consentd"`
}

func (sendGrid) Parse(body []byte) ([]Event, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("%w: want a JSON array of events", ErrMalformed)
	}
	out := make([]Event, 0, len(raw))
	for i, r := range raw {
		var e sendGridEvent
		if err := json.Unmarshal(r, &e); err != nil {
			return nil, fmt.Errorf("%w: event %d: not an event object", ErrMalformed, i)
		}
		if e.Event == "" {
			return nil, fmt.Errorf("%w: event %d: no event type", ErrMalformed, i)
		}
		ev := Event{Kind: sendGridKind(e.Event, e.Type), ID: e.ID, Recipient: e.Email, Type: e.Event, Ref: refString(e.Ref)}
		if e.Timestamp > 0 {
			ev.At = time.Unix(e.Timestamp, 0).UTC()
		}
		if ev.ID == "" {
			ev.ID = contentID(r)
		}
		out = append(out, ev)
	}
	return out, nil
}

// sendGridKind maps SendGrid's event types: a bounce of type "blocked" is
// a refusal that may pass later (a soft bounce); deferrals, drops and
// engagement events change nothing.
func sendGridKind(event, typ string) consentd.FeedEventKind {
	switch event {
	case "bounce":
		if typ == "blocked" {
			return consentd.FeedSoftBounce
		}
		return consentd.FeedHardBounce
	case "spamreport":
		return consentd.FeedComplaint
	case "unsubscribe":
		return consentd.FeedUnsubscribe
	case "group_unsubscribe":
		return consentd.FeedGroupUnsubscribe
	}
	return consentd.FeedIgnored
}

// refString returns a message reference that is a string, else "".
func refString(v any) string {
	s, _ := v.(string)
	return s
}

// contentID is the id of an event that has none: a hash of its bytes, so
// that the same event posted again has the same id.
func contentID(raw []byte) string {
	var b bytes.Buffer
	json.Compact(&b, raw)
	h := sha256.Sum256(b.Bytes())
	return "sha256:" + base64.RawURLEncoding.EncodeToString(h[:])
}
