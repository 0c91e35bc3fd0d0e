package natspub

import "testing"

func TestSubject(t *testing.T) {
	for _, c := range []struct{ ws, typ, want string }{
		{"default", "consent.changed", "consentd.default.consent.changed"},
		{"acme-eu_1", "suppression.added", "consentd.acme-eu_1.suppression.added"},
		{"a.b c*>", "party.erased", "consentd.a_b_c__.party.erased"},
		{"", "consent.changed", "consentd._.consent.changed"},
	} {
		if got := Subject(c.ws, c.typ); got != c.want {
			t.Errorf("Subject(%q, %q) = %q; want %q", c.ws, c.typ, got, c.want)
		}
	}
}
