package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
)

func testWorkspaces(t *testing.T, s Store) {
	ctx := t.Context()
	if l, err := s.Workspaces(ctx); err != nil || len(l) != 0 {
		t.Fatalf("Workspaces() on a new store = %v, %v; want none", l, err)
	}
	b, err := s.CreateWorkspace(ctx, "beta")
	if err != nil {
		t.Fatalf("CreateWorkspace(beta) = %v", err)
	}
	if b.ID == "" || b.Name != "beta" || b.CreatedAt.IsZero() {
		t.Errorf("CreateWorkspace(beta) = %+v; want an id, the name and a creation time", b)
	}
	a, err := s.CreateWorkspace(ctx, "alpha")
	if err != nil {
		t.Fatalf("CreateWorkspace(alpha) = %v", err)
	}
	_, err = s.CreateWorkspace(ctx, "beta")
	wantCode(t, "CreateWorkspace(beta) again", err, consentd.ECONFLICT)
	for _, name := range []string{"", "Beta", "a b", "-x", strings.Repeat("x", 65)} {
		_, err = s.CreateWorkspace(ctx, name)
		wantCode(t, "CreateWorkspace("+name+")", err, consentd.EINVALID)
	}
	l, err := s.Workspaces(ctx)
	if err != nil || len(l) != 2 || l[0].ID != a.ID || l[1].ID != b.ID {
		t.Fatalf("Workspaces() = %v, %v; want alpha, beta", l, err)
	}
	got, err := s.WorkspaceByName(ctx, "beta")
	if err != nil || got.ID != b.ID || !got.CreatedAt.Equal(b.CreatedAt) {
		t.Errorf("WorkspaceByName(beta) = %+v, %v; want %+v", got, err, b)
	}
	got, err = s.Workspace(ctx, a.ID)
	if err != nil || got.Name != "alpha" {
		t.Errorf("Workspace(%q) = %+v, %v; want alpha", a.ID, got, err)
	}
	_, err = s.WorkspaceByName(ctx, "gamma")
	wantCode(t, "WorkspaceByName(gamma)", err, consentd.ENOTFOUND)
	_, err = s.Workspace(ctx, "ws_nothere")
	wantCode(t, "Workspace(ws_nothere)", err, consentd.ENOTFOUND)
}

func testUpdateWorkspace(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	if _, err := s.CreateWorkspace(e.ctx, "other"); err != nil {
		t.Fatal(err)
	}
	str := func(s string) *string { return &s }
	ws, err := s.UpdateWorkspace(e.ctx, e.ws, consentd.WorkspaceUpdate{Name: str("renamed"), DefaultRegion: str("DE")}, "admin-key")
	if err != nil || ws.Name != "renamed" || ws.DefaultRegion != "DE" {
		t.Fatalf("UpdateWorkspace(renamed, DE) = %+v, %v", ws, err)
	}
	if got, err := s.WorkspaceByName(e.ctx, "renamed"); err != nil || got.ID != e.ws || got.DefaultRegion != "DE" {
		t.Errorf("WorkspaceByName(renamed) = %+v, %v", got, err)
	}
	size := e.logSize()
	if l := e.entries(); len(l) != catalogEntries+1 {
		t.Errorf("log after UpdateWorkspace = %d entries; want %d", len(l), catalogEntries+1)
	} else if le := decode(t, l[catalogEntries]); le.Type != consentd.LogWorkspaceChanged || le.Subject != e.ws || le.Actor != "admin-key" ||
		!strings.Contains(string(le.After), `"default_region":"DE"`) {
		t.Errorf("UpdateWorkspace logged %+v; want workspace.changed of %s by admin-key with the new settings", le, e.ws)
	}
	_, err = s.UpdateWorkspace(e.ctx, e.ws, consentd.WorkspaceUpdate{Name: str("other")}, "test")
	wantCode(t, "UpdateWorkspace(name taken)", err, consentd.ECONFLICT)
	_, err = s.UpdateWorkspace(e.ctx, e.ws, consentd.WorkspaceUpdate{Name: str("Bad Name")}, "test")
	wantCode(t, "UpdateWorkspace(bad name)", err, consentd.EINVALID)
	_, err = s.UpdateWorkspace(e.ctx, e.ws, consentd.WorkspaceUpdate{DefaultRegion: str("Germany")}, "test")
	wantCode(t, "UpdateWorkspace(bad region)", err, consentd.EINVALID)
	if ws, err := s.Workspace(e.ctx, e.ws); err != nil || ws.Name != "renamed" || ws.DefaultRegion != "DE" {
		t.Errorf("after refused updates Workspace() = %+v, %v; want renamed, DE", ws, err)
	}
	if n := e.logSize(); n != size {
		t.Errorf("LogSize() after refused updates = %d; want %d", n, size)
	}
	_, err = s.UpdateWorkspace(e.ctx, "ws_nothere", consentd.WorkspaceUpdate{DefaultRegion: str("FR")}, "test")
	wantCode(t, "UpdateWorkspace(unknown workspace)", err, consentd.ENOTFOUND)

	// The default region now reads national numbers: one contact point
	// however it is written.
	e.mustWrite(on(cw("0151 12345678", "newsletter", "opted_in", e.t0), "sms"))
	c := e.consent("+4915112345678#newsletter:sms")
	if c.ContactPoint != "+4915112345678" {
		t.Errorf("Consent().ContactPoint = %q; want +4915112345678", c.ContactPoint)
	}
	d, err := s.Decide(e.ctx, e.ws, &consentd.DecisionRequest{ContactPoint: "+49 151 1234 5678", Channel: "sms", Purpose: "newsletter"})
	if err != nil || !d.Allowed {
		t.Errorf("Decide(+49 151 1234 5678) = %+v, %v; want allowed", d, err)
	}
}

func testUnknownWorkspace(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	const ws = "ws_nothere"
	_, err := s.WriteConsents(e.ctx, ws, []consentd.ConsentWrite{cw("a@example.com", "newsletter", "opted_in", e.t0)}, "test")
	wantCode(t, "WriteConsents(unknown workspace)", err, consentd.ENOTFOUND)
	_, err = s.Decide(e.ctx, ws, &consentd.DecisionRequest{ContactPoint: "a@example.com", Channel: "email", Purpose: "newsletter"})
	wantCode(t, "Decide(unknown workspace)", err, consentd.ENOTFOUND)
	_, err = s.Catalog(e.ctx, ws)
	wantCode(t, "Catalog(unknown workspace)", err, consentd.ENOTFOUND)
	err = s.PutPurpose(e.ctx, ws, &consentd.Purpose{ID: "p", Name: "P", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"email": {}}}, true, "test")
	wantCode(t, "PutPurpose(unknown workspace)", err, consentd.ENOTFOUND)
	_, err = s.Consent(e.ctx, ws, "a@example.com#newsletter:email", time.Time{})
	wantCode(t, "Consent(unknown workspace)", err, consentd.ENOTFOUND)
	if n, err := s.LogSize(e.ctx, ws); err != nil || n != 0 {
		t.Errorf("LogSize(unknown workspace) = %d, %v; want 0", n, err)
	}
	if n := e.logSize(); n != catalogEntries {
		t.Errorf("LogSize() = %d; want %d: nothing written", n, catalogEntries)
	}
}

func testKeys(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	k, secret, err := s.CreateKey(e.ctx, e.ws, consentd.RoleWrite, "ci", "")
	if err != nil || k.ID == "" || k.WorkspaceID != e.ws || k.Role != consentd.RoleWrite || k.Name != "ci" || len(secret) < 32 {
		t.Fatalf("CreateKey(write) = %+v, %d-byte secret, %v", k, len(secret), err)
	}
	got, err := s.Authenticate(e.ctx, secret)
	if err != nil || got.ID != k.ID || got.WorkspaceID != e.ws || got.Role != consentd.RoleWrite {
		t.Errorf("Authenticate(secret) = %+v, %v; want key %s", got, err, k.ID)
	}
	const chosen = "my-own-secret-key-123"
	k2, s2, err := s.CreateKey(e.ctx, e.ws, consentd.RoleCheck, "", chosen)
	if err != nil || s2 != chosen {
		t.Fatalf("CreateKey(chosen secret) = %+v, %q, %v", k2, s2, err)
	}
	_, _, err = s.CreateKey(e.ctx, e.ws, consentd.RoleRead, "", chosen)
	wantCode(t, "CreateKey(same secret)", err, consentd.ECONFLICT)
	_, _, err = s.CreateKey(e.ctx, e.ws, consentd.Role("root"), "", "")
	wantCode(t, "CreateKey(role root)", err, consentd.EINVALID)
	_, _, err = s.CreateKey(e.ctx, e.ws, consentd.RoleRead, "", "short")
	wantCode(t, "CreateKey(short secret)", err, consentd.EINVALID)
	_, err = s.Authenticate(e.ctx, "cdk_notakey")
	wantCode(t, "Authenticate(unknown)", err, consentd.EUNAUTHORIZED)
	_, err = s.Authenticate(e.ctx, "")
	wantCode(t, "Authenticate(empty)", err, consentd.EUNAUTHORIZED)

	keys, err := s.Keys(e.ctx, e.ws)
	if err != nil || len(keys) != 2 {
		t.Fatalf("Keys() = %v, %v; want 2", keys, err)
	}
	ids := map[string]consentd.Role{}
	for _, k := range keys {
		ids[k.ID] = k.Role
	}
	if ids[k.ID] != consentd.RoleWrite || ids[k2.ID] != consentd.RoleCheck {
		t.Errorf("Keys() = %v; want %s write and %s check", ids, k.ID, k2.ID)
	}
	if err := s.DeleteKey(e.ctx, e.ws, k.ID); err != nil {
		t.Fatalf("DeleteKey() = %v", err)
	}
	_, err = s.Authenticate(e.ctx, secret)
	wantCode(t, "Authenticate(deleted key)", err, consentd.EUNAUTHORIZED)
	wantCode(t, "DeleteKey(deleted key)", s.DeleteKey(e.ctx, e.ws, k.ID), consentd.ENOTFOUND)
	if keys, err := s.Keys(e.ctx, e.ws); err != nil || len(keys) != 1 || keys[0].ID != k2.ID {
		t.Errorf("Keys() after delete = %v, %v; want only %s", keys, err, k2.ID)
	}
}

// testIsolation checks that nothing of workspace A is visible or changeable
// through workspace B, though both use the same ids and addresses.
func testIsolation(t *testing.T, s Store) {
	a := newEnv(t, s, "alpha")
	b := newEnv(t, s, "beta")
	ctx := a.ctx
	const id = "jane@example.com#newsletter:email"
	a.mustWrite(consentd.ConsentWrite{ContactPoint: "jane@example.com", Channel: "email", Purpose: "newsletter", Status: consentd.OptedIn, CapturedAt: a.t0,
		Source: consentd.Source{Type: consentd.SourceAPI}, PartyID: "p-1"},
		topic(cw("jane@example.com", "newsletter", "opted_in", a.t0), "weekly"), cw("jane@example.com", "newsletter", "opted_in", a.t0))
	sup, err := s.AddSuppression(ctx, a.ws, consentd.SuppressionInput{ContactPoint: "x@example.com", Reason: consentd.SuppressHardBounce}, "test")
	if err != nil {
		t.Fatal(err)
	}
	key, secret, err := s.CreateKey(ctx, a.ws, consentd.RoleAdmin, "", "")
	if err != nil {
		t.Fatal(err)
	}
	signer := newSigner(t)
	if _, _, err := ledger.SignCheckpoint(ctx, s, signer, a.ws); err != nil {
		t.Fatal(err)
	}
	aSize := a.logSize()

	// Reads through B see none of it.
	_, err = s.Consent(ctx, b.ws, id, time.Time{})
	wantCode(t, "B: Consent(A's consent)", err, consentd.ENOTFOUND)
	_, err = s.Consent(ctx, b.ws, id, time.Now())
	wantCode(t, "B: Consent(A's consent, as of now)", err, consentd.ENOTFOUND)
	if h, err := s.ConsentHistory(ctx, b.ws, id); err != nil || len(h) != 0 {
		t.Errorf("B: ConsentHistory(A's consent) = %d entries, %v; want none", len(h), err)
	}
	if l, _, err := s.ListConsents(ctx, b.ws, consentd.ConsentFilter{}); err != nil || len(l) != 0 {
		t.Errorf("B: ListConsents() = %d, %v; want none", len(l), err)
	}
	if l, _, err := s.ListConsents(ctx, b.ws, consentd.ConsentFilter{ContactPoint: "jane@example.com"}); err != nil || len(l) != 0 {
		t.Errorf("B: ListConsents(jane) = %d, %v; want none", len(l), err)
	}
	d, err := s.Decide(ctx, b.ws, &consentd.DecisionRequest{ContactPoint: "jane@example.com", Channel: "email", Purpose: "newsletter"})
	if err != nil || d.Allowed || d.Reason != consentd.ReasonNoConsent || d.Seq != catalogEntries {
		t.Errorf("B: Decide(jane) = %+v, %v; want no_consent at seq %d", d, err, catalogEntries)
	}
	d, err = s.Decide(ctx, b.ws, &consentd.DecisionRequest{ContactPoint: "x@example.com", Channel: "email", Purpose: "promo"})
	if err != nil || !d.Allowed || d.Reason != consentd.ReasonNotOptedOut {
		t.Errorf("B: Decide(A's suppressed address) = %+v, %v; want not_opted_out", d, err)
	}
	_, err = s.Party(ctx, b.ws, "p-1")
	wantCode(t, "B: Party(A's party)", err, consentd.ENOTFOUND)
	_, err = s.PartyConsents(ctx, b.ws, "p-1")
	wantCode(t, "B: PartyConsents(A's party)", err, consentd.ENOTFOUND)
	if l, err := s.Suppressions(ctx, b.ws); err != nil || len(l) != 0 {
		t.Errorf("B: Suppressions() = %d, %v; want none", len(l), err)
	}
	if l, err := s.Keys(ctx, b.ws); err != nil || len(l) != 0 {
		t.Errorf("B: Keys() = %d, %v; want none", len(l), err)
	}
	if n := b.logSize(); n != catalogEntries {
		t.Errorf("B: LogSize() = %d; want %d", n, catalogEntries)
	}
	if l, err := s.Log(ctx, b.ws, 0, 1000); err != nil || len(l) != catalogEntries {
		t.Errorf("B: Log() = %d entries, %v; want %d", len(l), err, catalogEntries)
	}
	_, err = s.LogEntry(ctx, b.ws, aSize)
	wantCode(t, "B: LogEntry(beyond B's log)", err, consentd.ENOTFOUND)
	if cps, err := s.Checkpoints(ctx, b.ws); err != nil || len(cps) != 0 {
		t.Errorf("B: Checkpoints() = %d, %v; want none", len(cps), err)
	}
	_, _, err = s.LatestCheckpoint(ctx, b.ws)
	wantCode(t, "B: LatestCheckpoint()", err, consentd.ENOTFOUND)

	// Changes through B leave A alone.
	wantCode(t, "B: DeleteSuppression(A's)", s.DeleteSuppression(ctx, b.ws, sup.ID, "test"), consentd.ENOTFOUND)
	wantCode(t, "B: DeleteKey(A's)", s.DeleteKey(ctx, b.ws, key.ID), consentd.ENOTFOUND)
	if err := s.DeleteTopic(ctx, b.ws, "weekly", "test"); err != nil {
		t.Fatalf("B: DeleteTopic(weekly) = %v", err)
	}
	if err := s.PutPurpose(ctx, b.ws, &consentd.Purpose{ID: "newsletter", Name: "B's", Type: consentd.Commercial,
		Channels: map[string]consentd.ChannelSetting{"email": {}}}, false, "test"); err != nil {
		t.Fatalf("B: PutPurpose(newsletter) = %v", err)
	}
	b.mustWrite(cw("jane@example.com", "newsletter", "opted_out", b.t0.Add(time.Minute)))
	if _, err := s.AddSuppression(ctx, b.ws, consentd.SuppressionInput{ContactPoint: "jane@example.com", Reason: consentd.SuppressErased}, "test"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutParty(ctx, b.ws, &consentd.Party{ID: "p-1"}, "test"); err != nil {
		t.Fatal(err)
	}

	if c := a.consent(id); c.Status != consentd.OptedIn || c.Version != 1 || c.PartyID != "p-1" {
		t.Errorf("A: Consent() = %+v; want opted_in version 1 of p-1", c)
	}
	cat, err := s.Catalog(ctx, a.ws)
	if err != nil || cat.Topics["weekly"] == nil || cat.Purposes["newsletter"].Name != "Newsletter" || len(cat.Purposes["newsletter"].Channels) != 3 {
		t.Errorf("A: Catalog() = %+v, %v; want A's own", cat, err)
	}
	d, err = s.Decide(ctx, a.ws, &consentd.DecisionRequest{ContactPoint: "jane@example.com", Channel: "email", Purpose: "newsletter", Topic: "weekly"})
	if err != nil || !d.Allowed || d.Seq != aSize {
		t.Errorf("A: Decide(jane, weekly) = %+v, %v; want allowed at seq %d", d, err, aSize)
	}
	if p, err := s.PartyConsents(ctx, a.ws, "p-1"); err != nil || len(p) != 2 {
		t.Errorf("A: PartyConsents(p-1) = %d, %v; want 2", len(p), err)
	}
	if l, err := s.Suppressions(ctx, a.ws); err != nil || len(l) != 1 || l[0].ID != sup.ID {
		t.Errorf("A: Suppressions() = %v, %v; want only %s", l, err, sup.ID)
	}
	if k, err := s.Authenticate(ctx, secret); err != nil || k.WorkspaceID != a.ws {
		t.Errorf("A: Authenticate() = %+v, %v; want A's key", k, err)
	}
	if n := a.logSize(); n != aSize {
		t.Errorf("A: LogSize() = %d; want %d", n, aSize)
	}
	// The same address is a different subject in each log: the hashes are
	// keyed per workspace.
	ha, _ := s.ConsentHistory(ctx, a.ws, id)
	hb, _ := s.ConsentHistory(ctx, b.ws, id)
	if len(ha) == 0 || len(hb) == 0 || decode(t, ha[0]).Subject == decode(t, hb[0]).Subject {
		t.Errorf("ConsentHistory subjects of one address in A and B are equal (or missing); want workspace-keyed hashes")
	}
	for _, e := range []*env{a, b} {
		r, err := ledger.VerifyLog(ctx, s, signer.PublicKey(), e.ws)
		if err != nil || !r.OK {
			t.Errorf("VerifyLog(%s) = %+v, %v; want OK", e.ws, r, err)
		}
	}
}
