package consentd

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/consentd/consentd/internal/i18n"
	"golang.org/x/text/language"
)

// Limits of a workspace's brand, in bytes (the WorkspaceUpdate struct tags
// carry the same numbers for /openapi.json).
const (
	MaxSenderNameLen   = 200
	MaxFooterLen       = 1000
	MaxBrandURLLen     = 2048
	MaxTextOverrideLen = 2000 // one overridden text
	MaxLanguageTagLen  = 35   // a BCP 47 tag: language, script, region and a variant fit
	// MinAccentContrast is the contrast ratio an accent colour needs with
	// white: WCAG 2.x level AA for normal text. The pages put white text
	// on the colour (buttons) and the colour on white (links); the ratio
	// of the two pairs is the same.
	MinAccentContrast = 4.5
)

// ValidateBrand checks the brand fields of an update and puts them in
// their stored form: the default language and the languages of texts as
// shipped tags ("de" for "DE"), the accent colour in lower case, the
// public URL without a trailing slash. It returns an *Error with code
// EINVALID naming the first bad field. An empty string clears a setting.
func (u *WorkspaceUpdate) ValidateBrand() error {
	for _, f := range []struct {
		name string
		v    *string
		max  int
	}{
		{"sender_name", u.SenderName, MaxSenderNameLen},
		{"footer", u.Footer, MaxFooterLen},
		{"default_language", u.DefaultLanguage, MaxLanguageTagLen},
		{"accent_color", u.AccentColor, 7},
		{"privacy_url", u.PrivacyURL, MaxBrandURLLen},
		{"public_url", u.PublicURL, MaxBrandURLLen},
	} {
		if f.v != nil {
			if err := CheckText(f.name, *f.v, f.max); err != nil {
				return err
			}
		}
	}
	if u.DefaultLanguage != nil && *u.DefaultLanguage != "" {
		lang, ok := i18n.Canonical(*u.DefaultLanguage)
		if !ok {
			return FieldErrorf(EINVALID, "default_language", "default_language must be a shipped language: %s", strings.Join(i18n.Supported, ", "))
		}
		*u.DefaultLanguage = lang
	}
	if u.AccentColor != nil && *u.AccentColor != "" {
		c, err := CheckAccentColor(*u.AccentColor)
		if err != nil {
			return err
		}
		*u.AccentColor = c
	}
	if u.PrivacyURL != nil && *u.PrivacyURL != "" {
		if _, err := checkBrandURL("privacy_url", *u.PrivacyURL, false); err != nil {
			return err
		}
	}
	if u.PublicURL != nil && *u.PublicURL != "" {
		s, err := checkBrandURL("public_url", *u.PublicURL, true)
		if err != nil {
			return err
		}
		*u.PublicURL = s
	}
	if u.Texts != nil {
		texts, err := CheckTextOverrides(*u.Texts)
		if err != nil {
			return err
		}
		*u.Texts = texts
	}
	return nil
}

// CheckAccentColor checks an accent colour, "#rrggbb" in either case, and
// its contrast with white (at least MinAccentContrast). It returns the
// colour in lower case, or an *Error naming accent_color that gives the
// measured ratio.
func CheckAccentColor(s string) (string, error) {
	s = strings.ToLower(s)
	if len(s) != 7 || s[0] != '#' || strings.Trim(s[1:], "0123456789abcdef") != "" {
		return "", FieldErrorf(EINVALID, "accent_color", "accent_color must be a colour written #rrggbb, such as #1a56db")
	}
	if r := ContrastWithWhite(s); r < MinAccentContrast {
		// To two decimals as contrast checkers show it, but rounded down
		// when rounding would reach the minimum (4.497 reads 4.49).
		shown := math.Round(r*100) / 100
		if shown >= MinAccentContrast {
			shown = math.Floor(r*100) / 100
		}
		return "", FieldErrorf(EINVALID, "accent_color", "accent_color %s has a contrast of %s:1 with the white background; WCAG AA needs %s:1 (choose a darker colour)",
			s, strconv.FormatFloat(shown, 'f', -1, 64), strconv.FormatFloat(MinAccentContrast, 'f', -1, 64))
	}
	return s, nil
}

// ContrastWithWhite returns the WCAG 2.x contrast ratio of the colour
// "#rrggbb" (lower case) with white: (1 + 0.05) / (L + 0.05), L the
// colour's relative luminance. It returns 1 for a malformed colour.
func ContrastWithWhite(color string) float64 {
	v, err := strconv.ParseUint(strings.TrimPrefix(color, "#"), 16, 32)
	if err != nil || len(color) != 7 {
		return 1
	}
	channel := func(c uint64) float64 {
		s := float64(c) / 255
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	l := 0.2126*channel(v>>16&0xff) + 0.7152*channel(v>>8&0xff) + 0.0722*channel(v&0xff)
	return 1.05 / (l + 0.05)
}

// checkBrandURL checks an absolute http or https URL with a host and no
// user info; base (the public URL) also refuses a query or fragment and
// loses a trailing slash, as links are made by appending paths to it.
func checkBrandURL(field, s string, base bool) (string, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil || strings.ContainsAny(s, " \t\r\n"):
		return "", FieldErrorf(EINVALID, field, "%s must be an absolute URL such as https://example.com/privacy", field)
	case u.Scheme != "https" && u.Scheme != "http":
		return "", FieldErrorf(EINVALID, field, "%s must be an http or https URL", field)
	case u.Host == "" || u.Hostname() == "":
		return "", FieldErrorf(EINVALID, field, "%s must name a host", field)
	case u.User != nil:
		return "", FieldErrorf(EINVALID, field, "%s must not carry a user name or password", field)
	case base && (u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#")):
		return "", FieldErrorf(EINVALID, field, "%s is a base URL: no query or fragment", field)
	}
	if base {
		s = strings.TrimRight(s, "/")
	}
	return s, nil
}

// CheckTextOverrides checks a workspace's text overrides (language → key →
// text): each language a shipped one, each key a shipped text's, each text
// storable, at most MaxTextOverrideLen bytes and using only placeholders
// the shipped English text has (the code fills no others). It returns them
// with languages in their shipped spelling, or an *Error naming the field
// ("texts.de", "texts.de.<key>").
func CheckTextOverrides(texts map[string]map[string]string) (map[string]map[string]string, error) {
	out := make(map[string]map[string]string, len(texts))
	for _, lang := range sortedKeys(texts) {
		field := "texts." + lang
		canon, ok := i18n.Canonical(lang)
		if !ok {
			return nil, FieldErrorf(EINVALID, field, "%s: %q is not a shipped language (%s)", field, lang, strings.Join(i18n.Supported, ", "))
		}
		if _, dup := out[canon]; dup {
			return nil, FieldErrorf(EINVALID, field, "%s: language %s is given twice", field, canon)
		}
		m := make(map[string]string, len(texts[lang]))
		for _, key := range sortedKeys(texts[lang]) {
			v := texts[lang][key]
			kf := "texts." + canon + "." + key
			if !i18n.Has(key) {
				return nil, FieldErrorf(EINVALID, kf, "%s: unknown text key (GET /v1/texts lists them)", kf)
			}
			if v == "" {
				return nil, FieldErrorf(EINVALID, kf, "%s is empty: leave the key out to use the shipped text", kf)
			}
			if err := CheckText(kf, v, MaxTextOverrideLen); err != nil {
				return nil, err
			}
			en, _ := i18n.Text(i18n.Fallback, key)
			known := i18n.Placeholders(en)
			for _, p := range i18n.Placeholders(v) {
				if !slices.Contains(known, p) {
					return nil, FieldErrorf(EINVALID, kf, "%s uses the placeholder {%s}, which this text does not fill (it fills: %s)", kf, p, placeholderList(known))
				}
			}
			m[key] = v
		}
		if len(m) > 0 { // a language without overrides is no override
			out[canon] = m
		}
	}
	return out, nil
}

func placeholderList(ps []string) string {
	if len(ps) == 0 {
		return "none"
	}
	ps = slices.Compact(slices.Clone(ps))
	for i, p := range ps {
		ps[i] = "{" + p + "}"
	}
	return strings.Join(ps, ", ")
}

// checkLocalized checks the per-language names or descriptions of a
// purpose or topic (field "names" or "descriptions"): each key a shipped
// language in its shipped spelling, each text non-empty, storable, at most
// max bytes. It returns the problems as FieldErrors.
func checkLocalized(field string, m map[string]string, max int) []FieldError {
	var out []FieldError
	for _, lang := range sortedKeys(m) {
		f := field + "." + lang
		canon, ok := i18n.Canonical(lang)
		switch {
		case !ok:
			out = append(out, FieldError{Field: f, Code: EINVALID, Message: fmt.Sprintf("%s: %q is not a shipped language (%s)", f, lang, strings.Join(i18n.Supported, ", "))})
		case canon != lang:
			out = append(out, FieldError{Field: f, Code: EINVALID, Message: fmt.Sprintf("%s: write the language as %s", f, canon)})
		case m[lang] == "":
			out = append(out, FieldError{Field: f, Code: EINVALID, Message: fmt.Sprintf("%s is empty: leave the language out", f)})
		default:
			if err := CheckText(f, m[lang], max); err != nil {
				out = append(out, FieldError{Field: f, Code: EINVALID, Message: ErrorMessage(err)})
			}
		}
	}
	return out
}

// CanonicalLanguage checks a person's language, a well-formed BCP 47 tag
// with known subtags (golang.org/x/text/language refuses "xx"), and
// returns it in canonical form ("de-AT" for "de-at"); "" stays "". It
// returns an *Error naming field. Any language is allowed, not only the
// shipped ones: pages use the nearest shipped language.
func CanonicalLanguage(field, tag string) (string, error) {
	if tag == "" {
		return "", nil
	}
	if err := CheckText(field, tag, MaxLanguageTagLen); err != nil {
		return "", err
	}
	t, err := language.Parse(tag)
	if err != nil {
		return "", FieldErrorf(EINVALID, field, "%s must be a BCP 47 language tag such as de or pt-BR", field)
	}
	return t.String(), nil
}

// checkLanguageText checks a proof's language, text and text hash, and puts
// them in their stored form: the language canonical, the hash computed
// when only the text is given.
func (p *Proof) checkLanguageText() error {
	lang, err := CanonicalLanguage("proof.language", p.Language)
	if err != nil {
		return err
	}
	p.Language = lang
	if err := CheckText("proof.text", p.Text, MaxProofTextLen); err != nil {
		return err
	}
	if p.TextSHA256 != "" {
		if len(p.TextSHA256) != 64 || strings.Trim(p.TextSHA256, "0123456789abcdef") != "" {
			return FieldErrorf(EINVALID, "proof.text_sha256", "proof.text_sha256 must be 64 lower-case hex digits")
		}
	}
	if p.Text == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(p.Text))
	h := hex.EncodeToString(sum[:])
	if p.TextSHA256 == "" {
		p.TextSHA256 = h
	} else if p.TextSHA256 != h {
		return FieldErrorf(EINVALID, "proof.text_sha256", "proof.text_sha256 is not the SHA-256 of proof.text")
	}
	return nil
}

// MaxProofTextLen is the longest proof.text, the exact text a person was
// shown.
const MaxProofTextLen = 8192

// LinkBase returns the base URL of links for people of the workspace: its
// own public URL when set, else the server's default, without a trailing
// slash.
func (w *Workspace) LinkBase(serverDefault string) string {
	if w != nil && w.PublicURL != "" {
		return strings.TrimRight(w.PublicURL, "/")
	}
	return strings.TrimRight(serverDefault, "/")
}

// LogoURL is the path a workspace's logo is served at: it changes with the
// logo's content, so the image may be cached for good.
func LogoURL(wsID, sha256hex string) string { return "/brand/" + wsID + "/logo/" + sha256hex }

// Sender is who asks and who sends, as pages, mails and texts name it:
// the brand's sender name, else the workspace's name.
func (w *Workspace) Sender() string {
	if s := strings.TrimSpace(w.SenderName); s != "" {
		return s
	}
	return w.Name
}

// inLanguage returns the text of byLang for lang, else def: a name or
// description in the person's language.
func inLanguage(byLang map[string]string, lang, def string) string {
	if s := strings.TrimSpace(byLang[lang]); s != "" {
		return s
	}
	return def
}

// NameIn is the purpose's name in lang (Names), else Name.
func (p *Purpose) NameIn(lang string) string { return inLanguage(p.Names, lang, p.Name) }

// DescriptionIn is the purpose's description in lang (Descriptions), else
// Description.
func (p *Purpose) DescriptionIn(lang string) string {
	return inLanguage(p.Descriptions, lang, p.Description)
}

// NameIn is the topic's name in lang (Names), else Name.
func (t *Topic) NameIn(lang string) string { return inLanguage(t.Names, lang, t.Name) }

// DescriptionIn is the topic's description in lang (Descriptions), else
// Description.
func (t *Topic) DescriptionIn(lang string) string {
	return inLanguage(t.Descriptions, lang, t.Description)
}
