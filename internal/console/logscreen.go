package console

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
)

// logVerifier runs GET /v1/log/verify's verification: the log's tree
// recomputed against every signed checkpoint under the server's key ring,
// and its replay compared with the stored rows. api.Server has it; the
// console asks its Receipts for it, since the key ring is the API's.
type logVerifier interface {
	VerifyLog(ctx context.Context, wsID string) (ledger.Report, error)
}

// lastVerifier reads the newest saved verification of a workspace's log,
// whoever ran it (the API, this console, `consentd log verify`).
// api.Server has it.
type lastVerifier interface {
	LastVerification(ctx context.Context, wsID string) (*ledger.LastVerification, error)
}

// logPage is the log screen: the log's size, its newest checkpoint, and
// the result of a verification when one was just run.
type logPage struct {
	Size       int64
	Checkpoint *checkpointView // nil when none was signed
	CanVerify  bool            // a verifier exists and the role may run it
	CSRF       string
	Report     *ledger.Report // set after a verification
	Last       *lastView      // the newest saved verification, when there is one
}

// lastView is the newest saved verification: when, how long ago, by what.
type lastView struct {
	At, Age, By string
	Report      ledger.Report
}

type checkpointView struct {
	Size     int64
	Behind   int64 // entries appended since
	SignedAt string
	Age      string
	Signed   []string // the signed note as stored, by line: shown as wrapping text, since a <pre> would overflow a phone's width
}

// logScreen answers GET /admin/log.
func (s *Server) logScreen(w http.ResponseWriter, r *http.Request) {
	v, op, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	p, err := s.logState(r.Context(), v)
	if err != nil {
		s.fail(w, r, op, err)
		return
	}
	s.render(w, r, http.StatusOK, "log", op, p)
}

// verifyLog answers POST /admin/log/verify: it runs the verification and
// shows the log screen with its result. Any role that may read the log may
// verify it (the API's readers for GET /v1/log/verify); it writes nothing.
func (s *Server) verifyLog(w http.ResponseWriter, r *http.Request) {
	v, op, ok := s.signedIn(w, r)
	if !ok || !s.postForm(w, r, v, op) {
		return
	}
	ver, found := s.Receipts.(logVerifier)
	if !found || !hasRole(readers, v.role) {
		s.message(w, r, http.StatusForbidden, op, "Not allowed", "This console cannot verify the log: use GET /v1/log/verify.")
		return
	}
	rep, err := ver.VerifyLog(r.Context(), v.workspace)
	if err != nil {
		s.fail(w, r, op, fmt.Errorf("verify log: %w", err))
		return
	}
	p, err := s.logState(r.Context(), v)
	if err != nil {
		s.fail(w, r, op, err)
		return
	}
	p.Report = &rep
	s.render(w, r, http.StatusOK, "log", op, p)
}

// logState reads the log's size and its newest checkpoint.
func (s *Server) logState(ctx context.Context, v *session) (*logPage, error) {
	rs, ok := s.DB.(reportStore)
	if !ok {
		return nil, fmt.Errorf("store %T has no log reads", s.DB)
	}
	_, canVerify := s.Receipts.(logVerifier)
	p := &logPage{CanVerify: canVerify && hasRole(readers, v.role), CSRF: v.csrf}
	var err error
	if p.Size, err = rs.LogSize(ctx, v.workspace); err != nil {
		return nil, fmt.Errorf("log size: %w", err)
	}
	if lv, ok := s.Receipts.(lastVerifier); ok {
		last, err := lv.LastVerification(ctx, v.workspace)
		if err != nil {
			return nil, err
		}
		if last != nil {
			by := map[string]string{"server": "the API or this console", "cli": "consentd log verify"}[last.By]
			if by == "" {
				by = last.By
			}
			p.Last = &lastView{At: last.At.UTC().Format(time.RFC3339), Age: age(s.Now().Sub(last.At)), By: by, Report: last.Report}
		}
	}
	_, size, err := rs.LatestCheckpoint(ctx, v.workspace)
	switch consentd.ErrorCode(err) {
	case "":
	case consentd.ENOTFOUND:
		return p, nil
	default:
		return nil, fmt.Errorf("latest checkpoint: %w", err)
	}
	// The stored record has the time it was signed, which the latest
	// checkpoint read does not return.
	recs, err := rs.CheckpointsBetween(ctx, v.workspace, size, size, 1)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	if len(recs) == 0 {
		return p, nil // pruned between the two reads
	}
	rec := recs[0]
	p.Checkpoint = &checkpointView{Size: rec.Size, Behind: p.Size - rec.Size, SignedAt: rec.CreatedAt.UTC().Format(time.RFC3339),
		Age: age(s.Now().Sub(rec.CreatedAt)), Signed: strings.Split(strings.TrimRight(rec.Signed, "\n"), "\n")}
	return p, nil
}

// age says a duration in the largest whole unit: "just now", "5 minutes",
// "3 hours", "2 days".
func age(d time.Duration) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	switch {
	case d < time.Minute:
		return "less than a minute"
	case d < time.Hour:
		return unit(int64(d/time.Minute), "minute")
	case d < 48*time.Hour:
		return unit(int64(d/time.Hour), "hour")
	}
	return unit(int64(d/(24*time.Hour)), "day")
}
