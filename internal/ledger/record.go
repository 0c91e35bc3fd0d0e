package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/consentd/consentd"
)

// VerificationStore keeps the newest verification of each workspace's
// log, so that an operator sees when the log was last checked and what
// was found, whoever ran it. Backends: verification.go.
type VerificationStore interface {
	// SaveVerification replaces the workspace's newest verification.
	SaveVerification(ctx context.Context, wsID string, v *consentd.Verification) error
	// LastVerification returns it; ENOTFOUND when none was saved.
	LastVerification(ctx context.Context, wsID string) (*consentd.Verification, error)
}

// LastVerification is a saved verification, its report read back.
type LastVerification struct {
	At     time.Time
	By     string
	Report Report
}

// RecordVerification saves rep as the workspace's newest verification.
func RecordVerification(ctx context.Context, st VerificationStore, wsID, by string, at time.Time, rep Report) error {
	b, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("encode verification report: %w", err)
	}
	if err := st.SaveVerification(ctx, wsID, &consentd.Verification{At: at, By: by, OK: rep.OK, Report: b}); err != nil {
		return fmt.Errorf("save verification: %w", err)
	}
	return nil
}

// ReadLastVerification returns the workspace's newest saved verification,
// or nil when none was saved.
func ReadLastVerification(ctx context.Context, st VerificationStore, wsID string) (*LastVerification, error) {
	v, err := st.LastVerification(ctx, wsID)
	if consentd.ErrorCode(err) == consentd.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read last verification: %w", err)
	}
	out := &LastVerification{At: v.At, By: v.By}
	if err := json.Unmarshal(v.Report, &out.Report); err != nil {
		return nil, fmt.Errorf("decode last verification: %w", err)
	}
	return out, nil
}
