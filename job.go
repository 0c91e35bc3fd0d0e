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

// JobKindRule is the kind of a job that runs a rule for one record.
const JobKindRule = "rule"

// DefaultJobMaxAttempts is how many times a job runs before it is failed.
const DefaultJobMaxAttempts = 8

// Job is one durable run of a rule for one record (docs/architecture.md (automation)).
type Job struct {
	ID          string    `json:"id"`
	WorkspaceID string    `json:"workspace_id"`
	RuleID      string    `json:"rule_id"`
	Kind        string    `json:"kind" enum:"rule"`
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
