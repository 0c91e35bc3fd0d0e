package doi

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/mail"
	"github.com/consentd/consentd/internal/signedlink"
)

// Mailer sends confirmation mail from the store's outbox. Run polls it; a
// confirmation is claimed for Lease, sent, and recorded as sent or failed.
// A temporary failure is tried again after 1, 2, 4 ... minutes, at most an
// hour apart, until the confirmation expires; a permanent one (the relay
// refused the address, say) is given up on and recorded.
type Mailer struct {
	DB        Store
	Links     *signedlink.Keyring
	Sender    mail.Sender
	PublicURL string // where /c/{token} is served, e.g. https://consent.example.com
	From      string // the From header; mail.DefaultFrom when empty
	Log       *slog.Logger
	Now       func() time.Time

	Interval time.Duration // how often Run polls; 2s by default
	Lease    time.Duration // how long a claimed mail is held; 2m by default
	Batch    int           // mails claimed at once; 20 by default
}

// NewMailer returns a Mailer with the defaults.
func NewMailer(db Store, links *signedlink.Keyring, sender mail.Sender, publicURL, from string, log *slog.Logger) *Mailer {
	return &Mailer{DB: db, Links: links, Sender: sender, PublicURL: publicURL, From: from, Log: log, Now: time.Now,
		Interval: 2 * time.Second, Lease: 2 * time.Minute, Batch: 20}
}

// Run sends due mail every Interval until ctx is done. A pass that fails
// (the database, not a send) is logged and tried again at the next tick.
func (m *Mailer) Run(ctx context.Context) {
	t := time.NewTicker(m.Interval)
	defer t.Stop()
	for {
		if _, err := m.SendDue(ctx); err != nil && ctx.Err() == nil {
			m.Log.Error("confirmation mail: read the outbox", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SendDue sends every confirmation mail that is due now, batch after
// batch, and returns how many went out.
func (m *Mailer) SendDue(ctx context.Context) (int, error) {
	sent := 0
	for ctx.Err() == nil {
		due, err := m.DB.ClaimConfirmationMails(ctx, m.Lease, m.Batch)
		if err != nil || len(due) == 0 {
			return sent, err
		}
		for _, f := range due {
			ok, err := m.send(ctx, f)
			if err != nil {
				return sent, err
			}
			if ok {
				sent++
			}
		}
	}
	return sent, ctx.Err()
}

// send sends one confirmation's mail and records the outcome; the error is
// the store's.
func (m *Mailer) send(ctx context.Context, f *consentd.Confirmation) (bool, error) {
	msg, err := m.Message(ctx, f)
	if err == nil {
		err = m.Sender.Send(ctx, msg)
	}
	retry := time.Duration(0)
	if err != nil && !mail.Permanent(err) {
		retry = backoff(f.SendAttempts)
	}
	if ctx.Err() != nil {
		return false, ctx.Err() // the lease runs out and it is tried again
	}
	sendErr := ""
	if err != nil {
		sendErr = err.Error()
		// The error may name the address: it goes to the store, which
		// holds the address anyway, not to the log.
		m.Log.Warn("confirmation mail not sent", "workspace", f.WorkspaceID, "attempt", f.SendAttempts+1, "retry_in", retry, "permanent", retry == 0)
	}
	if err := m.DB.ConfirmationMailed(ctx, f.WorkspaceID, f.Nonce, sendErr, retry); err != nil {
		return false, err
	}
	return sendErr == "", nil
}

// backoff is the wait before attempt n+1 after n failed ones.
func backoff(n int) time.Duration {
	if n > 6 {
		return time.Hour
	}
	return min(time.Minute<<n, time.Hour)
}

// Message builds the confirmation mail of f: to its address, with a
// subject naming the subscription, and a short text with the link and its
// expiry. No advertising: the person has not agreed to any yet. It
// returns a mail.PermanentError when no mail can be made (the address was
// erased, the channel is not email, the subscription left the catalog).
func (m *Mailer) Message(ctx context.Context, f *consentd.Confirmation) (mail.Message, error) {
	if f.CPKind != consentd.KindEmail {
		return mail.Message{}, &mail.PermanentError{Err: fmt.Errorf("no sender for %s contact points", f.CPKind)}
	}
	if f.ContactPoint == "" {
		return mail.Message{}, &mail.PermanentError{Err: fmt.Errorf("the contact point was erased")}
	}
	cat, err := m.DB.Catalog(ctx, f.WorkspaceID)
	if err != nil {
		return mail.Message{}, err
	}
	name, _, ok := subscriptionName(cat, f.ChannelType)
	if !ok {
		return mail.Message{}, &mail.PermanentError{Err: fmt.Errorf("channel type %s is no longer offered", f.ChannelType)}
	}
	token, err := Token(m.Links, f)
	if err != nil {
		return mail.Message{}, err
	}
	link := strings.TrimRight(m.PublicURL, "/") + "/c/" + token
	text := fmt.Sprintf(`Hello,

we received a request to send "%s" to %s.

Please confirm that this was you by opening the link below and pressing
the Confirm button:

%s

The link works until %s.

If you did not ask for this, ignore this message: you will not be
subscribed, and you will not hear from us about it again.
`, name, f.ContactPoint, link, f.ExpiresAt.UTC().Format("2 January 2006, 15:04 MST"))
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	return mail.Message{From: m.From, To: f.ContactPoint, Subject: "Please confirm your subscription to " + name, Text: text, Date: now()}, nil
}
