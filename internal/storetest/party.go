package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

func testParties(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	e.mustWrite(cw("jane@example.com", "newsletter", "opted_in", e.t0), topic(cw("jane@example.com", "newsletter", "opted_in", e.t0), "weekly"),
		on(cw("+4915112345678", "newsletter", "opted_out", e.t0), "sms"), cw("other@example.com", "newsletter", "opted_in", e.t0))
	size := e.logSize()
	p := &consentd.Party{ID: "crm-1", ContactPoints: []consentd.PartyContactPoint{
		{Kind: consentd.KindPhone, Value: "+49 151 12345678"}, {Kind: consentd.KindEmail, Value: " Jane@Example.com"}},
		ExternalIDs: map[string]string{"dynamics": "b5c2"}}
	if err := s.PutParty(e.ctx, e.ws, p, "test"); err != nil {
		t.Fatalf("PutParty() = %v", err)
	}
	got, err := s.Party(e.ctx, e.ws, "crm-1")
	if err != nil {
		t.Fatalf("Party() = %v", err)
	}
	want := []consentd.PartyContactPoint{{Kind: consentd.KindEmail, Value: "jane@example.com"}, {Kind: consentd.KindPhone, Value: "+4915112345678"}}
	if !slices.Equal(got.ContactPoints, want) || got.ExternalIDs["dynamics"] != "b5c2" || got.CreatedAt.IsZero() {
		t.Errorf("Party() = %+v; want %v normalized, by kind, and the external id", got, want)
	}
	if n := e.logSize(); n != size+1 {
		t.Errorf("LogSize() after PutParty = %d; want %d", n, size+1)
	}
	cs, err := s.PartyConsents(e.ctx, e.ws, "crm-1")
	if err != nil {
		t.Fatalf("PartyConsents() = %v", err)
	}
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	if wantIDs := []string{"+4915112345678#newsletter:sms", "jane@example.com#newsletter:email", "jane@example.com#weekly:email"}; !slices.Equal(ids, wantIDs) {
		t.Errorf("PartyConsents() = %v; want %v", ids, wantIDs)
	}

	// Replacing the party replaces its contact points and keeps CreatedAt.
	time.Sleep(2 * time.Millisecond)
	if err := s.PutParty(e.ctx, e.ws, &consentd.Party{ID: "crm-1", ContactPoints: []consentd.PartyContactPoint{{Kind: consentd.KindEmail, Value: "other@example.com"}}}, "test"); err != nil {
		t.Fatal(err)
	}
	got2, _ := s.Party(e.ctx, e.ws, "crm-1")
	if len(got2.ContactPoints) != 1 || got2.ContactPoints[0].Value != "other@example.com" || !got2.CreatedAt.Equal(got.CreatedAt) ||
		!got2.UpdatedAt.After(got.UpdatedAt) || len(got2.ExternalIDs) != 0 {
		t.Errorf("Party() after replace = %+v; want only other@example.com, created_at kept, updated_at later, no external ids", got2)
	}
	if cs, _ := s.PartyConsents(e.ctx, e.ws, "crm-1"); len(cs) != 1 || cs[0].ID != "other@example.com#newsletter:email" {
		t.Errorf("PartyConsents() after replace = %v; want other@example.com's only", cs)
	}

	// A write naming a party creates it and links the contact point; the
	// filter finds its consents.
	w := cw("new@example.com", "newsletter", "opted_in", e.t0)
	w.PartyID = "crm-2"
	e.mustWrite(w)
	p2, err := s.Party(e.ctx, e.ws, "crm-2")
	if err != nil || len(p2.ContactPoints) != 1 || p2.ContactPoints[0].Value != "new@example.com" {
		t.Errorf("Party(crm-2) after a write naming it = %+v, %v; want new@example.com", p2, err)
	}
	if l, _, err := s.ListConsents(e.ctx, e.ws, consentd.ConsentFilter{PartyID: "crm-2"}); err != nil || len(l) != 1 || l[0].PartyID != "crm-2" {
		t.Errorf("ListConsents(party crm-2) = %v, %v; want the one consent", l, err)
	}

	_, err = s.Party(e.ctx, e.ws, "nothere")
	wantCode(t, "Party(nothere)", err, consentd.ENOTFOUND)
	_, err = s.PartyConsents(e.ctx, e.ws, "nothere")
	wantCode(t, "PartyConsents(nothere)", err, consentd.ENOTFOUND)
	size = e.logSize()
	for _, c := range []struct {
		what string
		p    *consentd.Party
		want string
	}{
		{"id with /", &consentd.Party{ID: "a/b"}, consentd.EINVALID},
		{"empty id", &consentd.Party{ID: ""}, consentd.EINVALID},
		{"long id", &consentd.Party{ID: strings.Repeat("x", 201)}, consentd.EINVALID},
		{"bad kind", &consentd.Party{ID: "x", ContactPoints: []consentd.PartyContactPoint{{Kind: "fax", Value: "1"}}}, consentd.EINVALID},
		{"bad email", &consentd.Party{ID: "x", ContactPoints: []consentd.PartyContactPoint{{Kind: consentd.KindEmail, Value: "nope"}}}, consentd.EINVALIDCONTACTPOINT},
	} {
		wantCode(t, "PutParty("+c.what+")", s.PutParty(e.ctx, e.ws, c.p, "test"), c.want)
	}
	if n := e.logSize(); n != size {
		t.Errorf("LogSize() after refused parties = %d; want %d", n, size)
	}
}

func testSuppressions(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	size := e.logSize()
	s1, err := s.AddSuppression(e.ctx, e.ws, consentd.SuppressionInput{ContactPoint: " Bounce@Example.com", Channel: "email", Reason: consentd.SuppressHardBounce, Note: "550"}, "test")
	if err != nil {
		t.Fatalf("AddSuppression() = %v", err)
	}
	if s1.ID == "" || s1.ContactPoint != "bounce@example.com" || s1.Kind != consentd.KindEmail || s1.Seq != size+1 || s1.CreatedAt.IsZero() {
		t.Errorf("AddSuppression() = %+v; want normalized, kind email, seq %d", s1, size+1)
	}
	time.Sleep(2 * time.Millisecond)
	s2, err := s.AddSuppression(e.ctx, e.ws, consentd.SuppressionInput{ContactPoint: "+49 151 12345678", Reason: consentd.SuppressSMSStop}, "test")
	if err != nil || s2.Kind != consentd.KindPhone || s2.ContactPoint != "+4915112345678" {
		t.Fatalf("AddSuppression(phone, kind guessed) = %+v, %v", s2, err)
	}
	l, err := s.Suppressions(e.ctx, e.ws)
	if err != nil || len(l) != 2 || l[0].ID != s2.ID || l[1].ID != s1.ID || l[1].Note != "550" || l[1].Channel != "email" ||
		l[1].ContactPoint != "bounce@example.com" || l[1].Seq != s1.Seq || l[1].Reason != consentd.SuppressHardBounce {
		t.Errorf("Suppressions() = %v, %v; want the two, newest first, as added", l, err)
	}
	for _, c := range []struct {
		what string
		in   consentd.SuppressionInput
		want string
	}{
		{"bad reason", consentd.SuppressionInput{ContactPoint: "a@example.com", Reason: "annoyed"}, consentd.EINVALID},
		{"bad channel", consentd.SuppressionInput{ContactPoint: "a@example.com", Channel: "E Mail", Reason: consentd.SuppressComplaint}, consentd.EINVALID},
		{"bad kind", consentd.SuppressionInput{ContactPoint: "a@example.com", Kind: "fax", Reason: consentd.SuppressComplaint}, consentd.EINVALID},
		{"bad address", consentd.SuppressionInput{ContactPoint: "nope@", Kind: consentd.KindEmail, Reason: consentd.SuppressComplaint}, consentd.EINVALIDCONTACTPOINT},
	} {
		_, err := s.AddSuppression(e.ctx, e.ws, c.in, "test")
		wantCode(t, "AddSuppression("+c.what+")", err, c.want)
	}
	if err := s.DeleteSuppression(e.ctx, e.ws, s1.ID, "test"); err != nil {
		t.Fatalf("DeleteSuppression() = %v", err)
	}
	wantCode(t, "DeleteSuppression(again)", s.DeleteSuppression(e.ctx, e.ws, s1.ID, "test"), consentd.ENOTFOUND)
	if l, _ := s.Suppressions(e.ctx, e.ws); len(l) != 1 || l[0].ID != s2.ID {
		t.Errorf("Suppressions() after delete = %v; want only %s", l, s2.ID)
	}
	want := []string{consentd.LogSuppressionAdded, consentd.LogSuppressionAdded, consentd.LogSuppressionLifted}
	if got := types(t, e.entries()[size:]); !slices.Equal(got, want) {
		t.Errorf("log = %v; want %v", got, want)
	}
}

func testListConsents(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	var writes []consentd.ConsentWrite
	for i := range 12 {
		cp := fmt.Sprintf("user%02d@example.com", i)
		status := []string{"opted_in", "opted_out", "pending"}[i%3]
		w := cw(cp, "newsletter", status, e.t0)
		if i%4 == 0 {
			w.PartyID = "party-a"
		}
		writes = append(writes, w, cw(cp, "promo", "opted_in", e.t0), topic(cw(cp, "newsletter", status, e.t0), "weekly"))
	}
	writes = append(writes, on(cw("+4915112345678", "newsletter", "opted_in", e.t0), "sms"), on(cw("+4915112345678", "newsletter", "opted_in", e.t0), "whatsapp"))
	e.mustWrite(writes...)
	const total = 12*3 + 2

	all := map[string]bool{}
	var pages int
	for token := ""; ; {
		page, next, err := s.ListConsents(e.ctx, e.ws, consentd.ConsentFilter{Limit: 7, PageToken: token})
		if err != nil {
			t.Fatalf("ListConsents(page %d) = %v", pages, err)
		}
		pages++
		if len(page) > 7 || (next != "" && len(page) != 7) {
			t.Fatalf("ListConsents(page %d) = %d consents, next %q; want 7 a page", pages, len(page), next)
		}
		for _, c := range page {
			if all[c.ID] {
				t.Errorf("ListConsents: %s on two pages", c.ID)
			}
			all[c.ID] = true
			if c.ContactPoint == "" || c.ID != consentd.ConsentID(c.ContactPoint, c.ChannelType) {
				t.Errorf("ListConsents: consent %+v without its contact point", c)
			}
		}
		if next == "" {
			break
		}
		token = next
	}
	if len(all) != total || pages != (total+6)/7 {
		t.Errorf("ListConsents pages = %d consents in %d pages; want %d in %d", len(all), pages, total, (total+6)/7)
	}
	count := func(f consentd.ConsentFilter) int {
		t.Helper()
		f.Limit = 1000
		l, next, err := s.ListConsents(e.ctx, e.ws, f)
		if err != nil || next != "" {
			t.Fatalf("ListConsents(%+v) = %v, next %q", f, err, next)
		}
		for _, c := range l {
			if f.Purpose != "" && c.Purpose != f.Purpose || f.Channel != "" && c.Channel != f.Channel || f.Status != "" && c.Status != f.Status ||
				f.PartyID != "" && c.PartyID != f.PartyID {
				t.Errorf("ListConsents(%+v) gave %+v", f, c)
			}
		}
		return len(l)
	}
	for _, c := range []struct {
		f    consentd.ConsentFilter
		want int
	}{
		{consentd.ConsentFilter{}, total},
		{consentd.ConsentFilter{Purpose: "promo"}, 12},
		{consentd.ConsentFilter{Purpose: "newsletter"}, 24 + 2},
		{consentd.ConsentFilter{Channel: "sms"}, 1},
		{consentd.ConsentFilter{Status: consentd.OptedOut}, 8},
		{consentd.ConsentFilter{Status: consentd.Pending, Purpose: "newsletter"}, 8},
		{consentd.ConsentFilter{PartyID: "party-a"}, 3},
		{consentd.ConsentFilter{ContactPoint: " USER03@example.com"}, 3},
		{consentd.ConsentFilter{ContactPoint: "+49 151 12345678"}, 2},
		{consentd.ConsentFilter{ContactPoint: "user03@example.com", Purpose: "promo"}, 1},
		{consentd.ConsentFilter{ContactPoint: "nobody@example.com"}, 0},
		{consentd.ConsentFilter{Purpose: "nothere"}, 0},
	} {
		if got := count(c.f); got != c.want {
			t.Errorf("ListConsents(%+v) = %d consents; want %d", c.f, got, c.want)
		}
	}
	if l, next, err := s.ListConsents(e.ctx, e.ws, consentd.ConsentFilter{Limit: 5000}); err != nil || len(l) != total || next != "" {
		t.Errorf("ListConsents(limit 5000) = %d, next %q, %v; want all %d (the limit falls back to 100)", len(l), next, err, total)
	}
	_, _, err := s.ListConsents(e.ctx, e.ws, consentd.ConsentFilter{Status: "maybe"})
	wantCode(t, "ListConsents(status maybe)", err, consentd.EINVALIDSTATUS)
	_, _, err = s.ListConsents(e.ctx, e.ws, consentd.ConsentFilter{PageToken: "!!"})
	wantCode(t, "ListConsents(bad page token)", err, consentd.EINVALID)
	_, _, err = s.ListConsents(e.ctx, e.ws, consentd.ConsentFilter{ContactPoint: strings.Repeat("x", 2000)})
	wantCode(t, "ListConsents(contact point that is nothing)", err, consentd.EINVALIDCONTACTPOINT)
}
