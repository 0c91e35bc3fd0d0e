// Package i18n holds the words of everything consentd shows or sends to a
// person (the public pages, the confirmation mail, texts) in every shipped
// language, chooses a person's language, and formats dates and numbers
// for it.
//
// Translations are JSON files in locales/<language>/, one flat object of
// key → text per file, the files of a language merged. English has every
// key; a test fails when another language lacks one of them, has a key
// English does not, or names other placeholders. A text names its
// placeholders in braces ("Messages to {address}"), filled by Locale.T.
// A workspace may override any key per language (Locale.With).
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:embed locales
var files embed.FS

// Supported are the shipped languages, as BCP 47 tags. English, the
// first, is the fallback: it has every key.
var Supported = []string{"en", "de", "fr", "es", "ar"}

// Fallback is the language of last resort.
const Fallback = "en"

// rtl are the shipped languages written right to left.
var rtl = map[string]bool{"ar": true}

var (
	catalogs = map[string]map[string]string{} // language → key → text
	tags     []language.Tag                   // Supported, parsed
	matcher  language.Matcher
)

func init() {
	for _, lang := range Supported {
		m, err := load(files, lang)
		if err != nil {
			panic(err)
		}
		catalogs[lang] = m
		tags = append(tags, language.MustParse(lang))
	}
	matcher = language.NewMatcher(tags)
}

// load reads and merges the files of one language. A key defined twice is
// an error: each text has one place.
func load(fsys fs.FS, lang string) (map[string]string, error) {
	out := map[string]string{}
	dir := path.Join("locales", lang)
	names, err := fs.Glob(fsys, dir+"/*.json")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for k, v := range m {
			if _, dup := out[k]; dup {
				return nil, fmt.Errorf("%s: key %q is defined twice in %s", name, k, lang)
			}
			out[k] = v
		}
	}
	return out, nil
}

// Keys returns every key, sorted: English's.
func Keys() []string {
	keys := make([]string, 0, len(catalogs[Fallback]))
	for k := range catalogs[Fallback] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Has reports whether key is a text's key.
func Has(key string) bool {
	_, ok := catalogs[Fallback][key]
	return ok
}

// Text returns the shipped text of key in lang, and false when either is
// unknown.
func Text(lang, key string) (string, bool) {
	m, ok := catalogs[lang]
	if !ok {
		return "", false
	}
	s, ok := m[key]
	return s, ok
}

// Canonical returns the shipped language tag names ("de" for "DE"), and
// false when tag is not well-formed BCP 47 or names no shipped language
// exactly (a region or script is refused: "de-AT" is not shipped; use
// Match to find the nearest).
func Canonical(tag string) (string, bool) {
	t, err := language.Parse(tag)
	if err != nil {
		return "", false
	}
	s := t.String()
	_, ok := catalogs[s]
	return s, ok
}

// Match returns the shipped language nearest to tag ("de" for "de-AT"),
// and false when tag is malformed or no shipped language is close.
func Match(tag string) (string, bool) {
	t, err := language.Parse(strings.TrimSpace(tag))
	if err != nil || tag == "" {
		return "", false
	}
	_, i, conf := matcher.Match(t)
	if conf == language.No {
		return "", false
	}
	return Supported[i], true
}

// MatchAccept returns the shipped language an Accept-Language header
// prefers most, and false when the header is empty, malformed, or names no
// shipped language.
func MatchAccept(header string) (string, bool) {
	if strings.TrimSpace(header) == "" {
		return "", false
	}
	prefs, _, err := language.ParseAcceptLanguage(header)
	if err != nil || len(prefs) == 0 {
		return "", false
	}
	_, i, conf := matcher.Match(prefs...)
	if conf == language.No {
		return "", false
	}
	return Supported[i], true
}

// Choose picks a person's language, in order: their explicit choice on a
// page, the language recorded with their consent or party, the browser's
// Accept-Language, the workspace's default, English. Each candidate is
// matched to the nearest shipped language; one that matches none is
// skipped.
func Choose(explicit, recorded, acceptLanguage, workspaceDefault string) string {
	for _, c := range []string{explicit, recorded} {
		if l, ok := Match(c); ok {
			return l
		}
	}
	if l, ok := MatchAccept(acceptLanguage); ok {
		return l
	}
	if l, ok := Match(workspaceDefault); ok {
		return l
	}
	return Fallback
}

// Locale is one language's texts, with a workspace's overrides.
type Locale struct {
	Lang string // the shipped language tag
	// Dir is the direction of its script, "ltr" or "rtl", for the dir
	// attribute of a page.
	Dir       string
	overrides map[string]string
	printer   *message.Printer
}

// Get returns the locale of a shipped language; an unknown one gets
// English.
func Get(lang string) *Locale {
	if _, ok := catalogs[lang]; !ok {
		lang = Fallback
	}
	dir := "ltr"
	if rtl[lang] {
		dir = "rtl"
	}
	return &Locale{Lang: lang, Dir: dir, printer: message.NewPrinter(language.MustParse(lang))}
}

// With returns a copy of l whose texts are overridden by overrides (key →
// text, a workspace's for l's language). Keys no text has are ignored.
func (l *Locale) With(overrides map[string]string) *Locale {
	c := *l
	c.overrides = overrides
	return &c
}

// raw returns the text of key: the override, the language's text, or
// English's; the key itself when no text has it (a bug the key test
// catches).
func (l *Locale) raw(key string) string {
	if s, ok := l.overrides[key]; ok && Has(key) {
		return s
	}
	if s, ok := catalogs[l.Lang][key]; ok {
		return s
	}
	if s, ok := catalogs[Fallback][key]; ok {
		return s
	}
	return key
}

// T returns the text of key with its placeholders filled: args are pairs
// of a placeholder's name and its value. A placeholder without a value is
// left as it is.
func (l *Locale) T(key string, args ...string) string {
	s := l.raw(key)
	if len(args) < 2 || !strings.Contains(s, "{") {
		return s
	}
	pairs := make([]string, 0, len(args))
	for i := 0; i+1 < len(args); i += 2 {
		pairs = append(pairs, "{"+args[i]+"}", args[i+1])
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// Date writes t's day (in UTC) as the language writes dates: "3 December
// 2026", "3. Dezember 2026".
func (l *Locale) Date(t time.Time) string {
	t = t.UTC()
	months := strings.Split(l.raw("date.months"), ",")
	month := t.Month().String()
	if len(months) == 12 {
		month = strings.TrimSpace(months[t.Month()-1])
	}
	return l.T("date.format", "day", strconv.Itoa(t.Day()), "month", month, "year", strconv.Itoa(t.Year()))
}

// DateTime writes t (in UTC) with its date, time and zone: "3 December
// 2026, 14:05 UTC".
func (l *Locale) DateTime(t time.Time) string {
	t = t.UTC()
	return l.T("date.datetime", "date", l.Date(t), "time", t.Format("15:04"))
}

// Number writes n with the language's digit grouping: 1,234,567 in
// English, 1.234.567 in German.
func (l *Locale) Number(n int64) string { return l.printer.Sprint(n) }

// placeholders returns the {names} a text uses, sorted.
func placeholders(s string) []string {
	var out []string
	for _, m := range placeholderRE.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	sort.Strings(out)
	return out
}

var placeholderRE = regexp.MustCompile(`\{([a-z_]+)\}`)
