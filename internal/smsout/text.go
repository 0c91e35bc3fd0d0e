package smsout

import (
	"strings"
	"unicode/utf16"

	"github.com/consentd/consentd/internal/i18n"
)

// gsmBasic is the GSM 03.38 default alphabet; gsmExtended are the
// characters sent as an escape and a second septet.
const (
	gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExtended = "^{}\\[~]|€\f"
)

// Segment sizes: one GSM-7 text holds 160 septets, and each part of a
// longer one 153; a text with any other character is sent as UCS-2, 70
// UTF-16 units alone, 67 per part.
const (
	GSMSingle  = 160
	gsmPart    = 153
	UCS2Single = 70
	ucs2Part   = 67
)

// GSMLength returns the length of text in GSM-7 septets, and false when
// it has a character outside the GSM alphabet (the text is then sent as
// UCS-2).
func GSMLength(text string) (int, bool) {
	n := 0
	for _, r := range text {
		switch {
		case strings.ContainsRune(gsmBasic, r):
			n++
		case strings.ContainsRune(gsmExtended, r):
			n += 2
		default:
			return 0, false
		}
	}
	return n, true
}

// Segments returns how many SMS parts text is sent as.
func Segments(text string) int {
	n, gsm := GSMLength(text)
	single, part := GSMSingle, gsmPart
	if !gsm {
		n, single, part = len(utf16.Encode([]rune(text))), UCS2Single, ucs2Part
	}
	if n <= single {
		return 1
	}
	return (n + part - 1) / part
}

// Confirmation is what a double opt-in text says, and in which language.
type Confirmation struct {
	Sender  string // who sends: the workspace's SMS sender name
	Purpose string // what for: the purpose's (or topic's) name in the language
	Link    string // the confirmation link; empty: confirm by replying YES
	// Lang is the person's language (a shipped one; English otherwise),
	// Texts the workspace's overrides of its texts (sms.confirm.*).
	Lang  string
	Texts map[string]string
}

// ConfirmText builds the double opt-in confirmation text in c's language
// (locales/<lang>/sms.json): who sends, what for, how to confirm (reply
// YES, or the link) and how to stop (reply STOP). The keywords stay
// YES and STOP in every language: they are the ones consentd and the
// carriers read. It is as short as it can be: when the full wording takes
// more parts than the short one (Segments), the short one is sent.
func ConfirmText(c Confirmation) string {
	loc := i18n.Get(c.Lang).With(c.Texts)
	args := []string{"sender", oneLine(c.Sender), "purpose", oneLine(c.Purpose), "link", c.Link}
	full, short := "sms.confirm.reply", "sms.confirm.reply_short"
	if c.Link != "" {
		full, short = "sms.confirm.link", "sms.confirm.link_short"
	}
	f, s := loc.T(full, args...), loc.T(short, args...)
	if Segments(f) <= Segments(s) {
		return f
	}
	return s
}

// oneLine folds line breaks and surrounding space out of a name put in a
// text.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
