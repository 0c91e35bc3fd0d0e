package doi

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/i18n"
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

// Message builds the confirmation mail of f in the person's language
// (Language): to its address, from the workspace's sender name at the
// configured From address, with a subject naming the subscription, and a
// text and an HTML alternative (one mail.Letter) that state what the
// person agrees to (who asks, the purpose and topic with their
// descriptions, the channel, the address, when it was asked), the link
// and until when it works, and how to say no: ignore the mail;
// unsubscribe at any time. The HTML has the sender's accent colour on its
// button and its logo, carried inline. No advertising: the person has not
// agreed to any yet. It returns a mail.PermanentError when no mail can be
// made (the address was erased, the channel is not email, the
// subscription left the catalog).
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
	ws, err := workspaceOf(ctx, m.DB, f.WorkspaceID)
	if err != nil {
		return mail.Message{}, err
	}
	loc := localeOf(ws, Language(ctx, m.DB, ws, f, "", ""))
	a, ok := agreementOf(f, cat, ws.Sender(), loc)
	if !ok {
		return mail.Message{}, &mail.PermanentError{Err: fmt.Errorf("channel type %s is no longer offered", f.ChannelType)}
	}
	token, err := Token(m.Links, f)
	if err != nil {
		return mail.Message{}, err
	}
	link := ws.LinkBase(m.PublicURL) + "/c/" + token
	l := confirmationLetter(a, loc, ws, link)
	inline, err := inlineLogo(ctx, m.DB, ws, l, loc)
	if err != nil {
		return mail.Message{}, err
	}
	html, err := l.HTML()
	if err != nil {
		return mail.Message{}, err
	}
	return mail.Message{From: m.From, FromName: a.Who, To: f.ContactPoint, Subject: l.Title, Text: l.Text(), HTML: html,
		Inline: inline, Language: loc.Lang, Date: m.now()}, nil
}

// logoStore reads a workspace's logo (both backends: brand.go).
type logoStore interface {
	Logo(ctx context.Context, wsID string) (*consentd.Logo, []byte, error)
}

// inlineLogo puts the workspace's logo into the letter l as an inline
// image (its bytes read from the store, carried in the mail: never
// hotlinked, so that opening the mail tells nobody it was read), and
// returns the image part. None when the workspace has no logo or the store
// cannot read logos.
func inlineLogo(ctx context.Context, db Store, ws *consentd.Workspace, l *mail.Letter, loc *i18n.Locale) ([]mail.Inline, error) {
	ls, ok := db.(logoStore)
	if ws == nil || ws.Logo == nil || !ok {
		return nil, nil
	}
	logo, data, err := ls.Logo(ctx, ws.ID)
	if consentd.ErrorCode(err) == consentd.ENOTFOUND {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("read the logo: %w", err)
	}
	return []mail.Inline{l.WithLogo(logo.ContentType, data, loc.T("confirm.logo_alt", "sender", l.Sender))}, nil
}

// confirmationLetter is the confirmation mail's content in the language
// of loc: every sentence from the locale (mail.json; the labels are the
// page's, confirm.json), with the brand of ws.
func confirmationLetter(a agreement, loc *i18n.Locale, ws *consentd.Workspace, link string) *mail.Letter {
	facts := []mail.Fact{{Label: loc.T("confirm.label.what"), Value: a.Purpose, Detail: a.PurposeDescription}}
	if a.Topic != "" {
		facts = append(facts, mail.Fact{Label: loc.T("confirm.label.topic"), Value: a.Topic, Detail: a.TopicDescription})
	}
	facts = append(facts,
		mail.Fact{Label: loc.T("confirm.label.how"), Value: loc.T("confirm.by_channel", "channel", a.Channel)},
		mail.Fact{Label: loc.T("confirm.label.to"), Value: a.Address},
		mail.Fact{Label: loc.T("confirm.label.who"), Value: a.Who},
		mail.Fact{Label: loc.T("confirm.label.requested"), Value: a.Requested})
	return &mail.Letter{
		Lang: loc.Lang, Dir: loc.Dir,
		Title:      loc.T("mail.confirm.subject", "name", a.Name),
		Greeting:   loc.T("mail.greeting"),
		Before:     []string{loc.T("mail.confirm.intro", "date", a.Requested, "who", a.Who, "address", a.Address)},
		FactsTitle: loc.T("mail.confirm.agree"),
		Facts:      facts,
		Action:     loc.T("mail.confirm.action"),
		Button:     loc.T("mail.confirm.button"),
		Link:       link,
		Fallback:   loc.T("mail.link_fallback"),
		After: []string{loc.T("mail.confirm.expires", "date", a.Expires) + " " + loc.T("mail.confirm.unsubscribe"),
			loc.T("mail.confirm.ignore")},
		Sender: a.Who, Accent: ws.AccentColor,
		PrivacyLabel: loc.T("mail.privacy"), PrivacyURL: ws.PrivacyURL, Footer: ws.Footer,
	}
}
