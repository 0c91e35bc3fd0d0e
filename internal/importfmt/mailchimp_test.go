package importfmt

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/consentd/consentd"
)

func TestMailchimp(t *testing.T) {
	opt := Options{Purpose: "newsletter"}
	src := func(d string) consentd.Source {
		return consentd.Source{Type: "import", Name: "mailchimp", Details: json.RawMessage(d)}
	}
	confirmed := ts("2024-03-14T09:35:10Z")
	for _, tc := range []struct {
		file, kind string
		wants      []want
	}{
		{"mailchimp_subscribed.csv", "subscribed", []want{
			{line: 2, writes: []consentd.ConsentWrite{{
				ContactPoint: "Jane@Example.com", Channel: "email", Purpose: "newsletter", Status: consentd.OptedIn,
				CapturedAt: confirmed, Proof: &consentd.Proof{IP: "203.0.113.8", ConfirmedAt: &confirmed},
				Source: src(`{"EUID":"a1b2c3d4e5","LEID":"123456789","file":"subscribed"}`),
			}}},
			{line: 4, writes: []consentd.ConsentWrite{{
				ContactPoint: "bob@example.org", Channel: "email", Purpose: "newsletter", Status: consentd.OptedIn,
				CapturedAt: ts("2024-03-15T08:00:00Z"), Proof: &consentd.Proof{IP: "198.51.100.4"},
				Source: src(`{"EUID":"b1b2c3d4e5","LEID":"123456790","file":"subscribed"}`),
			}}},
			{line: 5, writes: []consentd.ConsentWrite{{
				ContactPoint: "carl@example.org", Channel: "email", Purpose: "newsletter", Status: consentd.OptedIn,
				CapturedAt: ts("2024-03-21T08:00:00Z"),
				Source:     src(`{"EUID":"c1b2c3d4e5","LEID":"123456791","file":"subscribed"}`),
			}}},
			{line: 6, code: consentd.EINVALIDCONTACTPOINT, field: "Email Address"},
			{line: 7, code: consentd.EINVALIDTIME, field: "OPTIN_TIME"},
			{line: 8, code: consentd.EINVALIDTIME, field: "CONFIRM_TIME"},
		}},
		{"mailchimp_unsubscribed.csv", "unsubscribed", []want{
			{line: 2, writes: []consentd.ConsentWrite{{
				ContactPoint: "fay@example.org", Channel: "email", Purpose: "newsletter", Status: consentd.OptedOut,
				CapturedAt: ts("2024-04-01T11:59:00Z"), Reason: "I no longer want to receive these emails",
				Source: src(`{"EUID":"g1b2c3d4e5","LEID":"223456789","UNSUB_CAMPAIGN_ID":"a1c2e3","UNSUB_CAMPAIGN_TITLE":"Spring sale, 20% off","file":"unsubscribed"}`),
			}}},
			{line: 3, writes: []consentd.ConsentWrite{{
				ContactPoint: "gus@example.org", Channel: "email", Purpose: "newsletter", Status: consentd.OptedOut,
				CapturedAt: ts("2024-04-02T12:00:00Z"), Reason: "Other: Too many emails,\nplease stop",
				Source: src(`{"EUID":"h1b2c3d4e5","LEID":"223456790","file":"unsubscribed"}`),
			}}},
			{line: 5, code: consentd.EINVALIDTIME, field: "UNSUB_TIME"},
		}},
		{"mailchimp_cleaned.csv", "cleaned", []want{
			// A hard_bounce suppression with the import named, no consent.
			{line: 2, sups: []consentd.SuppressionInput{{ContactPoint: "ida@example.org", Kind: consentd.KindEmail, Channel: "email",
				Reason: consentd.SuppressHardBounce, Note: "import mailchimp: cleaned in mailchimp (the address bounced)", OnlyIfNone: true}}},
			{line: 3, code: consentd.EINVALIDCONTACTPOINT},
		}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			check(t, readAll(t, "mailchimp", tc.file, opt), tc.wants)
			f, err := os.Open(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r, err := NewReader("mailchimp", f, opt)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.MailchimpFile(); got != tc.kind {
				t.Errorf("MailchimpFile() = %q; want %q", got, tc.kind)
			}
		})
	}
}

func TestMailchimpHeader(t *testing.T) {
	_, err := NewReader("mailchimp", stringsReader("\"Email Address\",MEMBER_RATING\r\n"), Options{Purpose: "newsletter"})
	if consentd.ErrorCode(err) != consentd.EINVALID {
		t.Errorf("a subscribed file without times: %v; want code invalid", err)
	}
	_, err = NewReader("mailchimp", stringsReader("\"Email Address\",OPTIN_TIME\r\n"), Options{})
	if consentd.ErrorCode(err) != consentd.EUNKNOWNPURPOSE {
		t.Errorf("no purpose: %v; want code unknown_purpose", err)
	}
}
