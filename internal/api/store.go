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
	Ping(ctx context.Context) error
	Authenticate(ctx context.Context, secret string) (*consentd.APIKey, error)

	Workspace(ctx context.Context, id string) (*consentd.Workspace, error)
	UpdateWorkspace(ctx context.Context, id string, u consentd.WorkspaceUpdate, actor string) (*consentd.Workspace, error)

	Catalog(ctx context.Context, wsID string) (*consentd.Catalog, error)
	PutPurpose(ctx context.Context, wsID string, p *consentd.Purpose, create bool, actor string) error
	DeletePurpose(ctx context.Context, wsID, id, actor string) error
	PutTopic(ctx context.Context, wsID string, t *consentd.Topic, create bool, actor string) error
	DeleteTopic(ctx context.Context, wsID, id, actor string) error

	WriteConsents(ctx context.Context, wsID string, writes []consentd.ConsentWrite, actor string) ([]consentd.WriteResult, error)
	Consent(ctx context.Context, wsID, id string, asOf time.Time) (*consentd.Consent, error)
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
}
