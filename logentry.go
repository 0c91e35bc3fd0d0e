package consentd

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// Log entry types.
const (
	LogConsentChanged    = "consent.changed"
	LogConsentSuperseded = "consent.superseded"
	LogConsentUnchanged  = "consent.unchanged"
	LogSuppressionAdded  = "suppression.added"
	LogSuppressionLifted = "suppression.lifted"
	LogPurposeChanged    = "purpose.changed"
	LogPurposeDeleted    = "purpose.deleted"
	LogTopicChanged      = "topic.changed"
	LogTopicDeleted      = "topic.deleted"
	LogPartyChanged      = "party.changed"
	LogWorkspaceChanged  = "workspace.changed"
	LogPartyErased       = "party.erased"
	LogRuleChanged       = "rule.changed"
	LogRuleDeleted       = "rule.deleted"
)

// LogEntry is one leaf of a workspace's consent log. Its JSON encoding is
// the leaf data that is hashed into the Merkle tree, so field order and
// names are fixed. Contact points appear only as keyed hashes.
type LogEntry struct {
	Seq     int64     `json:"seq"`
	At      time.Time `json:"at"`
	Type    string    `json:"type"`
	Subject string    `json:"subject" doc:"the consent id in hashed form (<contact point hash>#<channel type>), or the id of the suppression, purpose, topic or party"`
	Before  any       `json:"before,omitempty"`
	After   any       `json:"after,omitempty"`
	Write   any       `json:"write,omitempty" doc:"the write that was superseded or unchanged"`
	Actor   string    `json:"actor"`

	// Evidence is "erased" in an entry read back after its evidence was
	// erased, "unreadable" when its leaf does not decode; empty otherwise.
	Evidence string `json:"evidence,omitempty" enum:"erased,unreadable"`
}

// LoggedConsent is a consent's state as the log records it: no plaintext
// contact point.
type LoggedConsent struct {
	Status       Status    `json:"status"`
	CapturedAt   time.Time `json:"captured_at"`
	Version      int64     `json:"version"`
	Source       Source    `json:"source"`
	Reason       string    `json:"reason,omitempty"`
	PartyID      string    `json:"party_id,omitempty"`
	Jurisdiction string    `json:"jurisdiction,omitempty"`
	Proof        *Proof    `json:"proof,omitempty"`
	Origin       string    `json:"origin,omitempty"`
}

// Logged returns c as the log records it.
func (c *Consent) Logged() *LoggedConsent {
	return &LoggedConsent{Status: c.Status, CapturedAt: c.CapturedAt, Version: c.Version, Source: c.Source,
		Reason: c.Reason, PartyID: c.PartyID, Jurisdiction: c.Jurisdiction, Proof: c.Proof, Origin: c.Origin}
}

// ContactPointHash is the keyed hash that stands for a normalized contact
// point everywhere but the one table that holds plaintext: HMAC-SHA256 with
// the workspace's secret over kind ":" value.
func ContactPointHash(secret []byte, kind ContactPointKind, value string) [32]byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(kind))
	m.Write([]byte{':'})
	m.Write([]byte(value))
	var h [32]byte
	m.Sum(h[:0])
	return h
}

// HashedConsentID is the consent id as the log names it: the base64url
// contact point hash, '#', the channel type id.
func HashedConsentID(cpHash [32]byte, channelType string) string {
	return base64.RawURLEncoding.EncodeToString(cpHash[:]) + "#" + channelType
}

// HashedPartyID is the subject of a party's log entries: "party:" and the
// base64url HMAC-SHA256, keyed with the workspace's secret, of the party
// id, which may be personal (a CRM contact id, an email address) and so is
// evidence, not leaf.
func HashedPartyID(secret []byte, partyID string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("party:"))
	m.Write([]byte(partyID))
	return "party:" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// SubjectRange returns the bounds [lo, hi) of the stored log subjects
// (StoredSubject) about one contact point: its consents ("<hash>#<channel
// type>") and suppressions ("<hash>#*").
func SubjectRange(cpHash [32]byte) (lo, hi string) {
	lo = StoredSubject(HashedConsentID(cpHash, ""))
	return lo, lo[:len(lo)-1] + "$" // '$' follows '#'
}

// Base64URLAlphabet is the base64url alphabet, and Base64SortedAlphabet
// the same 64 characters in byte order: StoredSubject maps one onto the
// other.
const (
	Base64URLAlphabet    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	Base64SortedAlphabet = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
)

// subjectTables maps base64url characters to the sorted alphabet's, and back.
var toSorted, fromSorted = subjectTables()

func subjectTables() (to, from [256]byte) {
	for i := range 256 {
		to[i], from[i] = byte(i), byte(i)
	}
	for i := range 64 {
		to[Base64URLAlphabet[i]] = Base64SortedAlphabet[i]
		from[Base64SortedAlphabet[i]] = Base64URLAlphabet[i]
	}
	return to, from
}

// hashedSubject reports whether s starts like a hashed subject: 43
// base64url characters (a 32-byte hash) and '#'.
func hashedSubject(s string) bool {
	if len(s) < 44 || s[43] != '#' {
		return false
	}
	for i := range 43 {
		if c := s[i]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// StoredSubject returns a log subject as the log's tables store it: a
// hashed subject's hash is spelled in base64 over an alphabet in byte
// order, so that stored subjects sort like the hashes, the key order of
// the consents and contact points. An import, which writes in hash order,
// then appends to the subject index rather than splitting its pages all
// over. Other subjects are stored as they are. SubjectFromStored undoes it.
func StoredSubject(s string) string {
	if !hashedSubject(s) {
		return s
	}
	b := []byte(s)
	for i := range 43 {
		b[i] = toSorted[b[i]]
	}
	return string(b)
}

// SubjectFromStored returns the subject a stored one stands for.
func SubjectFromStored(s string) string {
	if !hashedSubject(s) {
		return s
	}
	b := []byte(s)
	for i := range 43 {
		b[i] = fromSorted[b[i]]
	}
	return string(b)
}

// CandidateHashes returns the contact point hashes of raw normalized as
// each kind it normalizes as (with NormalizeStored, as it finds what is
// stored): for filters that do not name the channel.
func CandidateHashes(secret []byte, region, raw string) [][]byte {
	var out [][]byte
	for _, k := range []ContactPointKind{KindEmail, KindPhone, KindCustom} {
		if cp, err := NormalizeStored(k, raw, region); err == nil {
			h := ContactPointHash(secret, k, cp)
			out = append(out, h[:])
		}
	}
	return out
}
