package consentd_test

import (
	"testing"

	"github.com/consentd/consentd"
)

func purpose(t consentd.PurposeType, e consentd.Enforcement) *consentd.Purpose {
	return &consentd.Purpose{ID: "p", Type: t, Channels: map[string]consentd.ChannelSetting{"email": {Enforcement: e}}}
}

var (
	restrictive    = purpose(consentd.Commercial, consentd.Restrictive)
	nonRestrictive = purpose(consentd.Commercial, consentd.NonRestrictive)
	transactional  = purpose(consentd.Transactional, consentd.NonRestrictive)
	disabled       = purpose(consentd.Transactional, consentd.Disabled)
	tracking       = purpose(consentd.Tracking, consentd.Restrictive)
	topic          = &consentd.Topic{ID: "t", Purpose: "p"}
)

// smsPurpose is a purpose of type t offered on sms with enforcement e.
func smsPurpose(t consentd.PurposeType, e consentd.Enforcement) *consentd.Purpose {
	return &consentd.Purpose{ID: "p", Type: t, Channels: map[string]consentd.ChannelSetting{"sms": {Enforcement: e}}}
}

func sup(r consentd.SuppressionReason, channel string) []consentd.Suppression {
	return []consentd.Suppression{{Reason: r, Channel: channel}}
}

// TestDecide has one row per rule of docs/decisions.md.
func TestDecide(t *testing.T) {
	const (
		in  = consentd.OptedIn
		out = consentd.OptedOut
		pen = consentd.Pending
	)
	tests := []struct {
		name    string
		in      consentd.DecisionInput
		allowed bool
		reason  consentd.Reason
	}{
		// 1. suppressions
		{"suppressed do_not_contact, commercial", consentd.DecisionInput{Purpose: restrictive, Channel: "email", PurposeState: in, Suppressions: sup(consentd.SuppressDoNotContact, "")}, false, consentd.ReasonSuppressed},
		{"suppressed hard_bounce on the channel", consentd.DecisionInput{Purpose: nonRestrictive, Channel: "email", Suppressions: sup(consentd.SuppressHardBounce, "email")}, false, consentd.ReasonSuppressed},
		{"suppression on another channel does not apply", consentd.DecisionInput{Purpose: nonRestrictive, Channel: "email", Suppressions: sup(consentd.SuppressSMSStop, "sms")}, true, consentd.ReasonNotOptedOut},
		{"suppressed tracking purpose", consentd.DecisionInput{Purpose: tracking, Channel: "email", PurposeState: in, Suppressions: sup(consentd.SuppressComplaint, "")}, false, consentd.ReasonSuppressed},
		{"do_not_contact does not cover transactional", consentd.DecisionInput{Purpose: transactional, Channel: "email", Suppressions: sup(consentd.SuppressDoNotContact, "")}, true, consentd.ReasonNotOptedOut},
		{"erased covers transactional", consentd.DecisionInput{Purpose: transactional, Channel: "email", PurposeState: in, Suppressions: sup(consentd.SuppressErased, "")}, false, consentd.ReasonSuppressed},
		{"erased covers disabled enforcement", consentd.DecisionInput{Purpose: disabled, Channel: "email", Suppressions: sup(consentd.SuppressErased, "")}, false, consentd.ReasonSuppressed},
		{"sms_stop covers transactional", consentd.DecisionInput{Purpose: smsPurpose(consentd.Transactional, consentd.NonRestrictive), Channel: "sms", PurposeState: in, Suppressions: sup(consentd.SuppressSMSStop, "sms")}, false, consentd.ReasonSuppressed},
		{"sms_stop covers disabled enforcement", consentd.DecisionInput{Purpose: smsPurpose(consentd.Transactional, consentd.Disabled), Channel: "sms", Suppressions: sup(consentd.SuppressSMSStop, "sms")}, false, consentd.ReasonSuppressed},
		{"sms_stop covers commercial", consentd.DecisionInput{Purpose: smsPurpose(consentd.Commercial, consentd.Restrictive), Channel: "sms", PurposeState: in, Suppressions: sup(consentd.SuppressSMSStop, "sms")}, false, consentd.ReasonSuppressed},
		{"do_not_contact does not cover disabled", consentd.DecisionInput{Purpose: disabled, Channel: "email", Suppressions: sup(consentd.SuppressDoNotContact, "")}, true, consentd.ReasonDisabled},
		// 2. purpose
		{"channel not offered", consentd.DecisionInput{Purpose: restrictive, Channel: "sms", PurposeState: in}, false, consentd.ReasonChannelNotOffered},
		{"opted out", consentd.DecisionInput{Purpose: nonRestrictive, Channel: "email", PurposeState: out}, false, consentd.ReasonOptedOut},
		{"opted in, restrictive", consentd.DecisionInput{Purpose: restrictive, Channel: "email", PurposeState: in}, true, consentd.ReasonOptedIn},
		{"no record, non_restrictive", consentd.DecisionInput{Purpose: nonRestrictive, Channel: "email"}, true, consentd.ReasonNotOptedOut},
		{"pending, non_restrictive", consentd.DecisionInput{Purpose: nonRestrictive, Channel: "email", PurposeState: pen}, true, consentd.ReasonNotOptedOut},
		{"no record, restrictive", consentd.DecisionInput{Purpose: restrictive, Channel: "email"}, false, consentd.ReasonNoConsent},
		{"pending, restrictive", consentd.DecisionInput{Purpose: restrictive, Channel: "email", PurposeState: pen}, false, consentd.ReasonPendingConfirmation},
		{"disabled skips the record", consentd.DecisionInput{Purpose: disabled, Channel: "email", PurposeState: out}, true, consentd.ReasonDisabled},
		// 3. topic
		{"topic opted in under opted-in purpose", consentd.DecisionInput{Purpose: restrictive, Topic: topic, Channel: "email", PurposeState: in, TopicState: in}, true, consentd.ReasonOptedIn},
		{"topic opted out", consentd.DecisionInput{Purpose: restrictive, Topic: topic, Channel: "email", PurposeState: in, TopicState: out}, false, consentd.ReasonTopicOptedOut},
		{"topic no record, restrictive", consentd.DecisionInput{Purpose: restrictive, Topic: topic, Channel: "email", PurposeState: in}, false, consentd.ReasonTopicNoConsent},
		{"topic pending, restrictive", consentd.DecisionInput{Purpose: restrictive, Topic: topic, Channel: "email", PurposeState: in, TopicState: pen}, false, consentd.ReasonTopicPendingConfirmation},
		{"topic no record, non_restrictive", consentd.DecisionInput{Purpose: nonRestrictive, Topic: topic, Channel: "email"}, true, consentd.ReasonNotOptedOut},
		{"purpose opted out hides topic opt-in", consentd.DecisionInput{Purpose: restrictive, Topic: topic, Channel: "email", PurposeState: out, TopicState: in}, false, consentd.ReasonPurposeOptedOut},
		{"purpose no consent hides topic opt-in", consentd.DecisionInput{Purpose: restrictive, Topic: topic, Channel: "email", TopicState: in}, false, consentd.ReasonPurposeNoConsent},
		{"purpose pending hides topic opt-in", consentd.DecisionInput{Purpose: restrictive, Topic: topic, Channel: "email", PurposeState: pen, TopicState: in}, false, consentd.ReasonPurposePendingConfirmation},
		// 4. transactional and tracking follow the same rules
		{"transactional opted out", consentd.DecisionInput{Purpose: transactional, Channel: "email", PurposeState: out}, false, consentd.ReasonOptedOut},
		{"tracking no record", consentd.DecisionInput{Purpose: tracking, Channel: "email"}, false, consentd.ReasonNoConsent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := consentd.Decide(&tt.in)
			if got.Allowed != tt.allowed || got.Reason != tt.reason {
				t.Errorf("Decide(%s) = %v, %q; want %v, %q", tt.name, got.Allowed, got.Reason, tt.allowed, tt.reason)
			}
		})
	}
}

func BenchmarkDecide(b *testing.B) {
	in := consentd.DecisionInput{Purpose: restrictive, Topic: topic, Channel: "email", PurposeState: consentd.OptedIn, TopicState: consentd.OptedIn}
	b.ReportAllocs()
	for b.Loop() {
		if d := consentd.Decide(&in); !d.Allowed {
			b.Fatal(d)
		}
	}
}

// TestHardBounceBlocksTransactional: an address that does not exist gets
// no message at all on its channel, not even a transactional one with
// enforcement disabled; a do_not_contact leaves transactional mail alone.
func TestHardBounceBlocksTransactional(t *testing.T) {
	orders := &consentd.Purpose{ID: "orders", Type: consentd.Transactional, Channels: map[string]consentd.ChannelSetting{"email": {Enforcement: consentd.Disabled}}}
	for _, c := range []struct {
		reason  consentd.SuppressionReason
		allowed bool
	}{
		{consentd.SuppressHardBounce, false},
		{consentd.SuppressErased, false},
		{consentd.SuppressDoNotContact, true},
		{consentd.SuppressComplaint, true},
	} {
		in := consentd.DecisionInput{Purpose: orders, Channel: "email", Suppressions: []consentd.Suppression{{Reason: c.reason, Channel: "email"}}}
		if d := consentd.Decide(&in); d.Allowed != c.allowed {
			t.Errorf("Decide(transactional, %s) = %+v; want allowed %v", c.reason, d, c.allowed)
		}
	}
}
