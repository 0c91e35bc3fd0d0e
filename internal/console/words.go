package console

import "github.com/consentd/consentd"

// reasonWords says each decision reason in words an operator reads
// without the reference (docs/decisions.md has the rules).
var reasonWords = map[consentd.Reason]string{
	consentd.ReasonSuppressed:                 "the contact point is suppressed",
	consentd.ReasonChannelNotOffered:          "the purpose is not offered on this channel",
	consentd.ReasonDisabled:                   "consent is not checked for this purpose on this channel",
	consentd.ReasonOptedIn:                    "they opted in",
	consentd.ReasonNotOptedOut:                "they have not opted out, and none is needed",
	consentd.ReasonOptedOut:                   "they opted out",
	consentd.ReasonNoConsent:                  "there is no opt-in, and one is needed",
	consentd.ReasonPendingConfirmation:        "the opt-in waits for its confirmation",
	consentd.ReasonTopicOptedOut:              "they opted out of this topic",
	consentd.ReasonTopicNoConsent:             "there is no opt-in to this topic, and one is needed",
	consentd.ReasonTopicPendingConfirmation:   "the opt-in to this topic waits for its confirmation",
	consentd.ReasonPurposeOptedOut:            "they opted out of the topic's purpose",
	consentd.ReasonPurposeNoConsent:           "there is no opt-in to the topic's purpose, and one is needed",
	consentd.ReasonPurposePendingConfirmation: "the opt-in to the topic's purpose waits for its confirmation",
}

// decisionWords says a decision: "will send, because …" or "will not
// send, because …" (the reason's code when it has no words yet).
func decisionWords(d consentd.Decision) string {
	why, ok := reasonWords[d.Reason]
	if !ok {
		why = string(d.Reason)
	}
	if d.Allowed {
		return "will send, because " + why
	}
	return "will not send, because " + why
}
