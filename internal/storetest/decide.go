package storetest

import (
	"testing"

	"github.com/consentd/consentd"
)

// testDecisions covers every rule and reason of docs/decisions.md on the
// standard catalog, through the store.
func testDecisions(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	in, out, pending := "opted_in", "opted_out", "pending"
	n := func(cp, status string) consentd.ConsentWrite { return cw(cp, "newsletter", status, e.t0) }
	wk := func(cp, status string) consentd.ConsentWrite { return topic(n(cp, status), "weekly") }
	e.mustWrite(
		n("in@x.test", in), cw("in@x.test", "analytics", in, e.t0),
		n("out@x.test", out), cw("out@x.test", "promo", out, e.t0),
		n("pending@x.test", pending), cw("pending@x.test", "promo", pending, e.t0),
		n("topicout@x.test", in), wk("topicout@x.test", out),
		n("topicpend@x.test", in), wk("topicpend@x.test", pending),
		n("topicin@x.test", in), wk("topicin@x.test", in),
		n("topicnone@x.test", in),
		n("bounce@x.test", in), cw("bounce@x.test", "analytics", in, e.t0),
		n("complaint@x.test", in), n("dnc@x.test", in), n("erased@x.test", in), n("lifted@x.test", in),
		on(n("+4915112345678", in), "sms"), on(n("+4915112345678", in), "whatsapp"),
	)
	for _, sup := range []consentd.SuppressionInput{
		{ContactPoint: "bounce@x.test", Channel: "email", Reason: consentd.SuppressHardBounce},
		{ContactPoint: "complaint@x.test", Reason: consentd.SuppressComplaint},
		{ContactPoint: "dnc@x.test", Reason: consentd.SuppressDoNotContact},
		{ContactPoint: "erased@x.test", Reason: consentd.SuppressErased},
		{ContactPoint: "+4915112345678", Channel: "sms", Reason: consentd.SuppressSMSStop},
		{ContactPoint: "+4915112345679", Reason: consentd.SuppressErased},
	} {
		if _, err := s.AddSuppression(e.ctx, e.ws, sup, "test"); err != nil {
			t.Fatalf("AddSuppression(%s) = %v", sup.ContactPoint, err)
		}
	}
	lifted, err := s.AddSuppression(e.ctx, e.ws, consentd.SuppressionInput{ContactPoint: "lifted@x.test", Reason: consentd.SuppressHardBounce}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSuppression(e.ctx, e.ws, lifted.ID, "test"); err != nil {
		t.Fatal(err)
	}
	size := e.logSize()

	R, NR, D := consentd.Restrictive, consentd.NonRestrictive, consentd.Disabled
	cases := []struct {
		cp, channel, purpose, topic string
		allowed                     bool
		reason                      consentd.Reason
		enforcement                 consentd.Enforcement
		status                      consentd.Status
	}{
		// No record: the enforcement decides.
		{"none@x.test", "email", "newsletter", "", false, consentd.ReasonNoConsent, R, ""},
		{"none@x.test", "email", "promo", "", true, consentd.ReasonNotOptedOut, NR, ""},
		{"none@x.test", "email", "orders", "", true, consentd.ReasonNotOptedOut, NR, ""},
		{"none@x.test", "email", "analytics", "", false, consentd.ReasonNoConsent, R, ""},
		{"none@x.test", "push", "newsletter", "", false, consentd.ReasonChannelNotOffered, "", ""},
		{"none@x.test", "email", "newsletter", "weekly", false, consentd.ReasonPurposeNoConsent, R, ""},
		{"none@x.test", "email", "promo", "deals", true, consentd.ReasonNotOptedOut, NR, ""},
		// The purpose's record.
		{"in@x.test", "email", "newsletter", "", true, consentd.ReasonOptedIn, R, consentd.OptedIn},
		{" IN@X.test", "email", "newsletter", "", true, consentd.ReasonOptedIn, R, consentd.OptedIn},
		{"in@x.test", "email", "analytics", "", true, consentd.ReasonOptedIn, R, consentd.OptedIn},
		{"out@x.test", "email", "newsletter", "", false, consentd.ReasonOptedOut, R, consentd.OptedOut},
		{"out@x.test", "email", "promo", "", false, consentd.ReasonOptedOut, NR, consentd.OptedOut},
		{"pending@x.test", "email", "newsletter", "", false, consentd.ReasonPendingConfirmation, R, consentd.Pending},
		{"pending@x.test", "email", "promo", "", true, consentd.ReasonNotOptedOut, NR, consentd.Pending},
		// Topics, and a topic under a denied purpose.
		{"out@x.test", "email", "newsletter", "weekly", false, consentd.ReasonPurposeOptedOut, R, consentd.OptedOut},
		{"out@x.test", "email", "promo", "deals", false, consentd.ReasonPurposeOptedOut, NR, consentd.OptedOut},
		{"pending@x.test", "email", "newsletter", "weekly", false, consentd.ReasonPurposePendingConfirmation, R, consentd.Pending},
		{"topicout@x.test", "email", "newsletter", "weekly", false, consentd.ReasonTopicOptedOut, R, consentd.OptedOut},
		{"topicpend@x.test", "email", "newsletter", "weekly", false, consentd.ReasonTopicPendingConfirmation, R, consentd.Pending},
		{"topicnone@x.test", "email", "newsletter", "weekly", false, consentd.ReasonTopicNoConsent, R, ""},
		{"topicin@x.test", "email", "newsletter", "weekly", true, consentd.ReasonOptedIn, R, consentd.OptedIn},
		// Suppressions: commercial and tracking only, but erased everything.
		{"bounce@x.test", "email", "newsletter", "", false, consentd.ReasonSuppressed, R, ""},
		{"bounce@x.test", "email", "analytics", "", false, consentd.ReasonSuppressed, R, ""},
		{"bounce@x.test", "email", "orders", "", false, consentd.ReasonSuppressed, NR, ""}, // transactional too: the address does not exist
		{"complaint@x.test", "email", "newsletter", "weekly", false, consentd.ReasonSuppressed, R, ""},
		{"dnc@x.test", "email", "promo", "", false, consentd.ReasonSuppressed, NR, ""},
		{"dnc@x.test", "email", "orders", "", true, consentd.ReasonNotOptedOut, NR, ""},
		{"erased@x.test", "email", "orders", "", false, consentd.ReasonSuppressed, NR, ""},
		{"erased@x.test", "email", "newsletter", "", false, consentd.ReasonSuppressed, R, ""},
		{"lifted@x.test", "email", "newsletter", "", true, consentd.ReasonOptedIn, R, consentd.OptedIn},
		// Channels: a suppression on one channel leaves the others; disabled
		// enforcement skips every check but the suppressions that take
		// transactional messages too (erased, hard_bounce, sms_stop).
		{"+4915112345678", "sms", "newsletter", "", false, consentd.ReasonSuppressed, R, ""},
		{"+49 151 12345678", "whatsapp", "newsletter", "", true, consentd.ReasonOptedIn, R, consentd.OptedIn},
		{"+4915112345678", "sms", "orders", "", false, consentd.ReasonSuppressed, D, ""}, // sms_stop: every text, transactional too
		{"+4915112345670", "sms", "orders", "", true, consentd.ReasonDisabled, D, ""},
		{"+4915112345679", "sms", "orders", "", false, consentd.ReasonSuppressed, D, ""},
	}
	seen := map[consentd.Reason]bool{}
	for _, c := range cases {
		req := &consentd.DecisionRequest{ContactPoint: c.cp, Channel: c.channel, Purpose: c.purpose, Topic: c.topic}
		d, err := s.Decide(e.ctx, e.ws, req)
		if err != nil {
			t.Errorf("Decide(%q) = %v; want %v %s", req, err, c.allowed, c.reason)
			continue
		}
		seen[d.Reason] = true
		if d.Allowed != c.allowed || d.Reason != c.reason || d.Enforcement != c.enforcement || d.Status != c.status {
			t.Errorf("Decide(%q) = %v %s (enforcement %q, status %q); want %v %s (%q, %q)", req, d.Allowed, d.Reason, d.Enforcement, d.Status,
				c.allowed, c.reason, c.enforcement, c.status)
		}
		if d.Seq != size {
			t.Errorf("Decide(%q).Seq = %d; want %d, the log size", req, d.Seq, size)
		}
	}
	for _, r := range []consentd.Reason{consentd.ReasonSuppressed, consentd.ReasonChannelNotOffered, consentd.ReasonDisabled, consentd.ReasonOptedIn,
		consentd.ReasonNotOptedOut, consentd.ReasonOptedOut, consentd.ReasonNoConsent, consentd.ReasonPendingConfirmation, consentd.ReasonTopicOptedOut,
		consentd.ReasonTopicNoConsent, consentd.ReasonTopicPendingConfirmation, consentd.ReasonPurposeOptedOut, consentd.ReasonPurposeNoConsent,
		consentd.ReasonPurposePendingConfirmation} {
		if !seen[r] {
			t.Errorf("no decision case answered %s", r)
		}
	}
	d, err := s.Decide(e.ctx, e.ws, &consentd.DecisionRequest{ContactPoint: " In@X.test", Channel: "email", Purpose: "newsletter", Topic: "weekly"})
	if err != nil || d.ContactPoint != "in@x.test" || d.ConsentID != "in@x.test#weekly:email" {
		t.Errorf("Decide(topic).ContactPoint, ConsentID = %q, %q, %v; want in@x.test, in@x.test#weekly:email", d.ContactPoint, d.ConsentID, err)
	}

	// A decision follows the last acknowledged write at once.
	e.mustWrite(n("in@x.test", out))
	d, err = s.Decide(e.ctx, e.ws, &consentd.DecisionRequest{ContactPoint: "in@x.test", Channel: "email", Purpose: "newsletter"})
	if err != nil || d.Allowed || d.Reason != consentd.ReasonOptedOut || d.Seq != size+1 {
		t.Errorf("Decide(in@x.test) after an opt-out = %+v, %v; want opted_out at seq %d", d, err, size+1)
	}
}

func testDecisionErrors(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	for _, c := range []struct {
		req  consentd.DecisionRequest
		want string
	}{
		{consentd.DecisionRequest{ContactPoint: "a@x.test", Channel: "email", Purpose: "nothere"}, consentd.EUNKNOWNPURPOSE},
		{consentd.DecisionRequest{ContactPoint: "a@x.test", Channel: "email", Purpose: "newsletter", Topic: "nothere"}, consentd.EUNKNOWNTOPIC},
		{consentd.DecisionRequest{ContactPoint: "a@x.test", Channel: "email", Purpose: "newsletter", Topic: "deals"}, consentd.EUNKNOWNTOPIC},
		{consentd.DecisionRequest{ContactPoint: "not an address", Channel: "email", Purpose: "newsletter"}, consentd.EINVALIDCONTACTPOINT},
		{consentd.DecisionRequest{ContactPoint: "12345", Channel: "sms", Purpose: "newsletter"}, consentd.EINVALIDCONTACTPOINT},
		{consentd.DecisionRequest{ContactPoint: "a@x.test", Channel: "", Purpose: "newsletter"}, consentd.EINVALID},
		{consentd.DecisionRequest{ContactPoint: "a@x.test", Channel: "E-Mail", Purpose: "newsletter"}, consentd.EINVALID},
	} {
		d, err := s.Decide(e.ctx, e.ws, &c.req)
		if consentd.ErrorCode(err) != c.want {
			t.Errorf("Decide(%q) = %+v, %v; want error %s", &c.req, d, err, c.want)
		}
	}
}
