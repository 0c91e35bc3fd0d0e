package consentd_test

import (
	"testing"
	"time"

	"github.com/consentd/consentd"
)

func TestDoubleOptInRequired(t *testing.T) {
	email := map[string]consentd.ChannelSetting{"email": {}, "sms": {}}
	cat := consentd.NewCatalog([]*consentd.Purpose{
		{ID: "news", Name: "News", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"email": {ExternalID: "0eBNEWS"}, "sms": {}}, DoubleOptIn: consentd.DoubleOptIn{"DE", "AT", "US-CA"}},
		{ID: "always", Name: "Always", Type: consentd.Commercial, Channels: email, DoubleOptIn: consentd.DoubleOptIn{"always"}},
		{ID: "never", Name: "Never", Type: consentd.Commercial, Channels: email, DoubleOptIn: consentd.DoubleOptIn{"never"}},
		{ID: "unset", Name: "Unset", Type: consentd.Commercial, Channels: email},
	}, []*consentd.Topic{{ID: "weekly", Purpose: "news", Name: "Weekly"}, {ID: "daily", Purpose: "always", Name: "Daily"}})

	at := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	w := func(purpose, topic, jurisdiction string, status consentd.Status, source string) consentd.ConsentWrite {
		return consentd.ConsentWrite{ContactPoint: "jane@example.com", Channel: "email", Purpose: purpose, Topic: topic,
			Status: status, CapturedAt: at, Source: consentd.Source{Type: source}, Jurisdiction: jurisdiction}
	}
	byID := func(ct, jurisdiction string) consentd.ConsentWrite {
		return consentd.ConsentWrite{ContactPoint: "jane@example.com", ChannelType: ct, Status: consentd.OptedIn, CapturedAt: at,
			Source: consentd.Source{Type: consentd.SourceForm}, Jurisdiction: jurisdiction}
	}
	in, out, pending := consentd.OptedIn, consentd.OptedOut, consentd.Pending
	form, doi, imp := consentd.SourceForm, consentd.SourceDoubleOptIn, consentd.SourceImport
	tests := []struct {
		name string
		w    consentd.ConsentWrite
		want bool
	}{
		{"listed jurisdiction", w("news", "", "DE", in, form), true},
		{"subdivision of a listed country", w("news", "", "DE-BY", in, form), true},
		{"listed subdivision", w("news", "", "US-CA", in, form), true},
		{"other subdivision of the country", w("news", "", "US-NY", in, form), false},
		{"country of a listed subdivision", w("news", "", "US", in, form), false},
		{"unlisted jurisdiction", w("news", "", "FR", in, form), false},
		{"prefix that is not a subdivision", w("news", "", "DEU", in, form), false},
		{"no jurisdiction", w("news", "", "", in, form), false},
		{"always", w("always", "", "", in, form), true},
		{"always, any jurisdiction", w("always", "", "US", in, imp), true},
		{"never", w("never", "", "DE", in, form), false},
		{"unset is never", w("unset", "", "DE", in, form), false},
		{"topic follows its purpose", w("news", "weekly", "AT", in, form), true},
		{"topic, unlisted", w("news", "weekly", "FR", in, form), false},
		{"topic of always", w("always", "daily", "", in, form), true},
		{"opt-out never", w("always", "", "DE", out, form), false},
		{"pending never", w("always", "", "DE", pending, form), false},
		{"a confirmation itself", w("always", "", "DE", in, doi), false},
		{"by channel type id", byID("news:email", "DE"), true},
		{"by topic channel type id", byID("weekly:email", "DE"), true},
		{"by external id", byID("0eBNEWS", "DE"), true},
		{"by external id, unlisted", byID("0eBNEWS", "FR"), false},
		{"other channel, same rule", func() consentd.ConsentWrite { x := w("news", "", "DE", in, form); x.Channel = "sms"; return x }(), true},
		{"unknown purpose", w("nope", "", "DE", in, form), false},
		{"unknown topic", w("news", "nope", "DE", in, form), false},
		{"channel not offered", func() consentd.ConsentWrite { x := w("always", "", "", in, form); x.Channel = "push"; return x }(), false},
	}
	for _, tc := range tests {
		if got := consentd.DoubleOptInRequired(cat, &tc.w); got != tc.want {
			t.Errorf("%s: DoubleOptInRequired(%s %s/%s %q %s %s) = %v; want %v", tc.name, tc.w.Status, tc.w.Purpose+tc.w.ChannelType, tc.w.Topic,
				tc.w.Jurisdiction, tc.w.Channel, tc.w.Source.Type, got, tc.want)
		}
	}
}

func TestMaskContactPoint(t *testing.T) {
	tests := []struct{ in, want string }{
		{"jane@example.com", "j***@e***.com"},
		{"j@x.org", "j***@x***.org"},
		{"ülrich@bücher.example", "ü***@b***.example"},
		{"root@localhost", "r***@l***"},
		{"+4915112345678", "+49*********78"},
		{"device-token-1", "d*************"},
		{"ab", "***"},
	}
	for _, tc := range tests {
		if got := consentd.MaskContactPoint(tc.in); got != tc.want {
			t.Errorf("MaskContactPoint(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}
