package consentd

import (
	"encoding/json"
	"strings"
	"sync/atomic"
	"time"
)

// This file holds the requests and answers that every storage backend takes
// and gives, so that backends and their consumers share one vocabulary.

// WriteResult is the answer to one consent write: the consent as stored
// after the write, whether the write was applied, and its outcome; or Err,
// an *Error, when the write was refused (and nothing was stored).
type WriteResult struct {
	Consent *Consent
	Applied bool
	Outcome Outcome
	Err     error
}

// DecisionRequest asks for one decision.
type DecisionRequest struct {
	ContactPoint string `json:"contact_point" max:"1024"`
	Channel      string `json:"channel" max:"256"`
	Purpose      string `json:"purpose" max:"256"`
	Topic        string `json:"topic,omitempty" max:"256"`
}

// DecisionResult is a decision with what it was decided on.
type DecisionResult struct {
	Decision
	ContactPoint string `json:"contact_point"`
	ConsentID    string `json:"consent_id"`
	Seq          int64  `json:"seq" doc:"the log size the decision was made at"`
}

// ConsentFilter selects consents to list. Empty fields match everything.
type ConsentFilter struct {
	ContactPoint string `json:"contact_point,omitempty" max:"1024"`
	PartyID      string `json:"party_id,omitempty" max:"200"`
	Purpose      string `json:"purpose,omitempty" max:"256"`
	Channel      string `json:"channel,omitempty" max:"256"`
	Status       Status `json:"status,omitempty" enum:"opted_in,opted_out,pending"`
	PageToken    string `json:"page_token,omitempty" max:"256"`
	Limit        int    `json:"limit,omitempty"`
}

// SuppressionInput is a request to suppress a contact point.
type SuppressionInput struct {
	ContactPoint string            `json:"contact_point" max:"1024"`
	Kind         ContactPointKind  `json:"kind,omitempty" enum:"email,phone,custom" doc:"how to normalize contact_point; default from channel, else guessed: email with @, phone with a leading + or digits, custom otherwise"`
	Channel      string            `json:"channel,omitempty" max:"256" doc:"empty = every channel"`
	Reason       SuppressionReason `json:"reason" enum:"erased,do_not_contact,hard_bounce,complaint,sms_stop"`
	Note         string            `json:"note,omitempty" max:"2000"`

	// OnlyIfNone marks a person's act on a public page: when the contact
	// point has a suppression with this channel and reason already,
	// AddSuppression writes and logs nothing and returns that one. It is
	// checked inside the write's transaction, so a replayed or repeated
	// act adds one suppression at most. Not part of the API.
	OnlyIfNone bool `json:"-"`
}

// WorkspaceUpdate is a partial update of a workspace's settings.
type WorkspaceUpdate struct {
	Name          *string `json:"name,omitempty" max:"64"`
	DefaultRegion *string `json:"default_region,omitempty" max:"16"`
	SMSSenderName *string `json:"sms_sender_name,omitempty" max:"64" doc:"the name texts go out under; empty: the workspace's name"`
	SMSHelpText   *string `json:"sms_help_text,omitempty" max:"480" doc:"the reply to SMS HELP and INFO; empty: the default"`
	// The brand (see Brand); an empty string clears a setting.
	SenderName      *string                       `json:"sender_name,omitempty" max:"200"`
	DefaultLanguage *string                       `json:"default_language,omitempty" max:"35"`
	AccentColor     *string                       `json:"accent_color,omitempty" max:"7"`
	PrivacyURL      *string                       `json:"privacy_url,omitempty" max:"2048"`
	Footer          *string                       `json:"footer,omitempty" max:"1000"`
	PublicURL       *string                       `json:"public_url,omitempty" max:"2048"`
	Texts           *map[string]map[string]string `json:"texts,omitempty" max:"2000" doc:"replaces every override: language → key → text (keys listed by GET /v1/texts; an override uses only its English text's {placeholders})"`
}

// ValidateSMS checks the SMS settings of an update: storable text within
// their limits. It returns an *Error naming the field.
func (u *WorkspaceUpdate) ValidateSMS() error {
	if u.SMSSenderName != nil {
		if err := CheckText("sms_sender_name", *u.SMSSenderName, MaxSMSSenderName); err != nil {
			return err
		}
	}
	if u.SMSHelpText != nil {
		return CheckText("sms_help_text", *u.SMSHelpText, MaxSMSHelpText)
	}
	return nil
}

// LogRecord is one stored log entry: the entry as JSON, its leaf (the
// bytes hashed into the tree) and leaf hash, and its evidence with the
// opening of the leaf's commitment to it (both empty when the entry has no
// evidence or it was erased).
type LogRecord struct {
	Seq      int64           `json:"seq"`
	LeafHash []byte          `json:"leaf_hash"`
	Entry    json.RawMessage `json:"entry"`
	Leaf     []byte          `json:"leaf,omitempty" doc:"the exact bytes hashed into the tree (base64); empty when an old entry's leaf was erased"`
	Evidence []byte          `json:"evidence,omitempty" doc:"the evidence the leaf commits to (base64 of JSON)"`
	Opening  []byte          `json:"opening,omitempty" doc:"the random opening of the leaf's commitment (base64)"`
}

// Migration says what opening a store did to bring its schema up to date:
// the newest migration recorded before and after, the migrations applied,
// and, when the store held a log written before the tree was kept in
// tiles, the full tiles made from its stored hashes per workspace id.
type Migration struct {
	Before  string           // newest migration recorded before opening; "" for a new database
	After   string           // newest migration recorded now
	Applied []string         // migrations this opening applied, in order
	Tiles   map[string]int64 // workspace id -> tiles made from the old log_hashes rows, for each workspace that had entries there
	// Stale counts, when the migration that lists them ran, the stored
	// contact points that Normalize no longer returns as they are (see
	// StaleContactPoint): workspace id -> "<kind> <outcome>" -> how many.
	Stale map[string]map[string]int
}

// GuessKind returns the kind of a contact point for a channel, or when no
// channel is given, guessed from the address: email with an @, phone with a
// leading + or digit, custom otherwise.
func GuessKind(channel, raw string) ContactPointKind {
	switch {
	case channel != "":
		return KindOf(channel)
	case strings.Contains(raw, "@"):
		return KindEmail
	case strings.HasPrefix(strings.TrimSpace(raw), "+"), len(raw) > 0 && raw[0] >= '0' && raw[0] <= '9':
		return KindPhone
	}
	return KindCustom
}

// ParseConsentID splits a public consent id at its last '#'.
func ParseConsentID(id string) (contactPoint, channelType string, err error) {
	i := strings.LastIndexByte(id, '#')
	if i <= 0 || i == len(id)-1 {
		return "", "", FieldErrorf(EINVALID, "id", "a consent id is <contact point>#<channel type id>")
	}
	return id[:i], id[i+1:], nil
}

// ResolveConsentID turns a public consent id into its contact point hash
// (keyed with secret), normalized contact point and channel type. It
// returns EINVALID for a malformed id, EUNKNOWNCHANNELTYPE or the
// normalization's error for a bad one. The contact point is normalized with
// NormalizeStored, so that a consent stored by an earlier release under a
// form that Normalize now refuses can still be read.
func ResolveConsentID(cat *Catalog, region string, secret []byte, id string) ([32]byte, string, ChannelType, error) {
	raw, ctID, err := ParseConsentID(id)
	if err != nil {
		return [32]byte{}, "", ChannelType{}, err
	}
	ct, err := cat.ResolveID(ctID)
	if err != nil {
		return [32]byte{}, "", ct, err
	}
	cp, err := NormalizeStoredFor(ct.Channel, raw, region)
	if err != nil {
		return [32]byte{}, "", ct, err
	}
	return ContactPointHash(secret, KindOf(ct.Channel), cp), cp, ct, nil
}

// legacyWrites makes PrepareWrite normalize every write with
// NormalizeStored, the way an earlier release in effect stored contact
// points that Normalize now refuses. Only tests set it, through
// LegacyWritesForTest.
var legacyWrites atomic.Bool

// LegacyWritesForTest makes PrepareWrite accept, for opt-ins too, what
// NormalizeStored accepts, until the returned function is called: for tests
// that need a consent stored as an earlier release stored it. Nothing else
// may call it.
func LegacyWritesForTest() (restore func()) {
	legacyWrites.Store(true)
	return func() { legacyWrites.Store(false) }
}

// PrepareWrite validates and normalizes a write against the catalog: it
// returns the channel type and the normalized contact point. An opt-out is
// normalized with NormalizeStored, so that a contact point an earlier
// release stored can still be opted out; an opt-in or a pending consent
// needs a contact point that Normalize accepts.
func PrepareWrite(cat *Catalog, region string, w *ConsentWrite, now time.Time) (ChannelType, string, error) {
	if err := w.Validate(now); err != nil {
		return ChannelType{}, "", err
	}
	var ct ChannelType
	var err error
	if w.ChannelType != "" {
		ct, err = cat.ResolveID(w.ChannelType)
	} else {
		ct, err = cat.Resolve(w.Purpose, w.Topic, w.Channel)
	}
	if err != nil {
		return ct, "", err
	}
	normalize := NormalizeFor
	if w.Status == OptedOut || legacyWrites.Load() {
		normalize = NormalizeStoredFor
	}
	cp, err := normalize(ct.Channel, w.ContactPoint, region)
	if err != nil {
		return ct, "", err
	}
	if w.PartyID != "" && !ValidPartyID(w.PartyID) {
		return ct, "", FieldErrorf(EINVALID, "party_id", "party_id must be 1 to 200 printable characters without /")
	}
	return ct, cp, nil
}
