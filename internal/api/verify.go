package api

import (
	"context"

	"github.com/consentd/consentd/internal/ledger"
)

// VerifyLog verifies a workspace's log as GET /v1/log/verify does: the
// tree recomputed from the entries against every signed checkpoint under
// the server's public key ring, and the log's replay compared with the
// stored consents and suppressions. The operator console runs it.
func (s *Server) VerifyLog(ctx context.Context, wsID string) (ledger.Report, error) {
	return ledger.Verify(ctx, s.Ledger, s.DB, s.Signer.PublicKeyRing(), wsID)
}
