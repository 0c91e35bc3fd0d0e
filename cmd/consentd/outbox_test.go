package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/mail"
	"github.com/consentd/consentd/internal/sqlite"
)

// TestPurgeOutbox: an erasure deletes the outbox's mail to the erased
// address, whatever its spelling, and keeps the mail to others.
func TestPurgeOutbox(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "consentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ws, err := db.CreateWorkspace(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	o, err := mail.NewOutbox(filepath.Join(t.TempDir(), "outbox"))
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"Jane@Example.com", "bob@example.com", "jane@example.com"} {
		if err := o.Send(ctx, mail.Message{From: "consent@example.org", To: to, Subject: "Please confirm", Text: "hello " + to}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := purgeOutbox(ctx, db, o, ws.ID); err != nil || n != 0 {
		t.Fatalf("purgeOutbox with nothing erased = %d, %v", n, err)
	}
	if _, err := db.AddSuppression(ctx, ws.ID, consentd.SuppressionInput{ContactPoint: "jane@example.com", Reason: consentd.SuppressErased}, "test"); err != nil {
		t.Fatal(err)
	}
	if n, err := purgeOutbox(ctx, db, o, ws.ID); err != nil || n != 2 {
		t.Fatalf("purgeOutbox = %d, %v; want jane's 2 mails", n, err)
	}
	files, _ := filepath.Glob(filepath.Join(o.Dir, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("outbox holds %d mails; want bob's only", len(files))
	}
	b, _ := os.ReadFile(files[0])
	if !strings.Contains(string(b), "bob@example.com") || strings.Contains(strings.ToLower(string(b)), "jane@") {
		t.Errorf("the mail left is not bob's:\n%s", b)
	}
}
