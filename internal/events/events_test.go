package events_test

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/events"
	"github.com/consentd/consentd/internal/sqlite"
)

// TestFeed reads a workspace's log as CloudEvents from a real SQLite
// database: consent entries carry the consent in plaintext, other entries
// only the entry, and once a contact point's plaintext is gone (erased)
// only its hashed id.
func TestFeed(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "consentd.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ws, err := db.CreateWorkspace(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PutPurpose(ctx, ws.ID, &consentd.Purpose{ID: "newsletter", Name: "N", Type: consentd.Commercial,
		Channels: map[string]consentd.ChannelSetting{"email": {}}}, true, "test"); err != nil {
		t.Fatal(err)
	}
	start, _ := db.LogSize(ctx, ws.ID)
	w := consentd.ConsentWrite{ContactPoint: "Jane@Example.com", Channel: "email", Purpose: "newsletter", Status: consentd.OptedIn,
		CapturedAt: time.Now().Add(-time.Hour), Source: consentd.Source{Type: consentd.SourceForm}, Origin: "crm"}
	if res, err := db.WriteConsents(ctx, ws.ID, []consentd.ConsentWrite{w}, "key:k1"); err != nil || res[0].Err != nil {
		t.Fatal(err, res[0].Err)
	}
	if _, err := db.AddSuppression(ctx, ws.ID, consentd.SuppressionInput{ContactPoint: "bob@example.com", Reason: consentd.SuppressHardBounce}, "key:k1"); err != nil {
		t.Fatal(err)
	}
	feed, err := events.Open(ctx, db, ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := feed.Read(ctx, start, 100)
	if err != nil || len(evs) != 2 {
		t.Fatalf("Read = %d events, %v; want 2", len(evs), err)
	}
	c, s := evs[0], evs[1]
	if c.SpecVersion != "1.0" || c.ID != ws.ID+"-"+itoa(start+1) || c.Source != "/workspaces/alpha" || c.Type != consentd.LogConsentChanged ||
		c.DataContentType != "application/json" || c.Data.Seq != start+1 || c.Data.Actor != "key:k1" || len(c.Data.After) == 0 {
		t.Errorf("consent event = %+v; want a CloudEvent of the entry", c)
	}
	if k := c.Data.Consent; k == nil || k.ID != "jane@example.com#newsletter:email" || k.ContactPoint != "jane@example.com" || k.Status != consentd.OptedIn ||
		k.Purpose != "newsletter" || k.Channel != "email" || k.Origin != "crm" || k.Seq != start+1 {
		t.Errorf("consent event's consent = %+v; want jane's consent in plaintext", k)
	}
	if consentd.EventOrigin(c.Data) != "crm" {
		t.Errorf("EventOrigin = %q; want crm", consentd.EventOrigin(c.Data))
	}
	if s.Type != consentd.LogSuppressionAdded || s.Data.Consent != nil {
		t.Errorf("suppression event = %+v; want no consent", s)
	}

	// The plaintext erased: the hashed id only.
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`DELETE FROM contact_points WHERE workspace_id = ?`, ws.ID); err != nil {
		t.Fatal(err)
	}
	evs, err = feed.Read(ctx, start, 1)
	if err != nil || len(evs) != 1 {
		t.Fatalf("Read after erasure = %v", err)
	}
	if k := evs[0].Data.Consent; k == nil || k.ContactPoint != "" || k.ID != evs[0].Data.Subject || k.Status != consentd.OptedIn {
		t.Errorf("after erasure: consent %+v; want the hashed id %s and no contact point", k, evs[0].Data.Subject)
	}
	if evs[0].ID != c.ID {
		t.Errorf("event id changed from %s to %s", c.ID, evs[0].ID)
	}
}

func itoa(n int64) string { return consentd.EventID("", n)[1:] }
