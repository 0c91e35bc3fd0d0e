package web

import (
	"testing"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/i18n"
)

// TestSourceTextNamesEveryType: the record says in words where each kind
// of consent came from, never the bare source type.
func TestSourceTextNamesEveryType(t *testing.T) {
	for _, typ := range []string{consentd.SourceForm, consentd.SourcePreferenceCenter, consentd.SourceUnsubscribeLink, consentd.SourceImport,
		consentd.SourceAPI, consentd.SourceAgent, consentd.SourceAutomation, consentd.SourceDoubleOptIn, consentd.SourceDSR, consentd.SourceGPC,
		consentd.SourceSync, consentd.SourceProviderFeed, consentd.SourceSMSKeyword} {
		if !consentd.ValidSourceType(typ) {
			t.Fatalf("%s is not a valid source type", typ)
		}
		for _, lang := range i18n.Supported {
			if got := sourceText(i18n.Get(lang), consentd.Source{Type: typ}); got == typ || got == "" {
				t.Errorf("sourceText(%s, %s) = %q; want words", lang, typ, got)
			}
		}
	}
	if got := sourceText(i18n.Get("en"), consentd.Source{Type: consentd.SourceSMSKeyword, Name: "sms_stop"}); got != "Your text message reply (sms_stop)" {
		t.Errorf("sourceText(sms_keyword, sms_stop) = %q", got)
	}
}
