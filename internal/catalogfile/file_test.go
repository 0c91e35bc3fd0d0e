package catalogfile

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/consentd/consentd"
)

func TestParseDesignExample(t *testing.T) {
	data, err := os.ReadFile("testdata/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Purposes) != 1 || f.Purposes[0].Channels["email"].Enforcement != consentd.NonRestrictive {
		t.Errorf("purposes = %+v", f.Purposes)
	}
	if len(f.Topics) != 1 || f.Topics[0].Purpose != "newsletter" {
		t.Errorf("topics = %+v", f.Topics)
	}
	if len(f.Rules) != 1 {
		t.Fatalf("rules = %+v", f.Rules)
	}
	r := f.Rules[0]
	// "on" is a key here, not YAML 1.1's boolean true.
	if r.On.Record != "contact" || !reflect.DeepEqual(r.On.Change, []consentd.RecordChange{consentd.RecordCreated, consentd.RecordUpdated}) {
		t.Errorf("on = %+v", r.On)
	}
	if r.Delay != "1m" || r.ContactPoint != "record.Email" || len(r.Consents) != 1 || !strings.HasPrefix(r.Consents[0].Status, "!record.donotemail") {
		t.Errorf("rule = %+v", r)
	}
	if len(f.Webhooks) != 1 || f.Webhooks[0].SecretEnv != "CRM_WEBHOOK_SECRET" || f.Webhooks[0].Origin != "crm" {
		t.Errorf("webhooks = %+v", f.Webhooks)
	}

	// Marshal writes a file that parses back to the same thing.
	out, err := Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse(Marshal()) = %v\n%s", err, out)
	}
	if !reflect.DeepEqual(f, g) {
		t.Errorf("round trip changed the file:\n%s", out)
	}
	if !strings.Contains(string(out), "\n    on:\n") && !strings.Contains(string(out), "\n  - id: contact-email-consent\n    on:") {
		t.Errorf("rule keys not in field order:\n%s", out)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, file, want string }{
		{"unknown key", "purposes:\n  - id: a\n    nmae: A\n", `unknown field "nmae"`},
		{"not yaml", "purposes: [", "catalog file"},
		{"duplicate purpose", "purposes:\n  - {id: a, name: A}\n  - {id: a, name: B}\n", `purpose "a" is defined twice`},
		{"topic with a purpose's id", "purposes:\n  - {id: a, name: A}\ntopics:\n  - {id: a, purpose: a, name: B}\n", `topic "a" is defined twice (also as a purpose)`},
		{"rule without id", "rules:\n  - {contact_point: record.Email}\n", "a rule without an id"},
		{"wrong type", "purposes: {id: a}\n", "field purposes must be a list, not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestParseEmpty(t *testing.T) {
	f, err := Parse([]byte("# nothing yet\n"))
	if err != nil || len(f.Purposes)+len(f.Topics)+len(f.Rules)+len(f.Webhooks) != 0 {
		t.Errorf("Parse(empty) = %+v, %v", f, err)
	}
}
