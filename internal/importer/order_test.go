package importer

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// TestEntryCodec: an entry comes out of the sort as it went in, including
// the zone offset of its times and a nil or empty source.details.
func TestEntryCodec(t *testing.T) {
	confirmed := time.Date(2024, 3, 1, 10, 0, 0, 123, time.FixedZone("", 2*3600))
	for _, e := range []entry{
		{kind: entryWrite, line: 7, rowFirst: true, write: consentd.ConsentWrite{ContactPoint: "a@example.com", Channel: "email", Purpose: "news",
			Status: consentd.OptedIn, CapturedAt: time.Date(2020, 1, 2, 3, 4, 5, 6, time.FixedZone("", -5*3600)), Source: consentd.Source{Type: "import"}}},
		{kind: entryWrite, line: 1 << 40, write: consentd.ConsentWrite{ContactPoint: "+4915112345678", Channel: "sms", Purpose: "p", Topic: "t",
			ChannelType: "x:sms", Status: consentd.OptedOut, CapturedAt: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC),
			Source: consentd.Source{Type: "form", Name: "n", Details: json.RawMessage(`{"a":1}`)}, Reason: "r", PartyID: "p1", Jurisdiction: "DE",
			Origin: "o", Proof: &consentd.Proof{IP: "192.0.2.1", UserAgent: "ua", FormVersion: "f", TextVersion: "v", ConfirmedAt: &confirmed}}},
		{kind: entryWrite, line: 3, write: consentd.ConsentWrite{ContactPoint: "b", Status: consentd.Pending, CapturedAt: time.Unix(0, 0).UTC(),
			Source: consentd.Source{Type: "api", Details: json.RawMessage{}}, Proof: &consentd.Proof{}}},
		{kind: entryReject, line: 9, rowFirst: true, reject: consentd.ImportReject{Line: 9, Code: "invalid", Reason: "why", Raw: []string{"a", "", "c,d"}}},
		{kind: entryReject, line: 10, rowFirst: true, reject: consentd.ImportReject{Line: 10, Code: "invalid", Reason: "why"}},
		{kind: entrySkip, line: 11, rowFirst: true, skip: "status not set"},
	} {
		var got entry
		if err := got.decode(e.encode(nil)); err != nil {
			t.Fatalf("decode(encode(%+v)): %v", e, err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, e)
		}
		if e.kind == entryWrite && got.write.CapturedAt.Format(time.RFC3339Nano) != e.write.CapturedAt.Format(time.RFC3339Nano) {
			t.Errorf("captured_at %s; want %s", got.write.CapturedAt.Format(time.RFC3339Nano), e.write.CapturedAt.Format(time.RFC3339Nano))
		}
	}
	var e entry
	for _, bad := range [][]byte{nil, {'x'}, {entryWrite, 2}, append((&entry{kind: entrySkip, skip: "s"}).encode(nil), 0)} {
		if err := e.decode(bad); err == nil {
			t.Errorf("decode(%q) = nil; want an error", bad)
		}
	}
}
