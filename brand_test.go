package consentd

import (
	"math"
	"strings"
	"testing"
)

// TestAccentContrast checks the WCAG 2.x contrast of accent colours with
// white against known ratios, and that CheckAccentColor refuses those
// under 4.5:1 with the measured ratio in its message.
func TestAccentContrast(t *testing.T) {
	for _, tc := range []struct {
		color string
		ratio float64
		ok    bool
	}{
		{"#000000", 21, true},
		{"#ffffff", 1, false},
		{"#767676", 4.54, true},
		{"#777777", 4.48, false},
		{"#1a56db", 6.18, true},
		{"#0000ff", 8.59, true},
		{"#ff0000", 4.0, false},
		{"#008000", 5.14, true},
		{"#D1D1D1", 1.53, false},
		{"#ffff00", 1.07, false},
	} {
		got := ContrastWithWhite(strings.ToLower(tc.color))
		if math.Abs(got-tc.ratio) > 0.01 {
			t.Errorf("ContrastWithWhite(%s) = %.3f; want %.2f", tc.color, got, tc.ratio)
		}
		c, err := CheckAccentColor(tc.color)
		switch {
		case tc.ok && (err != nil || c != strings.ToLower(tc.color)):
			t.Errorf("CheckAccentColor(%s) = %q, %v; want it in lower case", tc.color, c, err)
		case !tc.ok && (ErrorCode(err) != EINVALID || !strings.Contains(ErrorMessage(err), "4.5:1")):
			t.Errorf("CheckAccentColor(%s) = %v; want EINVALID giving the ratio", tc.color, err)
		}
	}
	_, err := CheckAccentColor("#777777")
	if msg := ErrorMessage(err); !strings.Contains(msg, "contrast of 4.48:1 with the white background") {
		t.Errorf("CheckAccentColor(#777777) says %q; want the measured 4.48:1", msg)
	}
	for _, bad := range []string{"", "red", "#fff", "#12345g", "1a56db0", "#1a56db0"} {
		if _, err := CheckAccentColor(bad); ErrorCode(err) != EINVALID {
			t.Errorf("CheckAccentColor(%q) = %v; want EINVALID", bad, err)
		}
	}
}

func TestLinkBase(t *testing.T) {
	for _, tc := range []struct{ public, server, want string }{
		{"", "http://127.0.0.1:8080/", "http://127.0.0.1:8080"},
		{"https://news.example.com", "http://127.0.0.1:8080", "https://news.example.com"},
		{"https://example.com/consent/", "http://127.0.0.1:8080", "https://example.com/consent"},
	} {
		w := &Workspace{Brand: Brand{PublicURL: tc.public}}
		if got := w.LinkBase(tc.server); got != tc.want {
			t.Errorf("LinkBase(%q) with public URL %q = %q; want %q", tc.server, tc.public, got, tc.want)
		}
	}
}

func TestCanonicalLanguage(t *testing.T) {
	for in, want := range map[string]string{"": "", "de": "de", "DE": "de", "de-at": "de-AT", "pt-br": "pt-BR", "zh-hant-tw": "zh-Hant-TW"} {
		if got, err := CanonicalLanguage("language", in); err != nil || got != want {
			t.Errorf("CanonicalLanguage(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"xx", "en-", "de_AT!", "e", "not a tag"} {
		if _, err := CanonicalLanguage("language", bad); ErrorCode(err) != EINVALID {
			t.Errorf("CanonicalLanguage(%q) = %v; want EINVALID", bad, err)
		}
	}
}
