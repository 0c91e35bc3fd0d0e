package feeds

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/consentd/consentd"
)

// postmark is Postmark's webhooks: one JSON object per request, its kind
// in RecordType. Postmark signs nothing; the webhook URL carries HTTP Basic
// credentials that consentd chooses (the password is shown once and stored
// as its SHA-256, like an API key: it is random, so a plain hash does).
type postmark struct{}

func init() { register(postmark{}) }

func (postmark) Name() consentd.FeedProvider { return consentd.ProviderPostmark }

func (postmark) Configure(f *consentd.Feed) (string, error) { return configureBasic(f) }

func (postmark) Verify(f *consentd.Feed, r *Request) (string, error) { return "", verifyBasic(f, r) }

// postmarkRecord is the part of a Postmark webhook the ledger reads.
type postmarkRecord struct {
	RecordType string          `json:"RecordType"`
	ID         json.RawMessage `json:"ID"` // a (64-bit) number for bounces and complaints
	Type       string          `json:"Type"`
	MessageID  string          `json:"MessageID"`
	Email      string          `json:"Email"`
	Recipient  string          `json:"Recipient"`
	BouncedAt  string          `json:"BouncedAt"`
	ChangedAt  string          `json:"ChangedAt"`
	// SubscriptionChange: whether sending is suppressed now, and why.
	SuppressSending   bool              `json:"SuppressSending"`
	SuppressionReason string            `json:"SuppressionReason"`
	Metadata          map[string]string `json:"Metadata"`
}

func (postmark) Parse(body []byte) ([]Event, error) {
	var r postmarkRecord
	if err := json.Unmarshal(body, &r); err != nil || r.RecordType == "" {
		return nil, fmt.Errorf("%w: want a Postmark webhook object with RecordType", ErrMalformed)
	}
	e := Event{Type: r.RecordType, Recipient: r.Email, Ref: r.Metadata[RefKey]}
	if e.Recipient == "" {
		e.Recipient = r.Recipient
	}
	at := r.BouncedAt
	switch r.RecordType {
	case "Bounce":
		e.Type += "/" + r.Type
		e.Kind = postmarkBounceKind(r.Type)
	case "SpamComplaint":
		e.Kind = consentd.FeedComplaint
	case "SubscriptionChange":
		at = r.ChangedAt
		// A recipient's own unsubscribe; a suppression for a bounce or a
		// complaint comes with its own Bounce or SpamComplaint record.
		if r.SuppressSending && r.SuppressionReason == "ManualSuppression" {
			e.Kind = consentd.FeedUnsubscribe
		} else {
			e.Kind = consentd.FeedIgnored
		}
	default:
		e.Kind = consentd.FeedIgnored
	}
	if t, err := time.Parse(time.RFC3339Nano, at); err == nil {
		e.At = t.UTC()
	}
	if id := strings.Trim(string(r.ID), `"`); id != "" && id != "null" {
		e.ID = r.RecordType + ":" + id
	}
	if e.ID == "" && r.MessageID != "" {
		e.ID = r.RecordType + ":" + r.MessageID + ":" + at
	}
	if e.ID == "" {
		e.ID = contentID(body)
	}
	return []Event{e}, nil
}

// postmarkBounceKind maps Postmark's bounce types: an address that does
// not exist is a hard bounce, a refusal that may pass later a soft one; a
// spam filter's notice (SpamNotification) and an operator's deactivation
// are not the recipient's act and change nothing.
func postmarkBounceKind(t string) consentd.FeedEventKind {
	switch t {
	case "HardBounce", "BadEmailAddress":
		return consentd.FeedHardBounce
	case "SoftBounce", "Transient", "DnsError", "MailFrontier", "ContentRelated", "ChallengeVerification":
		return consentd.FeedSoftBounce
	case "SpamComplaint":
		return consentd.FeedComplaint
	case "Unsubscribe":
		return consentd.FeedUnsubscribe
	}
	return consentd.FeedIgnored
}
