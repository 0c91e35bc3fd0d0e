package doitest

import (
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// testConfirmLiftsHardBounce: a hard bounce blocks an address until it is
// lifted or the person opts in again successfully; a double opt-in
// confirmed from a link in a mail is that proof, so it lifts the address's
// hard_bounce suppressions on email (and only those), each logged.
func testConfirmLiftsHardBounce(t *testing.T, e *env) {
	const cp = "bounced@example.com"
	for _, in := range []consentd.SuppressionInput{
		{ContactPoint: cp, Kind: consentd.KindEmail, Channel: consentd.ChannelEmail, Reason: consentd.SuppressHardBounce, Note: "feed"},
		{ContactPoint: cp, Kind: consentd.KindEmail, Reason: consentd.SuppressHardBounce, Note: "all channels"},
		{ContactPoint: cp, Kind: consentd.KindEmail, Reason: consentd.SuppressComplaint, Note: "stays"},
		{ContactPoint: "other@example.com", Kind: consentd.KindEmail, Channel: consentd.ChannelEmail, Reason: consentd.SuppressHardBounce, Note: "another address"},
	} {
		if _, err := e.s.AddSuppression(e.ctx, e.ws, in, "test"); err != nil {
			t.Fatalf("AddSuppression(%+v) = %v", in, err)
		}
	}
	c := e.pending(cp, e.t0)
	e.issue(c, "nb", time.Time{})
	size := e.logSize()
	if res := e.confirm("nb"); res.Outcome != consentd.ConfirmConfirmed {
		t.Fatalf("ConfirmConsent() = %s; want confirmed", res.Outcome)
	}
	if got := e.logSize() - size; got != 3 {
		t.Errorf("confirming logged %d entries; want 3 (the opt-in and two suppression.lifted)", got)
	}
	sups, err := e.s.Suppressions(e.ctx, e.ws)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, s := range sups {
		left = append(left, s.ContactPoint+" "+string(s.Reason))
	}
	if len(sups) != 2 || !(containsAll(left, cp+" complaint", "other@example.com hard_bounce")) {
		t.Errorf("suppressions after the confirmation = %v; want the complaint and the other address's hard bounce only", left)
	}
}

func containsAll(list []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, l := range list {
			found = found || l == w
		}
		if !found {
			return false
		}
	}
	return true
}
