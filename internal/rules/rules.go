// Package rules compiles and evaluates record-triggered automation rules
// (docs/architecture.md (automation)). A rule's expressions are CEL over one variable,
// `record` (the record's JSON fields, map(string, dyn); numbers compare
// across int and double, and optional field selection record.?x is on);
// they are
// type-checked once by Compile, and a compiled Program is cached by the
// rule's JSON because jobs run the same rules again and again.
package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"

	"github.com/consentd/consentd"
)

// Program is a compiled rule. It is safe for concurrent use.
type Program struct {
	rule         consentd.Rule
	delay        time.Duration
	when         cel.Program // nil: always
	contactPoint cel.Program
	party        cel.Program // nil: none
	jurisdiction cel.Program // nil: none
	capturedAt   cel.Program // nil: record arrival
	statuses     []cel.Program
}

// Rule returns the rule p was compiled from, with defaults filled in
// (source, change).
func (p *Program) Rule() consentd.Rule {
	r := p.rule
	r.On.Change = append([]consentd.RecordChange(nil), r.On.Change...)
	r.Consents = append([]consentd.RuleConsent(nil), r.Consents...)
	return r
}

// Delay is how long after the record arrived the rule runs.
func (p *Program) Delay() time.Duration { return p.delay }

// Matches reports whether the rule reacts to a change of a record of this
// type.
func (p *Program) Matches(recordType string, change consentd.RecordChange) bool {
	if p.rule.On.Record != recordType {
		return false
	}
	for _, c := range p.rule.On.Change {
		if c == change {
			return true
		}
	}
	return false
}

var env = mustEnv()

func mustEnv() *cel.Env {
	e, err := cel.NewEnv(cel.Variable("record", cel.MapType(cel.StringType, cel.DynType)),
		// JSON numbers are doubles: let record.NumberOfEmployees > 10 hold.
		cel.CrossTypeNumericComparisons(true),
		// record.?Country.orValue(""): CRM records often lack fields.
		cel.OptionalTypes())
	if err != nil {
		panic(err)
	}
	return e
}

// cache holds compiled programs by rule JSON. It is bounded: when full it
// is emptied (rules are few; this only guards against unbounded growth
// when rules are edited many times in a long-running process).
var cache = struct {
	sync.Mutex
	m map[string]*Program
}{m: map[string]*Program{}}

const cacheMax = 1024

func invalid(r *consentd.Rule, field, format string, args ...any) error {
	msg := fmt.Sprintf("rule %q: %s: ", r.ID, field) + fmt.Sprintf(format, args...)
	return &consentd.Error{Code: consentd.EINVALIDRULE, Message: msg,
		Fields: []consentd.FieldError{{Field: field, Code: consentd.EINVALIDRULE, Message: msg}}}
}

// Compile type-checks every expression of r and validates its other
// fields; errors are *consentd.Error with code invalid_rule that name the
// rule id, the field (when, contact_point, consents[0].status...) and, for
// expressions, the position (line:column). Programs are cached by the
// rule's JSON.
func Compile(r *consentd.Rule) (*Program, error) {
	key, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	cache.Lock()
	p, ok := cache.m[string(key)]
	cache.Unlock()
	if ok {
		return p, nil
	}
	p, err = compile(r)
	if err != nil {
		return nil, err
	}
	cache.Lock()
	if len(cache.m) >= cacheMax {
		clear(cache.m)
	}
	cache.m[string(key)] = p
	cache.Unlock()
	return p, nil
}

func compile(r *consentd.Rule) (*Program, error) {
	p := &Program{rule: *r}
	p.rule.On.Change = append([]consentd.RecordChange(nil), r.On.Change...)
	p.rule.Consents = append([]consentd.RuleConsent(nil), r.Consents...)
	switch {
	case !consentd.ValidID(r.ID):
		return nil, invalid(r, "id", "id must be a slug ([a-z0-9][a-z0-9_-]{0,63})")
	case strings.TrimSpace(r.On.Record) == "":
		return nil, invalid(r, "on.record", "on.record is required")
	case len(r.Consents) == 0:
		return nil, invalid(r, "consents", "at least one consent is required")
	case strings.TrimSpace(r.ContactPoint) == "":
		return nil, invalid(r, "contact_point", "contact_point is required")
	}
	if len(p.rule.On.Change) == 0 {
		p.rule.On.Change = []consentd.RecordChange{consentd.RecordCreated, consentd.RecordUpdated}
	}
	for i, c := range p.rule.On.Change {
		if c != consentd.RecordCreated && c != consentd.RecordUpdated {
			return nil, invalid(r, fmt.Sprintf("on.change[%d]", i), "change must be created or updated, not %q", c)
		}
	}
	if r.Delay != "" {
		d, err := time.ParseDuration(r.Delay)
		if err != nil || d < 0 {
			return nil, invalid(r, "delay", "delay must be a non-negative Go duration such as 1m or 24h, not %q", r.Delay)
		}
		p.delay = d
	}
	if p.rule.Source.Type == "" {
		p.rule.Source.Type = consentd.SourceAutomation
	}
	if p.rule.Source.Name == "" {
		p.rule.Source.Name = r.ID
	}
	if !consentd.ValidSourceType(p.rule.Source.Type) {
		return nil, invalid(r, "source.type", "source.type %q is not a known source type", p.rule.Source.Type)
	}
	var err error
	if p.when, err = compileExpr(r, "when", r.When, cel.BoolType); err != nil {
		return nil, err
	}
	if p.contactPoint, err = compileExpr(r, "contact_point", r.ContactPoint, cel.StringType); err != nil {
		return nil, err
	}
	if p.party, err = compileExpr(r, "party", r.Party, cel.StringType); err != nil {
		return nil, err
	}
	if p.jurisdiction, err = compileExpr(r, "jurisdiction", r.Jurisdiction, cel.StringType); err != nil {
		return nil, err
	}
	if p.capturedAt, err = compileExpr(r, "captured_at", r.CapturedAt, cel.TimestampType, cel.StringType); err != nil {
		return nil, err
	}
	for i, c := range r.Consents {
		field := fmt.Sprintf("consents[%d]", i)
		if strings.TrimSpace(c.ChannelType) == "" {
			return nil, invalid(r, field+".channel_type", "channel_type is required")
		}
		if strings.TrimSpace(c.Status) == "" {
			return nil, invalid(r, field+".status", "status is required")
		}
		prg, err := compileExpr(r, field+".status", c.Status, cel.StringType)
		if err != nil {
			return nil, err
		}
		p.statuses = append(p.statuses, prg)
	}
	return p, nil
}

// compileExpr parses and checks one expression; "" compiles to nil. The
// output type must be one of want or dyn.
func compileExpr(r *consentd.Rule, field, expr string, want ...*cel.Type) (cel.Program, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil
	}
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		errs := iss.Errors()
		if len(errs) == 0 {
			return nil, invalid(r, field, "%v", iss.Err())
		}
		e := errs[0]
		return nil, invalid(r, field, "%d:%d: %s", e.Location.Line(), e.Location.Column()+1, e.Message)
	}
	out := ast.OutputType()
	ok := out.IsExactType(cel.DynType)
	names := make([]string, len(want))
	for i, w := range want {
		ok = ok || out.IsExactType(w)
		names[i] = w.String()
	}
	if !ok {
		return nil, invalid(r, field, "1:1: expression has type %s, want %s", out, strings.Join(names, " or "))
	}
	prg, err := env.Program(ast)
	if err != nil {
		return nil, invalid(r, field, "%v", err)
	}
	return prg, nil
}

// evalError is a runtime error that names the rule and the field.
func (p *Program) evalError(field string, format string, args ...any) error {
	msg := fmt.Sprintf("rule %q: %s: ", p.rule.ID, field) + fmt.Sprintf(format, args...)
	return &consentd.Error{Code: consentd.EINVALID, Message: msg,
		Fields: []consentd.FieldError{{Field: field, Code: consentd.EINVALID, Message: msg}}}
}

func (p *Program) eval(prg cel.Program, field string, record map[string]any) (any, error) {
	if record == nil {
		record = map[string]any{}
	}
	v, _, err := prg.Eval(map[string]any{"record": record})
	if err != nil {
		return nil, p.evalError(field, "%v", err)
	}
	if types.IsError(v) {
		return nil, p.evalError(field, "%v", v)
	}
	return v.Value(), nil
}

func (p *Program) evalString(prg cel.Program, field string, record map[string]any) (string, error) {
	if prg == nil {
		return "", nil
	}
	v, err := p.eval(prg, field, record)
	if err != nil {
		return "", err
	}
	switch s := v.(type) {
	case string:
		return s, nil
	case nil:
		return "", nil
	}
	return "", p.evalError(field, "expression evaluated to %T, want string", v)
}

// When evaluates the entry condition; true when the rule has none.
func (p *Program) When(record map[string]any) (bool, error) {
	if p.when == nil {
		return true, nil
	}
	v, err := p.eval(p.when, "when", record)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, p.evalError("when", "expression evaluated to %T, want bool", v)
	}
	return b, nil
}

// Writes evaluates the rule for one record: contact point, party,
// jurisdiction, captured_at (default receivedAt), and one ConsentWrite per
// consents entry whose status is non-empty, with Source and Origin (the
// rule's, else origin) filled in. Runtime errors (a missing field, a wrong
// type, an unknown status) name the rule and the field. Catalog checks
// (does the channel type exist) are the writer's.
func (p *Program) Writes(record map[string]any, origin string, receivedAt time.Time) ([]consentd.ConsentWrite, error) {
	cp, err := p.evalString(p.contactPoint, "contact_point", record)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(cp) == "" {
		return nil, p.evalError("contact_point", "contact point is empty")
	}
	party, err := p.evalString(p.party, "party", record)
	if err != nil {
		return nil, err
	}
	jur, err := p.evalString(p.jurisdiction, "jurisdiction", record)
	if err != nil {
		return nil, err
	}
	at := receivedAt
	if p.capturedAt != nil {
		v, err := p.eval(p.capturedAt, "captured_at", record)
		if err != nil {
			return nil, err
		}
		switch t := v.(type) {
		case time.Time:
			at = t
		case string:
			if at, err = time.Parse(time.RFC3339Nano, t); err != nil {
				return nil, p.evalError("captured_at", "%q is not an RFC 3339 time", t)
			}
		default:
			return nil, p.evalError("captured_at", "expression evaluated to %T, want timestamp or RFC 3339 string", v)
		}
	}
	if p.rule.Origin != "" {
		origin = p.rule.Origin
	}
	writes := make([]consentd.ConsentWrite, 0, len(p.statuses))
	for i, prg := range p.statuses {
		field := fmt.Sprintf("consents[%d].status", i)
		s, err := p.evalString(prg, field, record)
		if err != nil {
			return nil, err
		}
		if s == "" {
			continue
		}
		st := consentd.Status(s)
		if !st.Valid() {
			return nil, p.evalError(field, "status %q is not opted_in, opted_out or pending", s)
		}
		writes = append(writes, consentd.ConsentWrite{
			ContactPoint: strings.TrimSpace(cp),
			ChannelType:  p.rule.Consents[i].ChannelType,
			Status:       st,
			CapturedAt:   at,
			Source:       p.rule.Source,
			PartyID:      strings.TrimSpace(party),
			Jurisdiction: strings.TrimSpace(jur),
			Origin:       origin,
		})
	}
	return writes, nil
}

// IsInvalidRule reports whether err is a compile error of a rule.
func IsInvalidRule(err error) bool {
	var e *consentd.Error
	return errors.As(err, &e) && e.Code == consentd.EINVALIDRULE
}
