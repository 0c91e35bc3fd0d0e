package mail_test

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd/internal/mail"
	"github.com/consentd/consentd/internal/mail/mailtest"
)

func testMessage() mail.Message {
	return mail.Message{
		From:    "Consent Desk <consent@example.org>",
		To:      "jane@example.com",
		Subject: "Please confirm your subscription to Neuigkeiten für Sie",
		Text:    "Hello,\n\nconfirm here:\n\nhttps://consent.example.org/c/" + strings.Repeat("x", 180) + "\n\nThanks.\n",
		Date:    time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC),
	}
}

// parse reads a message and returns its header and decoded body.
func parse(t *testing.T, raw []byte) (*netmail.Message, string) {
	t.Helper()
	if !bytes.Contains(raw, []byte("\r\n\r\n")) {
		t.Fatalf("message has no CRLF header/body separator:\n%s", raw)
	}
	if i := bytes.IndexByte(bytes.ReplaceAll(raw, []byte("\r\n"), nil), '\n'); i >= 0 {
		t.Errorf("bare LF in message at %d", i)
	}
	m, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("ReadMessage: %v\n%s", err, raw)
	}
	if enc := m.Header.Get("Content-Transfer-Encoding"); enc != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding = %q", enc)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	return m, string(body)
}

func TestMessageBytes(t *testing.T) {
	m := testMessage()
	raw, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 78 && !strings.HasPrefix(line, "Subject:") {
			t.Errorf("line longer than 78 characters: %q", line)
		}
	}
	h, body := parse(t, raw)
	if got, _ := h.Header.Date(); !got.Equal(m.Date) {
		t.Errorf("Date = %v; want %v", got, m.Date)
	}
	if id := h.Header.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.org>") {
		t.Errorf("Message-ID = %q; want <...@example.org>", id)
	}
	from, err := h.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "consent@example.org" || from[0].Name != "Consent Desk" {
		t.Errorf("From = %v, %v", from, err)
	}
	if to, err := h.Header.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != "jane@example.com" {
		t.Errorf("To = %v, %v", to, err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Header.Get("Subject"))
	if err != nil || subject != m.Subject {
		t.Errorf("Subject = %q, %v; want %q", subject, err, m.Subject)
	}
	if ct := h.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if want := strings.ReplaceAll(m.Text, "\n", "\r\n"); body != want {
		t.Errorf("body = %q; want %q", body, want)
	}
}

func TestMessageHeaderInjection(t *testing.T) {
	m := testMessage()
	m.Subject = "Hi\r\nBcc: victim@example.net"
	raw, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	h, _ := parse(t, raw)
	if bcc := h.Header.Get("Bcc"); bcc != "" {
		t.Errorf("a subject with CRLF made a Bcc header: %q", bcc)
	}
	m = testMessage()
	m.To = "jane@example.com\r\nBcc: victim@example.net"
	if _, err := m.Bytes(); err == nil {
		t.Errorf("Bytes() with CRLF in To = nil error")
	}
}

func TestMessageDefaults(t *testing.T) {
	raw, err := (&mail.Message{To: "jane@example.com", Subject: "s", Text: "t"}).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	h, _ := parse(t, raw)
	if from := h.Header.Get("From"); from != "<consentd@localhost>" {
		t.Errorf("From = %q; want <consentd@localhost>", from)
	}
	if h.Header.Get("Date") == "" || !strings.HasSuffix(h.Header.Get("Message-ID"), "@localhost>") {
		t.Errorf("Date %q, Message-ID %q", h.Header.Get("Date"), h.Header.Get("Message-ID"))
	}
}

func TestSMTP(t *testing.T) {
	srv := mailtest.Start(t, "relay", "s3cret")
	s, err := mail.NewSMTP(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s.String(), "s3cret") {
		t.Errorf("String() = %q shows the password", s.String())
	}
	m := testMessage()
	if err := s.Send(t.Context(), m); err != nil {
		t.Fatalf("Send() = %v", err)
	}
	got := srv.Wait(t, 1, 5*time.Second)
	if got[0].From != "consent@example.org" || len(got[0].To) != 1 || got[0].To[0] != "jane@example.com" {
		t.Errorf("envelope from %q to %q", got[0].From, got[0].To)
	}
	_, body := parse(t, got[0].Data)
	if !strings.Contains(body, "https://consent.example.org/c/"+strings.Repeat("x", 180)) {
		t.Errorf("the link did not survive the trip:\n%s", body)
	}
}

func TestSMTPErrors(t *testing.T) {
	ctx := t.Context()
	srv := mailtest.Start(t, "relay", "s3cret")

	bad, _ := mail.NewSMTP(strings.Replace(srv.URL(), "s3cret", "wrong", 1))
	if err := bad.Send(ctx, testMessage()); err == nil || !mail.Permanent(err) {
		t.Errorf("Send() with a wrong password = %v; want a permanent error", err)
	}

	s, _ := mail.NewSMTP(srv.URL())
	srv.Fail(1, 451)
	if err := s.Send(ctx, testMessage()); err == nil || mail.Permanent(err) {
		t.Errorf("Send() answered 451 = %v; want a temporary error", err)
	}
	srv.Fail(1, 550)
	if err := s.Send(ctx, testMessage()); err == nil || !mail.Permanent(err) {
		t.Errorf("Send() answered 550 = %v; want a permanent error", err)
	}
	if err := s.Send(ctx, testMessage()); err != nil {
		t.Errorf("Send() after the failures = %v", err)
	}

	always, _ := mail.NewSMTP(srv.URL() + "?starttls=always")
	if err := always.Send(ctx, testMessage()); err == nil || !mail.Permanent(err) {
		t.Errorf("Send() with starttls=always to a server without it = %v; want a permanent error", err)
	}

	// Credentials in plain text go to loopback only.
	remote := &mail.SMTP{Addr: srv.Addr, Host: "relay.example", Username: "relay", Password: "s3cret", StartTLS: mail.StartTLSAuto}
	if err := remote.Send(ctx, testMessage()); err == nil || !mail.Permanent(err) {
		t.Errorf("Send() of a password without TLS to a non-loopback name = %v; want refused", err)
	}

	// Nobody listening: temporary.
	closed, _ := mail.NewSMTP("smtp://127.0.0.1:1")
	if err := closed.Send(ctx, testMessage()); err == nil || mail.Permanent(err) {
		t.Errorf("Send() to a closed port = %v; want a temporary error", err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("the server holds %d messages; want 1", n)
	}
}

func TestSMTPCancel(t *testing.T) {
	// A server that accepts and never answers: Send gives up with ctx.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	s, _ := mail.NewSMTP("smtp://" + ln.Addr().String())
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Send(ctx, testMessage()); err == nil {
		t.Errorf("Send() to a silent server = nil")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Send() took %v after its context ended", d)
	}
}

func TestNewSMTP(t *testing.T) {
	tests := []struct {
		url      string
		addr     string
		implicit bool
		starttls string
		user     string
		bad      bool
	}{
		{url: "smtp://mail.example.com", addr: "mail.example.com:587", starttls: "auto"},
		{url: "smtp://u:p%40ss@mail.example.com:25", addr: "mail.example.com:25", starttls: "auto", user: "u"},
		{url: "smtp://localhost:2525?starttls=never", addr: "localhost:2525", starttls: "never"},
		{url: "smtp://mail.example.com?starttls=always", addr: "mail.example.com:587", starttls: "always"},
		{url: "smtps://mail.example.com", addr: "mail.example.com:465", implicit: true, starttls: "auto"},
		{url: "smtp://[::1]:25", addr: "[::1]:25", starttls: "auto"},
		{url: "http://mail.example.com", bad: true},
		{url: "smtp://", bad: true},
		{url: "smtp://mail.example.com?starttls=maybe", bad: true},
		{url: "smtp://mail.example.com?from=x", bad: true},
		{url: "smtps://mail.example.com?starttls=never", bad: true},
	}
	for _, tc := range tests {
		s, err := mail.NewSMTP(tc.url)
		if tc.bad {
			if err == nil {
				t.Errorf("NewSMTP(%q) = nil error", tc.url)
			}
			continue
		}
		if err != nil {
			t.Errorf("NewSMTP(%q) = %v", tc.url, err)
			continue
		}
		if s.Addr != tc.addr || s.Implicit != tc.implicit || s.StartTLS != tc.starttls || s.Username != tc.user {
			t.Errorf("NewSMTP(%q) = %+v", tc.url, s)
		}
	}
	if s, _ := mail.NewSMTP("smtp://u:p%40ss@h"); s.Password != "p@ss" {
		t.Errorf("password %q; want p@ss", s.Password)
	}
}

func TestOutbox(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	s, err := mail.Open("", dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*mail.Outbox); !ok {
		t.Fatalf("Open without a URL = %T; want *mail.Outbox", s)
	}
	for range 2 {
		if err := s.Send(t.Context(), testMessage()); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	all, _ := os.ReadDir(dir)
	if len(files) != 2 || len(all) != 2 {
		t.Fatalf("outbox holds %d .eml of %d files; want 2", len(files), len(all))
	}
	fi, _ := os.Stat(files[0])
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("outbox file mode %v; want 0600", fi.Mode().Perm())
	}
	raw, _ := os.ReadFile(files[0])
	_, body := parse(t, raw)
	if !strings.Contains(body, "https://consent.example.org/c/") {
		t.Errorf("outbox message body:\n%s", body)
	}
	if s, err := mail.Open("smtp://localhost:25", dir); err != nil {
		t.Errorf("Open with a URL = %v", err)
	} else if _, ok := s.(*mail.SMTP); !ok {
		t.Errorf("Open with a URL = %T; want *mail.SMTP", s)
	}
}
