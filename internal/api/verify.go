package api

import (
	"context"

	"github.com/consentd/consentd/internal/ledger"
)

// VerifyLog verifies a workspace's log as GET /v1/log/verify does: the
// tree recomputed from the entries against every signed checkpoint under
// the server's public key ring, and the log's replay compared with the
// stored consents and suppressions. The operator console runs it too. The
// report is saved as the workspace's newest verification (by "server"); a
// store that cannot save it (a read-only replica) logs why and still
// answers the report.
func (s *Server) VerifyLog(ctx context.Context, wsID string) (ledger.Report, error) {
	rep, err := ledger.Verify(ctx, s.Ledger, s.DB, s.Signer.PublicKeyRing(), wsID)
	if err != nil {
		return rep, err
	}
	if err := ledger.RecordVerification(ctx, s.DB, wsID, "server", s.Now(), rep); err != nil {
		s.Log.Warn("log verification not saved", "err", err)
	}
	return rep, nil
}

// LastVerification returns the workspace's newest saved log verification,
// nil when there was none.
func (s *Server) LastVerification(ctx context.Context, wsID string) (*ledger.LastVerification, error) {
	return ledger.ReadLastVerification(ctx, s.DB, wsID)
}
