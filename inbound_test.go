package consentd_test

import (
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

func TestSMSKeyword(t *testing.T) {
	keywords := map[string]string{
		"STOP": "STOP", "STOPALL": "STOPALL", "STOP ALL": "STOPALL", "QUIT": "QUIT", "END": "END", "REVOKE": "REVOKE",
		"OPT OUT": "OPT OUT", "OPTOUT": "OPT OUT", "CANCEL": "CANCEL", "UNSUBSCRIBE": "UNSUBSCRIBE",
	}
	type tc struct {
		text, want string // want "" = not a keyword: review
	}
	var tests []tc
	// Every keyword in every case and with punctuation, spaces and emoji
	// around it.
	for kw, want := range keywords {
		for _, form := range []string{kw, strings.ToLower(kw), kw[:1] + strings.ToLower(kw[1:])} {
			for _, wrap := range []string{"%s", " %s ", "%s.", "%s!", " %s!! ", "\"%s\"", "%s 🛑", "🛑%s🛑", "\t%s\r\n", "...%s...", "(%s)", "%s 🙏🏽", "¡%s!", "%s?"} {
				tests = append(tests, tc{strings.Replace(wrap, "%s", form, 1), want})
			}
		}
	}
	tests = append(tests,
		// Separators between the words of a keyword.
		tc{"opt-out", "OPT OUT"}, tc{"OPT-OUT", "OPT OUT"}, tc{"Opt  Out", "OPT OUT"}, tc{"opt_out", "OPT OUT"},
		tc{"opt\nout", "OPT OUT"}, tc{"Opt-Out.", "OPT OUT"}, tc{"optout", "OPT OUT"}, tc{"stop all", "STOPALL"}, tc{"Stop-All!", "STOPALL"},
		// Unicode compatibility forms and case.
		tc{"ＳＴＯＰ", "STOP"}, tc{"ｓｔｏｐ", "STOP"}, tc{"sToP", "STOP"}, tc{"\u00a0stop\u00a0", "STOP"}, tc{"stop\u200b", "STOP"},
		// Not a keyword alone: review.
		tc{"please stop", ""}, tc{"stop please", ""}, tc{"opt out please", ""}, tc{"Please STOP!", ""}, tc{"don't stop", ""},
		tc{"stop stop", ""}, tc{"STOP 2", ""}, tc{"STOP2", ""}, tc{"stopp", ""}, tc{"sto p", ""}, tc{"s.t.o.p", ""}, tc{"S T O P", ""},
		tc{"unsubscribe me", ""}, tc{"cancel my order", ""}, tc{"the end", ""}, tc{"quitting", ""}, tc{"opt in", ""}, tc{"OPT", ""},
		tc{"START", ""}, tc{"HELP", ""}, tc{"UNSTOP", ""}, tc{"Yes", ""}, tc{"", ""}, tc{"   ", ""}, tc{"🛑", ""}, tc{"!!!", ""},
		tc{"ЅТОР", ""}, // Cyrillic look-alikes
		tc{"STOP\nSent from my iPhone", ""},
		tc{strings.Repeat(" ", 300) + "STOP", ""}, // longer than any keyword with its punctuation
	)
	for _, tt := range tests {
		got, ok := consentd.SMSKeyword(tt.text)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("SMSKeyword(%q) = %q, %v; want %q, %v", tt.text, got, ok, tt.want, tt.want != "")
		}
	}
}

func TestSMSCommand(t *testing.T) {
	for _, c := range []struct{ text, keyword, kind string }{
		{"STOP", "STOP", consentd.SMSStop}, {"stop all", "STOPALL", consentd.SMSStop}, {"Unsubscribe.", "UNSUBSCRIBE", consentd.SMSStop},
		{"Start", "START", consentd.SMSStart}, {" unstop! ", "UNSTOP", consentd.SMSStart}, {"Yes", "YES", consentd.SMSStart}, {"ＹＥＳ", "YES", consentd.SMSStart},
		{"help", "HELP", consentd.SMSHelp}, {"Info?", "INFO", consentd.SMSHelp},
		{"yes please", "", ""}, {"help me stop", "", ""}, {"start over", "", ""}, {"", "", ""},
	} {
		kw, kind, ok := consentd.SMSCommand(c.text)
		if kw != c.keyword || kind != c.kind || ok != (c.keyword != "") {
			t.Errorf("SMSCommand(%q) = %q, %q, %v; want %q, %q", c.text, kw, kind, ok, c.keyword, c.kind)
		}
	}
}

func TestSMSReply(t *testing.T) {
	ws := consentd.Workspace{Name: "shop"}
	for _, c := range []struct{ keyword, prefix, names string }{
		{"HELP", "shop texts:", "STOP"}, {"info", "shop texts:", "STOP"}, {"STOP", "shop:", "START"}, {"Quit", "shop:", "START"}, {"START", "shop:", "STOP"}, {"yes", "shop:", "STOP"},
	} {
		text, ok := consentd.SMSReply(c.keyword, ws)
		if !ok || !strings.HasPrefix(text, c.prefix) || !strings.Contains(text, c.names) {
			t.Errorf("SMSReply(%q) = %q, %v; want it to start %q and name %s", c.keyword, text, ok, c.prefix, c.names)
		}
	}
	if text, ok := consentd.SMSReply("who is this", ws); ok || text != "" {
		t.Errorf("SMSReply(not a keyword) = %q, %v; want nothing", text, ok)
	}
	ws.SMSSenderName, ws.SMSHelpText = "Acme", "Acme: call 0800 123 for help. Reply STOP to end."
	if text, _ := consentd.SMSReply("HELP", ws); text != ws.SMSHelpText {
		t.Errorf("SMSReply(HELP) = %q; want the workspace's help text", text)
	}
	if text, _ := consentd.SMSReply("STOP", ws); !strings.HasPrefix(text, "Acme:") {
		t.Errorf("SMSReply(STOP) = %q; want the sender name", text)
	}
	m := &consentd.InboundMessage{Action: consentd.InboundReview, Keyword: "YES"}
	if r := consentd.InboundReply(m, ws); r != "" {
		t.Errorf("InboundReply(review) = %q; want none", r)
	}
}

func TestInboundSMSValidate(t *testing.T) {
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	ok := consentd.InboundSMS{From: "+4915112345678", Text: "STOP"}
	if err := ok.Validate(now); err != nil || !ok.ReceivedAt.Equal(now) {
		t.Errorf("Validate() = %v, received_at %v; want nil, now", err, ok.ReceivedAt)
	}
	for _, c := range []struct {
		name  string
		mod   func(*consentd.InboundSMS)
		code  string
		field string
	}{
		{"future", func(in *consentd.InboundSMS) { in.ReceivedAt = now.Add(time.Hour) }, consentd.EFUTURECAPTUREDAT, "received_at"},
		{"before 1970", func(in *consentd.InboundSMS) { in.ReceivedAt = time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC) }, consentd.EINVALIDTIME, "received_at"},
		{"long text", func(in *consentd.InboundSMS) { in.Text = strings.Repeat("x", consentd.MaxSMSText+1) }, consentd.EINVALID, "text"},
		{"bad utf-8", func(in *consentd.InboundSMS) { in.Text = "\xff" }, consentd.EINVALID, "text"},
		{"long message id", func(in *consentd.InboundSMS) { in.MessageID = strings.Repeat("x", 300) }, consentd.EINVALID, "message_id"},
		{"control in provider", func(in *consentd.InboundSMS) { in.Provider = "a\nb" }, consentd.EINVALID, "provider"},
		{"long to", func(in *consentd.InboundSMS) { in.To = strings.Repeat("1", 65) }, consentd.EINVALID, "to"},
	} {
		in := ok
		in.ReceivedAt = time.Time{}
		c.mod(&in)
		err := in.Validate(now)
		if e, isErr := err.(*consentd.Error); !isErr || e.Code != c.code || len(e.Fields) == 0 || e.Fields[0].Field != c.field {
			t.Errorf("Validate(%s) = %v; want %s on %s", c.name, err, c.code, c.field)
		}
	}
	for _, raw := range []string{"", "  ", "not a number", "+1"} {
		_, err := consentd.NormalizeSender(raw, "")
		if e, isErr := err.(*consentd.Error); !isErr || e.Code != consentd.EINVALIDCONTACTPOINT || e.Fields[0].Field != "from" {
			t.Errorf("NormalizeSender(%q) = %v; want %s on from", raw, err, consentd.EINVALIDCONTACTPOINT)
		} else if strings.Contains(e.Message, "contact_point") {
			t.Errorf("NormalizeSender(%q): message %q names contact_point, not from", raw, e.Message)
		}
	}
	if cp, err := consentd.NormalizeSender("0151 12345678", "DE"); err != nil || cp != "+4915112345678" {
		t.Errorf("NormalizeSender(national, DE) = %q, %v; want +4915112345678", cp, err)
	}
}

func TestInboundCommandProviderKind(t *testing.T) {
	for _, tc := range []struct {
		text, provider, keyword, kind string
	}{
		{"Stop!", "", "STOP", consentd.SMSStop},
		{"ARRET", consentd.SMSStop, "STOP", consentd.SMSStop},    // the account's own keyword, read by the provider
		{"cancel", consentd.SMSStop, "CANCEL", consentd.SMSStop}, // both agree: the text's keyword
		{"stop", consentd.SMSStart, "START", consentd.SMSStart},  // the provider's reading wins
		{"AIDE", consentd.SMSHelp, "HELP", consentd.SMSHelp},     //
		{"hello", "", "", ""},                                    // for review
		{"hello", "bogus", "", ""},                               // an unknown kind is ignored
	} {
		in := consentd.InboundSMS{Text: tc.text, ProviderKind: tc.provider}
		if kw, kind := in.Command(); kw != tc.keyword || kind != tc.kind {
			t.Errorf("Command(%q, %q) = %q %q; want %q %q", tc.text, tc.provider, kw, kind, tc.keyword, tc.kind)
		}
	}
	ws := consentd.Workspace{Name: "Acme"}
	if r := consentd.InboundReply(&consentd.InboundMessage{Action: consentd.InboundConfirmed, Keyword: "YES"}, ws); !strings.HasPrefix(r, "Acme: ") || strings.Contains(r, "resubscribed") {
		t.Errorf("consentd.InboundReply(confirmed) = %q; want an acknowledgement of the confirmation", r)
	}
}

// TestStoppedBySMS: START opts in again only what a STOP keyword left,
// as this release writes it and as earlier releases wrote it.
func TestStoppedBySMS(t *testing.T) {
	for _, c := range []struct {
		status consentd.Status
		src    consentd.Source
		want   bool
	}{
		{consentd.OptedOut, consentd.Source{Type: consentd.SourceSMSKeyword, Name: "sms_stop"}, true},
		{consentd.OptedOut, consentd.Source{Type: consentd.SourceAPI, Name: "sms_stop"}, true}, // earlier releases
		{consentd.OptedIn, consentd.Source{Type: consentd.SourceSMSKeyword, Name: "sms_stop"}, false},
		{consentd.OptedOut, consentd.Source{Type: consentd.SourceSMSKeyword, Name: "sms_start"}, false},
		{consentd.OptedOut, consentd.Source{Type: consentd.SourceForm, Name: "sms_stop"}, false},
		{consentd.OptedOut, consentd.Source{Type: consentd.SourceAPI, Name: "crm"}, false},
	} {
		if got := consentd.StoppedBySMS(c.status, c.src); got != c.want {
			t.Errorf("consentd.StoppedBySMS(%s, %+v) = %v; want %v", c.status, c.src, got, c.want)
		}
	}
}
