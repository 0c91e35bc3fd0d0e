package storetest

import (
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
)

// testVerifications: a workspace's newest log verification is saved,
// replaced by the next, read back whole, and kept apart per workspace.
func testVerifications(t *testing.T, s Store) {
	e := newEnv(t, s, "verifications")
	if v, err := s.LastVerification(e.ctx, e.ws); consentd.ErrorCode(err) != consentd.ENOTFOUND {
		t.Fatalf("LastVerification() before any = %+v, %v; want ENOTFOUND", v, err)
	}
	if last, err := ledger.ReadLastVerification(e.ctx, s, e.ws); last != nil || err != nil {
		t.Fatalf("ReadLastVerification() before any = %+v, %v; want nil, nil", last, err)
	}
	at := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)
	good := ledger.Report{OK: true, Entries: 12, Checkpoints: 2}
	if err := ledger.RecordVerification(e.ctx, s, e.ws, "server", at, good); err != nil {
		t.Fatal(err)
	}
	bad := ledger.Report{OK: false, Entries: 13, Problem: "entry 5 does not match the checkpoint", FirstBad: 5}
	if err := ledger.RecordVerification(e.ctx, s, e.ws, "cli", at.Add(time.Hour), bad); err != nil {
		t.Fatal(err)
	}
	last, err := ledger.ReadLastVerification(e.ctx, s, e.ws)
	if err != nil || last == nil {
		t.Fatalf("ReadLastVerification() = %+v, %v", last, err)
	}
	if !last.At.Equal(at.Add(time.Hour)) || last.By != "cli" || last.Report.OK || last.Report.Entries != 13 || last.Report.Problem != bad.Problem || last.Report.FirstBad != 5 {
		t.Errorf("ReadLastVerification() = %+v; want the second, whole", last)
	}
	other, err := s.CreateWorkspace(e.ctx, "other-verifications")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.LastVerification(e.ctx, other.ID); consentd.ErrorCode(err) != consentd.ENOTFOUND {
		t.Errorf("another workspace's LastVerification() = %+v, %v; want ENOTFOUND", v, err)
	}
}
