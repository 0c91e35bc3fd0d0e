package consentd

import "time"

// Webhook is an outbound event subscription (docs/architecture.md (automation)): events
// of the listed types are POSTed to URL as CloudEvents JSON, signed per the
// Standard Webhooks spec with Secret, in log order, at least once, each with
// a stable id.
type Webhook struct {
	ID     string   `json:"id" doc:"slug, stable across environments"`
	URL    string   `json:"url"`
	Events []string `json:"events" doc:"log entry types, e.g. consent.changed; empty means all"`
	// Secret signs the payloads ("whsec_" + base64, as the spec has it). It
	// is write-only: answers never carry it.
	Secret string `json:"secret,omitempty" doc:"write-only: whsec_ + base64 of 24 to 64 random bytes; generated when empty"`
	// SecretEnv names the environment variable that holds the secret in a
	// catalog file (consentd apply reads it); it is kept for export.
	SecretEnv string `json:"secret_env,omitempty"`
	// Origin: events about consents written with this origin are not sent
	// (a sync target never receives its own changes back).
	Origin         string    `json:"origin,omitempty" doc:"events about consents with this origin are not sent to this webhook"`
	Disabled       bool      `json:"disabled,omitempty"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
	CreatedAt      time.Time `json:"created_at,omitzero"`
	UpdatedAt      time.Time `json:"updated_at,omitzero"`
	// WorkspaceID is set on the webhooks that a deliverer reads across
	// workspaces; answers never carry it.
	WorkspaceID string `json:"-"`
	WebhookState
}

// WebhookState is what consentd keeps of a webhook (read-only in requests): where the
// webhook is in its workspace's log, and its retries.
type WebhookState struct {
	Position      int64     `json:"position" doc:"read-only: the seq of the last log entry delivered or skipped"`
	Failures      int       `json:"failures,omitempty" doc:"read-only: failed attempts at the next event"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero" doc:"read-only: when the next event is tried again after a failure"`
}

// Lag is how many entries of a log of logSize entries the webhook has yet
// to deliver or skip: the entries after its position, never below zero.
func (s WebhookState) Lag(logSize int64) int64 { return max(0, logSize-s.Position) }
