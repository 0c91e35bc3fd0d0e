package consentd

import (
	"strings"
	"time"
)

// Data-subject request types (docs/architecture.md (automation)).
const (
	RequestWithdraw = "withdraw" // opt out everywhere for a party or a contact point
	RequestErase    = "erase"    // withdraw, then delete the plaintext and suppress (erased); the hashed proof stays
	RequestAccess   = "access"   // changes nothing; GET /v1/requests/{id}/report shows what is held
)

// Regulations a data-subject request is made under; each sets its due date.
const (
	RegulationGDPR = "gdpr" // one month from receipt (Art. 12(3))
	RegulationCCPA = "ccpa" // 45 calendar days from receipt (CCPA/CPRA, Cal. Civ. Code 1798.130)
)

// States of a data-subject request.
const (
	RequestPending   = "pending"   // waiting for the request worker
	RequestCompleted = "completed" // done; Result says what was done
	RequestFailed    = "failed"    // the worker gave up after MaxRequestAttempts; Errors says why
)

// Log entry types of data-subject requests. A request's opt-outs and
// suppressions are logged as any others are, with source type dsr and the
// request id as source name.
const (
	LogRequestReceived  = "request.received"
	LogRequestCompleted = "request.completed"
	LogRequestFailed    = "request.failed"
)

// MaxRequestAttempts is how many times the worker tries a request before it
// marks it failed.
const MaxRequestAttempts = 20

// RequestRetryDelay is how long the worker waits before it tries a request
// again after attempts failed attempts: doubling from 2s, at most an hour.
func RequestRetryDelay(attempts int) time.Duration {
	if attempts >= 12 {
		return time.Hour
	}
	return min(time.Second<<max(attempts, 1), time.Hour)
}

// RequestInput is a data-subject request as a client files it.
type RequestInput struct {
	Type         string           `json:"type" enum:"withdraw,erase,access" doc:"withdraw opts out everywhere and suppresses (do_not_contact); erase also deletes the plaintext (suppression erased, every purpose); access changes nothing, and its report (GET /v1/requests/{id}/report) shows what is held"`
	PartyID      string           `json:"party_id,omitempty" max:"200" doc:"the party whose every contact point the request covers; or contact_point"`
	ContactPoint string           `json:"contact_point,omitempty" max:"1024" doc:"one contact point the request covers; or party_id"`
	Kind         ContactPointKind `json:"kind,omitempty" enum:"email,phone,custom" doc:"how to normalize contact_point; default guessed: email with @, phone with a leading + or digit, custom otherwise"`
	Regulation   string           `json:"regulation" enum:"gdpr,ccpa" doc:"sets the due date: gdpr one month after received_at, ccpa 45 days"`
	Reference    string           `json:"reference,omitempty" max:"200" doc:"your case or ticket number"`
	ReceivedAt   time.Time        `json:"received_at,omitzero" doc:"when the person made the request; default now. The due date counts from it, and the opt-outs are captured at it"`
}

// Validate checks a request's fields that need no store: it fills in
// ReceivedAt (now) and Kind (guessed) and returns an *Error naming the
// field: EINVALID,
// EFUTURECAPTUREDAT or EINVALIDTIME otherwise. The contact point itself is
// checked when it is normalized.
func (in *RequestInput) Validate(now time.Time) error {
	if in.ReceivedAt.IsZero() {
		in.ReceivedAt = now
	}
	in.ReceivedAt = in.ReceivedAt.UTC()
	switch in.Type {
	case RequestWithdraw, RequestErase, RequestAccess:
	default:
		return FieldErrorf(EINVALID, "type", "type must be withdraw, erase or access")
	}
	switch {
	case in.Regulation != RegulationGDPR && in.Regulation != RegulationCCPA:
		return FieldErrorf(EINVALID, "regulation", "regulation must be gdpr or ccpa")
	case in.PartyID == "" && strings.TrimSpace(in.ContactPoint) == "":
		return FieldErrorf(EINVALID, "party_id", "party_id or contact_point is required")
	case in.PartyID != "" && in.ContactPoint != "":
		return FieldErrorf(EINVALID, "contact_point", "give party_id or contact_point, not both")
	case in.PartyID != "" && !ValidPartyID(in.PartyID):
		return FieldErrorf(EINVALID, "party_id", "party_id must be 1 to 200 printable characters without /")
	case in.Kind != "" && in.ContactPoint == "":
		return FieldErrorf(EINVALID, "kind", "kind goes with contact_point")
	case in.Kind != "" && !in.Kind.Valid():
		return FieldErrorf(EINVALID, "kind", "kind must be email, phone or custom")
	case len(in.Reference) > 200 || !noControlChars(in.Reference):
		return FieldErrorf(EINVALID, "reference", "reference is at most 200 printable characters")
	case in.ReceivedAt.After(now.Add(MaxSkew)):
		return FieldErrorf(EFUTURECAPTUREDAT, "received_at", "received_at is in the future")
	case in.ReceivedAt.Year() < 1970:
		return FieldErrorf(EINVALIDTIME, "received_at", "received_at is before 1970")
	}
	if err := CheckText("reference", in.Reference, 0); err != nil {
		return err
	}
	if in.ContactPoint != "" && in.Kind == "" {
		in.Kind = GuessKind("", in.ContactPoint)
	}
	return nil
}

// DueDate returns when a request received at received is due under
// regulation: GDPR one month later (the same day of the next month, or its
// last day when it has no such day: 31 January is due on 28 or 29
// February), CCPA 45 days later; at the same time of day, which errs early.
func DueDate(regulation string, received time.Time) time.Time {
	switch regulation {
	case RegulationGDPR:
		y, m, d := received.Date()
		h, mi, s := received.Clock()
		first := time.Date(y, m+1, 1, 0, 0, 0, 0, received.Location())
		last := first.AddDate(0, 1, -1).Day()
		return time.Date(first.Year(), first.Month(), min(d, last), h, mi, s, received.Nanosecond(), received.Location())
	case RegulationCCPA:
		return received.AddDate(0, 0, 45)
	}
	return time.Time{}
}

// Request is a data-subject request.
type Request struct {
	ID           string           `json:"id"`
	WorkspaceID  string           `json:"workspace_id"`
	Type         string           `json:"type" enum:"withdraw,erase,access"`
	PartyID      string           `json:"party_id,omitempty"`
	ContactPoint string           `json:"contact_point,omitempty" doc:"normalized"`
	Kind         ContactPointKind `json:"kind,omitempty" enum:"email,phone,custom"`
	Regulation   string           `json:"regulation" enum:"gdpr,ccpa"`
	Reference    string           `json:"reference,omitempty"`
	State        string           `json:"state" enum:"pending,completed,failed"`
	ReceivedAt   time.Time        `json:"received_at"`
	DueAt        time.Time        `json:"due_at"`
	CreatedAt    time.Time        `json:"created_at"`
	CreatedBy    string           `json:"created_by" doc:"the actor that filed it; its changes are logged with this actor"`
	CompletedAt  *time.Time       `json:"completed_at,omitempty"`
	Attempts     int              `json:"attempts"`
	Result       *RequestResult   `json:"result,omitempty"`
	Errors       []RequestError   `json:"errors,omitempty" doc:"failed attempts, oldest first"`
}

// RequestResult is what processing a withdraw request did.
type RequestResult struct {
	ContactPoints  int      `json:"contact_points"`
	Consents       int      `json:"consents" doc:"opt-outs written: every channel type of every contact point, on the channels of its kind"`
	Changed        int      `json:"changed" doc:"consents created or changed to opted_out"`
	Unchanged      int      `json:"unchanged" doc:"consents already opted out at that time"`
	Superseded     int      `json:"superseded" doc:"consents captured after the request was received, which stand (the suppression still blocks commercial and tracking messages)"`
	ConsentIDs     []string `json:"consent_ids" doc:"the consents written; a contact point erased since shows as its hash"`
	SuppressionIDs []string `json:"suppression_ids" doc:"the suppressions, one per contact point (an existing one is reused): do_not_contact for a withdraw request, erased for an erase request"`
}

// AccessReport is what consentd holds on the subject of an access request
// (GET /v1/requests/{id}/report), read when the report is: the party, every
// consent with its history and the suppressions that the request's result
// names. A contact point erased since is left out.
type AccessReport struct {
	Request      *Request               `json:"request"`
	Party        *Party                 `json:"party,omitempty"`
	Consents     []*Consent             `json:"consents"`
	History      map[string][]LogRecord `json:"history" doc:"each consent's log entries, oldest first, by consent id"`
	Suppressions []*Suppression         `json:"suppressions"`
}

// RequestError is one failed attempt at a request.
type RequestError struct {
	At      time.Time `json:"at"`
	Code    string    `json:"code"`
	Message string    `json:"message"`
}

// RequestRef names a request in a workspace.
type RequestRef struct {
	WorkspaceID string
	ID          string
}

// RequestFilter selects requests to list.
type RequestFilter struct {
	State     string // pending, completed, failed, or "" for all
	Limit     int
	PageToken string
}

// OptOutWrites returns opted_out writes, captured at at with source src,
// of every channel type of the catalog on the channels of each contact
// point's kind (email channels for an email address, sms, whatsapp and
// voice for a phone number, push and custom channels for a custom one):
// every purpose and every topic, whatever their state. partyID, when set,
// links each contact point to the party.
func OptOutWrites(cat *Catalog, cps []PartyContactPoint, partyID string, src Source, reason string, at time.Time) []ConsentWrite {
	cts := cat.ChannelTypes()
	var out []ConsentWrite
	for _, cp := range cps {
		if cp.Value == "" {
			continue // erased
		}
		for _, ct := range cts {
			if KindOf(ct.Channel) != cp.Kind {
				continue
			}
			out = append(out, ConsentWrite{ContactPoint: cp.Value, Channel: ct.Channel, Purpose: ct.Purpose, Topic: ct.Topic,
				Status: OptedOut, CapturedAt: at, Source: src, Reason: reason, PartyID: partyID})
		}
	}
	return out
}
