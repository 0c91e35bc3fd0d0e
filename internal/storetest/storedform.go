package storetest

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// Contact points that an earlier release stored and Normalize now refuses:
// with default region BY it read "08100000000" as +375 8100000000, whose
// E.164 form reads back as another, invalid number; and it took a domain
// that mixes Latin and Cyrillic.
const (
	stalePhone    = "+3758100000000"
	staleEmail    = "alice@xn--exmple-4nf.com" // alice@exаmple.com, a Cyrillic а
	staleEmailRaw = "alice@ex\u0430mple.com"   // as it was typed
)

// testStoredForms: a consent stored by an earlier release under a contact
// point that Normalize now refuses can still be read, decided on, opted out,
// stopped by SMS STOP and erased, and listed, by its stored form and by the
// input that made it; but not opted in again.
func testStoredForms(t *testing.T, s Store) {
	e := newEnv(t, s, "stored-forms")
	if _, err := s.UpdateWorkspace(e.ctx, e.ws, consentd.WorkspaceUpdate{DefaultRegion: new("BY")}, "test"); err != nil {
		t.Fatalf("UpdateWorkspace(BY) = %v", err)
	}
	for _, c := range []struct{ kind, raw string }{{"phone", stalePhone}, {"phone", "08100000000"}, {"email", staleEmail}, {"email", staleEmailRaw}} {
		if _, err := consentd.Normalize(consentd.ContactPointKind(c.kind), c.raw, "BY"); consentd.ErrorCode(err) != consentd.EINVALIDCONTACTPOINT {
			t.Fatalf("Normalize(%s, %q) = %v; the case needs a contact point that Normalize refuses", c.kind, c.raw, err)
		}
	}
	restore := consentd.LegacyWritesForTest()
	e.mustWrite(on(cw("08100000000", "newsletter", "opted_in", e.t0), "sms"), on(topic(cw(stalePhone, "newsletter", "opted_in", e.t0), "weekly"), "sms"),
		cw(staleEmailRaw, "newsletter", "opted_in", e.t0), cw(staleEmail, "promo", "opted_in", e.t0))
	restore()

	// A new opt-in needs a contact point that Normalize accepts.
	res := e.write(on(cw(stalePhone, "newsletter", "opted_in", e.t0.Add(time.Minute)), "whatsapp"), cw(staleEmailRaw, "analytics", "pending", e.t0))
	for i, r := range res {
		wantCode(t, "WriteConsents(opt-in of a stored form) item "+string(rune('0'+i)), r.Err, consentd.EINVALIDCONTACTPOINT)
	}

	// Read, by the stored form and by what was typed.
	for _, id := range []string{stalePhone + "#newsletter:sms", "08100000000#newsletter:sms", staleEmail + "#newsletter:email", staleEmailRaw + "#newsletter:email"} {
		c, err := s.Consent(e.ctx, e.ws, id, time.Time{})
		if err != nil || c.Status != consentd.OptedIn {
			t.Errorf("Consent(%q) = %+v, %v; want opted_in", id, c, err)
		}
	}
	if h, err := s.ConsentHistory(e.ctx, e.ws, stalePhone+"#newsletter:sms"); err != nil || len(h) != 1 {
		t.Errorf("ConsentHistory(%s) = %d entries, %v; want 1", stalePhone, len(h), err)
	}
	if cs, _, err := s.ListConsents(e.ctx, e.ws, consentd.ConsentFilter{ContactPoint: stalePhone}); err != nil || len(cs) != 2 {
		t.Errorf("ListConsents(contact point %s) = %d, %v; want 2", stalePhone, len(cs), err)
	}
	e.wantDecision(stalePhone, "sms", "newsletter", "", true, consentd.ReasonOptedIn)
	e.wantDecision(staleEmailRaw, "email", "newsletter", "", true, consentd.ReasonOptedIn)
	// A signed link (an unsubscribe link) can name it.
	if cp, hash, err := s.PutContactPoint(e.ctx, e.ws, consentd.KindPhone, "08100000000"); err != nil || cp != stalePhone || hash == ([32]byte{}) {
		t.Errorf("PutContactPoint(phone, 08100000000) = %q, %v; want %s", cp, err, stalePhone)
	}

	// Opt out by the stored form.
	r := e.mustWrite(cw(staleEmail, "newsletter", "opted_out", e.t0.Add(time.Minute)))
	if !r[0].Applied || r[0].Consent.Status != consentd.OptedOut || r[0].Consent.ContactPoint != staleEmail {
		t.Errorf("opt-out of %s = %+v; want applied, opted_out, the stored form", staleEmail, r[0].Consent)
	}
	e.wantDecision(staleEmail, "email", "newsletter", "", false, consentd.ReasonOptedOut)

	// SMS STOP from the stored number.
	in, err := s.InboundSMS(e.ctx, e.ws, consentd.InboundSMS{From: stalePhone, Text: "STOP", ReceivedAt: time.Now().Add(-time.Minute).UTC(), MessageID: "stale-1"}, "test")
	if err != nil {
		t.Fatalf("InboundSMS(STOP from %s) = %v", stalePhone, err)
	}
	if in.Action != consentd.InboundOptedOut || len(in.Consents) != 2 || in.Suppression == nil || in.Suppression.ContactPoint != stalePhone {
		t.Errorf("InboundSMS(STOP from %s) = %+v; want both SMS consents opted out and an sms_stop suppression", stalePhone, in)
	}
	for _, c := range in.Consents {
		if c.Status != consentd.OptedOut || !c.Applied {
			t.Errorf("after STOP, %s = %s (applied %v); want opted_out", c.ID, c.Status, c.Applied)
		}
	}
	e.wantDecision(stalePhone, "sms", "newsletter", "", false, consentd.ReasonSuppressed)

	// Erase by what was typed: a suppression, and a data-subject request.
	if _, err := s.AddSuppression(e.ctx, e.ws, consentd.SuppressionInput{ContactPoint: staleEmailRaw, Kind: consentd.KindEmail, Reason: consentd.SuppressErased}, "test"); err != nil {
		t.Fatalf("AddSuppression(erased, %s) = %v", staleEmailRaw, err)
	}
	e.wantDecision(staleEmail, "email", "promo", "", false, consentd.ReasonSuppressed)
	if _, err := s.CreateRequest(e.ctx, e.ws, consentd.RequestInput{Type: "erase", Kind: consentd.KindPhone, ContactPoint: "08100000000", Regulation: "gdpr"}, "test"); err != nil {
		t.Fatalf("CreateRequest(erase %s) = %v", stalePhone, err)
	}
	for _, req := range e.process() {
		if req.State != consentd.RequestCompleted || req.Result == nil || req.Result.ContactPoints != 1 {
			t.Errorf("erase request = %+v, result %+v; want completed on one contact point", req, req.Result)
		}
	}
	if c := e.consent(stalePhone + "#newsletter:sms"); c.Status != consentd.OptedOut || c.Source.Type != consentd.SourceDSR {
		t.Errorf("after the erase request, %s#newsletter:sms = %+v; want opted_out by the request", stalePhone, c)
	}
	// Both erased: the export holds no plaintext of either.
	for _, cp := range e.exported() {
		if cp != "" {
			t.Errorf("export after erasure names %q; want no plaintext", cp)
		}
	}
}

// Migrator is a store that says what opening it did to its schema.
type Migrator interface {
	Store
	Migration() consentd.Migration
}

// RunStaleUpgrade checks the migration that lists the stored contact points
// Normalize no longer returns as they are, as an upgrade from the release
// before it: a store with such contact points, its migration undone with
// exec, is opened again. open opens the same database each time.
func RunStaleUpgrade(t *testing.T, open func(t *testing.T) Migrator, exec Exec) {
	s := open(t)
	e := newEnv(t, s, "stale")
	if _, err := s.UpdateWorkspace(e.ctx, e.ws, consentd.WorkspaceUpdate{DefaultRegion: new("BY")}, "test"); err != nil {
		t.Fatalf("UpdateWorkspace(BY) = %v", err)
	}
	restore := consentd.LegacyWritesForTest()
	e.mustWrite(on(cw("08100000000", "newsletter", "opted_in", e.t0), "sms"), cw(staleEmailRaw, "newsletter", "opted_in", e.t0),
		cw("jane@example.com", "newsletter", "opted_in", e.t0))
	restore()
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	for _, q := range []string{`DROP TABLE stale_contact_points`, `DELETE FROM schema_migrations WHERE version = '0008_stale_contact_points'`} {
		if _, err := exec(e.ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	s = open(t)
	t.Cleanup(func() { s.Close() })
	e.s = s
	mig := s.Migration()
	if !slices.Equal(mig.Applied, []string{"0008_stale_contact_points"}) {
		t.Errorf("Migration().Applied = %v; want the one migration undone", mig.Applied)
	}
	want := map[string]map[string]int{e.ws: {"email refused": 1, "phone refused": 1}}
	if !maps.EqualFunc(mig.Stale, want, maps.Equal) {
		t.Errorf("Migration().Stale = %v; want %v", mig.Stale, want)
	}
	// The rows name the two by hash: touching them all touches two.
	if n, err := exec(e.ctx, `UPDATE stale_contact_points SET found_at = found_at WHERE workspace_id = $1 AND outcome = 'refused'`, e.ws); err != nil || n != 2 {
		t.Errorf("stale_contact_points holds %d refused rows, %v; want 2", n, err)
	}
	// Kept as stored, and still found.
	if c := e.consent(stalePhone + "#newsletter:sms"); c.Status != consentd.OptedIn || c.ContactPoint != stalePhone {
		t.Errorf("after the upgrade, %s#newsletter:sms = %+v; want opted_in as stored", stalePhone, c)
	}
	if c := e.consent(staleEmail + "#newsletter:email"); c.Status != consentd.OptedIn {
		t.Errorf("after the upgrade, %s#newsletter:email = %+v; want opted_in as stored", staleEmail, c)
	}
	// A second opening has nothing to do.
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	s = open(t)
	if mig := s.Migration(); len(mig.Applied) != 0 || mig.Stale != nil {
		t.Errorf("second opening: Migration() = %+v; want nothing applied or listed", mig)
	}
}
