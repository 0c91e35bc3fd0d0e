// Package mail sends consentd's own mail (the double opt-in confirmation):
// a Message rendered as RFC 5322 text, and two Senders, SMTP for a real
// relay (--smtp-url) and Outbox, which writes .eml files into a folder
// when no relay is configured.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
)

// DefaultFrom is the From address when none is configured.
const DefaultFrom = "consentd@localhost"

// Message is one plain-text message to one recipient.
type Message struct {
	From      string // an RFC 5322 address, with or without a display name; DefaultFrom when empty
	To        string // the recipient's address
	Subject   string
	Text      string    // the body, plain text; line breaks as \n or \r\n
	Date      time.Time // zero: now
	MessageID string    // without angle brackets; zero: random at From's domain
}

// Sender sends messages. Send returns once the message is handed over (to
// the relay, or to the outbox folder).
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Open returns the Sender for a configuration: SMTP when smtpURL is set,
// else an Outbox writing into outboxDir.
func Open(smtpURL, outboxDir string) (Sender, error) {
	if smtpURL != "" {
		return NewSMTP(smtpURL)
	}
	return NewOutbox(outboxDir)
}

// addresses parses From and To, filling the defaults.
func (m *Message) addresses() (from, to *mail.Address, err error) {
	f := m.From
	if f == "" {
		f = DefaultFrom
	}
	if from, err = mail.ParseAddress(f); err != nil {
		return nil, nil, fmt.Errorf("mail: From %q: %w", f, err)
	}
	if to, err = mail.ParseAddress(m.To); err != nil {
		return nil, nil, fmt.Errorf("mail: To: %w", err)
	}
	return from, to, nil
}

// Bytes renders m as an RFC 5322 message with CRLF line endings: Date,
// Message-ID, From, To, Subject (RFC 2047 encoded when not ASCII), MIME
// headers, and the text as UTF-8 quoted-printable.
func (m *Message) Bytes() ([]byte, error) {
	from, to, err := m.addresses()
	if err != nil {
		return nil, err
	}
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	id := m.MessageID
	if id == "" {
		id = NewMessageID(from.Address)
	}
	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(name)
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteString("\r\n")
	}
	header("Date", date.Format(time.RFC1123Z))
	header("Message-ID", "<"+oneLine(id)+">")
	header("From", from.String())
	header("To", to.String())
	header("Subject", mime.QEncoding.Encode("utf-8", oneLine(m.Subject)))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	text := strings.ReplaceAll(m.Text, "\r\n", "\n")
	if _, err := qp.Write([]byte(text)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes(), nil
}

// NewMessageID returns a random Message-ID (without angle brackets) at the
// domain of addr.
func NewMessageID(addr string) string {
	domain := "localhost"
	if i := strings.LastIndexByte(addr, '@'); i >= 0 && i < len(addr)-1 {
		domain = addr[i+1:]
	}
	r := make([]byte, 16)
	rand.Read(r)
	return hex.EncodeToString(r) + "@" + domain
}

// oneLine keeps header values on one line, whatever the configuration or
// the catalog holds, and at a length that needs no folding.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == '\t' {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		i := 200
		for i > 0 && !isRuneStart(s[i]) {
			i--
		}
		s = s[:i] + "..."
	}
	return s
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// PermanentError is a refusal that retrying will not change: the relay
// answered 5xx, or the message cannot be built.
type PermanentError struct{ Err error }

// Error implements error.
func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns the refusal.
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent reports whether err is a PermanentError.
func Permanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}
