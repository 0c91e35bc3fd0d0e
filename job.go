package consentd

import (
	"crypto/sha256"
	"encoding/json"
	"time"
)

// JobState is where a job is in its life.
type JobState string

// Job states.
const (
	JobQueued    JobState = "queued"    // waiting for its run_at
	JobRunning   JobState = "running"   // claimed by a runner until locked_until
	JobSucceeded JobState = "succeeded" // done; its input is cleared
	JobFailed    JobState = "failed"    // out of attempts; input and last_error kept for a retry
)

// Valid reports whether s is a known job state.
func (s JobState) Valid() bool {
	return s == JobQueued || s == JobRunning || s == JobSucceeded || s == JobFailed
}

// Job kinds. A rule job carries its record in Input; the others name what
// they work on in Ref, and are enqueued in the transaction that causes
// them.
const (
	JobKindRule             = "rule"              // runs a rule for one record
	JobKindConfirmationMail = "confirmation_mail" // sends a double opt-in confirmation by mail; Ref: the confirmation's nonce
	JobKindConfirmationSMS  = "confirmation_sms"  // sends a double opt-in confirmation by SMS; Ref: the confirmation's nonce
	JobKindRequest          = "request"           // carries out a data-subject request; Ref: the request's id
	JobKindLinkMail         = "link_mail"         // mails a person a signed link to their preferences; Ref: <base64url contact point hash>.<nonce>
)

// JobKinds lists the job kinds.
var JobKinds = []string{JobKindRule, JobKindConfirmationMail, JobKindConfirmationSMS, JobKindRequest, JobKindLinkMail}

// DefaultJobMaxAttempts is how many times a job runs before it is failed.
const DefaultJobMaxAttempts = 8

// ConfirmationJobMaxAttempts is how many times a confirmation's mail or
// SMS is tried: with the runner's backoff capped at an hour, for about a
// day, while the link is still good (ConfirmationTTL).
const ConfirmationJobMaxAttempts = 30

// JobNotifyChannel is the PostgreSQL NOTIFY channel that a transaction
// enqueuing a job notifies, to wake the runners of every process at once.
const JobNotifyChannel = "consentd_jobs"

// Job is one durable run of background work: a rule for one record, a
// confirmation's message, or a data-subject request.
type Job struct {
	ID          string    `json:"id"`
	WorkspaceID string    `json:"workspace_id"`
	RuleID      string    `json:"rule_id,omitempty" doc:"the rule of a rule job"`
	Kind        string    `json:"kind" enum:"rule,confirmation_mail,confirmation_sms,request,link_mail"`
	Ref         string    `json:"ref,omitempty" doc:"what a job of another kind works on: a confirmation's nonce, a request's id, a preference link mail's contact point hash and nonce"`
	State       JobState  `json:"state" enum:"queued,running,succeeded,failed"`
	Attempts    int       `json:"attempts" doc:"runs started so far; reset by a retry"`
	MaxAttempts int       `json:"max_attempts"`
	RunAt       time.Time `json:"run_at" doc:"when the job is due (next attempt)"`
	LastError   string    `json:"last_error,omitempty"`
	// Input is the record as it was when the job was enqueued; nil once
	// the job succeeded (personal data is kept only while a rule needs it).
	Input     *JobInput `json:"input,omitempty" doc:"the record snapshot; cleared when the job succeeds"`
	Result    string    `json:"result,omitempty" doc:"summary of what the run did"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// JobInput is the record snapshot a rule job runs on.
type JobInput struct {
	Type       string         `json:"type" doc:"record type"`
	ID         string         `json:"id" doc:"record id"`
	Change     RecordChange   `json:"change" enum:"created,updated"`
	Fields     map[string]any `json:"fields"`
	Origin     string         `json:"origin,omitempty"`
	ReceivedAt time.Time      `json:"received_at"`
}

// JobTrigger is a rule that may run for a record PUT: the store enqueues a
// job for it when the change it finds is one of Change, due Delay after
// the record arrived.
type JobTrigger struct {
	RuleID      string
	Change      []RecordChange
	Delay       time.Duration
	MaxAttempts int // 0: DefaultJobMaxAttempts
}

// Matches reports whether the trigger fires on change c.
func (t JobTrigger) Matches(c RecordChange) bool {
	for _, x := range t.Change {
		if x == c {
			return true
		}
	}
	return false
}

// JobFilter selects jobs to list.
type JobFilter struct {
	State     JobState // "": any
	Limit     int      // 1 to 1000; default 100
	PageToken string
}

// RecordDigest is the sha256 of the canonical JSON of a record's fields
// (encoding/json sorts map keys), by which a record PUT tells created from
// updated from unchanged.
func RecordDigest(fields map[string]any) ([32]byte, error) {
	b, err := json.Marshal(fields)
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// ConfirmationJobKind is the kind of the job that sends a confirmation to
// a contact point of kind k: mail to an email address, SMS to a phone
// number; "" for a custom contact point, which consentd cannot reach (its
// confirmation is recorded, and the link is for the caller to deliver).
func ConfirmationJobKind(k ContactPointKind) string {
	switch k {
	case KindEmail:
		return JobKindConfirmationMail
	case KindPhone:
		return JobKindConfirmationSMS
	}
	return ""
}
