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
