package consentd

import (
	"time"
	"unicode/utf8"
)

// PartyContactPoint is one address of a party.
type PartyContactPoint struct {
	Kind  ContactPointKind `json:"kind" enum:"email,phone,custom"`
	Value string           `json:"value" max:"1024"`
}

// Party is the person behind several contact points.
type Party struct {
	ID            string              `json:"id"`
	ContactPoints []PartyContactPoint `json:"contact_points"`
	ExternalIDs   map[string]string   `json:"external_ids,omitempty"`
	Language      string              `json:"language,omitempty" doc:"the person's language (BCP 47): pages, mails and texts use it when a consent records none"`
	CreatedAt     time.Time           `json:"created_at"`
	UpdatedAt     time.Time           `json:"updated_at"`
}

// MaxPartyIDLen is the longest party id, in bytes.
const MaxPartyIDLen = 200

// ValidPartyID reports whether s can be a party id: 1 to MaxPartyIDLen
// bytes of valid UTF-8 without control characters or '/' (it is a path
// segment).
func ValidPartyID(s string) bool {
	if len(s) == 0 || len(s) > MaxPartyIDLen || !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f || s[i] == '/' {
			return false
		}
	}
	return true
}

// RecordedLanguage returns the language recorded for a person: the
// language of the newest of consents (by captured_at) whose proof records
// one, else the party's, else "". Pages, mails and texts prefer it to the
// browser's Accept-Language.
func RecordedLanguage(consents []*Consent, party *Party) string {
	var lang string
	var at time.Time
	for _, c := range consents {
		if c == nil || c.Proof == nil || c.Proof.Language == "" {
			continue
		}
		if lang == "" || c.CapturedAt.After(at) {
			lang, at = c.Proof.Language, c.CapturedAt
		}
	}
	if lang == "" && party != nil {
		lang = party.Language
	}
	return lang
}

// PartyLogged is what a party.changed log entry records of a party: its
// id, its contact points as hashed consent ids (logged), its external ids
// and, when set, its language.
func PartyLogged(p *Party, logged []string) map[string]any {
	m := map[string]any{"id": p.ID, "contact_points": logged, "external_ids": p.ExternalIDs}
	if p.Language != "" {
		m["language"] = p.Language
	}
	return m
}
