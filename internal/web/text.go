package web

import (
	"strings"

	"github.com/consentd/consentd/internal/i18n"
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

// channelLabel names a channel for people, in the page's language
// ("Email", "Text message (SMS)"); a channel without a text is named by
// its id.
func channelLabel(l *i18n.Locale, ch string) string {
	if i18n.Has("channel." + ch) {
		return l.T("channel." + ch)
	}
	return ch
}

// channelBy names a channel in the middle of a sentence: "by email".
func channelBy(l *i18n.Locale, ch string) string {
	if i18n.Has("channel.by." + ch) {
		return l.T("channel.by." + ch)
	}
	return ch
}

// suppressionText says why messages to an address are blocked.
func suppressionText(l *i18n.Locale, s *consentd.Suppression) string {
	why := "page.why.data_request"
	switch s.Reason {
	case consentd.SuppressDoNotContact, consentd.SuppressHardBounce, consentd.SuppressComplaint, consentd.SuppressSMSStop:
		why = "page.why." + string(s.Reason)
	}
	all := s.Covers(consentd.Transactional, s.Channel) // service messages too
	key := "page.blocked.marketing"
	if all {
		key = "page.blocked.all"
	}
	if s.Channel != "" {
		key += "_by"
	}
	text := l.T(key, "channel", channelBy(l, s.Channel), "why", l.T(why))
	if all && s.Reason == consentd.SuppressSMSStop {
		text += " " + l.T("page.blocked.start") // the keyword lifts the block
	}
	return text
}

// isolate wraps a value put into a right-to-left text in Unicode
// isolates (U+2068 ... U+2069), so that a left-to-right name keeps its
// own order; a left-to-right text gets it as it is.
func isolate(l *i18n.Locale, s string) string {
	if l.Dir == "rtl" {
		return "\u2068" + s + "\u2069"
	}
	return s
}
