package smsout_test

import (
	"strings"
	"testing"

	"github.com/consentd/consentd/internal/i18n"
	"github.com/consentd/consentd/internal/smsout"
)

// TestConfirmTextLanguages builds the double opt-in text in every shipped
// language with a typical sender and purpose name, counts its segments,
// and keeps it to two: the reply-YES wording always, and the wording with
// a link when the link is short. A real confirmation link (a signed token,
// some 300 characters) makes more: the counts are logged.
func TestConfirmTextLanguages(t *testing.T) {
	purposes := map[string]string{"en": "Product News", "de": "Produktneuigkeiten", "fr": "Nouveautés produits",
		"es": "Novedades de productos", "ar": "أخبار المنتجات"}
	// The words that show the language, besides the keywords.
	words := map[string]string{"en": "confirm", "de": "Sie", "fr": "SMS sur", "es": "SMS sobre", "ar": "رسائل"}
	short := "https://c.beispiel.example/c/Xy7kQ2pL9mN4"
	long := "https://consent.beispiel.example/c/" + strings.Repeat("eyJrIjoiY29uZmlybSIsInciOi", 11)
	for _, lang := range i18n.Supported {
		reply := smsout.ConfirmText(smsout.Confirmation{Sender: "Beispiel GmbH", Purpose: purposes[lang], Lang: lang})
		withLink := smsout.ConfirmText(smsout.Confirmation{Sender: "Beispiel GmbH", Purpose: purposes[lang], Link: short, Lang: lang})
		real := smsout.ConfirmText(smsout.Confirmation{Sender: "Beispiel GmbH", Purpose: purposes[lang], Link: long, Lang: lang})
		_, gsm := smsout.GSMLength(reply)
		t.Logf("%s: reply %d segment(s) (GSM-7 %v): %s", lang, smsout.Segments(reply), gsm, reply)
		t.Logf("%s: with a %d-character link %d segment(s)", lang, len(long), smsout.Segments(real))
		for name, text := range map[string]string{"reply": reply, "link": withLink} {
			if n := smsout.Segments(text); n > 2 {
				t.Errorf("%s %s text: %d segments; want at most 2: %q", lang, name, n, text)
			}
			for _, want := range []string{"Beispiel GmbH", purposes[lang], "STOP", words[lang]} {
				if !strings.Contains(text, want) {
					t.Errorf("%s %s text %q does not say %q", lang, name, text, want)
				}
			}
		}
		if !strings.Contains(reply, "YES") || !strings.Contains(withLink, short) || !strings.Contains(real, long) {
			t.Errorf("%s: the reply text lacks YES or a link text its link: %q, %q", lang, reply, withLink)
		}
		if lang != "ar" && lang != "en" && reply == smsout.ConfirmText(smsout.Confirmation{Sender: "Beispiel GmbH", Purpose: purposes[lang]}) {
			t.Errorf("%s: the text is the English one", lang)
		}
	}
	// A workspace's override of a text wins.
	over := smsout.ConfirmText(smsout.Confirmation{Sender: "Beispiel GmbH", Purpose: "News", Lang: "de",
		Texts: map[string]string{"sms.confirm.reply": "{sender}: SMS zu {purpose}? Antworten Sie YES. STOP beendet."}})
	if over != "Beispiel GmbH: SMS zu News? Antworten Sie YES. STOP beendet." {
		t.Errorf("ConfirmText with an override = %q", over)
	}
}
