package consentd

import (
	"sort"
	"strings"
	"unicode"

	"golang.org/x/net/idna"
	"golang.org/x/text/secure/precis"
)

// checkIDNLabels checks the internationalized labels ("xn--") of a domain in
// its ASCII form, as IDNA lookup leaves it, decoded to Unicode:
//
//   - IDNA2008 (RFC 5891, 5892): every code point is PVALID, or CONTEXTJ or
//     CONTEXTO in a context that allows it. UTS #46 lookup, which maps the
//     input, also lets through symbols and emoji that IDNA2008 disallows
//     (its "NV8" code points, such as U+2603 SNOWMAN), and x/net/idna does not
//     check them; the PRECIS IdentifierClass (RFC 8264), whose derived
//     property is IDNA2008's without the Unstable rule (which UTS #46 mapping
//     already enforces) and without the IgnorableBlocks rule (checked here),
//     does.
//   - UTS #39 restriction level "highly restrictive", as browsers apply it
//     before they show a label in Unicode: the label's characters other than
//     Common and Inherited are of one script, or of Latin with Han and
//     Hiragana and Katakana (Japanese), with Han and Bopomofo (Chinese), or
//     with Han and Hangul (Korean). A label such as "exаmple" with a Cyrillic
//     "а" is refused: it spoofs another domain.
//
// ASCII labels are letters, digits and hyphens, single-script Latin, and need
// no check.
func checkIDNLabels(ascii string) error {
	for label := range strings.SplitSeq(ascii, ".") {
		if len(label) < 4 || label[:4] != "xn--" {
			continue
		}
		u, err := idna.Punycode.ToUnicode(label)
		if err != nil || u == label {
			return cpError("email domain is not a valid domain name")
		}
		if _, err := idnaLabel.String(u); err != nil {
			return cpError("email domain contains a character that IDNA2008 disallows")
		}
		for _, r := range u {
			if unicode.Is(idnaIgnorableBlocks, r) {
				return cpError("email domain contains a character that IDNA2008 disallows")
			}
		}
		if !singleScript(u) {
			return cpError("email domain has a label that mixes scripts")
		}
	}
	return nil
}

// idnaLabel enforces the IdentifierClass with its contextual rules and no
// mapping beyond NFC, which a decoded label already is.
var idnaLabel = precis.NewIdentifier()

// idnaIgnorableBlocks are the blocks that RFC 5892 section 2.4 disallows
// whatever the characters' categories: Combining Diacritical Marks for
// Symbols, Musical Symbols and Ancient Greek Musical Notation.
var idnaIgnorableBlocks = &unicode.RangeTable{R32: []unicode.Range32{
	{Lo: 0x20D0, Hi: 0x20FF, Stride: 1},
	{Lo: 0x1D100, Hi: 0x1D1FF, Stride: 1},
	{Lo: 0x1D200, Hi: 0x1D24F, Stride: 1},
}}

// Scripts of the allowed mixtures of UTS #39 "highly restrictive".
const (
	scLatin = 1 << iota
	scHan
	scHiragana
	scKatakana
	scBopomofo
	scHangul
	scOther // any other script; two of them are told apart by name
)

var scriptBits = map[string]uint8{
	"Latin": scLatin, "Han": scHan, "Hiragana": scHiragana, "Katakana": scKatakana,
	"Bopomofo": scBopomofo, "Hangul": scHangul,
}

// scripts lists unicode.Scripts by name, so that a search is deterministic.
var scripts = func() []string {
	names := make([]string, 0, len(unicode.Scripts))
	for name := range unicode.Scripts {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}()

// scriptOf returns the Script property of r ("Common" when none matches).
// It uses the Script property, not Script_Extensions, which Go's unicode
// package does not have: characters shared by a few scripts (such as U+30FC,
// the prolonged sound mark of Hiragana and Katakana) are Common and so
// ignored, which makes the check slightly more lenient than UTS #39, never
// stricter.
func scriptOf(r rune, last string) string {
	if last != "" && unicode.Is(unicode.Scripts[last], r) {
		return last
	}
	for _, name := range scripts {
		if unicode.Is(unicode.Scripts[name], r) {
			return name
		}
	}
	return "Common"
}

// singleScript reports whether a label meets UTS #39 "highly restrictive".
func singleScript(label string) bool {
	var set uint8
	other, last := "", ""
	for _, r := range label {
		if r < 0x80 {
			if 'a' <= r && r <= 'z' {
				set |= scLatin
			}
			continue
		}
		last = scriptOf(r, last)
		switch last {
		case "Common", "Inherited":
			continue
		}
		if b, ok := scriptBits[last]; ok {
			set |= b
			continue
		}
		if other != "" && other != last {
			return false
		}
		other = last
		set |= scOther
	}
	switch {
	case set&(set-1) == 0: // at most one script
		return true
	case set&scOther != 0:
		return false
	}
	const japanese = scLatin | scHan | scHiragana | scKatakana
	const chinese = scLatin | scHan | scBopomofo
	const korean = scLatin | scHan | scHangul
	return set&^japanese == 0 || set&^chinese == 0 || set&^korean == 0
}
