package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/sqlite"
)

func open(t *testing.T) (*sqlite.DB, string) { return openB(t) }

func openB(t testing.TB) (*sqlite.DB, string) {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "consentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ws, err := db.CreateWorkspace(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	p := &consentd.Purpose{ID: "newsletter", Name: "Newsletter", Type: consentd.Commercial,
		Channels: map[string]consentd.ChannelSetting{"email": {}, "sms": {}}}
	if err := db.PutPurpose(context.Background(), ws.ID, p, true, "test"); err != nil {
		t.Fatal(err)
	}
	if err := db.PutTopic(context.Background(), ws.ID, &consentd.Topic{ID: "weekly", Purpose: "newsletter", Name: "Weekly"}, true, "test"); err != nil {
		t.Fatal(err)
	}
	return db, ws.ID
}

func write(cp, status string, at time.Time) consentd.ConsentWrite {
	return consentd.ConsentWrite{ContactPoint: cp, Channel: "email", Purpose: "newsletter", Status: consentd.Status(status), CapturedAt: at, Source: consentd.Source{Type: "form"}}
}
