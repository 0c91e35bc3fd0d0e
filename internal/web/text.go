package web

import (
	"strings"
	"unicode/utf8"

	"github.com/consentd/consentd"
)

// mask hides most of an address, so that a page reached through a
// forwarded message does not give it away whole: j•••@example.com,
// +44•••••••89, ab•••.
func mask(kind consentd.ContactPointKind, v string) string {
	const dots = "•••"
	switch kind {
	case consentd.KindEmail:
		at := strings.LastIndexByte(v, '@')
		if at <= 0 {
			break
		}
		_, n := utf8.DecodeRuneInString(v)
		return v[:n] + dots + v[at:]
	case consentd.KindPhone:
		if len(v) > 6 {
			return v[:3] + strings.Repeat("•", len(v)-5) + v[len(v)-2:]
		}
	}
	if utf8.RuneCountInString(v) <= 4 {
		return dots
	}
	r1, n1 := utf8.DecodeRuneInString(v)
	r2, _ := utf8.DecodeRuneInString(v[n1:])
	return string([]rune{r1, r2}) + dots
}

// channelLabel names a channel for people.
func channelLabel(ch string) string {
	switch ch {
	case consentd.ChannelEmail:
		return "Email"
	case consentd.ChannelSMS:
		return "Text message (SMS)"
	case consentd.ChannelWhatsApp:
		return "WhatsApp"
	case consentd.ChannelVoice:
		return "Phone call"
	case consentd.ChannelPush:
		return "Push notification"
	}
	return ch
}

// suppressionText says why messages to an address are blocked.
func suppressionText(s *consentd.Suppression) string {
	var why string
	switch s.Reason {
	case consentd.SuppressDoNotContact:
		why = "you asked not to be contacted"
	case consentd.SuppressHardBounce:
		why = "messages could not be delivered"
	case consentd.SuppressComplaint:
		why = "a message was reported as spam"
	case consentd.SuppressSMSStop:
		why = "you replied STOP"
	default:
		why = "of a data request"
	}
	if s.Covers(consentd.Transactional, s.Channel) { // service messages too
		what := "Messages"
		if s.Channel != "" {
			what = "Messages by " + channelNoun(s.Channel)
		}
		text := what + " to this address are blocked because " + why + "."
		if s.Reason == consentd.SuppressSMSStop {
			text += " Reply START to receive them again." // the keyword lifts the block
		}
		return text
	}
	what := "Marketing messages"
	if s.Channel != "" {
		what = "Marketing messages by " + channelNoun(s.Channel)
	}
	return what + " to this address are blocked because " + why + ". Service messages may still be sent."
}

// channelNoun names a channel in the middle of a sentence.
func channelNoun(ch string) string {
	switch ch {
	case consentd.ChannelEmail, consentd.ChannelPush, consentd.ChannelVoice:
		return strings.ToLower(channelLabel(ch))
	case consentd.ChannelSMS:
		return "text message"
	}
	return channelLabel(ch)
}
