// Package doi is consentd's double opt-in (docs/decisions.md and docs/api.md): the
// confirmation mail and the confirmation page.
//
// The API stores an opt-in that needs confirmation (see
// consentd.DoubleOptInRequired) as pending and records a confirmation for
// it in the same store; this package takes over from there:
//
//   - Write is the write path of opt-ins, the API's and the preference
//     center's: it holds an opt-in that needs confirmation as pending and
//     records the confirmation, which queues the job that sends it.
//   - Mailer (confirmation_mail jobs) and Texter (confirmation_sms jobs)
//     send a recorded confirmation's message; the durable job queue
//     (internal/automation) runs them with leases, retries with backoff,
//     a failure listing and retry, so nothing is lost when the relay is
//     down or the process dies mid-send.
//   - Handler serves GET and POST /c/{token}. GET shows a page with a
//     Confirm button and changes nothing, so that link scanners confirm
//     nothing; POST confirms: opted_in with source double_opt_in, only
//     while the token is valid, unused, unexpired and the consent is still
//     the pending version it was issued for (ConfirmConsent does this in
//     one transaction), so that a replayed confirmation never undoes a
//     later opt-out.
//     Requests are rate limited per client address and per invalid token,
//     as the other public pages are (docs/architecture.md (reliability and security)); a POST of a
//     valid token never is.
//
// The mail, the text and the page speak the person's language (Language:
// the request's, else the recorded one, else the workspace's default,
// else English; texts from internal/i18n) and present the workspace's
// brand (sender name, logo, accent colour, privacy link, footer). A
// confirmation on the page records its language and the statement it
// showed in the opt-in's proof.
//
// The token is a signedlink token of kind confirm: workspace, contact
// point hash, channel type, a random nonce naming the stored confirmation,
// and its expiry. It carries no address.
package doi

import (
	"context"
	"encoding/base64"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/signedlink"
)

// Store is what double opt-in needs of a storage backend (internal/sqlite,
// internal/postgres: doi.go).
type Store interface {
	Catalog(ctx context.Context, wsID string) (*consentd.Catalog, error)
	Confirmation(ctx context.Context, wsID, nonce string) (*consentd.Confirmation, error)
	ConfirmConsent(ctx context.Context, wsID, nonce string, req consentd.ConfirmRequest, actor string) (*consentd.ConfirmResult, error)
	// Consent is the pending consent a confirmation names: its message
	// goes out only while the consent is still that version.
	Consent(ctx context.Context, wsID, id string, asOf time.Time) (*consentd.Consent, error)
	// ConfirmationMailed records an attempt at a confirmation's message
	// (mail or SMS): sent when sendErr is "". The job queue retries; retry
	// is 0 here.
	ConfirmationMailed(ctx context.Context, wsID, nonce, sendErr string, retry time.Duration) error
	// Workspace names who asks, in the confirmation's mail and page.
	Workspace(ctx context.Context, id string) (*consentd.Workspace, error)
}

// Actor is the actor of the log entries that confirmations write.
const Actor = "link:confirm"

// Token returns the confirmation link token of f.
func Token(links *signedlink.Keyring, f *consentd.Confirmation) (string, error) {
	return links.Sign(signedlink.Claims{
		Kind:        signedlink.Confirm,
		Workspace:   f.WorkspaceID,
		Hash:        base64.RawURLEncoding.EncodeToString(f.CPHash[:]),
		CPKind:      string(f.CPKind),
		ChannelType: f.ChannelType,
		Nonce:       f.Nonce,
		IssuedAt:    f.IssuedAt.Unix(),
		ExpiresAt:   f.ExpiresAt.Unix(),
	})
}
