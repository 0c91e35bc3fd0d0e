package importfmt

import (
	"encoding/json"
	"testing"

	"github.com/consentd/consentd"
)

func TestListmonk(t *testing.T) {
	src := func(d string) consentd.Source {
		return consentd.Source{Type: "import", Name: "listmonk", Details: json.RawMessage(d)}
	}
	rows := readAll(t, "listmonk", "listmonk.csv", Options{Purpose: "newsletter"})
	check(t, rows, []want{
		{line: 2, writes: []consentd.ConsentWrite{{
			ContactPoint: "Jane@Example.com", Channel: "email", Purpose: "newsletter", Status: consentd.OptedIn,
			CapturedAt: ts("2024-03-14T09:30:00.123456Z"),
			Source:     src(`{"status":"enabled","uuid":"6a7e2d1c-0001-4c1b-9d7e-000000000001"}`),
		}}},
		{line: 3, writes: []consentd.ConsentWrite{{
			ContactPoint: "bob@example.org", Channel: "email", Purpose: "newsletter", Status: consentd.OptedOut,
			CapturedAt: ts("2024-04-02T06:15:30.5Z"), Reason: "blocklisted in listmonk",
			Source: src(`{"status":"blocklisted","uuid":"6a7e2d1c-0001-4c1b-9d7e-000000000002"}`),
		}}, sups: []consentd.SuppressionInput{{ContactPoint: "bob@example.org", Kind: consentd.KindEmail,
			Reason: consentd.SuppressDoNotContact, Note: "import listmonk: blocklisted in listmonk", OnlyIfNone: true}}},
		{line: 5, skip: "disabled"},
		{line: 6, code: consentd.EINVALIDSTATUS, field: "status"},
		{line: 7, code: consentd.EINVALIDCONTACTPOINT, field: "email"},
		{line: 8, code: consentd.EINVALIDTIME, field: "created_at"},
		{line: 9, code: consentd.EMALFORMED},
	})
}

// TestListmonkSubscriptions reads a per-list export (with
// subscription_status): each list status and its times.
func TestListmonkSubscriptions(t *testing.T) {
	w := func(cp string, st consentd.Status, at, reason, d string) []consentd.ConsentWrite {
		return []consentd.ConsentWrite{{ContactPoint: cp, Channel: "sms", Purpose: "newsletter", Topic: "weekly-digest", Status: st,
			CapturedAt: ts(at), Reason: reason, Source: consentd.Source{Type: "import", Name: "lm", Details: json.RawMessage(d)}}}
	}
	rows := readAll(t, "listmonk", "listmonk_lists.csv", Options{Purpose: "newsletter", Topic: "weekly-digest", Channel: "sms", SourceName: "lm"})
	check(t, rows, []want{
		{line: 2, writes: w("a@example.org", consentd.OptedIn, "2024-02-01T00:00:00Z", "", `{"status":"enabled","subscription_status":"confirmed","uuid":"u1"}`)},
		{line: 3, writes: w("b@example.org", consentd.Pending, "2024-02-01T00:00:00Z", "", `{"status":"enabled","subscription_status":"unconfirmed","uuid":"u2"}`)},
		{line: 4, writes: w("c@example.org", consentd.OptedIn, "2024-02-01T00:00:00Z", "", `{"status":"enabled","subscription_status":"unconfirmed","uuid":"u3"}`)},
		{line: 5, writes: w("d@example.org", consentd.OptedOut, "2024-02-02T00:00:00Z", "unsubscribed in listmonk", `{"status":"enabled","subscription_status":"unsubscribed","uuid":"u4"}`)},
		{line: 6, writes: w("e@example.org", consentd.OptedOut, "2024-06-01T00:00:00Z", "unsubscribed in listmonk", `{"status":"disabled","subscription_status":"unsubscribed","uuid":"u5"}`)},
		{line: 7, code: consentd.EINVALIDSTATUS, field: "subscription_status"},
	})
}

func TestListmonkNeedsPurpose(t *testing.T) {
	_, err := NewReader("listmonk", stringsReader("uuid,email,name,attributes,status,created_at,updated_at\n"), Options{})
	if consentd.ErrorCode(err) != consentd.EUNKNOWNPURPOSE {
		t.Errorf("NewReader without purpose: %v; want code unknown_purpose", err)
	}
}
