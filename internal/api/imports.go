package api

import (
	"context"
	"time"

	"github.com/consentd/consentd"
)

// ImportStore is what bulk imports and exports need of a backend (issue 6).
// Backends: imports.go.
type ImportStore interface {
	// CreateImport returns the import of spec: the existing one (created
	// false) when the workspace imported the same format, options and file
	// before, otherwise a new queued one.
	CreateImport(ctx context.Context, wsID string, spec consentd.ImportSpec) (*consentd.Import, bool, error)
	Import(ctx context.Context, wsID, id string) (*consentd.Import, error)
	// ImportBatch writes one batch of an import in one transaction: the
	// writes (lines[i] the line of writes[i]) through the consent write
	// path, skipping those to erased contact points; the reader's rejects
	// and those of the refused writes; the counts and committed records.
	ImportBatch(ctx context.Context, wsID, importID string, writes []consentd.ConsentWrite, lines []int64,
		rejects []consentd.ImportReject, progress consentd.ImportProgress, actor string) ([]consentd.WriteResult, error)
	FinishImport(ctx context.Context, wsID, id string, state consentd.ImportState, msg string) error
	ImportRejects(ctx context.Context, wsID, id string, fn func(*consentd.ImportReject) error) error
	UnfinishedImports(ctx context.Context) ([]consentd.ImportRef, error)
	// ExportConsents calls fn with each consent, now or as of a time,
	// streaming; consents of erased contact points are left out.
	ExportConsents(ctx context.Context, wsID string, asOf time.Time, fn func(*consentd.Consent) error) error
}

// importRoutes are bulk imports and the export.
func (s *Server) importRoutes() []route { return nil }
