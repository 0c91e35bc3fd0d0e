package doi

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/mail"
	"github.com/consentd/consentd/internal/signedlink"
)

// Mailer sends confirmation mail: it runs the confirmation_mail jobs that
// recording a confirmation queues (automation.Runner, which claims them
// with a lease, retries a temporary failure with backoff and fails a job
// that is out of attempts or refused for good, for an operator to list and
// retry). Each attempt is recorded with the confirmation too (sent_at,
// send_attempts, send_error). Delivery is at least once: a process that
// dies after the relay took the mail and before the job finished sends it
// again.
type Mailer struct {
	DB        Store
	Links     *signedlink.Keyring
	Sender    mail.Sender
	PublicURL string // where /c/{token} is served, e.g. https://consent.example.com
	From      string // the From header; mail.DefaultFrom when empty
	Log       *slog.Logger
	Now       func() time.Time
}

// NewMailer returns a Mailer.
func NewMailer(db Store, links *signedlink.Keyring, sender mail.Sender, publicURL, from string, log *slog.Logger) *Mailer {
	return &Mailer{DB: db, Links: links, Sender: sender, PublicURL: publicURL, From: from, Log: log, Now: time.Now}
}

// permanentError fails a job at once (automation.Handler).
type permanentError struct{ error }

func (permanentError) Permanent() bool { return true }
func (e permanentError) Unwrap() error { return e.error }

// RunJob sends the mail of the confirmation a confirmation_mail job names
// (its Ref is the nonce), unless there is nothing to send any more: the
// confirmation was used, expired, or its consent changed since (each
// recorded with the confirmation, and the job succeeds). A send failure is
// recorded and returned: temporary ones are retried by the runner,
// permanent ones (the relay refused the address) fail the job.
func (m *Mailer) RunJob(ctx context.Context, j *consentd.Job) (string, error) {
	f, skip, err := due(ctx, m.DB, j, m.now())
	if err != nil || skip != "" {
		return skip, err
	}
	msg, err := m.Message(ctx, f)
	if err == nil {
		err = m.Sender.Send(ctx, msg)
	}
	if err != nil {
		// The error may name the address: the job's error and the
		// confirmation keep it masked, and the log never sees it.
		sendErr := strings.ReplaceAll(err.Error(), f.ContactPoint, consentd.MaskContactPoint(f.ContactPoint))
		if rerr := m.DB.ConfirmationMailed(context.WithoutCancel(ctx), f.WorkspaceID, f.Nonce, sendErr, 0); rerr != nil {
			return "", fmt.Errorf("record the failed confirmation mail: %w", rerr)
		}
		m.Log.Warn("confirmation mail not sent", "workspace", f.WorkspaceID, "job", j.ID, "attempt", j.Attempts, "permanent", mail.Permanent(err))
		if mail.Permanent(err) {
			return "", permanentError{fmt.Errorf("confirmation mail refused: %s", sendErr)}
		}
		return "", fmt.Errorf("confirmation mail not sent: %s", sendErr)
	}
	if err := m.DB.ConfirmationMailed(context.WithoutCancel(ctx), f.WorkspaceID, f.Nonce, "", 0); err != nil {
		return "", fmt.Errorf("record the sent confirmation mail: %w", err)
	}
	return "sent", nil
}

func (m *Mailer) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// due reads the confirmation a job names and says whether its message is
// still to be sent: skip is the job's result when it is not (used,
// expired, the consent changed, the address erased), recorded with the
// confirmation where that is news.
func due(ctx context.Context, db Store, j *consentd.Job, now time.Time) (f *consentd.Confirmation, skip string, err error) {
	f, err = db.Confirmation(ctx, j.WorkspaceID, j.Ref)
	if consentd.ErrorCode(err) == consentd.ENOTFOUND {
		return nil, "", permanentError{fmt.Errorf("confirmation %s not found", j.Ref)}
	} else if err != nil {
		return nil, "", fmt.Errorf("read confirmation: %w", err)
	}
	var why string
	switch {
	case f.UsedAt != nil:
		return nil, "already confirmed: not sent", nil
	case f.ContactPoint == "":
		why = "the contact point was erased"
	case !now.Before(f.ExpiresAt):
		why = "expired before the message went out"
	default:
		cur, err := db.Consent(ctx, f.WorkspaceID, consentd.ConsentID(f.ContactPoint, f.ChannelType), time.Time{})
		if err != nil && consentd.ErrorCode(err) != consentd.ENOTFOUND {
			return nil, "", fmt.Errorf("read the pending consent: %w", err)
		}
		if err != nil || !f.Confirms(cur) {
			why = "the consent changed before the message went out"
		}
	}
	if why == "" {
		return f, "", nil
	}
	if err := db.ConfirmationMailed(ctx, f.WorkspaceID, f.Nonce, why, 0); err != nil {
		return nil, "", fmt.Errorf("record the confirmation: %w", err)
	}
	return nil, why + ": not sent", nil
}

// Message builds the confirmation mail of f: to its address, with a
// subject naming the subscription, and a text (templates/mail.txt) that
// states what the person agrees to, who asks and when, with the link and
// its expiry. No advertising: the person has not agreed to any yet. It
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
	who, err := workspaceName(ctx, m.DB, f.WorkspaceID)
	if err != nil {
		return mail.Message{}, err
	}
	a, ok := agreementOf(f, cat, who)
	if !ok {
		return mail.Message{}, &mail.PermanentError{Err: fmt.Errorf("channel type %s is no longer offered", f.ChannelType)}
	}
	token, err := Token(m.Links, f)
	if err != nil {
		return mail.Message{}, err
	}
	v := mailView{agreement: a, Link: strings.TrimRight(m.PublicURL, "/") + "/c/" + token}
	var subject, text strings.Builder
	if err := mailText.ExecuteTemplate(&subject, "subject", v); err != nil {
		return mail.Message{}, err
	}
	if err := mailText.ExecuteTemplate(&text, "body", v); err != nil {
		return mail.Message{}, err
	}
	return mail.Message{From: m.From, To: f.ContactPoint, Subject: subject.String(), Text: text.String(), Date: m.now()}, nil
}

// mailText is the confirmation mail's subject and body
// (templates/mail.txt): every sentence of it in one file.
var mailText = texttemplate.Must(texttemplate.ParseFS(files, "templates/mail.txt"))

// mailView is what mail.txt gets: the agreement, with the whole address,
// and the confirmation link.
type mailView struct {
	agreement
	Link string
}
