package consentd

import (
	"encoding/json"
	"sort"
	"time"
)

// PurposeType says what a purpose is for.
type PurposeType string

// Purpose types.
const (
	Commercial    PurposeType = "commercial"
	Transactional PurposeType = "transactional"
	Tracking      PurposeType = "tracking" // may opens, clicks and visits be tracked
)

// Enforcement is how strictly a purpose is checked on a channel.
type Enforcement string

// Enforcement models.
const (
	Restrictive    Enforcement = "restrictive"     // an opt-in record is required
	NonRestrictive Enforcement = "non_restrictive" // allowed unless opted out
	Disabled       Enforcement = "disabled"        // no check; transactional purposes only
)

// Double opt-in settings; any other value of Purpose.DoubleOptIn is a list of
// jurisdictions.
const (
	DoubleOptInNever  = "never"
	DoubleOptInAlways = "always"
)

// ChannelSetting is a purpose's setting on one channel.
type ChannelSetting struct {
	Enforcement Enforcement `json:"enforcement,omitempty" enum:"restrictive,non_restrictive,disabled"`
	ExternalID  string      `json:"external_id,omitempty" max:"256" doc:"a foreign channel type id (Salesforce 0eB...) mapped onto this channel type"`
}

// Purpose is what a message is for: a newsletter, order updates, tracking.
type Purpose struct {
	ID          string `json:"id" doc:"client-chosen slug, stable across environments"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty" doc:"what the messages are, in a sentence or two for the people who get them: the preference center, the double opt-in mail and page and the person's record show it"`
	// Names and Descriptions are the name and description in other
	// languages: language → text. Pages and mails in a language use them,
	// else Name and Description.
	Names        map[string]string         `json:"names,omitempty" doc:"the name per language (de, fr, es, ar, en)"`
	Descriptions map[string]string         `json:"descriptions,omitempty" doc:"the description per language"`
	Type         PurposeType               `json:"type" enum:"commercial,transactional,tracking"`
	Channels     map[string]ChannelSetting `json:"channels"`
	DoubleOptIn  DoubleOptIn               `json:"double_opt_in,omitempty" doc:"\"never\", \"always\" or a list of jurisdictions such as [\"DE\", \"AT\", \"CA\"]"`
	SaleOrShare  bool                      `json:"sale_or_share,omitempty" doc:"a Global Privacy Control signal opts out of this purpose"`
	ExternalIDs  map[string]string         `json:"external_ids,omitempty"`
	CreatedAt    time.Time                 `json:"created_at"`
	UpdatedAt    time.Time                 `json:"updated_at"`
}

// DefaultEnforcement is the enforcement a purpose type gets on a channel
// when none is given.
func DefaultEnforcement(t PurposeType) Enforcement {
	if t == Transactional {
		return NonRestrictive
	}
	return Restrictive
}

// Normalize fills defaults: enforcement per channel from the type, and
// "never" for an empty double opt-in list.
func (p *Purpose) Normalize() {
	for ch, s := range p.Channels {
		if s.Enforcement == "" {
			s.Enforcement = DefaultEnforcement(p.Type)
			p.Channels[ch] = s
		}
	}
	if len(p.DoubleOptIn) == 0 {
		p.DoubleOptIn = DoubleOptIn{DoubleOptInNever}
	}
}

// Validate checks a normalized purpose. It returns an *Error with code
// EINVALID naming every offending field.
func (p *Purpose) Validate() error {
	var fields []FieldError
	add := func(field, format string, args ...any) {
		fields = append(fields, FieldErrorf(EINVALID, field, format, args...).Fields[0])
	}
	if !ValidID(p.ID) {
		add("id", "id must match [a-z0-9][a-z0-9_-]{0,63}")
	}
	if p.Name == "" {
		add("name", "name is required")
	} else if err := CheckText("name", p.Name, MaxNameLen); err != nil {
		add("name", "%s", ErrorMessage(err))
	}
	if err := CheckText("description", p.Description, MaxDescriptionLen); err != nil {
		add("description", "%s", ErrorMessage(err))
	}
	fields = append(fields, checkLocalized("names", p.Names, MaxNameLen)...)
	fields = append(fields, checkLocalized("descriptions", p.Descriptions, MaxDescriptionLen)...)
	switch p.Type {
	case Commercial, Transactional, Tracking:
	default:
		add("type", "type must be commercial, transactional or tracking")
	}
	if len(p.Channels) == 0 {
		add("channels", "a purpose is offered on at least one channel")
	}
	for _, ch := range sortedKeys(p.Channels) {
		s := p.Channels[ch]
		field := "channels." + ch
		if !ValidID(ch) {
			add(field, "channel id must match [a-z0-9][a-z0-9_-]{0,63}")
			continue
		}
		switch s.Enforcement {
		case Restrictive, NonRestrictive:
		case Disabled:
			if p.Type != Transactional {
				add(field+".enforcement", "disabled enforcement is for transactional purposes only")
			}
		default:
			add(field+".enforcement", "enforcement must be restrictive, non_restrictive or disabled")
		}
		if p.Type == Commercial && ch != ChannelEmail && s.Enforcement != Restrictive {
			add(field+".enforcement", "commercial purposes need express opt-in (restrictive) on every channel but email")
		}
	}
	if err := validateDoubleOptIn(p.DoubleOptIn); err != "" {
		add("double_opt_in", "%s", err)
	}
	if len(fields) > 0 {
		return &Error{Code: EINVALID, Message: fields[0].Message, Fields: fields}
	}
	return nil
}

// DoubleOptIn is "never", "always" or a list of jurisdictions. In JSON it is
// the string "never" or "always", or an array of jurisdiction codes.
type DoubleOptIn []string

// MarshalJSON writes "never" and "always" as strings, lists as arrays.
func (d DoubleOptIn) MarshalJSON() ([]byte, error) {
	if len(d) == 0 {
		return []byte(`"never"`), nil
	}
	if len(d) == 1 && (d[0] == DoubleOptInNever || d[0] == DoubleOptInAlways) {
		return json.Marshal(d[0])
	}
	return json.Marshal([]string(d))
}

// UnmarshalJSON accepts a string or an array of strings.
func (d *DoubleOptIn) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*d = DoubleOptIn{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*d = l
	return nil
}

func validateDoubleOptIn(v []string) string {
	if len(v) == 1 && (v[0] == DoubleOptInNever || v[0] == DoubleOptInAlways) {
		return ""
	}
	for _, j := range v {
		if !ValidJurisdiction(j) {
			return "double_opt_in is [\"never\"], [\"always\"] or a list of ISO 3166 jurisdictions"
		}
	}
	return ""
}

// NeedsDoubleOptIn reports whether an opt-in for jurisdiction must be
// confirmed first. A list entry "DE" matches "DE" and its subdivisions
// ("DE-BY"); "US-CA" matches only "US-CA".
func (p *Purpose) NeedsDoubleOptIn(jurisdiction string) bool {
	for _, j := range p.DoubleOptIn {
		switch {
		case j == DoubleOptInAlways:
			return true
		case j == DoubleOptInNever:
			return false
		case j == jurisdiction, len(jurisdiction) > len(j) && jurisdiction[:len(j)] == j && jurisdiction[len(j)] == '-':
			return true
		}
	}
	return false
}

// ValidJurisdiction reports whether s looks like an ISO 3166-1 alpha-2 code
// with an optional ISO 3166-2 subdivision: "DE", "US-CA".
func ValidJurisdiction(s string) bool {
	if len(s) < 2 || !isUpper(s[0]) || !isUpper(s[1]) {
		return false
	}
	if len(s) == 2 {
		return true
	}
	if s[2] != '-' || len(s) < 4 || len(s) > 6 {
		return false
	}
	for i := 3; i < len(s); i++ {
		if !isUpper(s[i]) && (s[i] < '0' || s[i] > '9') {
			return false
		}
	}
	return true
}

// ValidRegion reports whether s is an ISO 3166-1 alpha-2 code.
func ValidRegion(s string) bool { return len(s) == 2 && isUpper(s[0]) && isUpper(s[1]) }

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
