package consentd

// Built-in channels. Any other channel id that is a valid slug is a custom
// channel: its contact points are kept trimmed and exact.
const (
	ChannelEmail    = "email"
	ChannelSMS      = "sms"
	ChannelWhatsApp = "whatsapp"
	ChannelVoice    = "voice"
	ChannelPush     = "push"
)

// ContactPointKind says how a contact point is normalized.
type ContactPointKind string

// Contact point kinds.
const (
	KindEmail  ContactPointKind = "email"
	KindPhone  ContactPointKind = "phone"
	KindCustom ContactPointKind = "custom"
)

// Valid reports whether k is a known kind.
func (k ContactPointKind) Valid() bool {
	return k == KindEmail || k == KindPhone || k == KindCustom
}

// KindOf returns the kind of contact point a channel addresses: email for
// email, phone for sms, whatsapp and voice, custom for push and custom
// channels.
func KindOf(channel string) ContactPointKind {
	switch channel {
	case ChannelEmail:
		return KindEmail
	case ChannelSMS, ChannelWhatsApp, ChannelVoice:
		return KindPhone
	default:
		return KindCustom
	}
}

// IsBuiltinChannel reports whether channel is one of the built-in channels.
func IsBuiltinChannel(channel string) bool {
	switch channel {
	case ChannelEmail, ChannelSMS, ChannelWhatsApp, ChannelVoice, ChannelPush:
		return true
	}
	return false
}

// ValidID reports whether s is a valid purpose, topic, channel or rule id:
// a slug of the form [a-z0-9][a-z0-9_-]{0,63}. It is a loop rather than a
// regular expression: every decision checks its channel.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 64 || !slugFirst(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !slugFirst(c) && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func slugFirst(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }
