package api

import (
	"context"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
)

// Store is what the API needs of a storage backend (internal/sqlite,
// internal/postgres). Methods return *consentd.Error codes as documented on
// the backends.
type Store interface {
	ledger.Store
	ledger.StateSource // the snapshot that GET /v1/log/verify replays; backends: history.go
	AutomationStore    // automation.go
	EventStore         // events.go
	ImportStore        // imports.go
	FeedStore          // feeds.go
	ReportStore        // reports.go
	ledger.VerificationStore
	Ping(ctx context.Context) error
	Authenticate(ctx context.Context, secret string) (*consentd.APIKey, error)

	Workspace(ctx context.Context, id string) (*consentd.Workspace, error)
	UpdateWorkspace(ctx context.Context, id string, u consentd.WorkspaceUpdate, actor string) (*consentd.Workspace, error)
	// SetLogo replaces the workspace's logo (consentd.CheckLogo checks
	// it), or removes it when data is nil; Logo returns it, ENOTFOUND
	// when there is none. Backends: brand.go.
	SetLogo(ctx context.Context, wsID, contentType string, data []byte, actor string) (*consentd.Workspace, error)
	Logo(ctx context.Context, wsID string) (*consentd.Logo, []byte, error)

	Catalog(ctx context.Context, wsID string) (*consentd.Catalog, error)
	PutPurpose(ctx context.Context, wsID string, p *consentd.Purpose, create bool, actor string) error
	DeletePurpose(ctx context.Context, wsID, id, actor string) error
	PutTopic(ctx context.Context, wsID string, t *consentd.Topic, create bool, actor string) error
	DeleteTopic(ctx context.Context, wsID, id, actor string) error

	WriteConsents(ctx context.Context, wsID string, writes []consentd.ConsentWrite, actor string) ([]consentd.WriteResult, error)
	Consent(ctx context.Context, wsID, id string, asOf time.Time) (*consentd.Consent, error)
	// ConsentAt returns the consent in effect at the two times of
	// docs/decisions.md (consentd.InEffect); ENOTINEFFECT when none
	// was. Backends: history.go.
	ConsentAt(ctx context.Context, wsID, id string, at consentd.Times) (*consentd.Consent, error)
	ConsentHistory(ctx context.Context, wsID, id string) ([]consentd.LogRecord, error)
	ListConsents(ctx context.Context, wsID string, f consentd.ConsentFilter) ([]*consentd.Consent, string, error)
	Decide(ctx context.Context, wsID string, req *consentd.DecisionRequest) (*consentd.DecisionResult, error)

	PutParty(ctx context.Context, wsID string, p *consentd.Party, actor string) error
	Party(ctx context.Context, wsID, id string) (*consentd.Party, error)
	PartyConsents(ctx context.Context, wsID, id string) ([]*consentd.Consent, error)

	AddSuppression(ctx context.Context, wsID string, in consentd.SuppressionInput, actor string) (*consentd.Suppression, error)
	Suppressions(ctx context.Context, wsID string) ([]*consentd.Suppression, error)
	DeleteSuppression(ctx context.Context, wsID, id, actor string) error

	CreateKey(ctx context.Context, wsID string, role consentd.Role, name, secret string) (*consentd.APIKey, string, error)
	Keys(ctx context.Context, wsID string) ([]*consentd.APIKey, error)
	DeleteKey(ctx context.Context, wsID, id string) error

	Log(ctx context.Context, wsID string, after int64, limit int) ([]consentd.LogRecord, error)

	// Signed links (links.go): the contact point of a link is
	// normalized and its plaintext stored, so that the public pages can
	// show it; the token carries only its hash. Backends: links.go.
	PutContactPoint(ctx context.Context, wsID string, kind consentd.ContactPointKind, raw string) (string, [32]byte, error)
	// EnqueueJob queues a job of kind (not a rule job) on ref, due now,
	// and returns its id: a mailed preference link (linkmail.go) is one.
	// A (kind, ref) that has a job already gets no second one. Backends:
	// links.go.
	EnqueueJob(ctx context.Context, wsID, kind, ref string, maxAttempts int) (string, error)

	// ---- Inbound SMS replies and data-subject requests (inbound.go) ----

	// InboundSMS handles an SMS reply in one transaction: an opt-out keyword
	// adds an sms_stop suppression and opts the number's SMS consents out;
	// START lifts it and opts in again what STOP opted out; HELP changes
	// nothing; other text is stored for review. The result carries the
	// reply to send. A message id seen before answers the stored reply,
	// Duplicate set, and changes nothing. Backends: inbound.go.
	InboundSMS(ctx context.Context, wsID string, in consentd.InboundSMS, actor string) (*consentd.InboundResult, error)
	InboundMessages(ctx context.Context, wsID string, f consentd.InboundFilter) ([]*consentd.InboundMessage, string, error)
	ResolveInboundMessage(ctx context.Context, wsID, id string, r consentd.InboundResolution, actor string) (*consentd.InboundResult, error)
	// CreateRequest stores a pending data-subject request; ProcessRequest
	// carries it out in one transaction (the request worker calls it for
	// each of PendingRequests, across workspaces). Backends: request.go.
	CreateRequest(ctx context.Context, wsID string, in consentd.RequestInput, actor string) (*consentd.Request, error)
	Request(ctx context.Context, wsID, id string) (*consentd.Request, error)
	Requests(ctx context.Context, wsID string, f consentd.RequestFilter) ([]*consentd.Request, string, error)
	PendingRequests(ctx context.Context, now time.Time, limit int) ([]consentd.RequestRef, error)
	ProcessRequest(ctx context.Context, wsID, id string) (*consentd.Request, error)

	// ---- Double opt-in (consent.go) ----

	// CreateConfirmations records a double opt-in confirmation for each
	// pending consent a write just stored (idempotent per consent
	// version; nil for one that is no longer pending at that version).
	// Confirming, and mailing them, is internal/doi's. Backends: doi.go.
	CreateConfirmations(ctx context.Context, wsID string, in []consentd.ConfirmationInput) ([]*consentd.Confirmation, error)
}
