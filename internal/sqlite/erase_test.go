package sqlite_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/sqlite"
)

// TestErasureLeavesNoBytes: after an erasure, neither the database file
// nor its WAL holds the erased address or the evidence of its log entries
// (secure_delete zeroes freed space; the WAL is checkpointed), while
// another person's are still there.
func TestErasureLeavesNoBytes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "consentd.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ws, err := db.CreateWorkspace(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	p := &consentd.Purpose{ID: "newsletter", Name: "Newsletter", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"email": {}}}
	if err := db.PutPurpose(ctx, ws.ID, p, true, "test"); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour)
	var writes []consentd.ConsentWrite
	for _, w := range []struct{ cp, ip, reason string }{
		{"gone.person@example.com", "198.51.100.77", "told-us-at-the-fair-gone"},
		{"kept.person@example.com", "198.51.100.88", "told-us-at-the-fair-kept"},
	} {
		writes = append(writes, consentd.ConsentWrite{ContactPoint: w.cp, Channel: "email", Purpose: "newsletter", Status: consentd.OptedIn,
			CapturedAt: at, Source: consentd.Source{Type: "form"}, Reason: w.reason, Proof: &consentd.Proof{IP: w.ip, UserAgent: "Kiosk/" + w.reason}})
	}
	if _, err := db.WriteConsents(ctx, ws.ID, writes, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddSuppression(ctx, ws.ID, consentd.SuppressionInput{ContactPoint: "gone.person@example.com", Reason: consentd.SuppressErased}, "test"); err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, name := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(name)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	for _, gone := range []string{"gone.person@example.com", "198.51.100.77", "told-us-at-the-fair-gone"} {
		if bytes.Contains(all, []byte(gone)) {
			t.Errorf("the database files still hold %q after the erasure", gone)
		}
	}
	for _, kept := range []string{"kept.person@example.com", "198.51.100.88", "told-us-at-the-fair-kept"} {
		if !bytes.Contains(all, []byte(kept)) {
			t.Errorf("the database files lost %q, which was not erased (the test would pass vacuously)", kept)
		}
	}
}
