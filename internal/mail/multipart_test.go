package mail_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"strings"
	"testing"

	"github.com/consentd/consentd/internal/mail"
)

// TestMultipartMessage: a message with HTML is multipart/alternative of
// its text and HTML, the HTML in multipart/related with its inline image;
// From carries the display name, RFC 2047 encoded when not ASCII; the
// subject is encoded and Content-Language set.
func TestMultipartMessage(t *testing.T) {
	l := &mail.Letter{Lang: "ar", Dir: "rtl", Title: "تأكيد", Greeting: "مرحبًا،", Before: []string{"نص <b>"}, Button: "افتح", Link: "https://c.example/c/x?a=1&b=2",
		Facts: []mail.Fact{{Label: "ماذا", Value: "أخبار", Detail: "وصف"}}, Accent: "#6a1b9a", Footer: "Müller & Co", PrivacyLabel: "الخصوصية", PrivacyURL: "https://c.example/privacy"}
	logo := []byte("\x89PNG\r\n\x1a\nnot really a png, but bytes")
	in := l.WithLogo("image/png", logo, "شعار")
	html, err := l.HTML()
	if err != nil {
		t.Fatal(err)
	}
	msg := mail.Message{From: "Consent <consent@example.org>", FromName: "Bäckerei Müller", To: "a@example.com", Subject: l.Title,
		Text: l.Text(), HTML: html, Inline: []mail.Inline{in}, Language: "ar"}
	raw, err := msg.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	m, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if from, err := m.Header.AddressList("From"); err != nil || from[0].Name != "Bäckerei Müller" || from[0].Address != "consent@example.org" ||
		!strings.HasPrefix(m.Header.Get("From"), "=?utf-8?") {
		t.Errorf("From %q = %v, %v", m.Header.Get("From"), from, err)
	}
	if s, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); s != "تأكيد" || m.Header.Get("Content-Language") != "ar" {
		t.Errorf("Subject %q, Content-Language %q", s, m.Header.Get("Content-Language"))
	}
	mt, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if mt != "multipart/alternative" {
		t.Fatalf("Content-Type %s", mt)
	}
	var types []string
	var text, htmlPart string
	var image []byte
	var walk func(r *multipart.Reader)
	walk = func(r *multipart.Reader) {
		for {
			p, err := r.NextPart()
			if err == io.EOF {
				return
			} else if err != nil {
				t.Fatal(err)
			}
			ct, ps, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
			types = append(types, ct)
			switch ct {
			case "multipart/related":
				walk(multipart.NewReader(p, ps["boundary"]))
			case "text/plain":
				b, _ := io.ReadAll(p)
				text = string(b)
			case "text/html":
				b, _ := io.ReadAll(p)
				htmlPart = string(b)
			case "image/png":
				if p.Header.Get("Content-ID") != "<"+in.ContentID+">" {
					t.Errorf("Content-ID %q; want <%s>", p.Header.Get("Content-ID"), in.ContentID)
				}
				image, _ = io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
			}
		}
	}
	walk(multipart.NewReader(m.Body, params["boundary"]))
	if strings.Join(types, ",") != "text/plain,multipart/related,text/html,image/png" {
		t.Errorf("parts %v", types)
	}
	if !bytes.Equal(image, logo) {
		t.Errorf("the inline image is %q; want the logo", image)
	}
	for _, want := range []string{"نص <b>", "  ماذا:  أخبار\n", "https://c.example/c/x?a=1&b=2", "-- \nMüller & Co\nالخصوصية: https://c.example/privacy"} {
		if !strings.Contains(strings.ReplaceAll(text, "\r\n", "\n"), want) {
			t.Errorf("the text lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{`<html lang="ar" dir="rtl">`, "نص &lt;b&gt;", `src="cid:` + in.ContentID + `" alt="شعار"`, "background:#6a1b9a",
		`href="https://c.example/c/x?a=1&amp;b=2"`, "Müller &amp; Co", "text-align:right"} {
		if !strings.Contains(htmlPart, want) {
			t.Errorf("the HTML lacks %q:\n%s", want, htmlPart)
		}
	}
	// An accent that is no colour is not written into the style.
	l.Accent = "red;background:url(x)"
	if h, _ := l.HTML(); strings.Contains(h, "url(x)") || !strings.Contains(h, mail.DefaultAccent) {
		t.Errorf("a bad accent reached the HTML")
	}
	// Without HTML the message stays plain text.
	plain, _ := (&mail.Message{To: "a@example.com", Subject: "x", Text: "hello"}).Bytes()
	if !bytes.Contains(plain, []byte("Content-Type: text/plain; charset=utf-8\r\n")) || bytes.Contains(plain, []byte("multipart")) {
		t.Errorf("a plain message:\n%s", plain)
	}
}
