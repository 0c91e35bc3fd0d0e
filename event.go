package consentd

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CloudEvent is one log entry as an event: CloudEvents 1.0 in structured
// JSON mode. Webhooks and the NATS publisher send the same document.
type CloudEvent struct {
	SpecVersion     string     `json:"specversion" doc:"1.0"`
	ID              string     `json:"id" doc:"stable per log entry: <workspace id>-<seq>"`
	Source          string     `json:"source" doc:"/workspaces/<workspace name>"`
	Type            string     `json:"type" doc:"the log entry type, e.g. consent.changed"`
	Subject         string     `json:"subject,omitempty" doc:"the log entry's subject"`
	Time            time.Time  `json:"time" doc:"when the entry was logged"`
	DataContentType string     `json:"datacontenttype" doc:"application/json"`
	Data            *EventData `json:"data"`
}

// EventData is an event's data: the log entry and, for consent entries,
// the consent with its contact point in plaintext (left out once erased:
// then Consent.ID is the hashed id and ContactPoint is empty).
type EventData struct {
	Seq     int64           `json:"seq"`
	At      time.Time       `json:"at"`
	Type    string          `json:"type"`
	Subject string          `json:"subject"`
	Before  json.RawMessage `json:"before,omitempty"`
	After   json.RawMessage `json:"after,omitempty"`
	Write   json.RawMessage `json:"write,omitempty"`
	Actor   string          `json:"actor"`
	Consent *Consent        `json:"consent,omitempty" doc:"consent entries: the consent as the entry leaves it, contact point in plaintext unless erased"`
}

// WebhookDelivery is one attempt to deliver an event to a webhook.
type WebhookDelivery struct {
	N             int64     `json:"n" doc:"attempt number across the webhook's life, newest highest"`
	EventID       string    `json:"event_id"`
	Seq           int64     `json:"seq"`
	Type          string    `json:"type"`
	Attempt       int       `json:"attempt" doc:"1 for the first attempt at this event"`
	StatusCode    int       `json:"status_code,omitempty"`
	Error         string    `json:"error,omitempty"`
	DurationMS    int64     `json:"duration_ms"`
	At            time.Time `json:"at"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero" doc:"when the event is tried again; absent after a success or when the webhook was disabled"`
}

// Succeeded reports whether the endpoint accepted the event (2xx).
func (d *WebhookDelivery) Succeeded() bool { return d.StatusCode >= 200 && d.StatusCode < 300 }

// WebhookAttempt is what a run of delivery attempts (and skipped events)
// changes of a webhook: its new state, the deliveries to log, in order
// (none when events were only skipped) and, when it must stop, the reason
// it is disabled.
type WebhookAttempt struct {
	State      WebhookState
	Deliveries []*WebhookDelivery
	Disable    string
}

// WebhookUpdate is a partial update of a webhook (PATCH): nil fields are
// kept. Setting Disabled to false re-enables a disabled webhook, which
// resumes from its stored position.
type WebhookUpdate struct {
	URL      *string   `json:"url,omitempty" max:"2000"`
	Events   *[]string `json:"events,omitempty" max:"64" doc:"log entry types; empty means all"`
	Secret   *string   `json:"secret,omitempty" max:"200" doc:"write-only: a new signing secret"`
	Origin   *string   `json:"origin,omitempty" max:"200"`
	Disabled *bool     `json:"disabled,omitempty" doc:"false re-enables a disabled webhook: it resumes where it stopped"`
}

// DeliveryFilter pages a webhook's delivery log, newest first.
type DeliveryFilter struct {
	PageToken string
	Limit     int
}

// Apply applies u to w.
func (u *WebhookUpdate) Apply(w *Webhook) {
	if u.URL != nil {
		w.URL = *u.URL
	}
	if u.Events != nil {
		w.Events = *u.Events
	}
	if u.Secret != nil {
		w.Secret = *u.Secret
	}
	if u.Origin != nil {
		w.Origin = *u.Origin
	}
	if u.Disabled != nil {
		w.Disabled = *u.Disabled
		if !w.Disabled {
			w.DisabledReason = ""
		}
	}
}

// EventTypes are the log entry types that webhooks may filter on.
var EventTypes = []string{LogConsentChanged, LogConsentSuperseded, LogConsentUnchanged, LogSuppressionAdded, LogSuppressionLifted,
	LogPurposeChanged, LogPurposeDeleted, LogTopicChanged, LogTopicDeleted, LogPartyChanged, LogWorkspaceChanged, LogPartyErased, LogRuleChanged, LogRuleDeleted}

// Validate checks a webhook as a client sends it (the secret, when set,
// included); it returns EINVALID with the offending field.
func (w *Webhook) Validate() error {
	if w.ID != "" && !ValidID(w.ID) {
		return FieldErrorf(EINVALID, "id", "id must be a slug: lower-case letters, digits, _ and -, at most 64")
	}
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" || u.User != nil || len(w.URL) > 2000 {
		return FieldErrorf(EINVALID, "url", "url must be an absolute http or https URL without credentials, at most 2000 bytes")
	}
	if len(w.Events) > len(EventTypes) {
		return FieldErrorf(EINVALID, "events", "events lists at most %d types", len(EventTypes))
	}
	for _, e := range w.Events {
		if !slices.Contains(EventTypes, e) {
			return FieldErrorf(EINVALID, "events", "unknown event type %q", e)
		}
	}
	if w.Secret != "" {
		if _, err := WebhookKey(w.Secret); err != nil {
			return err
		}
	}
	if len(w.Origin) > 200 || strings.ContainsFunc(w.Origin, func(r rune) bool { return r < ' ' }) {
		return FieldErrorf(EINVALID, "origin", "origin is at most 200 printable characters")
	}
	if len(w.SecretEnv) > 200 {
		return FieldErrorf(EINVALID, "secret_env", "secret_env is at most 200 characters")
	}
	// disabled_reason is not checked here: the deliverer writes it too,
	// and a stored reason must not block a later PATCH.
	if err := checkTexts(textField{"origin", w.Origin, 0}, textField{"secret_env", w.SecretEnv, 0}); err != nil {
		return err
	}
	return nil
}

// WebhookKey returns the signing key of a secret "whsec_" + base64 (24 to
// 64 bytes); EINVALID on field secret otherwise.
func WebhookKey(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return nil, FieldErrorf(EINVALID, "secret", "secret must be whsec_ followed by base64 of 24 to 64 bytes")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) < 24 || len(key) > 64 {
		return nil, FieldErrorf(EINVALID, "secret", "secret must be whsec_ followed by base64 of 24 to 64 bytes")
	}
	return key, nil
}

// Wants reports whether the webhook takes events of type typ.
func (w *Webhook) Wants(typ string) bool {
	return len(w.Events) == 0 || slices.Contains(w.Events, typ)
}

// EventID is the stable id of a workspace's log entry seq as an event.
func EventID(wsID string, seq int64) string { return wsID + "-" + strconv.FormatInt(seq, 10) }

// EventSource is the CloudEvents source of a workspace's events.
func EventSource(wsName string) string { return "/workspaces/" + url.PathEscape(wsName) }

// EventOrigin returns the origin of the write an entry records: its after
// state's, else that of the write it holds (superseded, unchanged).
func EventOrigin(d *EventData) string {
	for _, raw := range []json.RawMessage{d.After, d.Write} {
		if len(raw) == 0 {
			continue
		}
		var o struct {
			Origin string `json:"origin"`
		}
		if json.Unmarshal(raw, &o) == nil && o.Origin != "" {
			return o.Origin
		}
	}
	return ""
}

// NewEvent returns a log record of workspace ws as an event, without the
// plaintext consent (see EventData.Consent).
func NewEvent(ws *Workspace, rec LogRecord) (*CloudEvent, error) {
	d := &EventData{}
	if err := json.Unmarshal(rec.Entry, d); err != nil {
		return nil, fmt.Errorf("log entry %d: %w", rec.Seq, err)
	}
	return &CloudEvent{SpecVersion: "1.0", ID: EventID(ws.ID, d.Seq), Source: EventSource(ws.Name), Type: d.Type,
		Subject: d.Subject, Time: d.At, DataContentType: "application/json", Data: d}, nil
}

// EventConsent returns the consent a consent entry leaves (its after
// state, else its before state), for contact point cp (empty when erased:
// the id is then the hashed one) and channel type ct; nil for other
// entries.
func EventConsent(d *EventData, cp string, ct ChannelType) *Consent {
	if !strings.HasPrefix(d.Type, "consent.") {
		return nil
	}
	raw := d.After
	if len(raw) == 0 {
		raw = d.Before
	}
	var s LoggedConsent
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return nil
	}
	c := &Consent{ID: d.Subject, ContactPoint: cp, ChannelType: ct.ID, Purpose: ct.Purpose, Topic: ct.Topic, Channel: ct.Channel,
		Status: s.Status, CapturedAt: s.CapturedAt, RecordedAt: d.At, Version: s.Version, Source: s.Source, Reason: s.Reason,
		PartyID: s.PartyID, Jurisdiction: s.Jurisdiction, Proof: s.Proof, Origin: s.Origin, Seq: d.Seq}
	if cp != "" {
		c.ID = ConsentID(cp, ct.ID)
	}
	return c
}

// Bounds returns the rows a delivery filter selects: numbered below before,
// limit of them (default 100, at most 1000); EINVALID for a bad token.
func (f DeliveryFilter) Bounds() (before int64, limit int, err error) {
	before, limit = 1<<62, f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	if f.PageToken != "" {
		before, err = strconv.ParseInt(f.PageToken, 10, 64)
		if err != nil || before < 1 {
			return 0, 0, FieldErrorf(EINVALID, "page_token", "bad page token")
		}
	}
	return before, limit, nil
}

// DeliveryPage cuts rows read with limit+1 to a page and its next token.
func DeliveryPage(rows []*WebhookDelivery, limit int) ([]*WebhookDelivery, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, strconv.FormatInt(rows[limit-1].N, 10)
}
