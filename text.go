package consentd

import (
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"
)

// Size limits, in bytes, of the text fields that reach the log or a table.
// The API's JSON input types carry the same numbers as max:"N" struct tags
// (the API enforces them after decoding and documents them as maxLength in
// /openapi.json); the Validate methods check them again for writes that
// arrive by other paths (imports, public pages, rules, the CLI).
// docs/api.md lists them.
const (
	MaxIDLen            = 256      // ids of resources named by clients: record ids, channel type ids, page tokens
	MaxNameLen          = 200      // names: source.name, import names, key and workspace names
	MaxDescriptionLen   = 1000     // descriptions of purposes and topics, shown to people on the public pages
	MaxReasonLen        = 1000     // a consent's reason
	MaxNoteLen          = 2000     // notes on suppressions and resolutions
	MaxUserAgentLen     = 512      // proof.user_agent
	MaxIPLen            = 64       // proof.ip: an IPv6 address with a zone fits
	MaxVersionLen       = 100      // proof.form_version, proof.text_version
	MaxOriginLen        = 200      // origin of a write
	MaxSourceDetailsLen = 4 << 10  // source.details, as JSON
	MaxContactPointLen  = 1 << 10  // a contact point as sent, before normalization
	MaxRuleExprLen      = 16 << 10 // a rule's CEL expression
)

// TextProblem says what is wrong with s as text that may be stored: "" when
// it is valid UTF-8 without NUL or another C0 control character (tab, line
// feed and carriage return are allowed: notes and reasons may have lines).
// PostgreSQL refuses NUL and invalid UTF-8 in text columns while SQLite
// stores them, and JSON would replace invalid bytes with U+FFFD: refusing
// them up front gives both backends the same answer and keeps the log's
// bytes those the client sent.
func TextProblem(s string) string {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == 0:
				return "holds a NUL character"
			case c < 0x20 && c != '\t' && c != '\n' && c != '\r':
				return "holds a control character"
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return "is not valid UTF-8"
		}
		i += n
	}
	return ""
}

// CheckText returns an EINVALID error naming field when s is not storable
// text (TextProblem) or is longer than max bytes (max 0: no limit).
func CheckText(field, s string, max int) error {
	if p := TextProblem(s); p != "" {
		return FieldErrorf(EINVALID, field, "%s %s", field, p)
	}
	if max > 0 && len(s) > max {
		return FieldErrorf(EINVALID, field, "%s is longer than %d bytes", field, max)
	}
	return nil
}

// checkTexts runs CheckText on (field, value, max) triples and returns the
// first error.
func checkTexts(fields ...textField) error {
	for _, f := range fields {
		if err := CheckText(f.name, f.value, f.max); err != nil {
			return err
		}
	}
	return nil
}

type textField struct {
	name  string
	value string
	max   int
}

// Validate checks a source's name and details: bounded, storable text;
// details, when set, a JSON value of at most MaxSourceDetailsLen bytes.
// prefix names the source in errors ("source").
func (s *Source) Validate(prefix string) error {
	if err := CheckText(prefix+".name", s.Name, MaxNameLen); err != nil {
		return err
	}
	if len(s.Details) > MaxSourceDetailsLen {
		return FieldErrorf(EINVALID, prefix+".details", "%s.details is longer than %d bytes of JSON", prefix, MaxSourceDetailsLen)
	}
	if p, _ := JSONTextProblem(s.Details); p != "" {
		return FieldErrorf(EINVALID, prefix+".details", "%s.details %s", prefix, p)
	}
	return nil
}

// Validate checks proof fields at now: ip an IP address, user_agent and
// the versions bounded text, confirmed_at between 1970 and now+MaxSkew,
// language a BCP 47 tag, text_sha256 64 lower-case hex digits equal to
// the SHA-256 of text when both are given. It puts the proof in its
// stored form: the language canonical ("pt-BR" for "pt-br") and
// text_sha256 computed when only text is given.
func (p *Proof) Validate(now time.Time) error {
	if p == nil {
		return nil
	}
	if err := checkTexts(
		textField{"proof.ip", p.IP, MaxIPLen},
		textField{"proof.user_agent", p.UserAgent, MaxUserAgentLen},
		textField{"proof.form_version", p.FormVersion, MaxVersionLen},
		textField{"proof.text_version", p.TextVersion, MaxVersionLen},
	); err != nil {
		return err
	}
	if p.IP != "" {
		if _, err := netip.ParseAddr(p.IP); err != nil {
			return FieldErrorf(EINVALID, "proof.ip", "proof.ip must be an IPv4 or IPv6 address such as 192.0.2.1 or 2001:db8::1")
		}
	}
	if t := p.ConfirmedAt; t != nil {
		switch {
		case t.After(now.Add(MaxSkew)):
			return FieldErrorf(EINVALIDTIME, "proof.confirmed_at", "proof.confirmed_at is in the future")
		case t.Year() < 1970:
			return FieldErrorf(EINVALIDTIME, "proof.confirmed_at", "proof.confirmed_at is before 1970")
		}
	}
	return p.checkLanguageText()
}

// JSONTextProblem says what is wrong with the text of the JSON document
// doc, and at which byte: "" when it is valid UTF-8 and none of its string
// escapes stands for NUL, another control character that TextProblem
// refuses, or half of a UTF-16 surrogate pair (encoding/json turns a lone
// \ud800 into U+FFFD without a word, so two different requests would store
// the same text). It does not check that doc is valid JSON.
func JSONTextProblem(doc []byte) (problem string, at int) {
	if !utf8.Valid(doc) {
		for i := 0; i < len(doc); {
			r, n := utf8.DecodeRune(doc[i:])
			if r == utf8.RuneError && n == 1 {
				return "is not valid UTF-8", i
			}
			i += n
		}
	}
	inString := false
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		switch {
		case c == '"':
			inString = !inString
		case c == '\\' && inString && i+1 < len(doc):
			if doc[i+1] != 'u' {
				i++ // a one-letter escape, maybe \" or \\
				continue
			}
			u, ok := hex4(doc, i+2)
			if !ok {
				i++
				continue
			}
			switch {
			case u == 0:
				return "holds an escaped NUL character (\\u0000)", i
			case u < 0x20 && u != '\t' && u != '\n' && u != '\r':
				return "holds an escaped control character", i
			case u >= 0xd800 && u < 0xdc00: // high surrogate: a low one must follow
				if lo, ok := hex4(doc, i+8); !ok || doc[i+6] != '\\' || doc[i+7] != 'u' || lo < 0xdc00 || lo > 0xdfff {
					return "holds a lone UTF-16 surrogate escape", i
				}
				i += 11
			case u >= 0xdc00 && u <= 0xdfff:
				return "holds a lone UTF-16 surrogate escape", i
			default:
				i += 5
			}
		}
	}
	return "", 0
}

// hex4 reads the 4 hex digits at doc[i:i+4].
func hex4(doc []byte, i int) (rune, bool) {
	if i < 0 || i+4 > len(doc) {
		return 0, false
	}
	var r rune
	for _, c := range doc[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// CapturedProof returns the proof a public page records from the request it
// answers: ip kept only when it is an IP address, the User-Agent header
// made storable text (invalid UTF-8 and control characters but tab
// replaced with U+FFFD) and cut to MaxUserAgentLen bytes at a character
// boundary, and the form's version. Unlike a client's API write, which is
// refused when its proof is not valid, a page must not refuse a person's
// unsubscribe for a header their browser or a proxy sent.
func CapturedProof(ip, userAgent, form string) *Proof {
	if _, err := netip.ParseAddr(ip); err != nil {
		ip = ""
	}
	ua := strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(userAgent, "\uFFFD"))
	if len(ua) > MaxUserAgentLen {
		ua = strings.ToValidUTF8(ua[:MaxUserAgentLen], "")
	}
	return &Proof{IP: ip, UserAgent: ua, FormVersion: form}
}
