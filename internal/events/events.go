// Package events turns a workspace's consent log into CloudEvents: the
// feed that webhooks (internal/webhook) and the NATS publisher
// (internal/natspub) read from a stored position, so that a crash or an
// endpoint down for hours loses nothing.
package events

import (
	"context"
	"encoding/base64"
	"strings"

	"github.com/consentd/consentd"
)

// Store is what building events needs of a backend.
type Store interface {
	Workspace(ctx context.Context, id string) (*consentd.Workspace, error)
	Catalog(ctx context.Context, wsID string) (*consentd.Catalog, error)
	// ContactPointByHash returns a contact point's plaintext; ENOTFOUND
	// when it is not stored (erased).
	ContactPointByHash(ctx context.Context, wsID string, hash [32]byte) (consentd.ContactPointKind, string, error)
	Log(ctx context.Context, wsID string, after int64, limit int) ([]consentd.LogRecord, error)
}

// Feed builds the events of one workspace.
type Feed struct {
	DB  Store
	WS  *consentd.Workspace
	cat *consentd.Catalog
}

// Open returns the feed of workspace wsID.
func Open(ctx context.Context, db Store, wsID string) (*Feed, error) {
	ws, err := db.Workspace(ctx, wsID)
	if err != nil {
		return nil, err
	}
	return &Feed{DB: db, WS: ws}, nil
}

// Read returns up to limit events after seq, in log order.
func (f *Feed) Read(ctx context.Context, after int64, limit int) ([]*consentd.CloudEvent, error) {
	recs, err := f.DB.Log(ctx, f.WS.ID, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]*consentd.CloudEvent, 0, len(recs))
	for _, rec := range recs {
		ev, err := f.Event(ctx, rec)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// Event returns one log record as an event; a consent entry carries the
// consent with its contact point in plaintext, looked up by its hash (only
// the hashed id once the plaintext is erased).
func (f *Feed) Event(ctx context.Context, rec consentd.LogRecord) (*consentd.CloudEvent, error) {
	ev, err := consentd.NewEvent(f.WS, rec)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(ev.Type, "consent.") {
		return ev, nil
	}
	hashID, ctID, ok := strings.Cut(ev.Data.Subject, "#")
	if !ok {
		return ev, nil
	}
	ct := consentd.ChannelType{ID: ctID}
	if f.cat == nil {
		if f.cat, err = f.DB.Catalog(ctx, f.WS.ID); err != nil {
			return nil, err
		}
	}
	if c, err := f.cat.ResolveID(ctID); err == nil {
		ct = c
	}
	var cp string
	if h, err := base64.RawURLEncoding.DecodeString(hashID); err == nil && len(h) == 32 {
		_, v, err := f.DB.ContactPointByHash(ctx, f.WS.ID, [32]byte(h))
		switch consentd.ErrorCode(err) {
		case "":
			cp = v
		case consentd.ENOTFOUND:
		default:
			return nil, err
		}
	}
	ev.Data.Consent = consentd.EventConsent(ev.Data, cp, ct)
	return ev, nil
}
