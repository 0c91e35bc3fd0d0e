// Package mail sends consentd's own mail (the double opt-in confirmation):
// a Message rendered as RFC 5322 text, and two Senders, SMTP for a real
// relay (--smtp-url) and Outbox, which writes .eml files into a folder
// when no relay is configured.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
)

// DefaultFrom is the From address when none is configured.
const DefaultFrom = "consentd@localhost"

// Message is one message to one recipient: plain text, or plain text and
// HTML as alternatives of each other.
type Message struct {
	From string // an RFC 5322 address, with or without a display name; DefaultFrom when empty
	// FromName, when set, is the display name of From in place of the one
	// From has: the sender people know ("Beispiel GmbH"), at the
	// configured address. Encoded per RFC 2047 when not ASCII.
	FromName string
	To       string // the recipient's address
	Subject  string
	Text     string // the body, plain text; line breaks as \n or \r\n
	// HTML, when set, is the same message as an HTML document: the mail
	// is multipart/alternative, Text first, so that a reader without HTML
	// shows the text.
	HTML string
	// Inline are images the HTML shows by "cid:" URL (a logo): with them
	// the HTML part is multipart/related. Ignored without HTML.
	Inline []Inline
	// Language is the language of the message (BCP 47), for the
	// Content-Language header; none when empty.
	Language  string
	Date      time.Time // zero: now
	MessageID string    // without angle brackets; zero: random at From's domain
}

// Inline is an image part of an HTML message, named by its Content-ID.
type Inline struct {
	ContentID   string // without angle brackets; the HTML shows it as "cid:" + ContentID
	ContentType string // image/png, image/jpeg, ...
	Data        []byte
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
	if n := oneLine(m.FromName); strings.TrimSpace(n) != "" {
		from.Name = strings.TrimSpace(n)
	}
	if to, err = mail.ParseAddress(m.To); err != nil {
		return nil, nil, fmt.Errorf("mail: To: %w", err)
	}
	return from, to, nil
}

// Bytes renders m as an RFC 5322 message with CRLF line endings: Date,
// Message-ID, From, To, Subject (RFC 2047 encoded when not ASCII),
// Content-Language, MIME headers, and the body: the text as UTF-8
// quoted-printable, or with HTML a multipart/alternative of the text and
// the HTML (multipart/related with its inline images).
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
	if l := oneLine(m.Language); l != "" {
		header("Content-Language", l)
	}
	header("MIME-Version", "1.0")
	header("Auto-Submitted", "auto-generated")
	if m.HTML == "" {
		header("Content-Type", "text/plain; charset=utf-8")
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		if err := writeQP(&b, m.Text); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	alt := multipart.NewWriter(&b)
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": alt.Boundary()}))
	b.WriteString("\r\n")
	if err := textPart(alt, "text/plain; charset=utf-8", m.Text); err != nil {
		return nil, err
	}
	if len(m.Inline) == 0 {
		if err := textPart(alt, "text/html; charset=utf-8", m.HTML); err != nil {
			return nil, err
		}
	} else if err := relatedPart(alt, m.HTML, m.Inline); err != nil {
		return nil, err
	}
	if err := alt.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// partWriter is a multipart writer, or anything that makes parts.
type partWriter interface {
	CreatePart(textproto.MIMEHeader) (io.Writer, error)
}

// textPart adds a quoted-printable UTF-8 text part.
func textPart(w partWriter, contentType, text string) error {
	p, err := w.CreatePart(textproto.MIMEHeader{"Content-Type": {contentType}, "Content-Transfer-Encoding": {"quoted-printable"}})
	if err != nil {
		return err
	}
	return writeQP(p, text)
}

// relatedPart adds a multipart/related part: the HTML, then each inline
// image, base64, by Content-ID.
func relatedPart(w partWriter, html string, inline []Inline) error {
	var b bytes.Buffer
	rel := multipart.NewWriter(&b)
	p, err := w.CreatePart(textproto.MIMEHeader{"Content-Type": {mime.FormatMediaType("multipart/related",
		map[string]string{"boundary": rel.Boundary(), "type": "text/html"})}})
	if err != nil {
		return err
	}
	if err := textPart(rel, "text/html; charset=utf-8", html); err != nil {
		return err
	}
	for _, in := range inline {
		ip, err := rel.CreatePart(textproto.MIMEHeader{"Content-Type": {oneLine(in.ContentType)}, "Content-Transfer-Encoding": {"base64"},
			"Content-ID": {"<" + oneLine(in.ContentID) + ">"}, "Content-Disposition": {"inline"}})
		if err != nil {
			return err
		}
		enc := base64.StdEncoding.EncodeToString(in.Data)
		for len(enc) > 76 {
			io.WriteString(ip, enc[:76]+"\r\n")
			enc = enc[76:]
		}
		io.WriteString(ip, enc+"\r\n")
	}
	if err := rel.Close(); err != nil {
		return err
	}
	_, err = p.Write(b.Bytes())
	return err
}

// writeQP writes text as quoted-printable with CRLF line endings, ending
// in a line break.
func writeQP(w io.Writer, text string) error {
	var b bytes.Buffer
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(strings.ReplaceAll(text, "\r\n", "\n"))); err != nil {
		return err
	}
	if err := qp.Close(); err != nil {
		return err
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	_, err := w.Write(b.Bytes())
	return err
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
