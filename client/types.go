package client

import (
	"encoding/json"
	"time"

	"github.com/consentd/consentd"
)

// This file mirrors the API's answers and requests whose types package
// consentd does not export: their JSON fields are the server's.

// PurposeInput is the writable part of a purpose (POST /v1/purposes).
type PurposeInput struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Names and Descriptions per shipped language (en, de, fr, es, ar).
	Names        map[string]string                  `json:"names,omitempty"`
	Descriptions map[string]string                  `json:"descriptions,omitempty"`
	Type         consentd.PurposeType               `json:"type"`
	Channels     map[string]consentd.ChannelSetting `json:"channels"`
	DoubleOptIn  consentd.DoubleOptIn               `json:"double_opt_in,omitempty"`
	SaleOrShare  bool                               `json:"sale_or_share,omitempty"`
	ExternalIDs  map[string]string                  `json:"external_ids,omitempty"`
}

// TopicInput is the writable part of a topic (POST /v1/topics).
type TopicInput struct {
	ID                 string            `json:"id"`
	Purpose            string            `json:"purpose"`
	Name               string            `json:"name"`
	Description        string            `json:"description,omitempty"`
	Names              map[string]string `json:"names,omitempty"`
	Descriptions       map[string]string `json:"descriptions,omitempty"`
	ExternalIDs        map[string]string `json:"external_ids,omitempty"`
	ChannelExternalIDs map[string]string `json:"channel_external_ids,omitempty"`
}

// WriteAnswer is a consent as a write left it, with what the write did.
type WriteAnswer struct {
	consentd.WrittenConsent
	// Confirmation is set when the write was an opt-in that needs double
	// opt-in: it is stored pending, and a confirmation link goes to the
	// contact point.
	Confirmation *Confirmation `json:"confirmation,omitempty"`
}

// Confirmation says where a double opt-in confirmation went.
type Confirmation struct {
	SentTo    string    `json:"sent_to"` // the contact point, masked (j***@e***.com)
	ExpiresAt time.Time `json:"expires_at"`
}

// WriteItem is one result of a batch write, in the order of the writes:
// the answer, or the problem that refused the write (Error set,
// WriteAnswer nil).
type WriteItem struct {
	*WriteAnswer
	Error *Problem `json:"error,omitempty"`
}

// ConsentPage is a page of consents; NextPageToken is empty on the last.
type ConsentPage struct {
	Consents      []*consentd.Consent `json:"consents"`
	NextPageToken string              `json:"next_page_token,omitempty"`
}

// LogPage is a page of log entries. Next, when not 0, is the after= of the
// next page (GET /v1/log).
type LogPage struct {
	Entries []consentd.LogRecord `json:"entries"`
	Next    int64                `json:"next,omitempty"`
}

// Receipt is a consent's latest log entry with its inclusion proof and a
// signed checkpoint.
type Receipt struct {
	Leaf       []byte   `json:"leaf"`       // the exact leaf bytes
	Seq        int64    `json:"seq"`        // 1-based sequence number; tree index Seq-1
	LeafHash   string   `json:"leaf_hash"`  // base64
	TreeSize   int64    `json:"tree_size"`  // the size of the tree the proof is for
	Proof      []string `json:"proof"`      // base64 hashes of the inclusion proof
	Checkpoint string   `json:"checkpoint"` // the signed note of the checkpoint at TreeSize
	PublicKey  string   `json:"public_key"` // note verifier key that signed Checkpoint
	Evidence   []byte   `json:"evidence,omitempty"`
	Opening    []byte   `json:"opening,omitempty"`
}

// DecisionBatch is the JSON form of a batch decision: many contact points
// for one purpose, topic and channel.
type DecisionBatch struct {
	Purpose       string   `json:"purpose"`
	Channel       string   `json:"channel"`
	Topic         string   `json:"topic,omitempty"`
	ContactPoints []string `json:"contact_points"`
	// OnlyAllowed answers only the allowed contact points (?only=allowed).
	OnlyAllowed bool `json:"-"`
}

// DecisionItem is one answer of a batch decision: a decision, or for a
// request that could not be decided, its contact point (when the server
// could read it) and the problem.
type DecisionItem struct {
	*consentd.DecisionResult
	// ContactPoint of a request that could not be decided, as sent; for a
	// decision it is DecisionResult's (normalized).
	ContactPoint string   `json:"contact_point,omitempty"`
	Error        *Problem `json:"error,omitempty"`
}

// UnmarshalJSON decodes a decision or an undecided request's problem.
func (d *DecisionItem) UnmarshalJSON(b []byte) error {
	var probe struct {
		ContactPoint string   `json:"contact_point"`
		Error        *Problem `json:"error"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return err
	}
	*d = DecisionItem{ContactPoint: probe.ContactPoint, Error: probe.Error}
	if probe.Error != nil {
		return nil
	}
	d.DecisionResult = new(consentd.DecisionResult)
	return json.Unmarshal(b, d.DecisionResult)
}

// Allowed reports whether the item is a decision that allows the message.
func (d *DecisionItem) Allowed() bool { return d.DecisionResult != nil && d.DecisionResult.Allowed }

// KeyAnswer is a created API key with its secret, shown this once.
type KeyAnswer struct {
	consentd.APIKey
	Key string `json:"key"`
}

// Checkpoint is a signed checkpoint with the key that signed it.
type Checkpoint struct {
	Checkpoint string `json:"checkpoint"` // C2SP signed note
	Origin     string `json:"origin"`
	Size       int64  `json:"size"`
	Root       string `json:"root"`
	KeyID      string `json:"key_id"`
	PublicKey  string `json:"public_key"`
}

// StoredCheckpoint is a stored checkpoint as the server's key ring opens
// it; Problem says why it does not verify (KeyID and PublicKey are then
// empty).
type StoredCheckpoint struct {
	Checkpoint
	CreatedAt time.Time `json:"created_at"`
	Problem   string    `json:"problem,omitempty"`
}

// CheckpointPage is a page of stored checkpoints; Next, when not 0, is the
// From of the next page.
type CheckpointPage struct {
	Checkpoints []StoredCheckpoint `json:"checkpoints"`
	Next        int64              `json:"next,omitempty"`
}

// CheckpointQuery selects stored checkpoints by tree size (GET
// /v1/log/checkpoints). Zero values are the server's defaults: From 0, To
// no limit, Limit 100.
type CheckpointQuery struct {
	From, To int64
	Limit    int
}

// ConsistencyProof is an RFC 6962 consistency proof between two tree sizes,
// with the checkpoints stored at those sizes (nil when none was).
type ConsistencyProof struct {
	Old           int64             `json:"old"`
	New           int64             `json:"new"`
	OldRoot       string            `json:"old_root"`
	NewRoot       string            `json:"new_root"`
	Proof         []string          `json:"proof"`
	OldCheckpoint *StoredCheckpoint `json:"old_checkpoint"`
	NewCheckpoint *StoredCheckpoint `json:"new_checkpoint"`
}

// VerifyReport is what GET /v1/log/verify found.
type VerifyReport struct {
	Entries     int64        `json:"entries"`
	Root        string       `json:"root"`
	KeyIDs      []string     `json:"key_ids"`
	Checkpoints int          `json:"checkpoints"`
	OK          bool         `json:"ok"`
	FirstBad    int64        `json:"first_bad,omitempty"`
	BadPair     []int64      `json:"bad_pair,omitempty"`
	Problem     string       `json:"problem,omitempty"`
	State       *StateReport `json:"state,omitempty"`
}

// StateReport is the log replayed and compared with the stored consents
// and suppressions.
type StateReport struct {
	Consents     int64             `json:"consents"`
	Suppressions int64             `json:"suppressions"`
	Differences  int64             `json:"differences"`
	Skipped      int64             `json:"skipped,omitempty"`
	First        []StateDifference `json:"first,omitempty"`
}

// StateDifference is one stored row that differs from the log's replay.
type StateDifference struct {
	Table  string `json:"table"`
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
	Seq    int64  `json:"seq,omitempty"`
}

// LinkInput asks for a signed unsubscribe or preference link.
type LinkInput struct {
	Kind             string                    `json:"kind"` // unsubscribe or preferences
	ContactPoint     string                    `json:"contact_point"`
	ChannelType      string                    `json:"channel_type,omitempty"`
	ContactPointKind consentd.ContactPointKind `json:"contact_point_kind,omitempty"`
	ExpiresIn        int64                     `json:"expires_in,omitempty"` // seconds; 0: never
}

// Link is a signed link with its List-Unsubscribe headers.
type Link struct {
	URL                 string     `json:"url"`
	Token               string     `json:"token"`
	ListUnsubscribe     string     `json:"list_unsubscribe"`
	ListUnsubscribePost string     `json:"list_unsubscribe_post,omitempty"`
	ChannelType         string     `json:"channel_type,omitempty"`
	ExpiresAt           *time.Time `json:"expires_at,omitempty"`
	// MessageRef goes under the key "consentd" of the provider's message
	// metadata (SendGrid custom_args, Postmark Metadata, Mailgun
	// user-variables) or in the message's X-Consentd-Ref header (SES, raw
	// reports), for the feeds (docs/feeds.md).
	MessageRef string `json:"message_ref,omitempty"`
}

// FeedInput is a provider feed as a client creates it (POST /v1/feeds):
// the writable fields of consentd.Feed. An empty ID is generated; so is
// an empty Postmark or rfc822 password, shown in the answer only.
type FeedInput struct {
	ID         string                    `json:"id,omitempty"`
	Name       string                    `json:"name,omitempty"`
	Provider   consentd.FeedProvider     `json:"provider"`             // sendgrid, postmark, mailgun, ses, rfc822, twilio or vonage
	PublicKey  string                    `json:"public_key,omitempty"` // sendgrid
	Username   string                    `json:"username,omitempty"`   // postmark, rfc822
	Secret     string                    `json:"secret,omitempty"`     // postmark or rfc822 password, mailgun signing key, twilio auth token, vonage signature secret
	SecretEnv  string                    `json:"secret_env,omitempty"`
	Settings   map[string]string         `json:"settings,omitempty"` // other provider settings: ses's topic_arns, twilio's account_sid, vonage's signature_method
	SoftBounce consentd.SoftBouncePolicy `json:"soft_bounce,omitzero"`
}

// WebhookInput is a webhook as a client creates it (POST /v1/webhooks):
// the writable fields of consentd.Webhook. An empty ID or Secret is
// generated by the server.
type WebhookInput struct {
	ID             string   `json:"id,omitempty"`
	URL            string   `json:"url"`
	Events         []string `json:"events,omitempty"` // log entry types, e.g. consent.changed; empty means all
	Secret         string   `json:"secret,omitempty"` // whsec_ + base64 of 24 to 64 random bytes
	SecretEnv      string   `json:"secret_env,omitempty"`
	Origin         string   `json:"origin,omitempty"` // events about consents with this origin are not sent
	Disabled       bool     `json:"disabled,omitempty"`
	DisabledReason string   `json:"disabled_reason,omitempty"`
}

// PageQuery is the paging of the lists that take a state filter: State is
// the list's filter ("" is the server's default), Limit 1 to 1000 (0: the
// server's default, 100).
type PageQuery struct {
	State     string
	Limit     int
	PageToken string
}

// ImportPage is a page of imports, newest first.
type ImportPage struct {
	Imports       []*consentd.Import `json:"imports"`
	NextPageToken string             `json:"next_page_token,omitempty"`
}

// InboundPage is a page of stored SMS replies.
type InboundPage struct {
	Messages      []*consentd.InboundMessage `json:"messages"`
	NextPageToken string                     `json:"next_page_token,omitempty"`
}

// OptOutAllAnswer is every consent an agent opt-out wrote, and the
// suppressions it added.
type OptOutAllAnswer struct {
	PartyID  string      `json:"party_id"`
	Consents []WriteItem `json:"consents"`
	// Suppressions: a do_not_contact suppression per contact point, which
	// also covers purposes made later.
	Suppressions []*consentd.Suppression `json:"suppressions"`
}

// RequestPage is a page of data-subject requests.
type RequestPage struct {
	Requests      []*consentd.Request `json:"requests"`
	NextPageToken string              `json:"next_page_token,omitempty"`
}

// RecordAnswer is what a record PUT did: the change found and the jobs it
// enqueued.
type RecordAnswer struct {
	Type   string                `json:"type"`
	ID     string                `json:"id"`
	Change consentd.RecordChange `json:"change"`
	Jobs   []EnqueuedJob         `json:"jobs"`
}

// EnqueuedJob is a job a record PUT enqueued.
type EnqueuedJob struct {
	ID     string    `json:"id"`
	RuleID string    `json:"rule_id"`
	RunAt  time.Time `json:"run_at"`
}

// JobPage is a page of jobs.
type JobPage struct {
	Jobs          []*consentd.Job `json:"jobs"`
	NextPageToken string          `json:"next_page_token,omitempty"`
}

// DeliveryPage is a page of a webhook's delivery attempts, newest first.
type DeliveryPage struct {
	Deliveries    []*consentd.WebhookDelivery `json:"deliveries"`
	NextPageToken string                      `json:"next_page_token,omitempty"`
}

// ImportOptions say how the server reads an import's CSV file.
type ImportOptions struct {
	Format  string // required: native, listmonk, mailchimp, ...
	Purpose string // listmonk, mailchimp: the purpose of the subscribers
	Channel string // listmonk, mailchimp: default email
	Topic   string
	Name    string // the file's name, as source name; default the format
}

// ExportOptions select an export: Format csv (default) or ndjson; AsOf and
// KnownAt export each consent in effect at a time.
type ExportOptions struct {
	Format  string
	AsOf    time.Time
	KnownAt time.Time
}

// ExportRecord is one consent of an NDJSON export: the native import
// format's columns.
type ExportRecord struct {
	ContactPoint  string          `json:"contact_point"`
	Channel       string          `json:"channel"`
	Purpose       string          `json:"purpose"`
	Topic         string          `json:"topic,omitempty"`
	Status        consentd.Status `json:"status"`
	CapturedAt    time.Time       `json:"captured_at"`
	SourceType    string          `json:"source_type"`
	SourceName    string          `json:"source_name,omitempty"`
	SourceDetails json.RawMessage `json:"source_details,omitempty"`
	PartyID       string          `json:"party_id,omitempty"`
	Jurisdiction  string          `json:"jurisdiction,omitempty"`
	Reason        string          `json:"reason,omitempty"`
}
