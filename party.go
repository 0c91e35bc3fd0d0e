package consentd

import "time"

// PartyContactPoint is one address of a party.
type PartyContactPoint struct {
	Kind  ContactPointKind `json:"kind" enum:"email,phone,custom"`
	Value string           `json:"value"`
}

// Party is the person behind several contact points.
type Party struct {
	ID            string              `json:"id"`
	ContactPoints []PartyContactPoint `json:"contact_points"`
	ExternalIDs   map[string]string   `json:"external_ids,omitempty"`
	CreatedAt     time.Time           `json:"created_at"`
	UpdatedAt     time.Time           `json:"updated_at"`
}

// ValidPartyID reports whether s can be a party id: 1 to 200 printable
// bytes without '/' (it is a path segment).
func ValidPartyID(s string) bool {
	if len(s) == 0 || len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f || s[i] == '/' {
			return false
		}
	}
	return true
}
