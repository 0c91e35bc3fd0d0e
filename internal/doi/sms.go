package doi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/signedlink"
	"github.com/consentd/consentd/internal/smsout"
)

// SMSStore is what Texter needs of a backend: Store, the workspace (the
// name texts go out under), and suppressions for a number that the
// provider reports opted out.
type SMSStore interface {
	Store
	Workspace(ctx context.Context, id string) (*consentd.Workspace, error)
	AddSuppression(ctx context.Context, wsID string, in consentd.SuppressionInput, actor string) (*consentd.Suppression, error)
}

// ErrNoSMSSender fails confirmation_sms jobs while no SMS provider is
// configured: the confirmation stays recorded and unsent, and the failed
// job is listed (GET /v1/jobs) for a retry once a provider is set up.
var ErrNoSMSSender = errors.New("no SMS provider is configured: the confirmation SMS was not sent (retry the job once one is)")

// Texter sends confirmation SMS: it runs the confirmation_sms jobs that
// recording a confirmation for a phone number queues. The provider's
// outcome decides the job's: Sent finishes it; OptedOut (the number sent
// STOP to the provider) records an sms_stop suppression of the number and
// finishes it, sending nothing more; Retry is retried with the runner's
// backoff; Failed fails it.
type Texter struct {
	DB        SMSStore
	Links     *signedlink.Keyring
	Sender    smsout.Sender // nil: no provider; every job fails with ErrNoSMSSender
	PublicURL string
	From      string           // the sender id or number, as the provider takes it
	Now       func() time.Time // default time.Now
}

// Actor of the suppressions the Texter records.
const smsActor = "job:confirmation_sms"

// RunJob sends the SMS of the confirmation a confirmation_sms job names.
func (x *Texter) RunJob(ctx context.Context, j *consentd.Job) (string, error) {
	now := time.Now
	if x.Now != nil {
		now = x.Now
	}
	f, skip, err := due(ctx, x.DB, j, now())
	if err != nil || skip != "" {
		return skip, err
	}
	if x.Sender == nil {
		return "", permanentError{ErrNoSMSSender}
	}
	body, err := x.Body(ctx, f)
	if err != nil {
		return "", err
	}
	res := x.Sender.Send(ctx, smsout.Message{To: f.ContactPoint, From: x.From, Body: body})
	detail := res.Code
	if res.Err != nil {
		detail = strings.TrimPrefix(res.Code+": "+strings.ReplaceAll(res.Err.Error(), f.ContactPoint, consentd.MaskContactPoint(f.ContactPoint)), ": ")
	}
	switch res.Outcome {
	case smsout.Sent:
		if err := x.DB.ConfirmationMailed(context.WithoutCancel(ctx), f.WorkspaceID, f.Nonce, "", 0); err != nil {
			return "", fmt.Errorf("record the sent confirmation SMS: %w", err)
		}
		return strings.TrimSuffix("sent "+res.ProviderID, " "), nil
	case smsout.OptedOut:
		// The number told the provider STOP: no SMS may go to it, this
		// confirmation or any other; as an inbound STOP does.
		if _, err := x.DB.AddSuppression(context.WithoutCancel(ctx), f.WorkspaceID, consentd.SuppressionInput{ContactPoint: f.ContactPoint,
			Kind: consentd.KindPhone, Channel: consentd.ChannelSMS, Reason: consentd.SuppressSMSStop,
			Note: "the SMS provider reports the number opted out (" + res.Code + ")", OnlyIfNone: true}, smsActor); err != nil {
			return "", fmt.Errorf("record the sms_stop suppression: %w", err)
		}
		if err := x.DB.ConfirmationMailed(context.WithoutCancel(ctx), f.WorkspaceID, f.Nonce, "opted out at the SMS provider", 0); err != nil {
			return "", fmt.Errorf("record the confirmation: %w", err)
		}
		return "not sent: the number opted out at the provider; sms_stop suppression recorded", nil
	case smsout.Retry:
		if err := x.DB.ConfirmationMailed(context.WithoutCancel(ctx), f.WorkspaceID, f.Nonce, "temporary: "+detail, 0); err != nil {
			return "", fmt.Errorf("record the confirmation: %w", err)
		}
		return "", fmt.Errorf("confirmation SMS not sent, to be retried: %s", detail)
	default:
		if err := x.DB.ConfirmationMailed(context.WithoutCancel(ctx), f.WorkspaceID, f.Nonce, detail, 0); err != nil {
			return "", fmt.Errorf("record the confirmation: %w", err)
		}
		return "", permanentError{fmt.Errorf("confirmation SMS refused by the provider: %s", detail)}
	}
}

// Body is the text of the confirmation SMS of f (smsout.ConfirmText), in
// the person's language (Language): who sends (the workspace's SMS sender
// name), what for (the topic's or purpose's name in the language), the
// link (at the workspace's own public URL when it has one), and how to
// stop. No advertising: the person has agreed to none yet.
func (x *Texter) Body(ctx context.Context, f *consentd.Confirmation) (string, error) {
	if f.CPKind != consentd.KindPhone {
		return "", permanentError{fmt.Errorf("no SMS to %s contact points", f.CPKind)}
	}
	cat, err := x.DB.Catalog(ctx, f.WorkspaceID)
	if err != nil {
		return "", err
	}
	ws, err := x.DB.Workspace(ctx, f.WorkspaceID)
	if err != nil {
		return "", err
	}
	loc := localeOf(ws, Language(ctx, x.DB, ws, f, "", ""))
	a, ok := agreementOf(f, cat, "", loc)
	if !ok {
		return "", permanentError{fmt.Errorf("channel type %s is no longer offered", f.ChannelType)}
	}
	token, err := Token(x.Links, f)
	if err != nil {
		return "", err
	}
	return smsout.ConfirmText(smsout.Confirmation{Sender: ws.SMSSender(), Purpose: a.Name,
		Link: ws.LinkBase(x.PublicURL) + "/c/" + token, Lang: loc.Lang, Texts: ws.Texts[loc.Lang]}), nil
}
