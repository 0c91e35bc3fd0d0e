package consentd_test

import (
	"strings"
	"testing"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/smsout"
)

// TestSMSReplyLanguages: the keyword replies are in the person's language,
// else the workspace's default, else English; a workspace's help text and
// text overrides win; every reply fits two segments.
func TestSMSReplyLanguages(t *testing.T) {
	ws := consentd.Workspace{Name: "shop", SMSSenderName: "Beispiel GmbH"}
	stop, ok := consentd.SMSReplyIn("STOP", ws, "de")
	if !ok || stop != "Beispiel GmbH: Sie sind abgemeldet und erhalten keine SMS mehr von uns. Antworten Sie START, um sich wieder anzumelden." {
		t.Errorf("SMSReplyIn(STOP, de) = %q, %v", stop, ok)
	}
	if r := consentd.InboundReplyIn(&consentd.InboundMessage{Action: consentd.InboundOptedOut, Keyword: "STOP"}, ws, "de"); r != stop {
		t.Errorf("InboundReplyIn(opted out, de) = %q; want %q", r, stop)
	}
	if r := consentd.InboundReplyIn(&consentd.InboundMessage{Action: consentd.InboundConfirmed, Keyword: "YES"}, ws, "fr"); !strings.Contains(r, "votre abonnement est confirmé") {
		t.Errorf("InboundReplyIn(confirmed, fr) = %q", r)
	}
	// The workspace's default language when the person's is not known.
	ws.DefaultLanguage = "es"
	if r, _ := consentd.SMSReply("START", ws); !strings.Contains(r, "vuelve a estar dado de alta") {
		t.Errorf("SMSReply(START) with default es = %q", r)
	}
	if r, _ := consentd.SMSReplyIn("START", ws, "ar"); !strings.Contains(r, "تمت إعادة اشتراكك") {
		t.Errorf("SMSReplyIn(START, ar) = %q", r)
	}
	// Overrides and the help text win.
	ws.Texts = map[string]map[string]string{"de": {"sms.reply.stop": "{sender}: abgemeldet."}}
	if r, _ := consentd.SMSReplyIn("STOP", ws, "de"); r != "Beispiel GmbH: abgemeldet." {
		t.Errorf("SMSReplyIn(STOP, de) with an override = %q", r)
	}
	ws.SMSHelpText = "Beispiel: Hilfe unter 0800 123. STOP beendet."
	if r, _ := consentd.SMSReplyIn("HELP", ws, "de"); r != ws.SMSHelpText {
		t.Errorf("SMSReplyIn(HELP) = %q; want the workspace's help text", r)
	}
	ws = consentd.Workspace{Name: "shop", SMSSenderName: "Beispiel GmbH"}
	for _, lang := range []string{"en", "de", "fr", "es", "ar"} {
		for _, kw := range []string{"HELP", "STOP", "START"} {
			r, _ := consentd.SMSReplyIn(kw, ws, lang)
			if n := smsout.Segments(r); n > 2 {
				t.Errorf("%s reply to %s: %d segments: %q", lang, kw, n, r)
			}
		}
	}
}
