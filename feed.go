package consentd

import (
	"time"
)

// FeedProvider names the provider whose events a feed receives. The list
// is open: a provider is known when internal/feeds has an adapter for it.
type FeedProvider string

// Feed providers with adapters today. ses is Amazon SES's notifications
// through Amazon SNS; rfc822 takes raw report messages (ARF complaints,
// DSN bounces) from any mail system. Twilio and Vonage feeds receive
// inbound SMS replies, the others delivery events.
const (
	ProviderSendGrid FeedProvider = "sendgrid"
	ProviderPostmark FeedProvider = "postmark"
	ProviderMailgun  FeedProvider = "mailgun"
	ProviderSES      FeedProvider = "ses"
	ProviderRFC822   FeedProvider = "rfc822"
	ProviderTwilio   FeedProvider = "twilio"
	ProviderVonage   FeedProvider = "vonage"
)

// Defaults of the soft-bounce policy: three soft bounces of one address
// within three days count as a hard bounce.
const (
	DefaultSoftBounceLimit  = 3
	DefaultSoftBounceWindow = 72 * time.Hour
	// FeedEventRetention is how long a feed remembers the provider event
	// ids it processed (replays within it act once); it bounds the
	// soft-bounce window too.
	FeedEventRetention = 30 * 24 * time.Hour
)

// Feed receives a provider's delivery events (bounces, complaints,
// unsubscribes) at its public URL, POST /feeds/{workspace id}/{provider}/{id},
// authenticated the provider's way with the feed's settings.
type Feed struct {
	ID       string       `json:"id" doc:"slug, stable across environments"`
	Name     string       `json:"name,omitempty"`
	Provider FeedProvider `json:"provider" doc:"sendgrid, postmark, mailgun, ses, rfc822, twilio or vonage"`
	// PublicKey is SendGrid's signed event webhook verification key
	// (ECDSA P-256, PEM or base64 DER as SendGrid shows it).
	PublicKey string `json:"public_key,omitempty" doc:"sendgrid: the signed event webhook's verification key, PEM or base64 DER"`
	// Username is Postmark's (or an rfc822 feed's) HTTP Basic user name.
	Username string `json:"username,omitempty" doc:"postmark, rfc822: the HTTP Basic user name of the webhook URL; default consentd"`
	// Secret is write-only: Postmark's or an rfc822 feed's Basic password
	// (chosen by consentd when empty, shown once, stored hashed), or
	// Mailgun's HTTP webhook signing key, Twilio's Auth Token or Vonage's
	// signature secret (stored as webhook secrets are, for the MAC).
	Secret string `json:"secret,omitempty" doc:"write-only: postmark, rfc822: the HTTP Basic password (generated and shown once when empty); mailgun: the HTTP webhook signing key; twilio: the Auth Token; vonage: the signature secret"`
	// SecretEnv names the environment variable that holds Secret in a
	// catalog file; kept for export.
	SecretEnv string `json:"secret_env,omitempty"`
	// Settings are a provider's other settings, by name (the Amazon SNS
	// topic ARNs of a ses feed, a Twilio account); the adapter says which
	// it takes.
	Settings map[string]string `json:"settings,omitempty" doc:"other provider settings by name; ses: topic_arns (required), the SNS topic ARNs it accepts, separated by commas or spaces; twilio: account_sid (required); vonage: signature_method (md5hash, sha256 or sha512; default sha256); the others take none"`
	// SoftBounce is when soft bounces become a hard bounce.
	SoftBounce SoftBouncePolicy `json:"soft_bounce,omitzero"`
	// URL is the feed's public URL path (read-only).
	URL       string    `json:"url,omitempty" doc:"read-only: the path the provider posts to, /feeds/{workspace id}/{provider}/{id}"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	// StoredSecret is Secret as stored: the hash of a password, or the
	// signing key itself. Answers never carry it.
	StoredSecret string `json:"-"`
}

// SoftBouncePolicy turns soft bounces into a hard bounce: Limit soft
// bounces of one address reported by one feed within Window.
type SoftBouncePolicy struct {
	Limit  int    `json:"limit,omitempty" doc:"soft bounces within window that make a hard bounce; default 3; -1 never"`
	Window string `json:"window,omitempty" max:"32" doc:"a Go duration, e.g. 72h; default 72h, at most 720h"`
}

// WindowDuration returns the window; 0 when it is empty or malformed
// (Validate refuses those).
func (p SoftBouncePolicy) WindowDuration() time.Duration {
	d, err := time.ParseDuration(p.Window)
	if err != nil {
		return 0
	}
	return d
}

// Effective returns the policy with its defaults filled in.
func (p SoftBouncePolicy) Effective() SoftBouncePolicy {
	if p.Limit == 0 {
		p.Limit = DefaultSoftBounceLimit
	}
	if p.Window == "" {
		p.Window = DefaultSoftBounceWindow.String()
	}
	return p
}

// FeedPath is the public path of a feed.
func FeedPath(wsID string, provider FeedProvider, id string) string {
	return "/feeds/" + wsID + "/" + string(provider) + "/" + id
}

// Validate checks what every feed needs; the provider's settings are the
// adapter's to check.
func (f *Feed) Validate() error {
	switch {
	case !ValidID(f.ID):
		return FieldErrorf(EINVALID, "id", "id must be a slug (lower-case letters, digits, - and _)")
	case !ValidID(string(f.Provider)):
		return FieldErrorf(EINVALID, "provider", "provider is required")
	case f.SoftBounce.Limit < -1:
		return FieldErrorf(EINVALID, "soft_bounce.limit", "soft_bounce.limit is a count, or -1 for never")
	case f.SoftBounce.Window != "" && (f.SoftBounce.WindowDuration() <= 0 || f.SoftBounce.WindowDuration() > FeedEventRetention):
		return FieldErrorf(EINVALID, "soft_bounce.window", "soft_bounce.window is at most 720h")
	}
	if len(f.Settings) > 16 {
		return FieldErrorf(EINVALID, "settings", "at most 16 settings")
	}
	for k, v := range f.Settings {
		if !ValidID(k) {
			return FieldErrorf(EINVALID, "settings", "setting names are slugs")
		}
		if err := checkTexts(textField{"settings." + k, v, 1000}); err != nil {
			return err
		}
	}
	return checkTexts(textField{"name", f.Name, 200}, textField{"username", f.Username, 200},
		textField{"secret_env", f.SecretEnv, 200}, textField{"public_key", f.PublicKey, 4096}, textField{"secret", f.Secret, 500})
}

// FeedEventKind is what a provider event means for consent.
type FeedEventKind string

// Feed event kinds. Every other provider event (delivered, opened, a
// deferral...) is FeedIgnored.
const (
	FeedHardBounce       FeedEventKind = "hard_bounce"
	FeedSoftBounce       FeedEventKind = "soft_bounce"
	FeedComplaint        FeedEventKind = "complaint"
	FeedUnsubscribe      FeedEventKind = "unsubscribe"
	FeedGroupUnsubscribe FeedEventKind = "group_unsubscribe"
	FeedIgnored          FeedEventKind = "ignored"
	// FeedSMSInbound is an SMS reply a provider received (Twilio, Vonage):
	// it goes through the inbound SMS path (the store's InboundSMS), not
	// through FeedApply.
	FeedSMSInbound FeedEventKind = "sms_inbound"
)

// FeedAct is one provider event prepared for the store: its id, and what
// it does. The store applies it in one transaction with the record of its
// id, so that an event the feed processed before does nothing.
type FeedAct struct {
	EventID    string        // the provider's event id, unique per feed
	Kind       FeedEventKind //
	OccurredAt time.Time     // when the provider saw it
	// Hash is the keyed hash of the recipient (zero for an ignored event);
	// a soft bounce is counted under it. ContactPoint is the normalized
	// address, for the suppressions.
	Hash         [32]byte
	ContactPoint string
	// Suppressions are added unless one with the same channel and reason
	// stands (SuppressionInput.OnlyIfNone); Writes are written with
	// OnlyOnChange. A write the catalog refuses is skipped.
	Suppressions []SuppressionInput
	Writes       []ConsentWrite
	// Escalate, for a soft bounce, is the suppression added when the
	// address's soft bounces within the policy's window reach its limit.
	Escalate *SuppressionInput
}

// FeedApply is a batch of provider events for one feed.
type FeedApply struct {
	FeedID     string
	Acts       []FeedAct
	SoftBounce SoftBouncePolicy // effective (defaults filled in)
	// ReplayKey, when set, is a value the provider signs once per request
	// (Mailgun's token): a request whose key the feed has seen is refused
	// with ECONFLICT and changes nothing.
	ReplayKey string
}

// FeedOutcome counts what a batch did.
type FeedOutcome struct {
	Events       int `json:"events"`
	Duplicates   int `json:"duplicates"`
	Suppressions int `json:"suppressions"`
	Consents     int `json:"consents" doc:"consent writes applied"`
	Escalations  int `json:"escalations" doc:"soft bounces that reached the limit"`
	Erased       int `json:"erased,omitempty" doc:"events about erased addresses: recorded, not acted on"`
}
