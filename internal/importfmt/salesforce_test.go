package importfmt

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/consentd/consentd"
)

func TestSalesforce(t *testing.T) {
	rows := readAll(t, "salesforce", "salesforce.csv", Options{Catalog: testCatalog()})
	check(t, rows, []want{
		{line: 2, writes: []consentd.ConsentWrite{{
			ContactPoint: "Jane@Example.com", Channel: "email", Purpose: "newsletter", Status: consentd.OptedIn,
			CapturedAt: ts("2024-03-14T09:30:00Z"), PartyID: "0PKAB000000001",
			Source: consentd.Source{Type: "import", Name: "salesforce", Details: json.RawMessage(
				`{"CommunicationSubscriptionChannelType":"0eBAB00000001NNMAA","ConsentCapturedSource":"https://example.com/signup?a=1,b=2","ConsentCapturedSourceName":"Lead Creation Flow","ConsentCapturedSourceType":"Web","Name":"0XlAB00000001MMKAY"}`)},
		}}},
		// An 18-character id matches the catalog's 15-character one.
		{line: 3, writes: []consentd.ConsentWrite{{
			ContactPoint: "+4915112345678", Channel: "sms", Purpose: "newsletter", Status: consentd.OptedOut,
			CapturedAt: ts("2024-03-14T09:30:00Z"), PartyID: "0PKAB000000002",
			Source: consentd.Source{Type: "import", Name: "salesforce", Details: json.RawMessage(
				`{"CommunicationSubscriptionChannelType":"0eBAB00000002QQ2AY","ConsentCapturedSource":"Agent said:\n\"stop texting\"","ConsentCapturedSourceType":"Agent"}`)},
		}}},
		// A topic's channel type; captured_at falls back to CreatedDate.
		{line: 5, writes: []consentd.ConsentWrite{{
			ContactPoint: "bob@example.org", Channel: "email", Purpose: "newsletter", Topic: "weekly-digest", Status: consentd.Pending,
			CapturedAt: ts("2024-03-15T08:00:00Z"),
			Source:     consentd.Source{Type: "import", Name: "salesforce", Details: json.RawMessage(`{"CommunicationSubscriptionChannelType":"0eBAB00000003XYZAB"}`)},
		}}},
		// OptOutPending is an opt-out.
		{line: 6, writes: []consentd.ConsentWrite{{
			ContactPoint: "carl@example.org", Channel: "email", Purpose: "newsletter", Status: consentd.OptedOut,
			CapturedAt: ts("2024-03-15T08:00:00Z"),
			Source:     consentd.Source{Type: "import", Name: "salesforce", Details: json.RawMessage(`{"CommunicationSubscriptionChannelType":"0eBAB00000001NNMAA"}`)},
		}}},
		{line: 7, skip: "status Seen"},
		{line: 8, skip: "status NotSeen"},
		{line: 9, code: consentd.EUNKNOWNCHANNELTYPE, field: "CommunicationSubscriptionChannelType"},
		{line: 10, code: consentd.EINVALIDSTATUS, field: "ConsentStatus"},
		{line: 11, code: consentd.EINVALIDTIME, field: "ConsentCapturedDateTime"},
		{line: 12, code: consentd.EINVALIDCONTACTPOINT, field: "ContactPointValue"},
		{line: 13, code: consentd.EINVALIDTIME, field: "ConsentCapturedDateTime"},
		{line: 14, code: consentd.EMALFORMED},
	})
}

// TestSalesforceCoreObject reads the CommSubscriptionConsent object's
// field names (a Data Loader export), a consentd channel type id, and
// LastModifiedDate as the fallback time.
func TestSalesforceCoreObject(t *testing.T) {
	const file = "Id,ContactPointValue,CommSubscriptionChannelTypeId,PrivacyConsentStatus,LastModifiedDate\r\n" +
		"0kZ1,jo@example.org,newsletter:whatsapp,OptIn,2024-03-16T08:00:00.000+0000\r\n"
	r, err := NewReader("salesforce", stringsReader(file), Options{Catalog: testCatalog(), SourceName: "sfdc"})
	if err != nil {
		t.Fatal(err)
	}
	row, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	ws := []consentd.ConsentWrite{{ContactPoint: "jo@example.org", Channel: "whatsapp", Purpose: "newsletter", Status: consentd.OptedIn,
		CapturedAt: ts("2024-03-16T08:00:00Z"),
		Source:     consentd.Source{Type: "import", Name: "sfdc", Details: json.RawMessage(`{"CommunicationSubscriptionChannelType":"newsletter:whatsapp"}`)}}}
	check(t, []Row{row}, []want{{line: 2, writes: ws}})
}

func TestSFID18(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0eBAB00000002QQ", "0eBAB00000002QQ2AY"},
		{"001000000000000", "001000000000000AAA"},
		{"0eBAB00000001NNMAA", "0eBAB00000001NNMAA"},
	} {
		if got := sfID18(tc.in); got != tc.want {
			t.Errorf("sfID18(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// A source detail that may be an address never reaches the log.
func TestSalesforceSourceDetailsWithholdAddresses(t *testing.T) {
	got := details("ConsentCapturedSource", "agent@example.com", "ConsentCapturedSourceType", "Web")
	if strings.Contains(string(got), "example.com") || !strings.Contains(string(got), withheld) || !strings.Contains(string(got), `"Web"`) {
		t.Errorf("details = %s", got)
	}
}
