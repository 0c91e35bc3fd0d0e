package consentd

import (
	"testing"
	"time"
)

func TestRecordedLanguage(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	with := func(lang string, at time.Time) *Consent {
		c := &Consent{CapturedAt: at}
		if lang != "-" {
			c.Proof = &Proof{Language: lang}
		}
		return c
	}
	for _, c := range []struct {
		name     string
		consents []*Consent
		party    *Party
		want     string
	}{
		{"nothing", nil, nil, ""},
		{"party only", []*Consent{with("-", t0)}, &Party{Language: "fr"}, "fr"},
		{"newest consent wins", []*Consent{with("de", t0), with("es", t0.Add(time.Hour)), with("", t0.Add(2*time.Hour))}, &Party{Language: "fr"}, "es"},
		{"order of the list does not matter", []*Consent{with("es", t0.Add(time.Hour)), with("de", t0)}, nil, "es"},
	} {
		if got := RecordedLanguage(c.consents, c.party); got != c.want {
			t.Errorf("%s: got %q; want %q", c.name, got, c.want)
		}
	}
}
