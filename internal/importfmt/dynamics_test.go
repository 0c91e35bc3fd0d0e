package importfmt

import (
	"encoding/json"
	"testing"

	"github.com/consentd/consentd"
)

// testCatalog has the purposes and topics the test files refer to, with
// Dynamics GUIDs and Salesforce channel type ids.
func testCatalog() *consentd.Catalog {
	email := consentd.ChannelSetting{Enforcement: consentd.Restrictive}
	return consentd.NewCatalog([]*consentd.Purpose{
		{ID: "newsletter", Name: "Newsletter", Type: consentd.Commercial,
			Channels: map[string]consentd.ChannelSetting{
				"email":    {Enforcement: consentd.Restrictive, ExternalID: "0eBAB00000001NNMAA"},
				"sms":      {Enforcement: consentd.Restrictive, ExternalID: "0eBAB00000002QQ"},
				"whatsapp": email,
			},
			ExternalIDs: map[string]string{"dynamics": "a1b2c3d4-0000-0000-0000-000000000001", "salesforce": "0XlAB00000001MMKAY"}},
		{ID: "offers", Name: "Offers", Type: consentd.Commercial,
			Channels:    map[string]consentd.ChannelSetting{"email": email, "sms": email, "voice": email},
			ExternalIDs: map[string]string{"dynamics": "{A1B2C3D4-0000-0000-0000-000000000002}"}},
	}, []*consentd.Topic{
		{ID: "weekly-digest", Purpose: "newsletter", Name: "Weekly digest",
			ExternalIDs:        map[string]string{"dynamics": "b0000000-0000-0000-0000-00000000000a"},
			ChannelExternalIDs: map[string]string{"email": "0eBAB00000003XYZAB"}},
	})
}

func TestDynamics(t *testing.T) {
	cat := testCatalog()
	rows := readAll(t, "dynamics", "dynamics.csv", Options{Catalog: cat})
	check(t, rows, []want{
		{line: 2, writes: []consentd.ConsentWrite{{
			ContactPoint: "Jane@Example.com", Channel: "email", Purpose: "newsletter", Status: consentd.OptedIn,
			CapturedAt: ts("2024-03-14T09:30:00Z"), Reason: "Signed up, at the fair",
			Source: consentd.Source{Type: "import", Name: "dynamics",
				Details: json.RawMessage(`{"msdynmkt_logicalreason":"534120002","msdynmkt_source":"534120001"}`)},
		}}},
		{line: 3, writes: []consentd.ConsentWrite{{
			ContactPoint: "+4915112345678", Channel: "sms", Purpose: "offers", Status: consentd.OptedOut,
			CapturedAt: ts("2024-03-14T21:30:00Z"), Reason: "Replied STOP\nto the campaign",
			Source: consentd.Source{Type: "import", Name: "dynamics", Details: json.RawMessage(`{"msdynmkt_source":"534120003"}`)},
		}}},
		{line: 5, writes: []consentd.ConsentWrite{{
			ContactPoint: "bob@example.org", Channel: "email", Purpose: "newsletter", Topic: "weekly-digest", Status: consentd.OptedIn,
			CapturedAt: ts("2024-03-14T09:30:00Z"), Source: consentd.Source{Type: "import", Name: "dynamics"},
		}}},
		{line: 6, skip: "not set"},
		{line: 7, code: consentd.EINVALID, field: "msdynmkt_contactpointtype"},
		{line: 8, code: consentd.EUNKNOWNPURPOSE, field: "msdynmkt_purposeid"},
		{line: 9, code: consentd.EUNKNOWNTOPIC, field: "msdynmkt_topicid"},
		{line: 10, code: consentd.EINVALIDSTATUS, field: "msdynmkt_value"},
		{line: 11, code: consentd.EINVALIDTIME, field: "ModifiedOn"},
		{line: 12, code: consentd.EINVALIDCONTACTPOINT, field: "msdynmkt_contactpointvalue"},
		{line: 13, writes: []consentd.ConsentWrite{{
			ContactPoint: "+14155550100", Channel: "voice", Purpose: "offers", Status: consentd.OptedOut,
			CapturedAt: ts("2024-03-15T10:00:00.5Z"), Source: consentd.Source{Type: "import", Name: "dynamics"},
		}}},
		{line: 14, code: consentd.EMALFORMED},
	})

	// A custom contact point goes to the channel named in the options.
	rows = readAll(t, "dynamics", "dynamics.csv", Options{Catalog: cat, Channel: "whatsapp", SourceName: "d365-prod"})
	if r := rows[4]; r.Line != 7 || r.Reject != nil || len(r.Writes) != 1 || r.Writes[0].Channel != "whatsapp" || r.Writes[0].Source.Name != "d365-prod" {
		t.Errorf("line 7 with Options.Channel: %+v", r)
	}
}

func TestDynamicsNeedsCatalog(t *testing.T) {
	_, err := NewReader("dynamics", stringsReader("msdynmkt_contactpointvalue,msdynmkt_contactpointtype,msdynmkt_value,msdynmkt_purposeid,modifiedon\n"), Options{})
	if consentd.ErrorCode(err) != consentd.EINVALID {
		t.Errorf("NewReader without catalog: %v; want code invalid", err)
	}
}
