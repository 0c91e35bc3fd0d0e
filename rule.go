package consentd

// Rule is a record-triggered automation (docs/architecture.md (automation)): when a
// record of type On.Record is created or updated, and When holds, write
// the consents it names for the contact point it computes. Expressions are
// CEL over the variable `record` (the record's JSON fields) and are
// type-checked when the rule is stored (internal/rules).
type Rule struct {
	ID string      `json:"id" max:"64" doc:"slug, stable across environments"`
	On RuleTrigger `json:"on"`
	// When is the entry condition (CEL, bool); empty means always.
	When string `json:"when,omitempty" max:"16384" doc:"entry condition, CEL bool over record"`
	// Delay is the scheduled path: the job runs this long after the record
	// arrived (Go duration: 1m, 24h); empty means at once.
	Delay        string `json:"delay,omitempty" max:"64" doc:"run this long after the record arrived (1m, 24h)"`
	ContactPoint string `json:"contact_point" max:"16384" doc:"CEL string: the contact point"`
	Party        string `json:"party,omitempty" max:"16384" doc:"CEL string: the party id"`
	// Jurisdiction (CEL string) picks the double opt-in branch: an opt-in
	// for a purpose whose double_opt_in covers the jurisdiction is stored
	// pending and a confirmation is sent instead of writing opted_in.
	Jurisdiction string `json:"jurisdiction,omitempty" max:"16384" doc:"CEL string: ISO 3166 code; selects the double opt-in branch"`
	// CapturedAt (CEL timestamp or RFC 3339 string) is when the person
	// acted; empty means when the record arrived.
	CapturedAt string        `json:"captured_at,omitempty" max:"16384" doc:"CEL timestamp or RFC 3339 string; default: when the record arrived"`
	Consents   []RuleConsent `json:"consents"`
	Source     Source        `json:"source"`
	// Origin tags the consents the rule writes (default: the record's
	// origin), so that a webhook syncing to that system does not echo them.
	Origin string `json:"origin,omitempty" max:"200" doc:"origin of the consents this rule writes; default: the record's origin"`
}

// RuleTrigger is what a rule reacts to.
type RuleTrigger struct {
	Record string         `json:"record" max:"100" doc:"record type, e.g. contact or lead"`
	Change []RecordChange `json:"change,omitempty" enum:"created,updated" doc:"created, updated; default both"`
}

// RuleConsent is one consent a rule writes.
type RuleConsent struct {
	ChannelType string `json:"channel_type" max:"256" doc:"channel type id (newsletter:email) or external id"`
	Status      string `json:"status" max:"16384" doc:"CEL string: opted_in, opted_out, pending; an empty string writes nothing"`
}

// RecordChange is what a record PUT did.
type RecordChange string

// Record changes.
const (
	RecordCreated   RecordChange = "created"
	RecordUpdated   RecordChange = "updated"
	RecordUnchanged RecordChange = "unchanged" // same fields as before: no rule runs
)

// Record is a CRM-style record (contact, lead...) that rules react to.
// consentd keeps only a digest of its fields, to tell created from
// updated from unchanged; the fields themselves live in the jobs that need
// them, until they have run.
type Record struct {
	Type   string         `json:"type"`
	ID     string         `json:"id"`
	Fields map[string]any `json:"fields"`
	Origin string         `json:"origin,omitempty"`
}
