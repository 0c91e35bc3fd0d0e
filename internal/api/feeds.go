package api

import (
	"context"

	"github.com/consentd/consentd"
)

// FeedStore is what the feeds' administration needs of a backend.
// Backends: feeds.go.
type FeedStore interface {
	// PutFeed stores a feed its adapter configured (StoredSecret set).
	// With create it returns ECONFLICT when the id exists; without it
	// creates or replaces (consentd apply). ENOTFOUND for an unknown
	// workspace.
	PutFeed(ctx context.Context, wsID string, f *consentd.Feed, create bool) error
	// Feed returns one feed with its stored secret; ENOTFOUND.
	Feed(ctx context.Context, wsID, id string) (*consentd.Feed, error)
	// Feeds returns the workspace's feeds by id.
	Feeds(ctx context.Context, wsID string) ([]*consentd.Feed, error)
	// DeleteFeed deletes a feed and the event ids it kept; ENOTFOUND.
	DeleteFeed(ctx context.Context, wsID, id string) error
}
