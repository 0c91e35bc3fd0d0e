package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/consentd/consentd/internal/ledger"
)

// benchLogVerify runs `consentd log verify` as a child process (so that its
// peak RSS is its own) on the log-size store of --entries imported rows and
// on one of a quarter of them, on SQLite and, when PostgreSQL answers, on
// PostgreSQL. The rates include the child's start and the opening of the
// store. Peak RSS at the full size within 1.2x of the quarter's shows that
// verifying does not hold the log in memory.
func benchLogVerify(ctx context.Context, e *benchEnv) (*benchResult, error) {
	full, quarter := e.entries, e.entries/4
	r := &benchResult{Scenario: "log-verify", Notes: map[string]any{"rows": full, "quarter_rows": quarter}}
	bin, err := os.Executable()
	if err != nil {
		return nil, err
	}
	for _, backend := range e.logBackends(ctx, r) {
		small, err := e.logStore(ctx, backend, quarter)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", backend, err)
		}
		big, err := e.logStore(ctx, backend, full)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", backend, err)
		}
		if err := addVerifyFigures(ctx, r, bin, small, big); err != nil {
			return nil, fmt.Errorf("%s: %w", backend, err)
		}
	}
	return r, nil
}

// addVerifyFigures verifies both stores and adds the rate and peak RSS of
// the big one next to the small one's.
func addVerifyFigures(ctx context.Context, r *benchResult, bin string, small, big *logStore) error {
	smallRate, smallKiB, err := benchVerifyRun(ctx, bin, small)
	if err != nil {
		return err
	}
	bigRate, bigKiB, err := benchVerifyRun(ctx, bin, big)
	if err != nil {
		return err
	}
	smallMB, bigMB := float64(smallKiB)/1024, float64(bigKiB)/1024
	ref := fmt.Sprintf("the same at %d rows", small.rows)
	r.Figures = append(r.Figures,
		benchFigure{Name: fmt.Sprintf("%s log verify at %d rows", big.backend, big.rows), Unit: "entries/s", Value: bigRate,
			Reference: smallRate, RefName: ref, Ratio: bigRate / smallRate},
		benchFigure{Name: fmt.Sprintf("%s log verify peak RSS at %d rows", big.backend, big.rows), Unit: "MB", Value: bigMB,
			Reference: smallMB, RefName: ref, Ratio: smallMB / bigMB, Goal: "<= 1.2 x the reference", Met: met(bigMB <= 1.2*smallMB)})
	return nil
}

// benchVerifyRun runs `consentd log verify` on workspace bench of the store
// and returns the entries/s and the child's peak RSS (KiB). The log must
// verify, with every entry and the signed checkpoint checked.
func benchVerifyRun(ctx context.Context, bin string, s *logStore) (float64, int64, error) {
	args := append(append([]string{"log", "verify"}, s.args()...), "--workspace", "bench", "--json")
	out, d, rss, err := runChild(ctx, bin, args...)
	if err != nil {
		return 0, 0, fmt.Errorf("consentd log verify: %w", err)
	}
	var rep ledger.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		return 0, 0, fmt.Errorf("consentd log verify printed %q: %w", out, err)
	}
	if !rep.OK || rep.Entries < int64(s.rows) || rep.Checkpoints < 1 {
		return 0, 0, fmt.Errorf("consentd log verify of %d imported rows: %s", s.rows, out)
	}
	return float64(rep.Entries) / d.Seconds(), rss, nil
}
