// Package feeds receives the delivery events that mailbox and SMS
// providers report (hard and soft bounces, spam complaints, unsubscribes)
// and turns them into suppressions and opt-outs. A feed (consentd.Feed) is
// one provider account's webhook pointed at
//
//	POST /feeds/{workspace id}/{provider}/{feed id}
//
// with no API key: the request is authenticated the provider's way with the
// feed's settings. The handler reads the body (at most MaxBody bytes), has
// the provider's adapter verify and parse it into Events, prepares what
// each event does, and has the store apply the batch in one transaction
// that also records each event's provider id, so that a replay acts once.
//
// # Adding a provider
//
// A provider is one file with a type implementing Provider, which the
// file's init registers (register(sendGrid{})), and its testdata payloads:
//
//	type Provider interface {
//		Name() consentd.FeedProvider
//		Configure(f *consentd.Feed) (shown string, err error)
//		Verify(f *consentd.Feed, r *Request) (replayKey string, err error)
//		Parse(body []byte) ([]Event, error)
//	}
//
// Configure checks the provider's settings of a feed when it is created or
// applied (consentd.Feed's PublicKey, Username, Secret) and sets
// StoredSecret, the form the store keeps: a hash for a credential consentd
// chooses and only compares (Postmark's password, which Configure
// generates when none is given and returns once as shown), the key itself
// for one needed to compute a MAC (Mailgun's signing key, kept as webhook
// secrets are). A feed whose Secret is empty but StoredSecret set keeps it.
// A provider that needs other settings (an SNS topic ARN, an account id)
// reads them from Feed.Settings and has a TakesSettings() method; Configure
// refuses settings for the others.
//
// Verify authenticates a request from its headers and raw body, at r.Now:
// an error wrapping ErrUnauthenticated (answered 401: bad or missing
// signature or credentials), ErrStale (403: a timestamp too far from now,
// MaxSkew) or ErrMalformed (400). A provider that signs a one-time value
// per request returns it as replayKey; the store refuses a key it has seen
// (403) and changes nothing.
//
// Parse turns a verified body into Events, in order: an error wrapping
// ErrMalformed for a body that is not the provider's shape. Events the
// ledger has no use for (delivered, opened, deferred...) are Kind
// consentd.FeedIgnored; they are answered 2xx and not stored. Each event
// needs an ID unique within the provider account (the provider's event id;
// a hash of the event's bytes when it has none), its recipient, the time
// the provider saw it, and Ref, the consentd message reference the sender
// attached to the message (see below), or "".
//
// An adapter for an SMS provider's delivery events sets Event.Channel to
// "sms": the recipient is then normalized as a phone number and the
// suppressions are on channel sms. A provider that must answer a
// handshake before it sends events (Amazon SNS's subscription
// confirmation) also implements Handshaker; one that posts a message
// rather than JSON (an RFC 5965 ARF report, a DSN) parses the raw message
// in Parse all the same.
//
// # Inbound SMS
//
// An SMS provider's inbound webhook (Twilio, Vonage) posts the replies
// people send. Its adapter parses each into an Event of Kind
// consentd.FeedSMSInbound with the reply in Event.SMS, the provider's
// message id as ID and its receipt time as At. The handler does not apply
// these through FeedApply: it hands each to the store's InboundSMS, the
// path of POST /v1/inbound/sms, so that the keyword rules (STOP, START,
// HELP, YES confirming an SMS double opt-in), the review queue and the
// idempotence on provider and message id are one and the same. A
// provider that takes an answer (Twilio's TwiML) implements Responder.
//
// # The message reference
//
// Complaints and unsubscribes opt out of the purpose of the message they
// are about. The sender says which when it sends: it attaches the token of
// an unsubscribe link (POST /v1/links answers it as message_ref) under the
// key "consentd" in the provider's per-message metadata (SendGrid
// custom_args, Postmark Metadata, Mailgun user variables), and the
// provider sends it back with each event; where a provider
// returns the message's headers instead (SES, raw reports), the header
// X-Consentd-Ref (RefHeader) carries it, or the List-Unsubscribe link of
// the token, /u/{token}, does. The token's signature is checked; its
// channel type says what to opt out of, and the event's recipient must
// have the token's contact point hash, or the reference is dropped (and
// counted) as if there were none.
//
// A provider that redacts the recipient (a mailbox provider's ARF
// complaint) leaves Event.Recipient empty: the handler then takes the
// contact point whose hash the reference carries, from the store's
// plaintext (when the store can look it up by hash, as both backends can),
// and counts and skips an event without a usable reference.
package feeds

import (
	"errors"
	"net/http"
	"time"

	"github.com/consentd/consentd"
)

// Provider is one provider's side of a feed; see the package comment.
type Provider interface {
	// Name is the provider's name in feeds and their URLs.
	Name() consentd.FeedProvider
	// Configure checks f's provider settings and sets f.StoredSecret; it
	// returns a secret consentd generated, to be shown once, or "".
	Configure(f *consentd.Feed) (shown string, err error)
	// Verify authenticates r for f; it returns the request's one-time
	// value, if the provider signs one.
	Verify(f *consentd.Feed, r *Request) (replayKey string, err error)
	// Parse turns a verified body into events.
	Parse(body []byte) ([]Event, error)
}

// Responder is implemented by a provider that takes an answer to the
// inbound SMS replies it posts (Twilio's TwiML). It is called once the
// request's events are handled, with its FeedSMSInbound events in order
// and what each did (nil for one not stored: a sender that is no phone
// number), and writes the whole 2xx answer. A provider without it gets
// the JSON answer every feed gets.
type Responder interface {
	Respond(w http.ResponseWriter, texts []Event, results []*consentd.InboundResult)
}

// Handshaker is implemented by a provider that must answer some requests
// itself instead of having them parsed (a subscription confirmation). It
// is called after Verify; handled true means it wrote the answer.
type Handshaker interface {
	Handshake(f *consentd.Feed, r *Request, w http.ResponseWriter) (handled bool, err error)
}

// Request is what an adapter sees of a provider's request.
type Request struct {
	// URL is the URL the provider was given and posted to: the server's
	// public URL and the request's path and query (Twilio signs it).
	URL    string
	Header http.Header
	Body   []byte
	Now    time.Time
}

// Event is one provider event, normalized.
type Event struct {
	Kind      consentd.FeedEventKind
	ID        string    // the provider's event id, unique per provider account
	Recipient string    // the address as the provider reports it; "" when redacted (see below)
	Channel   string    // "" (email) or sms
	At        time.Time // when the provider saw it; zero for unknown
	Ref       string    // the consentd message reference, or ""
	Type      string    // the provider's own name of the event, for provenance
	// SMS is the reply of a FeedSMSInbound event: From, To, Text and,
	// when the provider read the keyword itself, ProviderKind. The handler
	// sets Provider (the feed's), MessageID (ID) and ReceivedAt (At).
	SMS *consentd.InboundSMS
}

// Errors of Verify and Parse, by the answer they get.
var (
	ErrUnauthenticated = errors.New("feeds: not authenticated")
	ErrStale           = errors.New("feeds: timestamp too old or too far ahead")
	ErrMalformed       = errors.New("feeds: malformed body")
)

// MaxSkew is how far a signed timestamp may be from now.
const MaxSkew = 10 * time.Minute

// RefKey is the metadata key that carries the message reference.
const RefKey = "consentd"

// providers are the adapters by name.
var providers = map[consentd.FeedProvider]Provider{}

func register(p Provider) { providers[p.Name()] = p }

// Lookup returns the adapter of a provider.
func Lookup(name consentd.FeedProvider) (Provider, bool) {
	p, ok := providers[name]
	return p, ok
}

// Configure validates a feed and has its provider's adapter set its
// stored secret; it returns a generated secret to show once, or "". It
// returns EINVALID for an unknown provider or bad settings.
func Configure(f *consentd.Feed) (string, error) {
	if err := f.Validate(); err != nil {
		return "", err
	}
	p, ok := providers[f.Provider]
	if !ok {
		return "", consentd.FieldErrorf(consentd.EINVALID, "provider", "provider must be sendgrid, postmark, mailgun, ses, rfc822, twilio or vonage")
	}
	if _, ok := p.(settingsTaker); !ok && len(f.Settings) > 0 {
		return "", consentd.FieldErrorf(consentd.EINVALID, "settings", "a %s feed takes no settings", f.Provider)
	}
	return p.Configure(f)
}

// settingsTaker is implemented by a provider that reads Feed.Settings
// (its Configure checks them); the others refuse a feed that has any.
type settingsTaker interface{ TakesSettings() }

// stale reports whether a provider's timestamp is too far from now.
func stale(at, now time.Time) bool {
	d := now.Sub(at)
	return d > MaxSkew || d < -MaxSkew
}
