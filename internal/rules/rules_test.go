package rules_test

import (
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/rules"
)

// dynamicsRule is the seed's Dynamics "create contact point consent" flow.
func dynamicsRule() *consentd.Rule {
	return &consentd.Rule{
		ID:           "contact-email-consent",
		On:           consentd.RuleTrigger{Record: "contact", Change: []consentd.RecordChange{consentd.RecordCreated, consentd.RecordUpdated}},
		ContactPoint: `has(record.emailaddress1) ? record.emailaddress1 : record.Email`,
		Party:        `record.contactid`,
		Consents: []consentd.RuleConsent{{ChannelType: "newsletter:email",
			Status: `!record.donotemail && !record.donotbulkemail ? "opted_in" : "opted_out"`}},
	}
}

// leadRule is the seed's Salesforce record-triggered lead flow.
func leadRule() *consentd.Rule {
	return &consentd.Rule{
		ID:           "lead-email-consent",
		On:           consentd.RuleTrigger{Record: "lead", Change: []consentd.RecordChange{consentd.RecordCreated}},
		When:         `record.LeadSource != "Marketing Cloud Form"`,
		Delay:        "1m",
		ContactPoint: `record.Email`,
		Jurisdiction: `record.Country`,
		Consents: []consentd.RuleConsent{
			{ChannelType: "newsletter:email", Status: `record.HasOptedOutOfEmail ? "opted_out" : "opted_in"`},
			{ChannelType: "offers:sms", Status: `has(record.MobilePhone) ? "opted_in" : ""`},
		},
		Source: consentd.Source{Type: consentd.SourceSync, Name: "salesforce"},
		Origin: "salesforce",
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(r *consentd.Rule)
		field string
		pos   string // "line:column" expected in the message, if any
	}{
		{"bad id", func(r *consentd.Rule) { r.ID = "Bad Id" }, "id", ""},
		{"no record", func(r *consentd.Rule) { r.On.Record = "" }, "on.record", ""},
		{"bad change", func(r *consentd.Rule) { r.On.Change = []consentd.RecordChange{"deleted"} }, "on.change[0]", ""},
		{"bad delay", func(r *consentd.Rule) { r.Delay = "soon" }, "delay", ""},
		{"negative delay", func(r *consentd.Rule) { r.Delay = "-1m" }, "delay", ""},
		{"no consents", func(r *consentd.Rule) { r.Consents = nil }, "consents", ""},
		{"no channel type", func(r *consentd.Rule) { r.Consents[0].ChannelType = "" }, "consents[0].channel_type", ""},
		{"bad source", func(r *consentd.Rule) { r.Source.Type = "telepathy" }, "source.type", ""},
		{"no contact point", func(r *consentd.Rule) { r.ContactPoint = "" }, "contact_point", ""},
		{"syntax in when", func(r *consentd.Rule) { r.When = `record.LeadSource ==` }, "when", "1:"},
		{"when not bool", func(r *consentd.Rule) { r.When = `"yes"` }, "when", "1:1"},
		{"undeclared variable", func(r *consentd.Rule) { r.ContactPoint = `lead.Email` }, "contact_point", "1:1"},
		{"status int", func(r *consentd.Rule) { r.Consents[0].Status = `1 + 2` }, "consents[0].status", "1:1"},
		{"second line", func(r *consentd.Rule) { r.Party = "record.contactid +\n  )" }, "party", "2:3"},
		{"captured_at int", func(r *consentd.Rule) { r.CapturedAt = `42` }, "captured_at", "1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := dynamicsRule()
			tt.edit(r)
			_, err := rules.Compile(r)
			if !rules.IsInvalidRule(err) {
				t.Fatalf("Compile = %v; want invalid_rule", err)
			}
			e := err.(*consentd.Error)
			if len(e.Fields) != 1 || e.Fields[0].Field != tt.field {
				t.Fatalf("Compile fields = %+v; want %s", e.Fields, tt.field)
			}
			if !strings.Contains(e.Message, `"`+r.ID+`"`) {
				t.Errorf("message %q does not name the rule", e.Message)
			}
			if tt.pos != "" && !strings.Contains(e.Message, ": "+tt.pos) {
				t.Errorf("message %q does not give position %s", e.Message, tt.pos)
			}
		})
	}
}

func TestCompileUnknownChannelTypeIsNotAnError(t *testing.T) {
	r := dynamicsRule()
	r.Consents[0].ChannelType = "no-such-purpose:email"
	if _, err := rules.Compile(r); err != nil {
		t.Fatal(err)
	}
}

func TestDynamics(t *testing.T) {
	p, err := rules.Compile(dynamicsRule())
	if err != nil {
		t.Fatal(err)
	}
	if p.Delay() != 0 || p.Rule().Source.Type != consentd.SourceAutomation || p.Rule().Source.Name != "contact-email-consent" {
		t.Fatalf("defaults: delay %v source %+v", p.Delay(), p.Rule().Source)
	}
	if !p.Matches("contact", consentd.RecordUpdated) || p.Matches("lead", consentd.RecordCreated) {
		t.Fatal("Matches")
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		record map[string]any
		cp     string
		status consentd.Status
	}{
		{map[string]any{"contactid": "c1", "emailaddress1": "a@example.com", "donotemail": false, "donotbulkemail": false}, "a@example.com", consentd.OptedIn},
		{map[string]any{"contactid": "c1", "Email": "b@example.com", "donotemail": true, "donotbulkemail": false}, "b@example.com", consentd.OptedOut},
		{map[string]any{"contactid": "c1", "Email": "b@example.com", "donotemail": false, "donotbulkemail": true}, "b@example.com", consentd.OptedOut},
	}
	for _, tt := range tests {
		ok, err := p.When(tt.record)
		if err != nil || !ok {
			t.Fatalf("When = %v, %v; want true (no condition)", ok, err)
		}
		ws, err := p.Writes(tt.record, "crm", at)
		if err != nil {
			t.Fatal(err)
		}
		want := consentd.ConsentWrite{ContactPoint: tt.cp, ChannelType: "newsletter:email", Status: tt.status, CapturedAt: at,
			Source: consentd.Source{Type: consentd.SourceAutomation, Name: "contact-email-consent"}, PartyID: "c1", Origin: "crm"}
		if len(ws) != 1 || ws[0].ContactPoint != want.ContactPoint || ws[0].Status != want.Status || ws[0].Origin != "crm" ||
			ws[0].PartyID != "c1" || !ws[0].CapturedAt.Equal(at) || ws[0].Source.Type != want.Source.Type || ws[0].ChannelType != want.ChannelType {
			t.Errorf("Writes(%v) = %+v; want %+v", tt.record, ws, want)
		}
	}
}

func TestLead(t *testing.T) {
	p, err := rules.Compile(leadRule())
	if err != nil {
		t.Fatal(err)
	}
	if p.Delay() != time.Minute {
		t.Fatalf("Delay = %v", p.Delay())
	}
	if p.Matches("lead", consentd.RecordUpdated) {
		t.Fatal("lead rule matches updated")
	}
	at := time.Now()
	web := map[string]any{"Email": "x@example.de", "Country": "DE", "LeadSource": "Web", "HasOptedOutOfEmail": false, "MobilePhone": "+4915112345678"}
	form := map[string]any{"Email": "y@example.com", "LeadSource": "Marketing Cloud Form"}
	if ok, err := p.When(web); err != nil || !ok {
		t.Fatalf("When(web) = %v, %v", ok, err)
	}
	if ok, err := p.When(form); err != nil || ok {
		t.Fatalf("When(form) = %v, %v", ok, err)
	}
	ws, err := p.Writes(web, "crm", at)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 || ws[0].Jurisdiction != "DE" || ws[0].Origin != "salesforce" || ws[0].Status != consentd.OptedIn ||
		ws[1].ChannelType != "offers:sms" || ws[0].Source.Type != consentd.SourceSync {
		t.Fatalf("Writes = %+v", ws)
	}
	delete(web, "MobilePhone") // empty status: writes nothing
	if ws, err = p.Writes(web, "", at); err != nil || len(ws) != 1 {
		t.Fatalf("Writes without phone = %+v, %v", ws, err)
	}
}

func TestRuntimeErrors(t *testing.T) {
	base := func() *consentd.Rule {
		r := dynamicsRule()
		r.ContactPoint = "record.Email"
		return r
	}
	tests := []struct {
		name   string
		edit   func(r *consentd.Rule)
		record map[string]any
		field  string
	}{
		{"missing contact point", nil, map[string]any{"contactid": "c", "donotemail": false, "donotbulkemail": false}, "contact_point"},
		{"missing status field", nil, map[string]any{"Email": "a@example.com", "contactid": "c"}, "consents[0].status"},
		{"wrong type", nil, map[string]any{"Email": "a@example.com", "contactid": "c", "donotemail": "no", "donotbulkemail": false}, "consents[0].status"},
		{"unknown status", func(r *consentd.Rule) { r.Consents[0].Status = `"maybe"` }, map[string]any{"Email": "a@example.com", "contactid": "c"}, "consents[0].status"},
		{"dyn contact point not string", func(r *consentd.Rule) { r.ContactPoint = "record.n" }, map[string]any{"n": 1.0}, "contact_point"},
		{"bad captured_at", func(r *consentd.Rule) { r.CapturedAt = "record.t" }, map[string]any{"Email": "a@example.com", "contactid": "c", "t": "yesterday"}, "captured_at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			if tt.edit != nil {
				tt.edit(r)
			}
			p, err := rules.Compile(r)
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Writes(tt.record, "", time.Now())
			e, ok := err.(*consentd.Error)
			if !ok || len(e.Fields) != 1 || e.Fields[0].Field != tt.field || !strings.Contains(e.Message, r.ID) {
				t.Fatalf("Writes = %v; want an error naming %s and the rule", err, tt.field)
			}
		})
	}
}

func TestCapturedAt(t *testing.T) {
	r := dynamicsRule()
	r.CapturedAt = `has(record.modifiedon) ? record.modifiedon : timestamp("2025-01-01T00:00:00Z")`
	p, err := rules.Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	rec := map[string]any{"contactid": "c", "Email": "a@example.com", "donotemail": false, "donotbulkemail": false}
	ws, err := p.Writes(rec, "", time.Now())
	if err != nil || !ws[0].CapturedAt.Equal(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("Writes = %+v, %v", ws, err)
	}
	rec["modifiedon"] = "2025-06-01T12:00:00Z"
	ws, err = p.Writes(rec, "", time.Now())
	if err != nil || !ws[0].CapturedAt.Equal(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("Writes = %+v, %v", ws, err)
	}
}

func TestCompileCaches(t *testing.T) {
	a, err := rules.Compile(leadRule())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := rules.Compile(leadRule())
	if a != b {
		t.Error("same rule compiled twice")
	}
	r := leadRule()
	r.Delay = "2m"
	c, _ := rules.Compile(r)
	if c == a || c.Delay() != 2*time.Minute {
		t.Error("edited rule served from cache")
	}
}

func BenchmarkWrites(b *testing.B) {
	p, err := rules.Compile(leadRule())
	if err != nil {
		b.Fatal(err)
	}
	rec := map[string]any{"Email": "x@example.de", "Country": "DE", "LeadSource": "Web", "HasOptedOutOfEmail": false, "MobilePhone": "+4915112345678"}
	at := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Writes(rec, "", at); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompileCached(b *testing.B) {
	r := leadRule()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rules.Compile(r); err != nil {
			b.Fatal(err)
		}
	}
}
