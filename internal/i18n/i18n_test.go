package i18n

import (
	"reflect"
	"testing"
	"testing/fstest"
	"time"
)

// Every shipped language has exactly English's keys, each text with the
// same placeholders: a text added in English and forgotten in another
// language fails here.
func TestEveryLanguageHasEveryKey(t *testing.T) {
	en := catalogs[Fallback]
	if len(en) == 0 {
		t.Fatal("English has no texts")
	}
	for _, lang := range Supported[1:] {
		m := catalogs[lang]
		for k, v := range en {
			s, ok := m[k]
			if !ok {
				t.Errorf("%s lacks key %q", lang, k)
				continue
			}
			if s == "" && v != "" {
				t.Errorf("%s: key %q is empty", lang, k)
			}
			if got, want := placeholders(s), placeholders(v); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: key %q has placeholders %v; English has %v", lang, k, got, want)
			}
		}
		for k := range m {
			if _, ok := en[k]; !ok {
				t.Errorf("%s has key %q that English lacks", lang, k)
			}
		}
	}
}

func TestDuplicateKeyRefused(t *testing.T) {
	fsys := fstest.MapFS{
		"locales/xx/a.json": {Data: []byte(`{"k": "one"}`)},
		"locales/xx/b.json": {Data: []byte(`{"k": "two"}`)},
	}
	if _, err := load(fsys, "xx"); err == nil {
		t.Fatal("a key defined in two files was accepted")
	}
}

func TestChoose(t *testing.T) {
	for _, c := range []struct {
		explicit, recorded, accept, def, want string
	}{
		{"", "", "", "", "en"},
		{"", "", "", "fr", "fr"},
		{"", "", "de-DE,de;q=0.9,en;q=0.8", "fr", "de"},
		{"", "", "pt-BR,es;q=0.5", "en", "es"},
		{"", "", "pt-BR", "fr", "fr"},
		{"", "", "not a header ;;;", "es", "es"},
		{"", "de-AT", "fr", "en", "de"},
		{"ar", "de", "fr", "en", "ar"},
		{"xx-invalid-!!", "", "es", "en", "es"},
		{"pt", "zz", "", "de", "de"},
		{"FR", "", "", "", "fr"},
	} {
		if got := Choose(c.explicit, c.recorded, c.accept, c.def); got != c.want {
			t.Errorf("Choose(%q, %q, %q, %q) = %q; want %q", c.explicit, c.recorded, c.accept, c.def, got, c.want)
		}
	}
}

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{"de": "de", "DE": "de", "ar": "ar", "de-AT": "", "pt": "", "": "", "x!": ""} {
		got, ok := Canonical(in)
		if ok != (want != "") || got != want && ok {
			t.Errorf("Canonical(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestFormats(t *testing.T) {
	at := time.Date(2026, 12, 3, 14, 5, 0, 0, time.UTC)
	for _, c := range []struct{ lang, date, datetime, number string }{
		{"en", "3 December 2026", "3 December 2026, 14:05 UTC", "1,234,567"},
		{"de", "3. Dezember 2026", "3. Dezember 2026, 14:05 Uhr UTC", "1.234.567"},
		{"fr", "3 décembre 2026", "3 décembre 2026 à 14:05 UTC", "1\u00a0234\u00a0567"},
		{"es", "3 de diciembre de 2026", "3 de diciembre de 2026, 14:05 UTC", "1.234.567"},
	} {
		l := Get(c.lang)
		if got := l.Date(at); got != c.date {
			t.Errorf("%s Date = %q; want %q", c.lang, got, c.date)
		}
		if got := l.DateTime(at); got != c.datetime {
			t.Errorf("%s DateTime = %q; want %q", c.lang, got, c.datetime)
		}
		if got := l.Number(1234567); got != c.number {
			t.Errorf("%s Number = %q; want %q", c.lang, got, c.number)
		}
	}
	if Get("ar").Dir != "rtl" || Get("de").Dir != "ltr" {
		t.Error("direction: want ar rtl, de ltr")
	}
	if Get("zz").Lang != "en" {
		t.Error("an unknown language should get English")
	}
}

func TestOverridesAndPlaceholders(t *testing.T) {
	l := Get("de").With(map[string]string{"lang.name": "Deutsch (Sie)", "no.such.key": "x"})
	if got := l.T("lang.name"); got != "Deutsch (Sie)" {
		t.Errorf("override = %q", got)
	}
	if got := l.T("no.such.key"); got != "no.such.key" {
		t.Errorf("an override of an unknown key was used: %q", got)
	}
	if got := Get("en").T("date.format", "day", "1", "month", "May", "year", "2027"); got != "1 May 2027" {
		t.Errorf("T = %q", got)
	}
}
