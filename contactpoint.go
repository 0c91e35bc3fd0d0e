package consentd

import (
	"errors"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// Limits of contact points, in bytes of the normalized form.
const (
	maxEmailLen      = 254 // whole address (RFC 5321 path limit less the brackets)
	maxEmailLocalLen = 64  // local part (RFC 5321 §4.5.3.1.1)
	maxDomainLabel   = 63  // one DNS label
	maxCustomLen     = 512 // custom contact point

	// Raw input limits, checked before any work so that huge inputs cost
	// nothing. They are generous: normalization may shrink the input
	// (trimming, NFC composition, IDNA mapping), so the real limits are
	// checked again on the result.
	maxEmailInput  = 1024
	maxPhoneInput  = 64
	maxPhoneDigits = 20 // E.164 has at most 15; leave room for IDD and trunk prefixes
	maxE164Digits  = 15 // country code and national number (ITU-T E.164 §6)
	maxRegionLen   = 3  // region codes are ISO 3166 alpha-2; longer is refused early
)

// Normalize returns the canonical form of raw as a contact point of the given
// kind:
//
//   - email: trimmed, NFC, lower-cased, domain in its ASCII (IDNA) form, and
//     checked for syntax; an address that is already canonical ASCII is
//     returned as is without allocating.
//   - phone: E.164 ("+" and at most 15 digits). Digits, spaces, dashes, dots
//     and parentheses are accepted, and "+" at the start; letters are not.
//     A number starting with "+" or "00" is international; any other is read
//     in defaultRegion (an ISO 3166 region code such as "US"), and refused if
//     there is none. Only numbers valid for libphonenumber are accepted.
//     Results are cached, so a repeated number costs no parse.
//   - custom: trimmed, otherwise exact.
//
// Every kind refuses invalid UTF-8 and control characters. Normalize is
// idempotent: what it returns normalizes to itself, for any default region.
//
// The error is always an *Error with code EINVALIDCONTACTPOINT on the field
// "contact_point"; its message never contains the contact point.
func Normalize(kind ContactPointKind, raw, defaultRegion string) (string, error) {
	switch kind {
	case KindEmail:
		return normalizeEmail(raw)
	case KindPhone:
		return normalizePhone(raw, defaultRegion, phones)
	case KindCustom:
		return normalizeCustom(raw)
	}
	if len(kind) > 32 {
		kind = kind[:32] + "..."
	}
	return "", cpError("unknown contact point kind %q", string(kind))
}

// NormalizeFor normalizes raw for a channel: Normalize(KindOf(channel), raw,
// defaultRegion).
func NormalizeFor(channel, raw, defaultRegion string) (string, error) {
	return Normalize(KindOf(channel), raw, defaultRegion)
}

// NormalizeStored is Normalize for finding a contact point that may have been
// stored by an earlier release, whose normalization was laxer: for reads,
// decisions, opt-outs, suppressions, erasures and SMS STOP, never for a new
// opt-in. When Normalize refuses raw, it returns what the earlier
// normalization made of raw (e-mail domains without the IDNA2008 and
// mixed-script checks; phone numbers whose E.164 form does not read back as
// the same number), or, for a phone number, raw trimmed and without
// separators if that has the shape of a stored E.164 number ("+" and 2 to 15
// digits, the first not 0), which libphonenumber may no longer call valid.
// Without it such a contact point could never be read, opted out or erased
// again. The error is Normalize's.
func NormalizeStored(kind ContactPointKind, raw, defaultRegion string) (string, error) {
	cp, err := Normalize(kind, raw, defaultRegion)
	if err == nil {
		return cp, nil
	}
	switch kind {
	case KindEmail:
		if s, lerr := emailSlow(raw, false); lerr == nil {
			return s, nil
		}
	case KindPhone:
		if s, lerr := phone(raw, defaultRegion, nil, false); lerr == nil {
			return s, nil
		}
		if s := compactE164(raw); storedE164(s) {
			return s, nil
		}
	}
	return "", err
}

// Outcomes of StaleContactPoint.
const (
	StaleRefused = "refused" // Normalize refuses it; NormalizeStored finds it
	StaleChanged = "changed" // Normalize makes another contact point of it
)

// StaleContactPoint says what Normalize makes of a stored contact point: ""
// when it returns it as it is, StaleRefused or StaleChanged. Migrations use
// it to find the contact points an earlier, laxer release stored.
func StaleContactPoint(kind ContactPointKind, value, defaultRegion string) string {
	cp, err := Normalize(kind, value, defaultRegion)
	switch {
	case err != nil:
		return StaleRefused
	case cp != value:
		return StaleChanged
	}
	return ""
}

// NormalizeStoredFor is NormalizeStored for a channel.
func NormalizeStoredFor(channel, raw, defaultRegion string) (string, error) {
	return NormalizeStored(KindOf(channel), raw, defaultRegion)
}

// compactE164 returns raw trimmed and, if it starts with "+", without the
// ASCII separators a phone number is written with (space, dash, dot,
// parentheses).
func compactE164(raw string) string {
	s := strings.TrimSpace(raw)
	if !strings.HasPrefix(s, "+") || !strings.ContainsAny(s, " -.()") {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '.', '(', ')':
			return -1
		}
		return r
	}, s)
}

// storedE164 reports whether s has the shape of an E.164 number: "+", a
// digit 1-9 and 1 to 14 more digits.
func storedE164(s string) bool {
	if len(s) < 3 || len(s) > 1+maxE164Digits || s[0] != '+' || s[1] == '0' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// cpError returns the error of an invalid contact point. Never pass the
// contact point (or a part of it longer than one character) as an argument:
// it is personal data and messages end up in logs and API responses.
func cpError(format string, args ...any) error {
	return FieldErrorf(EINVALIDCONTACTPOINT, "contact_point", format, args...)
}

// ---- email ----

// Flags of ASCII bytes in email addresses.
const (
	fLocal uint8 = 1 << iota // atext of RFC 5322, allowed unquoted in a local part (not '.')
	fLDH                     // letter, digit or hyphen: allowed in a domain label
	fUpper                   // A-Z
)

var emailASCII = func() (t [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = fLocal | fLDH
		t[c-'a'+'A'] = fLocal | fLDH | fUpper
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = fLocal | fLDH
	}
	t['-'] |= fLocal | fLDH
	for _, c := range "!#$%&'*+/=?^_`{|}~" {
		t[c] |= fLocal
	}
	return t
}()

func normalizeEmail(raw string) (string, error) {
	if s, ok := fastEmail(raw); ok {
		return s, nil
	}
	return slowEmail(raw)
}

// fastEmail handles the common case without Unicode processing: an ASCII
// address with an unquoted atext local part and LDH domain labels that are not
// reserved ("xn--" or any other "??--" label). It returns ok=false for
// anything else, valid or not, and slowEmail then decides; so fastEmail never
// reports an error and, where it says ok, agrees with slowEmail (a test and
// the fuzzer check that). It allocates only to lower-case.
func fastEmail(s string) (string, bool) {
	if len(s) == 0 {
		return "", false
	}
	if asciiSpace(s[0]) || asciiSpace(s[len(s)-1]) {
		s = strings.TrimSpace(s) // does not allocate
	}
	if len(s) > maxEmailLen {
		return "", false
	}
	at := strings.IndexByte(s, '@')
	if at <= 0 || at > maxEmailLocalLen {
		return "", false
	}
	var upper uint8
	prevDot := true // a leading dot is refused like a double one
	for i := 0; i < at; i++ {
		c := s[i]
		if c == '.' {
			if prevDot {
				return "", false
			}
			prevDot = true
			continue
		}
		f := emailASCII[c]
		if f&fLocal == 0 {
			return "", false
		}
		upper |= f
		prevDot = false
	}
	if prevDot {
		return "", false
	}
	labels, start, digits, tldDigits := 0, at+1, true, false
	for i := at + 1; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			n := i - start
			if n == 0 || n > maxDomainLabel || s[start] == '-' || s[i-1] == '-' ||
				(n >= 4 && s[start+2] == '-' && s[start+3] == '-') {
				return "", false
			}
			labels++
			tldDigits = digits
			start, digits = i+1, true
			continue
		}
		c := s[i]
		f := emailASCII[c]
		if f&fLDH == 0 {
			return "", false
		}
		upper |= f
		if c > '9' || c < '0' {
			digits = false
		}
	}
	if labels < 2 || tldDigits {
		return "", false
	}
	if upper&fUpper != 0 {
		return strings.ToLower(s), true // ASCII: one allocation
	}
	return s, true
}

// slowEmail is the full normalization: trim, NFC, lower-case, IDNA, syntax.
func slowEmail(raw string) (string, error) { return emailSlow(raw, true) }

// emailSlow is slowEmail; with strict false it leaves out the checks of the
// domain's Unicode labels (IDNA2008 and scripts) that earlier releases did
// not make, for NormalizeStored.
func emailSlow(raw string, strict bool) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", cpError("email address is empty")
	}
	if len(s) > maxEmailInput {
		return "", cpError("email address is longer than %d bytes", maxEmailLen)
	}
	if !utf8.ValidString(s) {
		return "", cpError("email address is not valid UTF-8")
	}
	s = norm.NFC.String(strings.ToLower(norm.NFC.String(s)))
	if strings.ContainsAny(s, "<>") {
		return "", cpError("email address must be a bare address, without a display name or angle brackets")
	}
	if strings.IndexByte(s, '"') >= 0 {
		return "", cpError("email address with a quoted local part or quotes is not accepted")
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return "", cpError("email address has no @")
	}
	local, domain := s[:at], s[at+1:]
	if strings.IndexByte(local, '@') >= 0 {
		return "", cpError("email address has more than one @")
	}
	if local == "" {
		return "", cpError("email address has no local part")
	}
	if domain == "" {
		return "", cpError("email address has no domain")
	}
	if err := checkLocal(local); err != nil {
		return "", err
	}
	if domain[0] == '[' {
		return "", cpError("email domain is an address literal; only domain names are accepted")
	}
	for _, r := range domain {
		if err := checkAddressRune(r, "email domain"); err != nil {
			return "", err
		}
	}
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		return "", cpError("email domain is not a valid domain name")
	}
	if err := checkDomain(ascii); err != nil {
		return "", err
	}
	if strict {
		if err := checkIDNLabels(ascii); err != nil {
			return "", err
		}
	}
	if len(local)+1+len(ascii) > maxEmailLen {
		return "", cpError("email address is longer than %d bytes", maxEmailLen)
	}
	if ascii == domain {
		return s, nil // domain unchanged: no allocation
	}
	return local + "@" + ascii, nil
}

// checkAddressRune refuses whitespace and control, format, private-use and
// surrogate characters.
func checkAddressRune(r rune, what string) error {
	switch {
	case unicode.IsSpace(r) || unicode.Is(unicode.Z, r):
		return cpError("%s contains whitespace", what)
	case unicode.IsControl(r):
		return cpError("%s contains a control character", what)
	case unicode.Is(unicode.C, r):
		return cpError("%s contains an invisible or private-use character", what)
	}
	return nil
}

// checkLocal checks a lower-cased NFC local part: unquoted dot-atom of RFC
// 5322 with UTF-8 allowed (RFC 6531).
func checkLocal(local string) error {
	if len(local) > maxEmailLocalLen {
		return cpError("email address local part is longer than %d bytes", maxEmailLocalLen)
	}
	if local[0] == '.' || local[len(local)-1] == '.' {
		return cpError("email address local part starts or ends with a dot")
	}
	if strings.Contains(local, "..") {
		return cpError("email address local part has consecutive dots")
	}
	for _, r := range local {
		if r < utf8.RuneSelf {
			if r == '.' || emailASCII[r]&fLocal != 0 {
				continue
			}
			if r == ' ' || r == '\t' || unicode.IsControl(r) {
				return checkAddressRune(r, "email address")
			}
			return cpError("email address local part contains %q, which is not allowed unquoted", r)
		}
		if err := checkAddressRune(r, "email address"); err != nil {
			return err
		}
	}
	return nil
}

// checkDomain checks the ASCII form of a domain: at least two labels, each
// 1-63 letters, digits and hyphens, and a top-level label that is not all
// digits (which also refuses IPv4 addresses).
func checkDomain(d string) error {
	labels := 0
	for label := range strings.SplitSeq(d, ".") {
		labels++
		if label == "" {
			return cpError("email domain has an empty label")
		}
		if len(label) > maxDomainLabel {
			return cpError("email domain has a label longer than %d bytes", maxDomainLabel)
		}
		for i := 0; i < len(label); i++ {
			if emailASCII[label[i]]&fLDH == 0 || emailASCII[label[i]]&fUpper != 0 {
				return cpError("email domain is not a valid domain name")
			}
		}
	}
	if labels < 2 {
		return cpError("email domain must have at least two labels")
	}
	tld := d[strings.LastIndexByte(d, '.')+1:]
	if strings.Trim(tld, "0123456789") == "" {
		return cpError("email domain has an all-numeric top-level label; IP addresses are not accepted")
	}
	return nil
}

func asciiSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// ---- phone ----

// phones caches phone numbers that normalized, by compact input: libphonenumber
// takes some 20-40µs and 80 allocations to parse and validate one number,
// while a send-time decision has about a microsecond. The numbering plan
// metadata is compiled in, so an answer never goes stale.
var phones = newPhoneCache(4096)

func normalizePhone(raw, defaultRegion string, cache *phoneCache) (string, error) {
	return phone(raw, defaultRegion, cache, true)
}

// phone is normalizePhone; with strict false it leaves out the check that the
// E.164 form reads back as the same number, which earlier releases did not
// make, for NormalizeStored. Pass a nil cache then: the cache holds strict
// results only.
func phone(raw, defaultRegion string, cache *phoneCache, strict bool) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", cpError("phone number is empty")
	}
	if len(s) > maxPhoneInput {
		return "", cpError("phone number is longer than %d bytes", maxPhoneInput)
	}
	// Collect "+" and the digits: separators mean nothing to the parser, and
	// a compact number is faster to parse and makes a cache key.
	var buf [1 + maxPhoneDigits + 1 + maxRegionLen]byte
	buf[0] = '+'
	n := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			if n == maxPhoneDigits {
				return "", cpError("phone number has more than %d digits", maxPhoneDigits)
			}
			buf[1+n] = byte(r)
			n++
		case r == '+':
			if i != 0 {
				return "", cpError("phone number has a '+' that is not at its start")
			}
		case r == ' ', r == '-', r == '.', r == '(', r == ')':
		case r >= utf8.RuneSelf && !unicode.IsControl(r) && (unicode.IsSpace(r) || unicode.Is(unicode.Pd, r)):
			// no-break and other spaces, en dashes and the like (not NEL,
			// U+0085, which is white space but a control character)
		case r == utf8.RuneError:
			return "", cpError("phone number is not valid UTF-8")
		case unicode.IsLetter(r):
			return "", cpError("phone number contains letters; only digits, spaces, dashes, dots and parentheses are accepted")
		default:
			return "", cpError("phone number contains characters other than digits, spaces, dashes, dots and parentheses")
		}
	}
	if n == 0 {
		return "", cpError("phone number has no digits")
	}
	// key is the number to parse, and for a national number "/" and the
	// upper-cased region after it.
	var key []byte
	numLen := 0
	switch {
	case s[0] == '+':
		key = buf[:1+n]
	case n >= 2 && buf[1] == '0' && buf[2] == '0': // international "00" prefix
		buf[2] = '+'
		key = buf[2 : 1+n]
	default:
		if defaultRegion == "" {
			return "", cpError("phone number has no country code and the workspace has no default region")
		}
		if len(defaultRegion) > maxRegionLen {
			return "", cpError("phone number has no country code and the default region is not a known region")
		}
		key = append(buf[1:1+n], '/')
		for i := 0; i < len(defaultRegion); i++ {
			c := defaultRegion[i]
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			key = append(key, c)
		}
		numLen = n
	}
	if cache != nil {
		if v, ok := cache.get(key); ok {
			return v, nil
		}
	}
	var number, region string
	if numLen == 0 {
		number = string(key)
	} else {
		number, region = string(key[:numLen]), string(key[numLen+1:])
		if phonenumbers.GetCountryCodeForRegion(region) == 0 {
			return "", cpError("phone number has no country code and the default region %q is not a known region", region)
		}
	}
	num, err := phonenumbers.Parse(number, region)
	switch {
	case err == nil:
	case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
		return "", cpError("phone number has an unknown country code")
	case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
		return "", cpError("phone number is too short")
	case errors.Is(err, phonenumbers.ErrNumTooLong):
		return "", cpError("phone number is too long")
	default:
		return "", cpError("phone number is not a phone number")
	}
	if !phonenumbers.IsValidNumber(num) {
		return "", cpError("phone number is not a valid number in its country's numbering plan")
	}
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	if len(e164) > 1+maxE164Digits {
		// libphonenumber accepts national numbers of up to 17 digits (some
		// German ones validate with 14); E.164, and so SMS gateways, stop at 15.
		return "", cpError("phone number has more than the %d digits E.164 allows", maxE164Digits)
	}
	if strict && e164 != string(key) && !readsBack(e164) {
		// libphonenumber strips a national prefix from an international
		// number too: with region BY, "08100000000" is +375 8100000000, but
		// "+3758100000000" reads as +375 100000000 (the 8 taken for BY's
		// national prefix), which is not valid. Storing such a form would
		// make a contact point that no later request can name, so the input
		// is refused: it has no E.164 form.
		return "", cpError("phone number has no E.164 form that reads back as the same number")
	}
	if cache != nil {
		k := e164 // the key of a canonical input is the result itself
		if string(key) != e164 {
			k = string(key)
		}
		cache.put(k, e164)
	}
	return e164, nil
}

// readsBack reports whether an E.164 number parses, as an international
// number, to a valid number with the same E.164 form: whether it normalizes
// to itself whatever the default region.
func readsBack(e164 string) bool {
	num, err := phonenumbers.Parse(e164, "")
	return err == nil && phonenumbers.IsValidNumber(num) && phonenumbers.Format(num, phonenumbers.E164) == e164
}

// phoneCache maps compact phone inputs to their E.164 form. It holds two
// generations of at most size entries: when the current one fills up it
// becomes the previous one and the older is dropped, so that recently used
// entries survive. It caches only successes: an invalid input costs a full
// parse every time, and cannot fill the cache.
type phoneCache struct {
	mu        sync.RWMutex
	size      int
	cur, prev map[string]string
}

func newPhoneCache(size int) *phoneCache {
	return &phoneCache{size: size, cur: make(map[string]string)}
}

func (c *phoneCache) get(key []byte) (string, bool) {
	c.mu.RLock()
	v, ok := c.cur[string(key)]
	promote := false
	if !ok {
		v, ok = c.prev[string(key)]
		promote = ok
	}
	c.mu.RUnlock()
	if promote {
		c.put(string(key), v)
	}
	return v, ok
}

func (c *phoneCache) put(key, v string) {
	c.mu.Lock()
	if len(c.cur) >= c.size {
		c.prev, c.cur = c.cur, make(map[string]string, c.size)
	}
	c.cur[key] = v
	c.mu.Unlock()
}

// ---- custom ----

func normalizeCustom(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", cpError("contact point is empty")
	}
	if len(s) > maxCustomLen {
		return "", cpError("contact point is longer than %d bytes", maxCustomLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7f {
			return "", cpError("contact point contains a control character")
		} else if c >= utf8.RuneSelf {
			if !utf8.ValidString(s[i:]) {
				return "", cpError("contact point is not valid UTF-8")
			}
			for _, r := range s[i:] {
				if unicode.IsControl(r) {
					return "", cpError("contact point contains a control character")
				}
			}
			break
		}
	}
	return s, nil
}
