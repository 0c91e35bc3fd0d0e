package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"net/url"
	"time"
)

// STARTTLS policies of an smtp:// URL (?starttls=).
const (
	StartTLSAuto   = "auto"   // use it when the server offers it (the default)
	StartTLSAlways = "always" // refuse to send without it
	StartTLSNever  = "never"  // plain text: for a relay on loopback
)

// SMTP sends through a mail relay. It dials for each message; consentd's
// mail is a trickle, not a campaign.
type SMTP struct {
	Addr      string // host:port
	Host      string // for TLS verification and PLAIN auth
	Username  string
	Password  string
	Implicit  bool   // smtps://: TLS from the first byte
	StartTLS  string // StartTLSAuto, StartTLSAlways or StartTLSNever
	LocalName string // our name in EHLO; "localhost" when empty
	TLSConfig *tls.Config
	Timeout   time.Duration // for one whole message; 30s when zero
}

// NewSMTP parses a relay URL:
//
//	smtp://[user[:password]@]host[:port][?starttls=auto|always|never]
//	smtps://[user[:password]@]host[:port]
//
// The port defaults to 587 for smtp and 465 for smtps. With smtp://,
// STARTTLS is used when the server offers it (auto); credentials are sent
// only over TLS, or in plain text to a relay on loopback (localhost,
// 127.0.0.1, ::1).
func NewSMTP(raw string) (*SMTP, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("smtp url: %w", err)
	}
	s := &SMTP{StartTLS: StartTLSAuto}
	switch u.Scheme {
	case "smtp":
	case "smtps":
		s.Implicit = true
	default:
		return nil, fmt.Errorf("smtp url: scheme must be smtp or smtps, not %q", u.Scheme)
	}
	s.Host = u.Hostname()
	if s.Host == "" {
		return nil, errors.New("smtp url: no host")
	}
	port := u.Port()
	if port == "" {
		port = "587"
		if s.Implicit {
			port = "465"
		}
	}
	s.Addr = net.JoinHostPort(s.Host, port)
	if u.User != nil {
		s.Username = u.User.Username()
		s.Password, _ = u.User.Password()
	}
	q := u.Query()
	for k := range q {
		if k != "starttls" {
			return nil, fmt.Errorf("smtp url: unknown parameter %q", k)
		}
	}
	if v := q.Get("starttls"); v != "" {
		switch v {
		case StartTLSAuto, StartTLSAlways, StartTLSNever:
			s.StartTLS = v
		case "true", "required":
			s.StartTLS = StartTLSAlways
		case "false", "off":
			s.StartTLS = StartTLSNever
		default:
			return nil, fmt.Errorf("smtp url: starttls must be auto, always or never, not %q", v)
		}
		if s.Implicit {
			return nil, errors.New("smtp url: starttls does not apply to smtps")
		}
	}
	return s, nil
}

// String describes the relay without its password.
func (s *SMTP) String() string {
	scheme := "smtp"
	if s.Implicit {
		scheme = "smtps"
	}
	u := url.URL{Scheme: scheme, Host: s.Addr}
	if s.Username != "" {
		u.User = url.User(s.Username)
	}
	return u.String()
}

// Send delivers m to the relay: EHLO, STARTTLS by the policy, AUTH PLAIN
// when credentials are set, MAIL, RCPT, DATA. A 5xx answer is a
// PermanentError; other failures may be retried.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	from, to, err := m.addresses()
	if err != nil {
		return &PermanentError{err}
	}
	body, err := m.Bytes()
	if err != nil {
		return &PermanentError{err}
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", s.Addr, err)
	}
	defer conn.Close()
	dl, _ := ctx.Deadline()
	conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if s.Implicit {
		conn = tls.Client(conn, s.tlsConfig())
	}
	c, err := smtp.NewClient(conn, s.Host)
	if err != nil {
		return s.fail(err)
	}
	defer c.Close()
	name := s.LocalName
	if name == "" {
		name = "localhost"
	}
	if err := c.Hello(name); err != nil {
		return s.fail(err)
	}
	if !s.Implicit && s.StartTLS != StartTLSNever {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tlsConfig()); err != nil {
				return s.fail(err)
			}
		} else if s.StartTLS == StartTLSAlways {
			return &PermanentError{fmt.Errorf("smtp %s: the server does not offer STARTTLS", s.Addr)}
		}
	}
	if s.Username != "" {
		// Like smtp.PlainAuth: no password in plain text but to loopback.
		if _, tlsOn := c.TLSConnectionState(); !tlsOn && !loopback(s.Host) {
			return &PermanentError{fmt.Errorf("smtp %s: refusing to send credentials without TLS", s.Addr)}
		}
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, s.Host)); err != nil {
			return s.fail(err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return s.fail(err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return s.fail(err)
	}
	w, err := c.Data()
	if err != nil {
		return s.fail(err)
	}
	if _, err := w.Write(body); err != nil {
		return s.fail(err)
	}
	if err := w.Close(); err != nil {
		return s.fail(err)
	}
	if err := c.Quit(); err != nil {
		// The message was accepted at the end of DATA; a failed QUIT
		// does not take that back.
		return nil
	}
	return nil
}

func (s *SMTP) tlsConfig() *tls.Config {
	if s.TLSConfig != nil {
		c := s.TLSConfig.Clone()
		if c.ServerName == "" {
			c.ServerName = s.Host
		}
		return c
	}
	return &tls.Config{ServerName: s.Host, MinVersion: tls.VersionTLS12}
}

// fail wraps an error of the SMTP dialogue; a 5xx reply is permanent.
func (s *SMTP) fail(err error) error {
	err = fmt.Errorf("smtp %s: %w", s.Addr, err)
	var tp *textproto.Error
	if errors.As(err, &tp) && tp.Code >= 500 {
		return &PermanentError{err}
	}
	return err
}

// loopback reports whether host is one smtp.PlainAuth sends a password to
// without TLS.
func loopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
