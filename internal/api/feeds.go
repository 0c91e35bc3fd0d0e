package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/feeds"
	"github.com/consentd/consentd/internal/openapi"
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

// feedInput is a feed as a client creates it: its writable fields.
type feedInput struct {
	ID         string                    `json:"id,omitempty" max:"64" doc:"slug, stable across environments; generated when empty"`
	Name       string                    `json:"name,omitempty" max:"200"`
	Provider   consentd.FeedProvider     `json:"provider" max:"64" doc:"sendgrid, postmark, mailgun, ses (Amazon SES through SNS) or rfc822 (raw ARF and DSN reports) for delivery events; twilio or vonage for inbound SMS replies"`
	PublicKey  string                    `json:"public_key,omitempty" max:"4096" doc:"sendgrid: the signed event webhook's verification key (ECDSA P-256), PEM or base64 DER"`
	Username   string                    `json:"username,omitempty" max:"200" doc:"postmark, rfc822: the HTTP Basic user name to put in the webhook URL; default consentd"`
	Secret     string                    `json:"secret,omitempty" max:"500" doc:"write-only: postmark, rfc822: the HTTP Basic password, generated (and shown in this answer only) when empty; mailgun: the HTTP webhook signing key; twilio: the Auth Token; vonage: the signature secret"`
	SecretEnv  string                    `json:"secret_env,omitempty" max:"200" doc:"the environment variable a catalog file reads the secret from"`
	Settings   map[string]string         `json:"settings,omitempty" max:"1000" doc:"other provider settings by name; ses: topic_arns (required), the SNS topic ARNs the feed accepts, separated by commas or spaces; twilio: account_sid (required); vonage: signature_method (md5hash, sha256 or sha512; default sha256); the others take none"`
	SoftBounce consentd.SoftBouncePolicy `json:"soft_bounce,omitzero" doc:"soft bounces of one address within window that make a hard bounce; default 3 within 72h"`
}

type feedList struct {
	Feeds []*consentd.Feed `json:"feeds"`
}

// feedRoutes administer provider feeds. The events themselves arrive at
// the feeds' public URLs (internal/feeds), outside this API.
func (s *Server) feedRoutes() []route {
	id := []openapi.Param{{Name: "id", In: "path", Description: "the feed id"}}
	op := func(method, path, summary string, req, resp any, status int, q []openapi.Param, errs ...int) openapi.Operation {
		return openapi.Operation{Method: method, Path: path, Summary: summary, Tags: []string{"feeds"}, Request: req, Response: resp, Status: status, Query: q, Errors: errs}
	}
	return []route{
		{op("GET", "/v1/feeds", "The workspace's provider feeds (secrets are never shown)", nil, feedList{}, 0, nil), readers, s.listFeeds},
		{op("POST", "/v1/feeds", "Create a provider feed: SendGrid, Postmark, Mailgun, Amazon SES (through SNS) or a mail system posting raw reports (rfc822) sends its bounces, complaints and unsubscribes, Twilio or Vonage its inbound SMS replies, to the answer's url, "+
			"authenticated the provider's way; a Postmark or rfc822 password generated when none is given is shown in this answer only",
			feedInput{}, consentd.Feed{}, 201, nil, 409), admins, s.postFeed},
		{op("GET", "/v1/feeds/{id}", "One provider feed, with its URL", nil, consentd.Feed{}, 0, id), readers, s.getFeed},
		{op("DELETE", "/v1/feeds/{id}", "Delete a provider feed: its URL stops working, and the event ids it kept are deleted", nil, nil, 204, id), admins, s.deleteFeed},
	}
}

// publicFeed returns f as answers show it: without its secrets, its URL
// absolute when the server knows its public URL.
func (s *Server) publicFeed(f *consentd.Feed) *consentd.Feed {
	c := *f
	c.Secret, c.StoredSecret = "", ""
	if l := s.links.Load(); l != nil && strings.HasPrefix(c.URL, "/") {
		c.URL = l.base + c.URL
	}
	return &c
}

func newFeedID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "feed-" + hex.EncodeToString(b)
}

func (s *Server) postFeed(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	var body feedInput
	if err := decode(r, maxBody, &body); err != nil {
		return err
	}
	f := consentd.Feed{ID: body.ID, Name: body.Name, Provider: body.Provider, PublicKey: body.PublicKey, Username: body.Username,
		Secret: body.Secret, SecretEnv: body.SecretEnv, Settings: body.Settings, SoftBounce: body.SoftBounce}
	if f.ID == "" {
		f.ID = newFeedID()
	}
	shown, err := feeds.Configure(&f)
	if err != nil {
		return err
	}
	if err := s.DB.PutFeed(r.Context(), k.WorkspaceID, &f, true); err != nil {
		return err
	}
	out := s.publicFeed(&f)
	out.Secret = shown // a generated password, shown this once
	w.Header().Set("Location", "/v1/feeds/"+f.ID)
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) listFeeds(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	fs, err := s.DB.Feeds(r.Context(), k.WorkspaceID)
	if err != nil {
		return err
	}
	out := feedList{Feeds: make([]*consentd.Feed, len(fs))}
	for i, f := range fs {
		out.Feeds[i] = s.publicFeed(f)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getFeed(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	f, err := s.DB.Feed(r.Context(), k.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.publicFeed(f))
	return nil
}

func (s *Server) deleteFeed(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	if err := s.DB.DeleteFeed(r.Context(), k.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
