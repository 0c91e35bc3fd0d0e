package consentd

import (
	"strings"
	"testing"
	"time"
)

func TestTextProblem(t *testing.T) {
	for _, c := range []struct {
		s  string
		ok bool
	}{
		{"", true}, {"plain", true}, {"tab\tand\nlines\r\n", true}, {"ünïcödé \uFFFD 𝄞", true},
		{"a\x00b", false}, {"a\x07b", false}, {"a\x1bb", false}, {"a\xffb", false}, {"\xed\xa0\x80", false}, {"cut \xc3", false},
	} {
		if got := TextProblem(c.s) == ""; got != c.ok {
			t.Errorf("TextProblem(%q) = %q; want ok %v", c.s, TextProblem(c.s), c.ok)
		}
	}
	if err := CheckText("reason", strings.Repeat("a", 11), 10); ErrorCode(err) != EINVALID || err.(*Error).Fields[0].Field != "reason" {
		t.Errorf("CheckText(11 bytes, max 10) = %v; want invalid naming reason", err)
	}
}

func TestJSONTextProblem(t *testing.T) {
	for _, c := range []struct {
		doc string
		ok  bool
	}{
		{`{"a":"b"}`, true},
		{`{"a":"\n\t\"\\u0000"}`, true}, // an escaped backslash, then the letters u0000
		{`{"a":"\ud83d\ude00"}`, true},  // a surrogate pair
		{`{"a":"\u00e9\uFFFD"}`, true},
		{`{"a":"\u0000"}`, false},
		{`{"a\u0000":1}`, false},
		{`{"a":"\u001b"}`, false},
		{`{"a":"\ud800"}`, false},
		{`{"a":"\ud800x"}`, false},
		{`{"a":"\ud800\u0041"}`, false},
		{`{"a":"\udc00"}`, false},
		{"{\"a\":\"\xff\"}", false},
	} {
		if p, _ := JSONTextProblem([]byte(c.doc)); (p == "") != c.ok {
			t.Errorf("JSONTextProblem(%s) = %q; want ok %v", c.doc, p, c.ok)
		}
	}
}

func TestProofValidate(t *testing.T) {
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	future, old, ok := now.Add(time.Hour), time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC), now.Add(-time.Hour)
	for _, c := range []struct {
		p     *Proof
		field string
	}{
		{nil, ""},
		{&Proof{IP: "192.0.2.1", UserAgent: "ua", ConfirmedAt: &ok}, ""},
		{&Proof{IP: "2001:db8::1"}, ""},
		{&Proof{IP: "not-an-ip"}, "proof.ip"},
		{&Proof{IP: "192.0.2.1:80"}, "proof.ip"},
		{&Proof{UserAgent: strings.Repeat("u", MaxUserAgentLen+1)}, "proof.user_agent"},
		{&Proof{FormVersion: "v\x00"}, "proof.form_version"},
		{&Proof{ConfirmedAt: &future}, "proof.confirmed_at"},
		{&Proof{ConfirmedAt: &old}, "proof.confirmed_at"},
	} {
		err := c.p.Validate(now)
		var field string
		if e, ok := err.(*Error); ok {
			field = e.Fields[0].Field
		}
		if field != c.field {
			t.Errorf("%+v.Validate() = %v; want a problem with %q", c.p, err, c.field)
		}
	}
}

func TestCapturedProof(t *testing.T) {
	p := CapturedProof("not an ip", "Kiosk \xff\x01"+strings.Repeat("é", 400), "page")
	if p.IP != "" || TextProblem(p.UserAgent) != "" || len(p.UserAgent) > MaxUserAgentLen || !strings.HasPrefix(p.UserAgent, "Kiosk \uFFFD\uFFFD") || p.FormVersion != "page" {
		t.Errorf("CapturedProof = %+v", p)
	}
	if err := p.Validate(time.Now()); err != nil {
		t.Errorf("a captured proof does not validate: %v", err)
	}
	if p := CapturedProof("203.0.113.7", "ua", "f"); p.IP != "203.0.113.7" {
		t.Errorf("CapturedProof kept IP %q", p.IP)
	}
}
