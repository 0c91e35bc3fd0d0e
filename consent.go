package consentd

import (
	"encoding/json"
	"time"
)

// Status is the state of a consent.
type Status string

// Consent statuses.
const (
	OptedIn  Status = "opted_in"
	OptedOut Status = "opted_out"
	Pending  Status = "pending" // waiting for double opt-in confirmation
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return s == OptedIn || s == OptedOut || s == Pending }

// rank orders statuses for writes with equal captured_at: the more
// restrictive wins, so opted_out beats everything.
func (s Status) rank() int {
	switch s {
	case OptedOut:
		return 3
	case Pending:
		return 2
	case OptedIn:
		return 1
	}
	return 0
}

// Source types.
const (
	SourceForm             = "form"
	SourcePreferenceCenter = "preference_center"
	SourceUnsubscribeLink  = "unsubscribe_link"
	SourceImport           = "import"
	SourceAPI              = "api"
	SourceAgent            = "agent"
	SourceAutomation       = "automation"
	SourceDoubleOptIn      = "double_opt_in"
	SourceDSR              = "dsr"
	SourceGPC              = "gpc"
	SourceSync             = "sync"
	// SourceProviderFeed is an event a mailbox or SMS provider reported
	// through a feed (internal/feeds): name is the provider, details the
	// feed and the provider's event id.
	SourceProviderFeed = "provider_feed"
	// SourceSMSKeyword is a reply keyword read from an SMS: name sms_stop
	// (STOP and its synonyms) or sms_start (START, UNSTOP, YES), details
	// the reply's proof. Earlier releases wrote these as type api with
	// the same names; StoppedBySMS reads both.
	SourceSMSKeyword = "sms_keyword"
)

// ValidSourceType reports whether t is a known source type.
func ValidSourceType(t string) bool {
	switch t {
	case SourceForm, SourcePreferenceCenter, SourceUnsubscribeLink, SourceImport, SourceAPI,
		SourceAgent, SourceAutomation, SourceDoubleOptIn, SourceDSR, SourceGPC, SourceSync, SourceProviderFeed, SourceSMSKeyword:
		return true
	}
	return false
}

// Source says how a consent was captured.
type Source struct {
	Type    string          `json:"type" enum:"form,preference_center,unsubscribe_link,import,api,agent,automation,double_opt_in,dsr,gpc,sync,provider_feed,sms_keyword"`
	Name    string          `json:"name,omitempty" max:"200"`
	Details json.RawMessage `json:"details,omitempty" max:"4096"`
}

// Proof is evidence of how the person acted.
type Proof struct {
	IP          string     `json:"ip,omitempty" max:"64"`
	UserAgent   string     `json:"user_agent,omitempty" max:"512"`
	FormVersion string     `json:"form_version,omitempty" max:"100"`
	TextVersion string     `json:"text_version,omitempty" max:"100"`
	ConfirmedAt *time.Time `json:"confirmed_at,omitempty"`
	// Language is the language the person was addressed in (BCP 47):
	// the pages, mails and texts to this contact point use it.
	Language string `json:"language,omitempty" max:"35" doc:"the language the person read (BCP 47); later pages and mails to the contact point use it"`
	// Text is the exact text the person was shown and agreed to, and
	// TextSHA256 its SHA-256 (hex): the receipt of the consent proves what
	// the person read.
	Text       string `json:"text,omitempty" max:"8192" doc:"the exact text the person was shown"`
	TextSHA256 string `json:"text_sha256,omitempty" max:"64" doc:"hex SHA-256 of text"`
}

// Outcome is what a write did.
type Outcome string

// Write outcomes.
const (
	Created    Outcome = "created"
	Changed    Outcome = "changed"
	Unchanged  Outcome = "unchanged"
	Superseded Outcome = "superseded"
)

// Consent is the current state of one contact point for one channel type.
type Consent struct {
	ID           string    `json:"id" doc:"<contact point>#<channel type id>"`
	ContactPoint string    `json:"contact_point"`
	ChannelType  string    `json:"channel_type"`
	Purpose      string    `json:"purpose"`
	Topic        string    `json:"topic,omitempty"`
	Channel      string    `json:"channel"`
	Status       Status    `json:"status" enum:"opted_in,opted_out,pending"`
	CapturedAt   time.Time `json:"captured_at"`
	RecordedAt   time.Time `json:"recorded_at"`
	Version      int64     `json:"version"`
	Source       Source    `json:"source"`
	Reason       string    `json:"reason,omitempty"`
	PartyID      string    `json:"party_id,omitempty"`
	Jurisdiction string    `json:"jurisdiction,omitempty"`
	Proof        *Proof    `json:"proof,omitempty"`
	Origin       string    `json:"origin,omitempty"`
	Seq          int64     `json:"seq" doc:"log sequence number of the entry that set this state"`
	ProvedBy     *LogRef   `json:"proved_by,omitempty" doc:"in an answer as_of or known_at a time: the log entry whose write is the state in effect then (seq is its seq); consent.superseded or consent.unchanged when that write was recorded after a later one and never was the stored state (version is then 0)"`
}

// ConsentID returns the public id "<contact point>#<channel type id>".
func ConsentID(contactPoint, channelType string) string { return contactPoint + "#" + channelType }

// ConsentWrite is one upsert: the natural key and the new state.
type ConsentWrite struct {
	ContactPoint string    `json:"contact_point" max:"1024"`
	Channel      string    `json:"channel,omitempty" max:"256"`
	Purpose      string    `json:"purpose,omitempty" max:"256"`
	Topic        string    `json:"topic,omitempty" max:"256"`
	ChannelType  string    `json:"channel_type,omitempty" max:"256" doc:"own id (newsletter:email) or external id; instead of channel + purpose [+ topic]"`
	Status       Status    `json:"status" enum:"opted_in,opted_out,pending"`
	CapturedAt   time.Time `json:"captured_at"`
	Source       Source    `json:"source"`
	Reason       string    `json:"reason,omitempty" max:"1000"`
	PartyID      string    `json:"party_id,omitempty" max:"200"`
	Jurisdiction string    `json:"jurisdiction,omitempty" max:"16"`
	Proof        *Proof    `json:"proof,omitempty"`
	Origin       string    `json:"origin,omitempty" max:"200"`

	// OnlyOnChange marks a person's act on a public page (one-click
	// unsubscribe, preference center, GPC): when the stored consent has
	// this status already, the write changes nothing and is not logged,
	// whatever its captured_at. A replayed or concurrently repeated POST
	// then leaves the log as the first one did. The stored state is
	// compared inside the write's transaction, so two concurrent acts
	// cannot both apply. Not part of the API: API writes log every write.
	OnlyOnChange bool `json:"-"`
}

// MaxSkew is how far in the future a captured_at may be (clock skew between
// the source and consentd).
const MaxSkew = 5 * time.Minute

// Validate checks the fields of a write that need no catalog or store:
// status, captured_at (present, not later than now+MaxSkew), source type,
// jurisdiction, party id, and the size and text of every free-text field
// and of the proof (proof.ip an IP address, proof.confirmed_at a sane
// time). It returns an *Error naming the fields.
func (w *ConsentWrite) Validate(now time.Time) error {
	switch {
	case w.ContactPoint == "":
		return FieldErrorf(EINVALIDCONTACTPOINT, "contact_point", "contact_point is required")
	case !w.Status.Valid():
		return FieldErrorf(EINVALIDSTATUS, "status", "status must be opted_in, opted_out or pending")
	case w.CapturedAt.IsZero():
		return FieldErrorf(EINVALIDTIME, "captured_at", "captured_at is required (RFC 3339)")
	case w.CapturedAt.After(now.Add(MaxSkew)):
		return FieldErrorf(EFUTURECAPTUREDAT, "captured_at", "captured_at is in the future")
	case w.CapturedAt.Year() < 1970:
		return FieldErrorf(EINVALIDTIME, "captured_at", "captured_at is before 1970")
	case !ValidSourceType(w.Source.Type):
		return FieldErrorf(EINVALID, "source.type", "source.type must be one of form, preference_center, unsubscribe_link, import, api, agent, automation, double_opt_in, dsr, gpc, sync, provider_feed")
	case w.Jurisdiction != "" && !ValidJurisdiction(w.Jurisdiction):
		return FieldErrorf(EINVALID, "jurisdiction", "jurisdiction must be an ISO 3166 code such as DE or US-CA")
	case w.Channel == "" && w.ChannelType == "":
		return FieldErrorf(EINVALID, "channel", "channel and purpose, or channel_type, are required")
	case w.ChannelType == "" && w.Purpose == "":
		return FieldErrorf(EUNKNOWNPURPOSE, "purpose", "purpose is required with channel")
	case w.PartyID != "" && !ValidPartyID(w.PartyID):
		return FieldErrorf(EINVALID, "party_id", "party_id must be 1 to %d printable characters without /", MaxPartyIDLen)
	}
	// The free text goes into the log for good: bounded, storable text
	// (docs/api.md lists the limits). The contact point is checked when
	// it is normalized.
	if err := checkTexts(
		textField{"channel", w.Channel, MaxIDLen},
		textField{"purpose", w.Purpose, MaxIDLen},
		textField{"topic", w.Topic, MaxIDLen},
		textField{"channel_type", w.ChannelType, MaxIDLen},
		textField{"reason", w.Reason, MaxReasonLen},
		textField{"origin", w.Origin, MaxOriginLen},
	); err != nil {
		return err
	}
	if err := w.Source.Validate("source"); err != nil {
		return err
	}
	return w.Proof.Validate(now)
}

// Apply decides what a write does to the stored consent cur (nil when there
// is none), by docs/decisions.md: order is by captured_at, not arrival; at
// equal captured_at the more restrictive status wins (opted_out over pending
// over opted_in); the same write twice changes nothing. It returns whether
// the write is applied and its outcome. Writes are totally ordered by
// (captured_at, status rank), so every arrival order ends in the same state.
func Apply(cur *Consent, w *ConsentWrite) (applied bool, outcome Outcome) {
	if cur == nil {
		return true, Created
	}
	switch c := CompareWrites(w.CapturedAt, w.Status, cur.CapturedAt, cur.Status); {
	case c > 0:
		return true, Changed
	case c < 0:
		return false, Superseded
	}
	return false, Unchanged
}

// CompareWrites orders two writes of one consent by the rule Apply follows:
// the later captured_at wins, and at equal captured_at the more restrictive
// status. It returns +1 when write a wins over b, -1 when b wins, and 0 when
// neither does (the later arrival of the two changes nothing).
func CompareWrites(aAt time.Time, a Status, bAt time.Time, b Status) int {
	if c := aAt.Compare(bAt); c != 0 {
		return c
	}
	switch ra, rb := a.rank(), b.rank(); {
	case ra > rb:
		return 1
	case ra < rb:
		return -1
	}
	return 0
}

// PlanWrite decides the write w of the consent cur (as stored, or nil when
// there is none; its ContactPoint and ID are set here) at now: the result,
// the log entry to append and, when the write applies, the consent to store
// (res.Consent, its Seq left for the caller). It changes nothing but cur's
// ContactPoint and ID. Every backend writes consents through it: the
// ordering rule (Apply), the outcomes and the log entry are decided here,
// once; a backend reads cur and stores what PlanWrite returns. The entry is
// nil when there is nothing to log: an OnlyOnChange write of the status
// stored already.
func PlanWrite(now time.Time, w *ConsentWrite, ct ChannelType, cp string, hash [32]byte, cur *Consent,
	actor string) (WriteResult, *LogEntry, *Consent) {
	if cur != nil {
		cur.ContactPoint = cp
		cur.ID = ConsentID(cp, ct.ID)
	}
	if w.OnlyOnChange && cur != nil && cur.Status == w.Status {
		return WriteResult{Outcome: Unchanged, Consent: cur}, nil, nil
	}
	applied, outcome := Apply(cur, w)
	entry := &LogEntry{Subject: HashedConsentID(hash, ct.ID), Actor: actor}
	res := WriteResult{Applied: applied, Outcome: outcome, Consent: cur}
	if !applied {
		entry.Type = LogConsentUnchanged
		if outcome == Superseded {
			entry.Type = LogConsentSuperseded
		}
		entry.Before = cur.Logged()
		entry.Write = (&Consent{Status: w.Status, CapturedAt: w.CapturedAt.UTC(), Source: w.Source, Reason: w.Reason,
			PartyID: w.PartyID, Jurisdiction: w.Jurisdiction, Proof: w.Proof, Origin: w.Origin}).Logged()
		return res, entry, nil
	}
	next := &Consent{
		ID: ConsentID(cp, ct.ID), ContactPoint: cp, ChannelType: ct.ID, Purpose: ct.Purpose, Topic: ct.Topic,
		Channel: ct.Channel, Status: w.Status, CapturedAt: w.CapturedAt.UTC(), RecordedAt: now, Version: 1,
		Source: w.Source, Reason: w.Reason, PartyID: w.PartyID, Jurisdiction: w.Jurisdiction, Proof: w.Proof, Origin: w.Origin,
	}
	entry.Type = LogConsentChanged
	if cur != nil {
		next.Version = cur.Version + 1
		if next.PartyID == "" {
			next.PartyID = cur.PartyID
		}
		entry.Before = cur.Logged()
	}
	entry.After = next.Logged()
	res.Consent = next
	return res, entry, next
}
