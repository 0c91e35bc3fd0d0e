package consentd

// Reason explains a decision. The values are part of the public contract.
type Reason string

// Decision reasons, docs/decisions.md.
const (
	ReasonSuppressed                 Reason = "suppressed"
	ReasonChannelNotOffered          Reason = "channel_not_offered"
	ReasonDisabled                   Reason = "disabled"
	ReasonOptedIn                    Reason = "opted_in"
	ReasonNotOptedOut                Reason = "not_opted_out"
	ReasonOptedOut                   Reason = "opted_out"
	ReasonNoConsent                  Reason = "no_consent"
	ReasonPendingConfirmation        Reason = "pending_confirmation"
	ReasonTopicOptedOut              Reason = "topic_opted_out"
	ReasonTopicNoConsent             Reason = "topic_no_consent"
	ReasonTopicPendingConfirmation   Reason = "topic_pending_confirmation"
	ReasonPurposeOptedOut            Reason = "purpose_opted_out"
	ReasonPurposeNoConsent           Reason = "purpose_no_consent"
	ReasonPurposePendingConfirmation Reason = "purpose_pending_confirmation"
)

// DecisionInput is everything a decision needs, already looked up: the
// purpose, the optional topic, the channel, the stored statuses of the
// purpose's and the topic's consent ("" when there is no record), and the
// reasons and channels of the contact point's suppressions.
type DecisionInput struct {
	Purpose      *Purpose
	Topic        *Topic // nil when no topic is named
	Channel      string
	PurposeState Status // "" = no record
	TopicState   Status // "" = no record
	Suppressions []Suppression
}

// Decision is the answer to "may I send this?".
type Decision struct {
	Allowed     bool        `json:"allowed"`
	Reason      Reason      `json:"reason" enum:"suppressed,channel_not_offered,disabled,opted_in,not_opted_out,opted_out,no_consent,pending_confirmation,topic_opted_out,topic_no_consent,topic_pending_confirmation,purpose_opted_out,purpose_no_consent,purpose_pending_confirmation"`
	Enforcement Enforcement `json:"enforcement,omitempty" enum:"restrictive,non_restrictive,disabled"`
	// Status is the stored status of the consent that decided: the topic's
	// when a topic is named and the purpose passed, else the purpose's.
	Status Status `json:"status,omitempty" enum:"opted_in,opted_out,pending"`
}

// Decide applies the decision rules of docs/decisions.md. It is a pure
// function: no I/O, no allocation.
func Decide(in *DecisionInput) Decision {
	p := in.Purpose
	setting, offered := p.Channels[in.Channel]
	e := setting.Enforcement

	// 1. Suppressions. An erased suppression blocks everything, even
	// disabled enforcement; the others block commercial and tracking.
	for i := range in.Suppressions {
		if in.Suppressions[i].Covers(p.Type, in.Channel) {
			return Decision{Reason: ReasonSuppressed, Enforcement: e}
		}
	}
	if !offered {
		return Decision{Reason: ReasonChannelNotOffered}
	}
	if e == Disabled {
		return Decision{Allowed: true, Reason: ReasonDisabled, Enforcement: e}
	}

	// 2. The purpose.
	allowed, reason := check(in.PurposeState, e)
	if in.Topic == nil {
		return Decision{Allowed: allowed, Reason: reason, Enforcement: e, Status: in.PurposeState}
	}
	if !allowed {
		return Decision{Reason: purposeReason(reason), Enforcement: e, Status: in.PurposeState}
	}

	// 3. The topic, with the purpose's enforcement.
	allowed, reason = check(in.TopicState, e)
	if !allowed {
		reason = topicReason(reason)
	}
	return Decision{Allowed: allowed, Reason: reason, Enforcement: e, Status: in.TopicState}
}

// check applies rule 2 to one record.
func check(s Status, e Enforcement) (bool, Reason) {
	switch {
	case s == OptedOut:
		return false, ReasonOptedOut
	case s == OptedIn:
		return true, ReasonOptedIn
	case e == NonRestrictive:
		return true, ReasonNotOptedOut
	case s == Pending:
		return false, ReasonPendingConfirmation
	default:
		return false, ReasonNoConsent
	}
}

func purposeReason(r Reason) Reason {
	switch r {
	case ReasonOptedOut:
		return ReasonPurposeOptedOut
	case ReasonPendingConfirmation:
		return ReasonPurposePendingConfirmation
	}
	return ReasonPurposeNoConsent
}

func topicReason(r Reason) Reason {
	switch r {
	case ReasonOptedOut:
		return ReasonTopicOptedOut
	case ReasonPendingConfirmation:
		return ReasonTopicPendingConfirmation
	}
	return ReasonTopicNoConsent
}
