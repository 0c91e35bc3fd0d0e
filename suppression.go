package consentd

import "time"

// SuppressionReason says why a contact point is suppressed.
type SuppressionReason string

// Suppression reasons.
const (
	SuppressErased       SuppressionReason = "erased"
	SuppressDoNotContact SuppressionReason = "do_not_contact"
	SuppressHardBounce   SuppressionReason = "hard_bounce"
	SuppressComplaint    SuppressionReason = "complaint"
	SuppressSMSStop      SuppressionReason = "sms_stop"
)

// Valid reports whether r is a known reason.
func (r SuppressionReason) Valid() bool {
	switch r {
	case SuppressErased, SuppressDoNotContact, SuppressHardBounce, SuppressComplaint, SuppressSMSStop:
		return true
	}
	return false
}

// Suppression blocks a contact point regardless of per-purpose consent;
// Covers says for which purposes. Channel "" covers every channel.
type Suppression struct {
	ID           string            `json:"id"`
	ContactPoint string            `json:"contact_point,omitempty" doc:"empty once the address was erased"`
	Kind         ContactPointKind  `json:"kind" enum:"email,phone,custom"`
	Channel      string            `json:"channel,omitempty" doc:"empty = every channel"`
	Reason       SuppressionReason `json:"reason" enum:"erased,do_not_contact,hard_bounce,complaint,sms_stop"`
	Note         string            `json:"note,omitempty"`
	CreatedAt    time.Time         `json:"created_at"`
	Seq          int64             `json:"seq"`
}

// Covers reports whether the suppression applies to a message of purpose
// type pt on channel: an erased address, an address that does not exist
// (hard_bounce) and a number that replied STOP (sms_stop: carriers block
// every text from the sender after it, so a transactional text would not
// arrive either) take every purpose on their channel, transactional too,
// also with enforcement disabled; the others take commercial and tracking
// purposes.
func (s *Suppression) Covers(pt PurposeType, channel string) bool {
	if s.Channel != "" && s.Channel != channel {
		return false
	}
	switch s.Reason {
	case SuppressErased, SuppressHardBounce, SuppressSMSStop:
		return true
	}
	return pt == Commercial || pt == Tracking
}
