package main

import (
	"context"
	"fmt"
	"time"

	"github.com/consentd/consentd"
)

// loadDemo puts a small sample catalog and a few consents into an empty
// workspace, for trying the API (serve --demo).
func loadDemo(ctx context.Context, db store, wsID string) error {
	cat, err := db.Catalog(ctx, wsID)
	if err != nil || len(cat.Purposes) > 0 {
		return err
	}
	purposes := []*consentd.Purpose{
		{ID: "newsletter", Name: "Newsletter", Type: consentd.Commercial,
			Channels: map[string]consentd.ChannelSetting{"email": {Enforcement: consentd.NonRestrictive}, "sms": {}}},
		{ID: "orders", Name: "Order updates", Type: consentd.Transactional,
			Channels: map[string]consentd.ChannelSetting{"email": {}, "sms": {}}},
		{ID: "tracking", Name: "Open and click tracking", Type: consentd.Tracking,
			Channels: map[string]consentd.ChannelSetting{"email": {}}},
	}
	for _, p := range purposes {
		if err := db.PutPurpose(ctx, wsID, p, true, "demo"); err != nil {
			return fmt.Errorf("demo purpose %s: %w", p.ID, err)
		}
	}
	if err := db.PutTopic(ctx, wsID, &consentd.Topic{ID: "weekly-digest", Purpose: "newsletter", Name: "Weekly digest"}, true, "demo"); err != nil {
		return fmt.Errorf("demo topic: %w", err)
	}
	at := time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Second)
	src := consentd.Source{Type: consentd.SourceForm, Name: "demo"}
	writes := []consentd.ConsentWrite{
		{ContactPoint: "jane@example.com", Channel: "email", Purpose: "newsletter", Status: consentd.OptedIn, CapturedAt: at, Source: src, PartyID: "jane"},
		{ContactPoint: "jane@example.com", Channel: "email", Purpose: "newsletter", Topic: "weekly-digest", Status: consentd.OptedIn, CapturedAt: at, Source: src, PartyID: "jane"},
		{ContactPoint: "+14155552671", Channel: "sms", Purpose: "newsletter", Status: consentd.OptedIn, CapturedAt: at, Source: src, PartyID: "jane"},
		{ContactPoint: "bob@example.com", Channel: "email", Purpose: "newsletter", Status: consentd.OptedOut, CapturedAt: at, Source: src},
		{ContactPoint: "bob@example.com", Channel: "email", Purpose: "tracking", Status: consentd.OptedIn, CapturedAt: at, Source: src},
	}
	res, err := db.WriteConsents(ctx, wsID, writes, "demo")
	if err != nil {
		return err
	}
	for i, r := range res {
		if r.Err != nil {
			return fmt.Errorf("demo consent %d: %w", i, r.Err)
		}
	}
	return nil
}
