package consentd

import (
	"errors"
	"flag"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/unicode/norm"
)

type cpCase struct {
	kind   ContactPointKind
	raw    string
	region string
	want   string // "" means an EINVALIDCONTACTPOINT error is expected
}

var contactPointCases = []cpCase{
	// ---- email: valid ----
	{KindEmail, "jane@example.com", "", "jane@example.com"},
	{KindEmail, "Jane@Example.com ", "", "jane@example.com"},
	{KindEmail, "  JANE@EXAMPLE.COM\t\n", "", "jane@example.com"},
	{KindEmail, "\u00a0jane@example.com\u3000", "", "jane@example.com"}, // Unicode whitespace
	{KindEmail, "jane.doe+news@mail.example.co.uk", "", "jane.doe+news@mail.example.co.uk"},
	{KindEmail, "a@b.co", "", "a@b.co"},
	{KindEmail, "x_y-z!#$%&'*+/=?^`{|}~@example.org", "", "x_y-z!#$%&'*+/=?^`{|}~@example.org"},
	{KindEmail, "user@sub-domain.example-1.com", "", "user@sub-domain.example-1.com"},
	{KindEmail, "user@123.example", "", "user@123.example"},
	{KindEmail, "user@example.c0m", "", "user@example.c0m"},
	{KindEmail, "JÖRG@Bücher.DE", "", "jörg@xn--bcher-kva.de"},
	{KindEmail, "jo\u0308rg@bu\u0308cher.de", "", "jörg@xn--bcher-kva.de"}, // NFD equals NFC
	{KindEmail, "jörg@xn--bcher-kva.de", "", "jörg@xn--bcher-kva.de"},
	{KindEmail, "jorg@XN--BCHER-KVA.DE", "", "jorg@xn--bcher-kva.de"},
	{KindEmail, "用户@例子.测试", "", "用户@xn--fsqu00a.xn--0zwm56d"}, // IANA IDN test domain
	{KindEmail, "ÉLODIE@exemple.fr", "", "élodie@exemple.fr"},
	{KindEmail, "jane@faß.de", "", "jane@xn--fa-hia.de"},         // non-transitional: ß kept
	{KindEmail, "jane@example\u3002com", "", "jane@example.com"}, // ideographic full stop
	{KindEmail, "jane@ＥＸＡＭＰＬＥ.com", "", "jane@example.com"},      // full-width mapped by IDNA
	{KindEmail, strings.Repeat("a", 64) + "@example.com", "", strings.Repeat("a", 64) + "@example.com"},
	{KindEmail, "a@" + strings.Repeat("b", 63) + ".com", "", "a@" + strings.Repeat("b", 63) + ".com"},
	{KindEmail, email254(), "", email254()},

	// ---- email: invalid ----
	{KindEmail, "", "", ""},
	{KindEmail, "   ", "", ""},
	{KindEmail, "jane", "", ""},
	{KindEmail, "jane@", "", ""},
	{KindEmail, "@example.com", "", ""},
	{KindEmail, "jane@@example.com", "", ""},
	{KindEmail, "ja@ne@example.com", "", ""},
	{KindEmail, "Jane <jane@example.com>", "", ""},
	{KindEmail, "<jane@example.com>", "", ""},
	{KindEmail, `"jane"@example.com`, "", ""},
	{KindEmail, `"ja ne"@example.com`, "", ""},
	{KindEmail, "ja ne@example.com", "", ""},
	{KindEmail, "jane@exa mple.com", "", ""},
	{KindEmail, "ja\tne@example.com", "", ""},
	{KindEmail, "ja\x00ne@example.com", "", ""},
	{KindEmail, "jane\u200b@example.com", "", ""}, // zero-width space (Cf)
	{KindEmail, "ja,ne@example.com", "", ""},
	{KindEmail, "ja;ne@example.com", "", ""},
	{KindEmail, "ja:ne@example.com", "", ""},
	{KindEmail, "ja(ne)@example.com", "", ""},
	{KindEmail, "ja[ne]@example.com", "", ""},
	{KindEmail, `ja\ne@example.com`, "", ""},
	{KindEmail, ".jane@example.com", "", ""},
	{KindEmail, "jane.@example.com", "", ""},
	{KindEmail, "ja..ne@example.com", "", ""},
	{KindEmail, strings.Repeat("a", 65) + "@example.com", "", ""},
	{KindEmail, "jane@localhost", "", ""},
	{KindEmail, "jane@com", "", ""},
	{KindEmail, "jane@example..com", "", ""},
	{KindEmail, "jane@.example.com", "", ""},
	{KindEmail, "jane@example.com.", "", ""},
	{KindEmail, "jane@-example.com", "", ""},
	{KindEmail, "jane@example-.com", "", ""},
	{KindEmail, "jane@ex--ample.com", "", ""}, // hyphens in positions 3-4 (UTS 46 CheckHyphens)
	{KindEmail, "jane@exa_mple.com", "", ""},
	{KindEmail, "jane@example.123", "", ""},
	{KindEmail, "jane@192.168.0.1", "", ""},
	{KindEmail, "jane@[192.168.0.1]", "", ""},
	{KindEmail, "jane@[IPv6:2001:db8::1]", "", ""},
	{KindEmail, "jane@xn--abc.com", "", ""}, // invalid punycode
	{KindEmail, "jane@xn--.com", "", ""},
	{KindEmail, "a@" + strings.Repeat("b", 64) + ".com", "", ""},
	{KindEmail, email254() + "d", "", ""},                         // 255 bytes
	{KindEmail, "a@" + strings.Repeat("b.", 126) + "com", "", ""}, // 256 bytes
	{KindEmail, "jane@exam\xffple.com", "", ""},
	{KindEmail, "ja\xffne@example.com", "", ""},
	{KindEmail, strings.Repeat("a", 2000) + "@example.com", "", ""},
	{KindEmail, "jane@example.com\x00", "", ""},
	{KindEmail, "\x00jane@example.com", "", ""},
	{KindEmail, "jane@exa\x00mple.com", "", ""},
	{KindEmail, "ja\x1bne@example.com", "", ""},
	{KindEmail, "jane@bü\xffcher.de", "", ""},
	{KindEmail, "jä\xc3ne@example.com", "", ""}, // truncated sequence

	// ---- email: IDNA2008 and scripts of the domain ----
	{KindEmail, "a@bücher.de", "", "a@xn--bcher-kva.de"},
	{KindEmail, "a@xn--bcher-kva.de", "", "a@xn--bcher-kva.de"},
	{KindEmail, "a@例え.jp", "", "a@xn--r8jz45g.jp"},                          // Han + Hiragana
	{KindEmail, "a@ひらがな漢字.jp", "", "a@xn--v8j0cwa6gy22xv2ya.jp"},            // Hiragana + Han
	{KindEmail, "a@カタカナとかな.jp", "", "a@xn--u8jxch1xa3j6c.jp"},               // Katakana + Hiragana
	{KindEmail, "a@sonyソニー.jp", "", "a@xn--sony-jo4c6cxq.jp"},               // Latin + Katakana (and U+30FC, Common)
	{KindEmail, "a@한국어.kr", "", "a@xn--3e0bk47br7k.kr"},                     // Hangul
	{KindEmail, "a@пример.рф", "", "a@xn--e1afmkfd.xn--p1ai"},               // Cyrillic only
	{KindEmail, "a@l·l.cat", "", "a@xn--ll-0ea.cat"},                        // CONTEXTO middle dot between two l
	{KindEmail, "a@xn--ls8h.la", "", ""},                                    // U+1F4A9, an emoji: disallowed
	{KindEmail, "a@☃.com", "", ""},                                          // U+2603 SNOWMAN: disallowed
	{KindEmail, "a@xn--n3h.com", "", ""},                                    // the same in punycode
	{KindEmail, "a@a\u20d0b.com", "", ""},                                   // IgnorableBlocks (RFC 5892 2.4)
	{KindEmail, "a@a·b.com", "", ""},                                        // middle dot out of its context
	{KindEmail, "alice@ex\u0430mple.com", "", ""},                           // Cyrillic а among Latin letters
	{KindEmail, "alice@xn--exmple-4nf.com", "", ""},                         // the same in punycode
	{KindEmail, "a@p\u0430yp\u0430l.com", "", ""},                           // Latin and Cyrillic
	{KindEmail, "a@\u03b1b.com", "", ""},                                    // Greek α and Latin
	{KindEmail, "a@例え\u0430.jp", "", ""},                                    // Han, Hiragana and Cyrillic
	{KindEmail, "a@한국ひら.jp", "", ""},                                        // Hangul and Hiragana: not an allowed mixture
	{KindEmail, "ex\u0430mple@example.com", "", "ex\u0430mple@example.com"}, // mixed-script local part: accepted (docs)

	// ---- phone: valid (libphonenumber example numbers; see TestExampleNumbers) ----
	{KindPhone, "+12015550123", "", "+12015550123"},
	{KindPhone, "+1 201-555-0123", "", "+12015550123"},
	{KindPhone, "(201) 555-0123", "US", "+12015550123"},
	{KindPhone, "201.555.0123", "us", "+12015550123"}, // region case-insensitive
	{KindPhone, "1 201 555 0123", "US", "+12015550123"},
	{KindPhone, "011 44 121 234 5678", "US", "+441212345678"}, // US international prefix
	{KindPhone, "0121 234 5678", "GB", "+441212345678"},
	{KindPhone, "07400 123456", "GB", "+447400123456"},
	{KindPhone, "+44 (0)7400 123456", "", "+447400123456"},
	{KindPhone, "0044 7400 123456", "", "+447400123456"}, // "00" needs no region
	{KindPhone, "0044 7400 123456", "US", "+447400123456"},
	{KindPhone, "+44\u00a07400\u00a0123456", "", "+447400123456"}, // no-break spaces
	{KindPhone, "+44 7400\u2013123456", "", "+447400123456"},      // en dash
	{KindPhone, "030 123456", "DE", "+4930123456"},
	{KindPhone, "01512 3456789", "DE", "+4915123456789"},
	{KindPhone, "+49 1512 3456789", "GB", "+4915123456789"}, // '+' ignores the region
	{KindPhone, "  +49-30-123456  ", "", "+4930123456"},

	// ---- phone: invalid ----
	{KindPhone, "", "US", ""},
	{KindPhone, " \t", "US", ""},
	{KindPhone, "(201) 555-0123", "", ""},   // no country code, no default region
	{KindPhone, "(201) 555-0123", "XX", ""}, // unknown region
	{KindPhone, "1-800-FLOWERS", "US", ""},  // vanity number
	{KindPhone, "+1 800 FLOWERS", "", ""},
	{KindPhone, "+44 7400 123456 ext. 12", "", ""},
	{KindPhone, "+44 7400 123456#12", "", ""},
	{KindPhone, "+44/7400/123456", "", ""},
	{KindPhone, "44+7400123456", "", ""},
	{KindPhone, "++447400123456", "", ""},
	{KindPhone, "+", "", ""},
	{KindPhone, "()-.", "US", ""},
	{KindPhone, "+1 201 555 012", "", ""},   // too short
	{KindPhone, "+1 201 555 01234", "", ""}, // too long
	{KindPhone, "+1 000 000 0000", "", ""},  // not a valid NANP number
	{KindPhone, "+999 1234 5678", "", ""},   // unknown country code
	{KindPhone, "12345", "US", ""},          // too short for the US
	{KindPhone, "+4412", "", ""},            // too short
	{KindPhone, "00", "", ""},               // international prefix and nothing
	{KindPhone, "+１２０１５５５０１２３", "", ""},     // full-width digits
	{KindPhone, "+44 7400 123456\x00", "", ""},
	{KindPhone, "+44 7400 12345\xff", "", ""},
	{KindPhone, "+1 " + strings.Repeat("2", 30), "", ""},
	{KindPhone, "+49 201 00000000000", "", ""}, // valid for libphonenumber, but 16 digits (found by fuzzing)
	{KindPhone, "+1 201" + strings.Repeat(" ", 80) + "555 0123", "", ""},
	{KindPhone, "\x00+12015550123", "", ""},
	{KindPhone, "+1201555\x000123", "", ""},
	{KindPhone, "+1201555\x1b0123", "", ""},
	{KindPhone, "\xff+12015550123", "", ""},
	{KindPhone, "+1201555\u00850123", "", ""}, // C1 control NEL
	// With region BY, "08100000000" parses as +375 8100000000, but
	// "+3758100000000" reads back as +375 100000000 (the 8 is taken for the
	// national prefix), which is invalid: there is no E.164 form to store.
	{KindPhone, "08100000000", "BY", ""},
	{KindPhone, "+3758100000000", "", ""},

	// ---- custom ----
	{KindCustom, "device-token:AbC123", "", "device-token:AbC123"},
	{KindCustom, "  Device Token With Spaces  ", "", "Device Token With Spaces"},
	{KindCustom, "Ünïcödé", "", "Ünïcödé"},
	{KindCustom, "u\u0308", "", "u\u0308"}, // not NFC-normalized: exact
	{KindCustom, strings.Repeat("x", 512), "", strings.Repeat("x", 512)},
	{KindCustom, "", "", ""},
	{KindCustom, " \t\n", "", ""},
	{KindCustom, strings.Repeat("x", 513), "", ""},
	{KindCustom, "a\nb", "", ""},
	{KindCustom, "a\x00b", "", ""},
	{KindCustom, "a\x7fb", "", ""},
	{KindCustom, "é\u0085x", "", ""}, // C1 control after non-ASCII
	{KindCustom, "a\xffb", "", ""},
	{KindCustom, "\xff", "", ""},
	{KindCustom, "ab\x00", "", ""},
	{KindCustom, "\x00ab", "", ""},
	{KindCustom, "a\x1bb", "", ""},
	{KindCustom, "é\xc3", "", ""},

	// ---- unknown kind ----
	{"", "jane@example.com", "", ""},
	{"fax", "+12015550123", "US", ""},
}

// email254 is a valid address of exactly 254 bytes.
func email254() string {
	s := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "."
	return s + strings.Repeat("d", 254-len(s))
}

func TestNormalize(t *testing.T) {
	for _, tc := range contactPointCases {
		got, err := Normalize(tc.kind, tc.raw, tc.region)
		if tc.want == "" {
			if err == nil || ErrorCode(err) != EINVALIDCONTACTPOINT || got != "" {
				t.Errorf("Normalize(%q, %q) = %q, %v; want %q and code %s", tc.kind, tc.raw, got, err, tc.want, EINVALIDCONTACTPOINT)
				continue
			}
			var e *Error
			if !errors.As(err, &e) || len(e.Fields) != 1 || e.Fields[0].Field != "contact_point" || e.Fields[0].Code != EINVALIDCONTACTPOINT {
				t.Errorf("Normalize(%q, %q) error %#v: want one FieldError on contact_point", tc.kind, tc.raw, err)
			}
			// The message must not leak the contact point.
			if s := strings.TrimSpace(tc.raw); len(s) >= 4 && strings.Contains(e.Message, s) {
				t.Errorf("Normalize(%q, %q) error message %q contains the contact point", tc.kind, tc.raw, e.Message)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Normalize(%q, %q) = %q, %v; want %q", tc.kind, tc.raw, got, err, tc.want)
			continue
		}
		if again, err := Normalize(tc.kind, got, tc.region); err != nil || again != got {
			t.Errorf("Normalize(%q, %q) = %q, %v; want %q (idempotence)", tc.kind, got, again, err, got)
		}
	}
}

// TestNormalizeStored checks the fallback for contact points that earlier
// releases stored and Normalize now refuses: what the earlier normalization
// made of an input, or a stored E.164 number as is; and that it refuses what
// no release stored.
func TestNormalizeStored(t *testing.T) {
	for _, tc := range []cpCase{
		{KindPhone, "+3758100000000", "", "+3758100000000"},
		{KindPhone, " +3758100000000 ", "US", "+3758100000000"},
		{KindPhone, "08100000000", "BY", "+3758100000000"}, // what the earlier release stored for it
		{KindPhone, "+12015550123", "", "+12015550123"},    // valid: Normalize's answer
		{KindPhone, "(201) 555-0123", "US", "+12015550123"},
		{KindEmail, "a@xn--ls8h.la", "", "a@xn--ls8h.la"},
		{KindEmail, "A@☃.com", "", "a@xn--n3h.com"},
		{KindEmail, "alice@ex\u0430mple.com", "", "alice@xn--exmple-4nf.com"},
		{KindEmail, "alice@xn--exmple-4nf.com", "", "alice@xn--exmple-4nf.com"},
		{KindCustom, " token ", "", "token"},

		{KindPhone, "+0123456789", "", ""},
		{KindPhone, "+1", "", ""},
		{KindPhone, "+1234567890123456", "", ""}, // 16 digits
		{KindPhone, "+3758100000000\x00", "", ""},
		{KindPhone, "+375 (810) 000-00.00", "", "+3758100000000"}, // separators dropped
		{KindPhone, "+375 810 0000000x", "", ""},
		{KindPhone, "3758100000000", "", ""},
		{KindEmail, "a@xn--ls8h.la\x00", "", ""},
		{KindEmail, "a@xn--ls8\xffh.la", "", ""},
		{KindEmail, "a@xn--abc.com", "", ""},
		{KindCustom, "a\x00b", "", ""},
	} {
		got, err := NormalizeStored(tc.kind, tc.raw, tc.region)
		if tc.want == "" {
			if err == nil || ErrorCode(err) != EINVALIDCONTACTPOINT {
				t.Errorf("NormalizeStored(%q, %q, %q) = %q, %v; want code %s", tc.kind, tc.raw, tc.region, got, err, EINVALIDCONTACTPOINT)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeStored(%q, %q, %q) = %q, %v; want %q", tc.kind, tc.raw, tc.region, got, err, tc.want)
		}
		for _, region := range fuzzRegions {
			if again, err := NormalizeStored(tc.kind, got, region); err != nil || again != got {
				t.Errorf("NormalizeStored(%q, %q, %q) = %q, %v; want %q (idempotence)", tc.kind, got, region, again, err, got)
			}
		}
	}
}

// TestPhoneCache checks that the cache changes nothing: every phone row gives
// the same answer uncached, cold and warm, and that eviction keeps answers.
func TestPhoneCache(t *testing.T) {
	cache := newPhoneCache(4)
	for round := 0; round < 3; round++ {
		for _, tc := range contactPointCases {
			if tc.kind != KindPhone {
				continue
			}
			want, wantErr := normalizePhone(tc.raw, tc.region, nil)
			got, err := normalizePhone(tc.raw, tc.region, cache)
			if got != want || ErrorMessage(err) != ErrorMessage(wantErr) {
				t.Errorf("cached normalizePhone(%q, %q) = %q, %v; want %q, %v", tc.raw, tc.region, got, err, want, wantErr)
			}
		}
	}
	if len(cache.cur) > 4 || len(cache.prev) > 4 {
		t.Errorf("cache holds %d+%d entries; want at most 4+4", len(cache.cur), len(cache.prev))
	}
	if got := testing.AllocsPerRun(100, func() { _, _ = normalizePhone("+1 (201) 555-0123", "", cache) }); got != 0 {
		t.Errorf("cached normalizePhone allocates %v times; want 0", got)
	}
	if got := testing.AllocsPerRun(100, func() { _, _ = normalizePhone("(201) 555-0123", "us", cache) }); got != 0 {
		t.Errorf("cached national normalizePhone allocates %v times; want 0", got)
	}
}

func TestNormalizeErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		kind        ContactPointKind
		raw, region string
		msg         string
	}{
		{KindEmail, "jane.example.com", "", "email address has no @"},
		{KindEmail, "jane@", "", "email address has no domain"},
		{KindEmail, "Jane <jane@example.com>", "", "email address must be a bare address, without a display name or angle brackets"},
		{KindEmail, "jane@localhost", "", "email domain must have at least two labels"},
		{KindEmail, "a@xn--ls8h.la", "", "email domain contains a character that IDNA2008 disallows"},
		{KindEmail, "alice@ex\u0430mple.com", "", "email domain has a label that mixes scripts"},
		{KindPhone, "08100000000", "BY", "phone number has no E.164 form that reads back as the same number"},
		{KindPhone, "(201) 555-0123", "", "phone number has no country code and the workspace has no default region"},
		{KindPhone, "1-800-FLOWERS", "US", "phone number contains letters; only digits, spaces, dashes, dots and parentheses are accepted"},
		{"fax", "x", "", `unknown contact point kind "fax"`},
	} {
		_, err := Normalize(tc.kind, tc.raw, tc.region)
		if got := ErrorMessage(err); got != tc.msg {
			t.Errorf("Normalize(%q, %q) error message = %q; want %q", tc.kind, tc.raw, got, tc.msg)
		}
	}
}

func TestNormalizeFor(t *testing.T) {
	for _, tc := range []struct{ channel, raw, region, want string }{
		{ChannelEmail, "Jane@Example.com", "", "jane@example.com"},
		{ChannelSMS, "(201) 555-0123", "US", "+12015550123"},
		{ChannelWhatsApp, "07400 123456", "GB", "+447400123456"},
		{ChannelVoice, "030 123456", "DE", "+4930123456"},
		{ChannelPush, " Token-XYZ ", "", "Token-XYZ"},
		{"pager", " Pager #42 ", "", "Pager #42"},
	} {
		got, err := NormalizeFor(tc.channel, tc.raw, tc.region)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeFor(%q, %q) = %q, %v; want %q", tc.channel, tc.raw, got, err, tc.want)
		}
	}
	if _, err := NormalizeFor(ChannelSMS, "jane@example.com", "US"); ErrorCode(err) != EINVALIDCONTACTPOINT {
		t.Errorf("NormalizeFor(sms, email) error = %v; want code %s", err, EINVALIDCONTACTPOINT)
	}
}

// TestExampleNumbers checks libphonenumber's own example numbers, written
// nationally and internationally, so that the table above stays honest when
// the metadata changes.
func TestExampleNumbers(t *testing.T) {
	for _, region := range []string{"US", "GB", "DE", "FR", "IN", "BR", "JP", "AU", "IT"} {
		for _, typ := range []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE} {
			n := phonenumbers.GetExampleNumberForType(region, typ)
			if n == nil {
				t.Fatalf("no example number for %s", region)
			}
			want := phonenumbers.Format(n, phonenumbers.E164)
			for _, raw := range []string{
				phonenumbers.Format(n, phonenumbers.NATIONAL),
				phonenumbers.Format(n, phonenumbers.INTERNATIONAL),
				want,
			} {
				if got, err := Normalize(KindPhone, raw, region); err != nil || got != want {
					t.Errorf("Normalize(%q, %q) = %q, %v; want %q (region %s)", KindPhone, raw, got, err, want, region)
				}
			}
		}
	}
}

// TestExampleNumbersAllRegions normalizes the example number of every type in
// every region, written internationally, and checks idempotence. (National
// formats are not all parseable: libphonenumber itself cannot read back its
// national format of Argentina's example mobile number.)
func TestExampleNumbersAllRegions(t *testing.T) {
	for _, ex := range exampleNumbers() {
		want := phonenumbers.Format(ex, phonenumbers.E164)
		for _, raw := range []string{phonenumbers.Format(ex, phonenumbers.INTERNATIONAL), want} {
			got, err := normalizePhone(raw, "", nil)
			if err != nil || got != want {
				t.Errorf("Normalize(%q, %q) = %q, %v; want %q", KindPhone, raw, got, err, want)
				continue
			}
			if again, err := normalizePhone(got, "", nil); err != nil || again != got {
				t.Errorf("Normalize(%q, %q) = %q, %v; want %q (idempotence)", KindPhone, got, again, err, got)
			}
		}
	}
}

// exampleNumbers returns libphonenumber's example numbers of every type for
// every supported region.
func exampleNumbers() []*phonenumbers.PhoneNumber {
	var out []*phonenumbers.PhoneNumber
	for region := range phonenumbers.GetSupportedRegions() {
		for typ := phonenumbers.FIXED_LINE; typ <= phonenumbers.VOICEMAIL; typ++ {
			if ex := phonenumbers.GetExampleNumberForType(region, typ); ex != nil {
				out = append(out, ex)
			}
		}
	}
	return out
}

// TestEmailFastPath checks that the fast path agrees with the full one and
// that it takes the valid ASCII rows.
func TestEmailFastPath(t *testing.T) {
	for _, tc := range contactPointCases {
		if tc.kind != KindEmail {
			continue
		}
		checkFastSlow(t, tc.raw)
	}
	for _, raw := range []string{"jane@example.com", "Jane@Example.com ", " a.b@c-d.e1", "x@1.2.a"} {
		if _, ok := fastEmail(raw); !ok {
			t.Errorf("fastEmail(%q) not taken", raw)
		}
	}
	for _, raw := range []string{"jörg@x.de", "j@xn--bcher-kva.de", "j@ab--c.de", "j@x.123", "j@x.com.", "\u00a0j@x.com"} {
		if _, ok := fastEmail(raw); ok {
			t.Errorf("fastEmail(%q) taken; want the slow path", raw)
		}
	}
}

func checkFastSlow(t *testing.T, raw string) {
	t.Helper()
	fast, ok := fastEmail(raw)
	if !ok {
		return
	}
	slow, err := slowEmail(raw)
	if err != nil || slow != fast {
		t.Errorf("fastEmail(%q) = %q but slowEmail = %q, %v", raw, fast, slow, err)
	}
}

func TestNormalizeAllocs(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want float64
	}{
		{"jane.doe@example.com", 0},
		{"  jane.doe@example.com\n", 0},
		{"Jane.Doe@Example.com", 1},
	} {
		if got := testing.AllocsPerRun(100, func() { _, _ = Normalize(KindEmail, tc.raw, "") }); got != tc.want {
			t.Errorf("Normalize(%q, %q) allocates %v times; want %v", KindEmail, tc.raw, got, tc.want)
		}
	}
	canon := "jane.doe@example.com"
	if got, _ := Normalize(KindEmail, canon, ""); got != canon || unsafe.StringData(got) != unsafe.StringData(canon) {
		t.Errorf("Normalize(%q, %q) = %q; want the input", KindEmail, canon, got)
	}
}

// cpKind limits FuzzNormalize to one kind (email, phone or custom), so that
// each can be fuzzed on its own: go test -run x -fuzz FuzzNormalize . -cpkind=email
var cpKind = flag.String("cpkind", "", "limit FuzzNormalize to one contact point kind")

func FuzzNormalize(f *testing.F) {
	for _, tc := range contactPointCases {
		f.Add(tc.raw, tc.region)
	}
	for _, s := range []string{
		"İ@example.com", "ẞ@example.com", "ǅ@example.com", "Σ@example.com", "ꭰ@example.com",
		"a@ⓐ.com", "a@xn--ls8h.la", "a@xn--fa-hia.de", "a@ab\u00ad.com", "a@\u0627\u0644.com",
		"a@x\u200d.com", "a@☃.com", "alice@ex\u0430mple.com", "a@例え.jp", "+800 1234 5678", "+882 1234 5678", "+39 06 1234 5678", "+225 01 23 45 67 89",
	} {
		f.Add(s, "")
	}
	for _, ex := range exampleNumbers() {
		f.Add(phonenumbers.Format(ex, phonenumbers.INTERNATIONAL), "")
		f.Add(phonenumbers.Format(ex, phonenumbers.NATIONAL), phonenumbers.GetRegionCodeForNumber(ex))
	}
	kinds := []ContactPointKind{KindEmail, KindPhone, KindCustom}
	if *cpKind != "" {
		kinds = []ContactPointKind{ContactPointKind(*cpKind)}
	}
	f.Fuzz(func(t *testing.T, raw, region string) {
		for _, kind := range kinds {
			for _, region := range append([]string{region}, fuzzRegions...) {
				fuzzOne(t, kind, raw, region)
			}
		}
	})
}

// fuzzRegions are the default regions FuzzNormalize tries every input and
// every result with besides the fuzzed one: none, and regions whose
// national prefix or international prefix libphonenumber may take from an
// international number (BY, RU, KZ, UZ, LT: 8; HU: 06; MX, AR, ...).
var fuzzRegions = []string{"", "US", "GB", "DE", "FR", "BY", "RU", "KZ", "UZ", "LT", "HU", "MX", "AR", "BR", "IN", "JP", "AU", "IT", "CN", "KR"}

// fuzzOne checks Normalize of raw in region: an EINVALIDCONTACTPOINT error,
// or a canonical result that normalizes to itself in every region, strictly
// and as a stored form, and that the cache and the fast path agree.
func fuzzOne(t *testing.T, kind ContactPointKind, raw, region string) {
	got, err := Normalize(kind, raw, region)
	if err != nil {
		if ErrorCode(err) != EINVALIDCONTACTPOINT || got != "" {
			t.Fatalf("Normalize(%q, %q, %q) = %q, %v; want code %s", kind, raw, region, got, err, EINVALIDCONTACTPOINT)
		}
		if stored, err := NormalizeStored(kind, raw, region); err == nil {
			for _, r2 := range fuzzRegions {
				if again, err := NormalizeStored(kind, stored, r2); err != nil || again != stored {
					t.Fatalf("NormalizeStored(%q, %q, %q) = %q, %v; want %q (idempotence, from %q in %q)", kind, stored, r2, again, err, stored, raw, region)
				}
			}
		}
		return
	}
	if got == "" {
		t.Fatalf("Normalize(%q, %q, %q) = %q, %v; want non-empty", kind, raw, region, got, err)
	}
	for _, r2 := range fuzzRegions {
		if again, err := Normalize(kind, got, r2); err != nil || again != got {
			t.Fatalf("Normalize(%q, %q, %q) = %q, %v; want %q (idempotence, from %q in %q)", kind, got, r2, again, err, got, raw, region)
		}
		if again, err := NormalizeStored(kind, got, r2); err != nil || again != got {
			t.Fatalf("NormalizeStored(%q, %q, %q) = %q, %v; want %q (from %q in %q)", kind, got, r2, again, err, got, raw, region)
		}
	}
	checkCanonical(t, kind, raw, got)
	if kind == KindPhone {
		if uncached, err := normalizePhone(raw, region, nil); err != nil || uncached != got {
			t.Fatalf("normalizePhone(%q, %q, nil) = %q, %v; want %q as cached", raw, region, uncached, err, got)
		}
	}
	if kind == KindEmail {
		checkFastSlow(t, raw)
		checkFastSlow(t, got)
	}
}

func checkCanonical(t *testing.T, kind ContactPointKind, raw, got string) {
	t.Helper()
	fail := func(why string) {
		t.Fatalf("Normalize(%q, %q) = %q: %s", kind, raw, got, why)
	}
	if !utf8.ValidString(got) {
		fail("not valid UTF-8")
	}
	for _, r := range got {
		if unicode.IsControl(r) {
			fail("has a control character")
		}
	}
	switch kind {
	case KindEmail:
		at := strings.LastIndexByte(got, '@')
		if at <= 0 || strings.Count(got, "@") != 1 {
			fail("not one @")
		}
		if len(got) > maxEmailLen || at > maxEmailLocalLen {
			fail("too long")
		}
		for i := at + 1; i < len(got); i++ {
			if got[i] >= utf8.RuneSelf {
				fail("domain is not ASCII")
			}
		}
		for i := 0; i < len(got); i++ {
			if 'A' <= got[i] && got[i] <= 'Z' {
				fail("has ASCII upper case")
			}
		}
		if !utf8.ValidString(got) || !norm.NFC.IsNormalString(got) {
			fail("not NFC UTF-8")
		}
	case KindPhone:
		if len(got) < 2 || got[0] != '+' || strings.Trim(got[1:], "0123456789") != "" || len(got) > 16 {
			fail("not E.164")
		}
	case KindCustom:
		if got != strings.TrimSpace(raw) {
			fail("not the trimmed input")
		}
	}
}

var sinkCP string

func BenchmarkNormalizeEmail(b *testing.B) {
	for _, bc := range []struct{ name, raw string }{
		{"canonical", "jane.doe@example.com"},
		{"mixedcase", "Jane.Doe@Example.com"},
		{"idn", "JÖRG@Bücher.DE"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s, err := Normalize(KindEmail, bc.raw, "")
				if err != nil {
					b.Fatal(err)
				}
				sinkCP = s
			}
		})
	}
}

func BenchmarkNormalizePhone(b *testing.B) {
	for _, bc := range []struct{ name, raw, region string }{
		{"e164", "+447400123456", ""},
		{"national", "(201) 555-0123", "US"},
	} {
		for _, cached := range []bool{true, false} {
			name, cache := bc.name+"/cached", phones
			if !cached {
				name, cache = bc.name+"/uncached", nil
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					s, err := normalizePhone(bc.raw, bc.region, cache)
					if err != nil {
						b.Fatal(err)
					}
					sinkCP = s
				}
			})
		}
	}
}
