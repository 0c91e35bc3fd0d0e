package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

func testCatalog(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	cat, err := s.Catalog(e.ctx, e.ws)
	if err != nil {
		t.Fatalf("Catalog() = %v", err)
	}
	if len(cat.Purposes) != 4 || len(cat.Topics) != 2 {
		t.Fatalf("Catalog() = %d purposes, %d topics; want 4, 2", len(cat.Purposes), len(cat.Topics))
	}
	nl := cat.Purposes["newsletter"]
	if nl.Channels["email"].Enforcement != consentd.Restrictive || nl.Channels["email"].ExternalID != "0eBNEWSLETTEREMAIL" ||
		cat.Purposes["orders"].Channels["email"].Enforcement != consentd.NonRestrictive || nl.CreatedAt.IsZero() {
		t.Errorf("Catalog().Purposes = %+v; want defaults filled in and external ids kept", cat.Purposes)
	}
	if got := types(t, e.entries()); !slices.Equal(got, []string{
		consentd.LogPurposeChanged, consentd.LogPurposeChanged, consentd.LogPurposeChanged, consentd.LogPurposeChanged,
		consentd.LogTopicChanged, consentd.LogTopicChanged}) {
		t.Errorf("log after the catalog = %v; want 4 purpose.changed and 2 topic.changed", got)
	}

	// Replace keeps CreatedAt; the new settings apply to writes and
	// decisions at once.
	time.Sleep(2 * time.Millisecond)
	p := &consentd.Purpose{ID: "newsletter", Name: "News", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{
		"email": {Enforcement: consentd.NonRestrictive}, "sms": {}}}
	if err := s.PutPurpose(e.ctx, e.ws, p, false, "test"); err != nil {
		t.Fatalf("PutPurpose(replace) = %v", err)
	}
	cat, _ = s.Catalog(e.ctx, e.ws)
	got := cat.Purposes["newsletter"]
	if got.Name != "News" || !got.CreatedAt.Equal(nl.CreatedAt) || !got.UpdatedAt.After(nl.UpdatedAt) || len(got.Channels) != 2 {
		t.Errorf("after replace Catalog().Purposes[newsletter] = %+v; want name News, created_at kept, updated_at later, 2 channels", got)
	}
	d, err := s.Decide(e.ctx, e.ws, &consentd.DecisionRequest{ContactPoint: "a@example.com", Channel: "email", Purpose: "newsletter"})
	if err != nil || !d.Allowed || d.Reason != consentd.ReasonNotOptedOut {
		t.Errorf("Decide(newsletter now non_restrictive) = %+v, %v; want not_opted_out", d, err)
	}
	res := e.write(on(cw("+4915112345678", "newsletter", "opted_in", e.t0), "whatsapp"))
	wantCode(t, "WriteConsents(channel dropped from the purpose)", res[0].Err, consentd.ECHANNELNOTOFFERED)

	// A new purpose is usable at once.
	if err := s.PutPurpose(e.ctx, e.ws, &consentd.Purpose{ID: "surveys", Name: "Surveys", Type: consentd.Commercial,
		Channels: map[string]consentd.ChannelSetting{"email": {}}}, true, "test"); err != nil {
		t.Fatal(err)
	}
	e.mustWrite(cw("a@example.com", "surveys", "opted_in", e.t0))
	d, err = s.Decide(e.ctx, e.ws, &consentd.DecisionRequest{ContactPoint: "a@example.com", Channel: "email", Purpose: "surveys"})
	if err != nil || !d.Allowed {
		t.Errorf("Decide(surveys) = %+v, %v; want allowed", d, err)
	}

	// Topics: replace, then delete, then delete the purpose.
	if err := s.PutTopic(e.ctx, e.ws, &consentd.Topic{ID: "weekly", Purpose: "newsletter", Name: "Weekly digest"}, false, "test"); err != nil {
		t.Fatalf("PutTopic(replace) = %v", err)
	}
	if cat, _ := s.Catalog(e.ctx, e.ws); cat.Topics["weekly"].Name != "Weekly digest" {
		t.Errorf("after replace topic name = %q", cat.Topics["weekly"].Name)
	}
	wantCode(t, "DeletePurpose(with a topic)", s.DeletePurpose(e.ctx, e.ws, "newsletter", "test"), consentd.ECONFLICT)
	if err := s.DeleteTopic(e.ctx, e.ws, "weekly", "test"); err != nil {
		t.Fatalf("DeleteTopic(weekly) = %v", err)
	}
	if err := s.DeletePurpose(e.ctx, e.ws, "newsletter", "test"); err != nil {
		t.Fatalf("DeletePurpose(newsletter) = %v", err)
	}
	cat, _ = s.Catalog(e.ctx, e.ws)
	if cat.Purposes["newsletter"] != nil || cat.Topics["weekly"] != nil {
		t.Errorf("after delete Catalog() still has newsletter or weekly")
	}
	_, err = s.Decide(e.ctx, e.ws, &consentd.DecisionRequest{ContactPoint: "a@example.com", Channel: "email", Purpose: "newsletter"})
	wantCode(t, "Decide(deleted purpose)", err, consentd.EUNKNOWNPURPOSE)
	wantCode(t, "DeletePurpose(deleted)", s.DeletePurpose(e.ctx, e.ws, "newsletter", "test"), consentd.ENOTFOUND)
	wantCode(t, "DeleteTopic(deleted)", s.DeleteTopic(e.ctx, e.ws, "weekly", "test"), consentd.ENOTFOUND)

	// Every change is logged, with its actor.
	want := []string{consentd.LogPurposeChanged, consentd.LogPurposeChanged, "consent.changed", consentd.LogTopicChanged,
		consentd.LogTopicDeleted, consentd.LogPurposeDeleted}
	entries := e.entries()[catalogEntries:]
	if got := types(t, entries); !slices.Equal(got, want) {
		t.Errorf("log of the changes = %v; want %v", got, want)
	}
	for _, r := range entries {
		if a := decode(t, r).Actor; a != "test" {
			t.Errorf("entry %d actor = %q; want test", r.Seq, a)
		}
	}
}

func testCatalogConflicts(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	size := e.logSize()
	email := map[string]consentd.ChannelSetting{"email": {}}
	for _, c := range []struct {
		what   string
		p      *consentd.Purpose
		create bool
		want   string
	}{
		{"create existing", &consentd.Purpose{ID: "newsletter", Name: "N", Type: consentd.Commercial, Channels: email}, true, consentd.ECONFLICT},
		{"create with a topic's id", &consentd.Purpose{ID: "weekly", Name: "W", Type: consentd.Commercial, Channels: email}, true, consentd.ECONFLICT},
		{"replace missing", &consentd.Purpose{ID: "nothere", Name: "N", Type: consentd.Commercial, Channels: email}, false, consentd.ENOTFOUND},
		{"external id of another channel type", &consentd.Purpose{ID: "other", Name: "O", Type: consentd.Commercial,
			Channels: map[string]consentd.ChannelSetting{"email": {ExternalID: "0eBNEWSLETTEREMAIL"}}}, true, consentd.ECONFLICT},
		{"bad id", &consentd.Purpose{ID: "Bad Id", Name: "B", Type: consentd.Commercial, Channels: email}, true, consentd.EINVALID},
		{"no name", &consentd.Purpose{ID: "noname", Type: consentd.Commercial, Channels: email}, true, consentd.EINVALID},
		{"no channels", &consentd.Purpose{ID: "nochannels", Name: "N", Type: consentd.Commercial}, true, consentd.EINVALID},
		{"bad type", &consentd.Purpose{ID: "badtype", Name: "N", Type: "marketing", Channels: email}, true, consentd.EINVALID},
		{"commercial sms not restrictive", &consentd.Purpose{ID: "smsoptout", Name: "S", Type: consentd.Commercial,
			Channels: map[string]consentd.ChannelSetting{"sms": {Enforcement: consentd.NonRestrictive}}}, true, consentd.EINVALID},
		{"disabled on commercial", &consentd.Purpose{ID: "off", Name: "O", Type: consentd.Commercial,
			Channels: map[string]consentd.ChannelSetting{"email": {Enforcement: consentd.Disabled}}}, true, consentd.EINVALID},
	} {
		wantCode(t, "PutPurpose("+c.what+")", s.PutPurpose(e.ctx, e.ws, c.p, c.create, "test"), c.want)
	}
	for _, c := range []struct {
		what   string
		tp     *consentd.Topic
		create bool
		want   string
	}{
		{"create existing", &consentd.Topic{ID: "weekly", Purpose: "newsletter", Name: "W"}, true, consentd.ECONFLICT},
		{"create with a purpose's id", &consentd.Topic{ID: "promo", Purpose: "newsletter", Name: "P"}, true, consentd.ECONFLICT},
		{"replace missing", &consentd.Topic{ID: "nothere", Purpose: "newsletter", Name: "N"}, false, consentd.ENOTFOUND},
		{"unknown purpose", &consentd.Topic{ID: "monthly", Purpose: "nothere", Name: "M"}, true, consentd.EUNKNOWNPURPOSE},
		{"external id on a channel not offered", &consentd.Topic{ID: "monthly", Purpose: "promo", Name: "M",
			ChannelExternalIDs: map[string]string{"sms": "0eBX"}}, true, consentd.ECHANNELNOTOFFERED},
		{"external id of another channel type", &consentd.Topic{ID: "monthly", Purpose: "newsletter", Name: "M",
			ChannelExternalIDs: map[string]string{"sms": "0eBNEWSLETTEREMAIL"}}, true, consentd.ECONFLICT},
		{"no name", &consentd.Topic{ID: "monthly", Purpose: "newsletter"}, true, consentd.EINVALID},
	} {
		wantCode(t, "PutTopic("+c.what+")", s.PutTopic(e.ctx, e.ws, c.tp, c.create, "test"), c.want)
	}
	if n := e.logSize(); n != size {
		t.Errorf("LogSize() after refused changes = %d; want %d: nothing logged", n, size)
	}
	cat, _ := s.Catalog(e.ctx, e.ws)
	if len(cat.Purposes) != 4 || len(cat.Topics) != 2 || cat.Purposes["newsletter"].Name != "Newsletter" {
		t.Errorf("Catalog() after refused changes = %d purposes, %d topics; want the catalog unchanged", len(cat.Purposes), len(cat.Topics))
	}

	// Two creates of one id at the same time: one wins, the other is a
	// conflict.
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			errs <- s.PutPurpose(e.ctx, e.ws, &consentd.Purpose{ID: "twice", Name: "T", Type: consentd.Commercial,
				Channels: map[string]consentd.ChannelSetting{"email": {}}}, true, "test")
		}()
	}
	e1, e2 := <-errs, <-errs
	if c1, c2 := consentd.ErrorCode(e1), consentd.ErrorCode(e2); !(c1 == "" && c2 == consentd.ECONFLICT || c1 == consentd.ECONFLICT && c2 == "") {
		t.Errorf("two concurrent PutPurpose(create twice) = %v, %v; want one success and one conflict", e1, e2)
	}
}
