package consentd

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"
)

// ConfirmationTTL is how long a double opt-in confirmation can be used.
// After it the request is kept, as proof that it was made, but refuses.
const ConfirmationTTL = 28 * 24 * time.Hour

// DoubleOptInRequired reports whether w must be confirmed before it counts:
// w opts in to a purpose, or a topic of a purpose, whose double_opt_in is
// "always" or lists w's jurisdiction ("DE" matches "DE" and "DE-BY"), and
// w's source is not itself a double opt-in confirmation. A write without a
// jurisdiction needs confirmation only where the purpose says "always". A
// write that does not resolve against cat is not required to (it is refused
// anyway).
func DoubleOptInRequired(cat *Catalog, w *ConsentWrite) bool {
	if w.Status != OptedIn || w.Source.Type == SourceDoubleOptIn {
		return false
	}
	var ct ChannelType
	var err error
	if w.ChannelType != "" {
		ct, err = cat.ResolveID(w.ChannelType)
	} else {
		ct, err = cat.Resolve(w.Purpose, w.Topic, w.Channel)
	}
	if err != nil {
		return false
	}
	p := cat.Purposes[ct.Purpose]
	return p != nil && p.NeedsDoubleOptIn(w.Jurisdiction)
}

// Confirmation is one double opt-in request: the record behind a
// single-use confirmation link. It names the pending consent by contact
// point hash and channel type, and the consent's version and log seq when
// it was issued: a confirmation counts only while the consent is still
// that version, so that a replayed or late confirmation never undoes a
// later change (an opt-out, say).
type Confirmation struct {
	WorkspaceID    string
	Nonce          string // random, the token's Nonce claim; unique in the workspace
	CPHash         [32]byte
	CPKind         ContactPointKind
	ContactPoint   string // plaintext, as the store holds it; "" once erased
	ChannelType    string
	ConsentVersion int64 // the pending consent's version at issue
	ConsentSeq     int64 // the log entry that made it pending
	Proof          *Proof
	IssuedAt       time.Time
	ExpiresAt      time.Time

	// Set by the confirmation.
	UsedAt           *time.Time
	ConfirmIP        string
	ConfirmUserAgent string
	ConfirmedSeq     int64 // the log entry of the opt-in it made

	// The confirmation's message (mail or SMS): when it was sent, the
	// attempts and the last error. The job that sends it (kinds
	// confirmation_mail, confirmation_sms) schedules the attempts;
	// NextSendAt is the schedule of the outbox that came before the job
	// queue, nil since the migration that moved it into jobs.
	SentAt       *time.Time
	SendAttempts int
	SendError    string
	NextSendAt   *time.Time
}

// ConfirmationInput asks a store to record a confirmation for a pending
// consent that a write has just stored.
type ConfirmationInput struct {
	ContactPoint   string // normalized, as the consent holds it
	ChannelType    string // the channel type's own id
	ConsentVersion int64  // the pending consent's version, as the write left it
	Proof          *Proof // the request's: ip, user agent, form version
	Nonce          string
	ExpiresAt      time.Time // zero: issued at plus ConfirmationTTL
}

// ConfirmRequest is the person's confirmation: where it came from. A
// confirmation by SMS reply (YES to the confirmation text) has Reply, the
// stored inbound message, and no IP or user agent.
type ConfirmRequest struct {
	IP        string
	UserAgent string
	Reply     *InboundMessage
	// Language and Text are what the confirmation page showed the person:
	// its language and the exact statement they confirmed, as plain text.
	// The opt-in's proof records them, with Text's SHA-256. A confirmation
	// by SMS reply has none.
	Language string
	Text     string
}

// maxConfirmText is the longest proof text a confirmation records, in bytes (Proof.Text's max).
const maxConfirmText = 8192

// ConfirmOutcome is what a confirmation did.
type ConfirmOutcome string

// Confirmation outcomes. Only ConfirmConfirmed writes anything.
const (
	ConfirmConfirmed ConfirmOutcome = "confirmed"         // opted_in written, the confirmation used
	ConfirmUsed      ConfirmOutcome = "already_confirmed" // single use: it was used before
	ConfirmExpired   ConfirmOutcome = "expired"           // past ExpiresAt
	ConfirmStale     ConfirmOutcome = "stale"             // the consent changed since it was issued
	ConfirmNotFound  ConfirmOutcome = "not_found"         // no such confirmation
)

// ConfirmResult is the answer to a confirmation: its outcome, the
// confirmation as it is now (nil when not found), and with
// ConfirmConfirmed the consent as the opt-in left it.
type ConfirmResult struct {
	Outcome      ConfirmOutcome
	Confirmation *Confirmation
	Consent      *Consent
}

// Confirms reports whether f may still confirm cur, the stored consent it
// names (nil when there is none): cur is the pending state f was issued
// for, not changed since.
func (f *Confirmation) Confirms(cur *Consent) bool {
	return cur != nil && cur.Status == Pending && cur.Version == f.ConsentVersion && cur.Seq == f.ConsentSeq
}

// confirmationDetails is the source details of a confirmation's opt-in:
// which request it confirms, and where the confirmation came from.
type confirmationDetails struct {
	Confirmation     string    `json:"confirmation"`
	RequestedAt      time.Time `json:"requested_at"`
	RequestSeq       int64     `json:"request_seq"`
	ConfirmIP        string    `json:"confirm_ip,omitempty"`
	ConfirmUserAgent string    `json:"confirm_user_agent,omitempty"`
	// A confirmation by SMS reply: the stored reply and the provider's
	// message, the proof of the confirmation.
	InboundID  string     `json:"inbound_id,omitempty"`
	Provider   string     `json:"provider,omitempty"`
	MessageID  string     `json:"message_id,omitempty"`
	ReceivedAt *time.Time `json:"received_at,omitempty"`
}

// ConfirmationWrite is the opt-in that confirming f writes over cur (see
// Confirms): opted_in, captured now (just after cur when the clocks
// disagree, so that it orders after the request it confirms), source
// double_opt_in, the party and jurisdiction of the request, and as proof
// the request's ip, user agent, form and text version with confirmed_at,
// and the language and text of the page the person confirmed on (with the
// text's SHA-256);
// the confirmation's own ip and user agent are in the source details. A
// confirmation by SMS reply is captured when the provider received the
// reply, with source name "sms reply" and the reply's id, provider,
// message id and time in the details.
func (f *Confirmation) ConfirmationWrite(cur *Consent, req ConfirmRequest, now time.Time) ConsentWrite {
	at := now.UTC()
	name := "confirmation link"
	if req.Reply != nil {
		at, name = req.Reply.ReceivedAt.UTC(), "sms reply"
	}
	if !at.After(cur.CapturedAt) {
		at = cur.CapturedAt.Add(time.Microsecond)
	}
	confirmed := at
	proof := &Proof{ConfirmedAt: &confirmed}
	if f.Proof != nil {
		// Through CapturedProof: a confirmation stored before proofs were
		// checked may hold an ip that is no address, which would make
		// this write, and so the person's confirmation, fail.
		p := CapturedProof(f.Proof.IP, f.Proof.UserAgent, f.Proof.FormVersion)
		proof.IP, proof.UserAgent, proof.FormVersion, proof.TextVersion = p.IP, p.UserAgent, p.FormVersion, f.Proof.TextVersion
	}
	if req.Language != "" {
		proof.Language = truncate(req.Language, 35)
	}
	if req.Text != "" {
		proof.Text = truncate(req.Text, maxConfirmText)
		sum := sha256.Sum256([]byte(proof.Text))
		proof.TextSHA256 = hex.EncodeToString(sum[:])
	}
	d := confirmationDetails{Confirmation: f.Nonce, RequestedAt: f.IssuedAt.UTC(), RequestSeq: f.ConsentSeq,
		ConfirmIP: truncate(req.IP, 100), ConfirmUserAgent: truncate(req.UserAgent, 500)}
	if m := req.Reply; m != nil {
		received := m.ReceivedAt.UTC()
		d.InboundID, d.Provider, d.MessageID, d.ReceivedAt = m.ID, m.Provider, m.MessageID, &received
	}
	details, _ := json.Marshal(d)
	return ConsentWrite{
		ContactPoint: f.ContactPoint,
		ChannelType:  f.ChannelType,
		Status:       OptedIn,
		CapturedAt:   at,
		Source:       Source{Type: SourceDoubleOptIn, Name: name, Details: details},
		PartyID:      cur.PartyID,
		Jurisdiction: cur.Jurisdiction,
		Proof:        proof,
	}
}

// truncate cuts s to at most n bytes at a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// MaskContactPoint hides most of a contact point, for answers and pages
// that confirm where a message went without repeating the address:
// "jane@example.com" -> "j***@e***.com", "+4915112345678" -> "+49*********78".
func MaskContactPoint(cp string) string {
	if at := strings.LastIndexByte(cp, '@'); at > 0 {
		local, domain := cp[:at], cp[at+1:]
		tld := ""
		if dot := strings.LastIndexByte(domain, '.'); dot > 0 {
			domain, tld = domain[:dot], domain[dot:]
		}
		return first(local) + "***@" + first(domain) + "***" + tld
	}
	if strings.HasPrefix(cp, "+") && len(cp) > 6 {
		return cp[:3] + strings.Repeat("*", len(cp)-5) + cp[len(cp)-2:]
	}
	if n := utf8.RuneCountInString(cp); n > 2 {
		return first(cp) + strings.Repeat("*", n-1)
	}
	return "***"
}

func first(s string) string {
	_, n := utf8.DecodeRuneInString(s)
	return s[:n]
}
