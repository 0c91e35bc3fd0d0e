package storetest

import (
	"context"
	"testing"

	"github.com/consentd/consentd"
)

// testLinkContactPoints covers what the signed links need of a store:
// storing a link's contact point and finding the addresses (of its parties)
// and suppressions a link reaches.
func testLinkContactPoints(t *testing.T, db Store) {
	ctx := context.Background()
	ws, err := db.CreateWorkspace(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	other, err := db.CreateWorkspace(ctx, "beta")
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := db.WorkspaceSecret(ctx, ws.ID)
	n, _ := db.LogSize(ctx, ws.ID)

	cp, hash, err := db.PutContactPoint(ctx, ws.ID, consentd.KindEmail, " Jane@Example.COM ")
	if err != nil || cp != "jane@example.com" || hash != consentd.ContactPointHash(secret, consentd.KindEmail, "jane@example.com") {
		t.Fatalf("PutContactPoint(Jane@Example.COM) = %q, %x, %v; want jane@example.com and its hash", cp, hash[:4], err)
	}
	if cp2, hash2, err := db.PutContactPoint(ctx, ws.ID, consentd.KindEmail, "jane@example.com"); err != nil || cp2 != cp || hash2 != hash {
		t.Errorf("PutContactPoint again = %q, %v; want the same", cp2, err)
	}
	if m, _ := db.LogSize(ctx, ws.ID); m != n {
		t.Errorf("PutContactPoint logged %d entries; want none", m-n)
	}
	for _, c := range []struct {
		ws   string
		kind consentd.ContactPointKind
		raw  string
		code string
	}{
		{ws.ID, consentd.KindEmail, "not an address", consentd.EINVALIDCONTACTPOINT},
		{ws.ID, consentd.KindPhone, "0301234567", consentd.EINVALIDCONTACTPOINT}, // no region
		{ws.ID, "fax", "+4930123456", consentd.EINVALID},
		{"ws_nosuchthing", consentd.KindEmail, "jane@example.com", consentd.ENOTFOUND},
	} {
		if _, _, err := db.PutContactPoint(ctx, c.ws, c.kind, c.raw); consentd.ErrorCode(err) != c.code {
			t.Errorf("PutContactPoint(%s, %q) = %v; want %s", c.kind, c.raw, err, c.code)
		}
	}

	cps, sups, err := db.LinkedContactPoints(ctx, ws.ID, hash)
	if err != nil || len(cps) != 1 || cps[0] != (consentd.PartyContactPoint{Kind: consentd.KindEmail, Value: "jane@example.com"}) || len(sups) != 0 {
		t.Errorf("LinkedContactPoints(jane) = %v, %v, %v; want jane alone", cps, sups, err)
	}
	if _, _, err := db.LinkedContactPoints(ctx, other.ID, hash); consentd.ErrorCode(err) != consentd.ENOTFOUND {
		t.Errorf("LinkedContactPoints in another workspace = %v; want %s", err, consentd.ENOTFOUND)
	}
	if _, _, err := db.LinkedContactPoints(ctx, ws.ID, [32]byte{1}); consentd.ErrorCode(err) != consentd.ENOTFOUND {
		t.Errorf("LinkedContactPoints(unknown hash) = %v; want %s", err, consentd.ENOTFOUND)
	}

	// Through a party: the others of the party, by kind and value.
	p := &consentd.Party{ID: "p1", ContactPoints: []consentd.PartyContactPoint{
		{Kind: consentd.KindPhone, Value: "+1 415 555 0123"}, {Kind: consentd.KindEmail, Value: "max@example.com"}, {Kind: consentd.KindEmail, Value: "jane@example.com"}}}
	if err := db.PutParty(ctx, ws.ID, p, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddSuppression(ctx, ws.ID, consentd.SuppressionInput{ContactPoint: "+14155550123", Kind: consentd.KindPhone, Channel: "sms", Reason: consentd.SuppressSMSStop}, "test"); err != nil {
		t.Fatal(err)
	}
	cps, sups, err = db.LinkedContactPoints(ctx, ws.ID, hash)
	want := []consentd.PartyContactPoint{{Kind: consentd.KindEmail, Value: "jane@example.com"}, {Kind: consentd.KindEmail, Value: "max@example.com"}, {Kind: consentd.KindPhone, Value: "+14155550123"}}
	if err != nil || len(cps) != len(want) {
		t.Fatalf("LinkedContactPoints(jane) with a party = %v, %v; want %v", cps, err, want)
	}
	for i := range want {
		if cps[i] != want[i] {
			t.Errorf("LinkedContactPoints(jane)[%d] = %v; want %v", i, cps[i], want[i])
		}
	}
	if len(sups) != 1 || sups[0].ContactPoint != "+14155550123" || sups[0].Reason != consentd.SuppressSMSStop || sups[0].Channel != "sms" {
		t.Errorf("LinkedContactPoints(jane) suppressions = %+v; want the phone's sms_stop", sups)
	}

	// An erased contact point's plaintext does not come back.
	if _, err := db.AddSuppression(ctx, ws.ID, consentd.SuppressionInput{ContactPoint: "gone@example.com", Kind: consentd.KindEmail, Reason: consentd.SuppressErased}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.PutContactPoint(ctx, ws.ID, consentd.KindEmail, "Gone@example.com"); consentd.ErrorCode(err) != consentd.ECONFLICT {
		t.Errorf("PutContactPoint(erased) = %v; want %s", err, consentd.ECONFLICT)
	}
	if _, _, err := db.PutContactPoint(ctx, other.ID, consentd.KindEmail, "gone@example.com"); err != nil {
		t.Errorf("PutContactPoint(erased in another workspace) = %v; want it stored", err)
	}
}
