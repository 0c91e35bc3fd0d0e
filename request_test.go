package consentd_test

import (
	"slices"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

func TestDueDate(t *testing.T) {
	d := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		regulation, received, want string
	}{
		{"gdpr", "2026-03-14T10:30:00Z", "2026-04-14T10:30:00Z"},
		{"gdpr", "2026-01-31T09:00:00Z", "2026-02-28T09:00:00Z"}, // no 31 February: the month's last day
		{"gdpr", "2028-01-30T09:00:00Z", "2028-02-29T09:00:00Z"}, // leap year
		{"gdpr", "2026-12-15T00:00:00Z", "2027-01-15T00:00:00Z"},
		{"gdpr", "2026-03-31T23:59:59Z", "2026-04-30T23:59:59Z"},
		{"ccpa", "2026-03-14T10:30:00Z", "2026-04-28T10:30:00Z"},
		{"ccpa", "2026-12-31T00:00:00Z", "2027-02-14T00:00:00Z"},
	} {
		if got := consentd.DueDate(c.regulation, d(c.received)); !got.Equal(d(c.want)) {
			t.Errorf("DueDate(%s, %s) = %v; want %s", c.regulation, c.received, got, c.want)
		}
	}
}

func TestRequestInputValidate(t *testing.T) {
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	good := consentd.RequestInput{Type: "withdraw", PartyID: "crm-1", Regulation: "gdpr"}
	if err := good.Validate(now); err != nil || !good.ReceivedAt.Equal(now) {
		t.Errorf("Validate(good) = %v, received_at %v", err, good.ReceivedAt)
	}
	cp := consentd.RequestInput{Type: "withdraw", ContactPoint: "+4915112345678", Regulation: "ccpa"}
	if err := cp.Validate(now); err != nil || cp.Kind != consentd.KindPhone {
		t.Errorf("Validate(contact point) = %v, kind %q; want the kind guessed as phone", err, cp.Kind)
	}
	for _, c := range []struct {
		name  string
		in    consentd.RequestInput
		code  string
		field string
	}{
		{"unknown type", consentd.RequestInput{Type: "forget", PartyID: "p", Regulation: "gdpr"}, consentd.EINVALID, "type"},
		{"no type", consentd.RequestInput{PartyID: "p", Regulation: "gdpr"}, consentd.EINVALID, "type"},
		{"bad regulation", consentd.RequestInput{Type: "withdraw", PartyID: "p", Regulation: "lgpd"}, consentd.EINVALID, "regulation"},
		{"no subject", consentd.RequestInput{Type: "withdraw", Regulation: "gdpr"}, consentd.EINVALID, "party_id"},
		{"both subjects", consentd.RequestInput{Type: "withdraw", PartyID: "p", ContactPoint: "a@example.com", Regulation: "gdpr"}, consentd.EINVALID, "contact_point"},
		{"bad party id", consentd.RequestInput{Type: "withdraw", PartyID: "a/b", Regulation: "gdpr"}, consentd.EINVALID, "party_id"},
		{"kind without contact point", consentd.RequestInput{Type: "withdraw", PartyID: "p", Kind: "email", Regulation: "gdpr"}, consentd.EINVALID, "kind"},
		{"bad kind", consentd.RequestInput{Type: "withdraw", ContactPoint: "x", Kind: "fax", Regulation: "gdpr"}, consentd.EINVALID, "kind"},
		{"future", consentd.RequestInput{Type: "withdraw", PartyID: "p", Regulation: "gdpr", ReceivedAt: now.Add(time.Hour)}, consentd.EFUTURECAPTUREDAT, "received_at"},
	} {
		err := c.in.Validate(now)
		if e, ok := err.(*consentd.Error); !ok || e.Code != c.code || len(e.Fields) == 0 || e.Fields[0].Field != c.field {
			t.Errorf("Validate(%s) = %v; want %s on %s", c.name, err, c.code, c.field)
		}
	}
}

func TestOptOutWrites(t *testing.T) {
	cat := consentd.NewCatalog([]*consentd.Purpose{
		{ID: "news", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"email": {}, "sms": {}, "whatsapp": {}}},
		{ID: "orders", Type: consentd.Transactional, Channels: map[string]consentd.ChannelSetting{"email": {}, "voice": {}, "app": {}}},
	}, []*consentd.Topic{{ID: "weekly", Purpose: "news"}})
	cps := []consentd.PartyContactPoint{{Kind: consentd.KindEmail, Value: "a@example.com"}, {Kind: consentd.KindPhone, Value: "+4915112345678"},
		{Kind: consentd.KindCustom, Value: "device-1"}, {Kind: consentd.KindEmail, Value: ""}}
	at := time.Now()
	ws := consentd.OptOutWrites(cat, cps, "p1", consentd.Source{Type: consentd.SourceAgent, Name: "key_1"}, "asked", at)
	var got []string
	for _, w := range ws {
		if w.Status != consentd.OptedOut || !w.CapturedAt.Equal(at) || w.PartyID != "p1" || w.Source.Type != consentd.SourceAgent || w.Reason != "asked" {
			t.Errorf("OptOutWrites: %+v", w)
		}
		sub := w.Purpose
		if w.Topic != "" {
			sub = w.Topic
		}
		got = append(got, w.ContactPoint+"#"+consentd.ChannelTypeID(sub, w.Channel))
	}
	slices.Sort(got)
	want := []string{
		"+4915112345678#news:sms", "+4915112345678#news:whatsapp", "+4915112345678#orders:voice", "+4915112345678#weekly:sms", "+4915112345678#weekly:whatsapp",
		"a@example.com#news:email", "a@example.com#orders:email", "a@example.com#weekly:email",
		"device-1#orders:app",
	}
	if !slices.Equal(got, want) {
		t.Errorf("OptOutWrites() = %v; want %v", got, want)
	}
}
