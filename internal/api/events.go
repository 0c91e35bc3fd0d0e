package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/openapi"
	"github.com/consentd/consentd/internal/webhook"
)

// EventStore is what webhooks and the log's other consumers need of a
// backend. Backends: events.go.
type EventStore interface {
	// PutWebhook stores a validated webhook, secret set. With create it
	// returns ECONFLICT when the id exists; without it creates or replaces
	// (consentd apply, PATCH). A new webhook starts at the current end of
	// the log; a replaced one keeps its position; re-enabling clears its
	// failures. ENOTFOUND for an unknown workspace.
	PutWebhook(ctx context.Context, wsID string, w *consentd.Webhook, create bool) error
	// Webhook returns one webhook with its secret; ENOTFOUND.
	Webhook(ctx context.Context, wsID, id string) (*consentd.Webhook, error)
	// Webhooks returns the workspace's webhooks by id, secrets included.
	Webhooks(ctx context.Context, wsID string) ([]*consentd.Webhook, error)
	// DeleteWebhook deletes a webhook and its deliveries; ENOTFOUND.
	DeleteWebhook(ctx context.Context, wsID, id string) error
	// WebhookDeliveries pages a webhook's delivery log, newest first;
	// ENOTFOUND, EINVALID for a bad page token.
	WebhookDeliveries(ctx context.Context, wsID, id string, f consentd.DeliveryFilter) ([]*consentd.WebhookDelivery, string, error)
	// ActiveWebhooks returns the enabled webhooks of every workspace, with
	// WorkspaceID set: the deliverer's work list.
	ActiveWebhooks(ctx context.Context) ([]*consentd.Webhook, error)
	// RecordWebhookAttempt stores an attempt's outcome (new state, its
	// delivery row, keeping the newest keep rows, and a disable reason);
	// ECONFLICT, changing nothing, when the position is no longer from or
	// the webhook was disabled meanwhile; ENOTFOUND when it is gone.
	RecordWebhookAttempt(ctx context.Context, wsID, id string, from int64, a consentd.WebhookAttempt, keep int) error
	// EventCursor and SetEventCursor keep a named consumer's position in
	// a workspace's log (0 when none); the position never moves back.
	EventCursor(ctx context.Context, wsID, name string) (int64, error)
	SetEventCursor(ctx context.Context, wsID, name string, seq int64) error
	// ContactPointByHash returns a contact point's plaintext; ENOTFOUND
	// when none is stored (never, or erased).
	ContactPointByHash(ctx context.Context, wsID string, hash [32]byte) (consentd.ContactPointKind, string, error)
}

// webhookInput is a webhook as a client creates it: the writable fields
// of consentd.Webhook only. Its read-only fields (the retry state, the
// times) are not accepted: decode refuses them by name (readOnlyFields),
// and /openapi.json does not list them in the request.
type webhookInput struct {
	ID             string   `json:"id,omitempty" max:"64" doc:"slug, stable across environments; generated when empty"`
	URL            string   `json:"url" max:"2000"`
	Events         []string `json:"events,omitempty" max:"64" doc:"log entry types, e.g. consent.changed; empty means all"`
	Secret         string   `json:"secret,omitempty" max:"200" doc:"write-only: whsec_ + base64 of 24 to 64 random bytes; generated when empty"`
	SecretEnv      string   `json:"secret_env,omitempty" max:"200"`
	Origin         string   `json:"origin,omitempty" max:"200" doc:"events about consents with this origin are not sent to this webhook"`
	Disabled       bool     `json:"disabled,omitempty"`
	DisabledReason string   `json:"disabled_reason,omitempty" max:"1000"`
}

// readOnlyFields are the fields of a webhook that consentd sets.
func (webhookInput) readOnlyFields() []string {
	return []string{"position", "failures", "next_attempt_at", "created_at", "updated_at"}
}

type webhookList struct {
	Webhooks []*consentd.Webhook `json:"webhooks"`
}

type deliveryList struct {
	Deliveries    []*consentd.WebhookDelivery `json:"deliveries"`
	NextPageToken string                      `json:"next_page_token,omitempty"`
}

// eventRoutes are webhooks and their deliveries. Reading them is for every
// key that may read (the secret is never in an answer); changing them is
// for admins.
func (s *Server) eventRoutes() []route {
	id := []openapi.Param{{Name: "id", In: "path", Description: "the webhook id"}}
	page := []openapi.Param{{Name: "id", In: "path", Description: "the webhook id"}, limitParam, {Name: "page_token"}}
	op := func(method, path, summary string, req, resp any, status int, q []openapi.Param) openapi.Operation {
		return openapi.Operation{Method: method, Path: path, Summary: summary, Tags: []string{"webhooks"}, Request: req, Response: resp, Status: status, Query: q}
	}
	return []route{
		{op("GET", "/v1/webhooks", "The workspace's webhooks (secrets are never shown)", nil, webhookList{}, 0, nil), readers, s.listWebhooks},
		{op("POST", "/v1/webhooks", "Create a webhook: it receives the events logged from now on, CloudEvents JSON signed per Standard Webhooks; a secret generated when none is given is shown in this answer only",
			webhookInput{}, consentd.Webhook{}, 201, nil), admins, s.postWebhook},
		{op("GET", "/v1/webhooks/{id}", "One webhook, with its position and retry state", nil, consentd.Webhook{}, 0, id), readers, s.getWebhook},
		{op("PATCH", "/v1/webhooks/{id}", "Change a webhook; disabled: false re-enables it, and it resumes where it stopped",
			consentd.WebhookUpdate{}, consentd.Webhook{}, 0, id), admins, s.patchWebhook},
		{op("DELETE", "/v1/webhooks/{id}", "Delete a webhook and its delivery log", nil, nil, 204, id), admins, s.deleteWebhook},
		{op("GET", "/v1/webhooks/{id}/deliveries", "The webhook's delivery attempts, newest first (the newest 1000 are kept)", nil, deliveryList{}, 0, page), readers, s.listDeliveries},
	}
}

// public returns w as answers show it: without its secret.
func public(w *consentd.Webhook) *consentd.Webhook {
	c := *w
	c.Secret = ""
	return &c
}

func newWebhookID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "wh-" + hex.EncodeToString(b)
}

func (s *Server) postWebhook(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	var body webhookInput
	if err := decode(r, maxBody, &body); err != nil {
		return err
	}
	in := consentd.Webhook{ID: body.ID, URL: body.URL, Events: body.Events, Secret: body.Secret, SecretEnv: body.SecretEnv,
		Origin: body.Origin, Disabled: body.Disabled, DisabledReason: body.DisabledReason}
	if in.ID == "" {
		in.ID = newWebhookID()
	}
	if err := in.Validate(); err != nil {
		return err
	}
	if err := webhook.CheckTarget(r.Context(), in.URL, s.WebhookAllowPrivate); err != nil {
		return err
	}
	generated := in.Secret == ""
	if generated {
		in.Secret = webhook.NewSecret()
	}
	if in.Disabled && in.DisabledReason == "" {
		in.DisabledReason = "disabled by " + actor(k)
	}
	if err := s.DB.PutWebhook(r.Context(), k.WorkspaceID, &in, true); err != nil {
		return err
	}
	out := public(&in)
	if generated {
		out.Secret = in.Secret // shown this once
	}
	w.Header().Set("Location", "/v1/webhooks/"+in.ID)
	writeJSON(w, 201, out)
	return nil
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	whs, err := s.DB.Webhooks(r.Context(), k.WorkspaceID)
	if err != nil {
		return err
	}
	out := webhookList{Webhooks: make([]*consentd.Webhook, len(whs))}
	for i, wh := range whs {
		out.Webhooks[i] = public(wh)
	}
	writeJSON(w, 200, out)
	return nil
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	wh, err := s.DB.Webhook(r.Context(), k.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, public(wh))
	return nil
}

func (s *Server) patchWebhook(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	var u consentd.WebhookUpdate
	if err := decode(r, maxBody, &u); err != nil {
		return err
	}
	wh, err := s.UpdateWebhook(r.Context(), k.WorkspaceID, r.PathValue("id"), u, actor(k))
	if err != nil {
		return err
	}
	writeJSON(w, 200, public(wh))
	return nil
}

// UpdateWebhook changes webhook id as PATCH /v1/webhooks/{id} does, for
// actor ("key:<id>"): disabled false re-enables a disabled webhook, which
// then resumes where it stopped; disabling it records who did. A new URL
// is checked as a target. ENOTFOUND when there is no such webhook,
// EINVALID for a bad change. The answer holds the secret: strip it
// before showing it.
func (s *Server) UpdateWebhook(ctx context.Context, wsID, id string, u consentd.WebhookUpdate, actor string) (*consentd.Webhook, error) {
	wh, err := s.DB.Webhook(ctx, wsID, id)
	if err != nil {
		return nil, err
	}
	oldURL := wh.URL
	wasDisabled := wh.Disabled
	u.Apply(wh)
	if err := wh.Validate(); err != nil {
		return nil, err
	}
	if wh.Secret == "" {
		return nil, consentd.FieldErrorf(consentd.EINVALID, "secret", "secret may not be empty")
	}
	if wh.URL != oldURL {
		if err := webhook.CheckTarget(ctx, wh.URL, s.WebhookAllowPrivate); err != nil {
			return nil, err
		}
	}
	if wh.Disabled && !wasDisabled {
		wh.DisabledReason = "disabled by " + actor
	}
	if err := s.DB.PutWebhook(ctx, wsID, wh, false); err != nil {
		return nil, err
	}
	return wh, nil
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	if err := s.DB.DeleteWebhook(r.Context(), k.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	ds, next, err := s.DB.WebhookDeliveries(r.Context(), k.WorkspaceID, r.PathValue("id"), consentd.DeliveryFilter{Limit: limit, PageToken: r.URL.Query().Get("page_token")})
	if err != nil {
		return err
	}
	writeJSON(w, 200, deliveryList{Deliveries: ds, NextPageToken: next})
	return nil
}
