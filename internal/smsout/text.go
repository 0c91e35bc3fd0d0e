package smsout

import (
	"strings"
	"unicode/utf16"
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

// Confirmation is what a double opt-in text says.
type Confirmation struct {
	Sender  string // who sends: the workspace's SMS sender name
	Purpose string // what for: the purpose's name
	Link    string // the confirmation link; empty: confirm by replying YES
}

// ConfirmText builds the double opt-in confirmation text: who sends, what
// for, how to confirm (reply YES, or the link) and how to stop (reply
// STOP). It fits one GSM-7 segment (160 characters) when it can: when the
// full wording is longer it drops the polite parts, and when the shorter
// one is still too long (a long purpose name or link) it returns that
// one, sent in several parts (Segments says how many).
func ConfirmText(c Confirmation) string {
	sender, purpose := oneLine(c.Sender), oneLine(c.Purpose)
	var full, short string
	if c.Link == "" {
		full = sender + ": please confirm you want texts about " + purpose + ". Reply YES to confirm. Reply STOP to opt out."
		short = sender + ": reply YES to get texts about " + purpose + ". STOP to opt out."
	} else {
		full = sender + ": please confirm you want texts about " + purpose + ": " + c.Link + " Reply STOP to opt out."
		short = sender + ": confirm texts about " + purpose + ": " + c.Link + " STOP to opt out."
	}
	if Segments(full) == 1 {
		return full
	}
	return short
}

// oneLine folds line breaks and surrounding space out of a name put in a
// text.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
