package storetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/color"
	"image/png"
	"reflect"
	"strings"
	"testing"

	"github.com/consentd/consentd"
)

// PNG returns a w x h PNG image, for logo tests.
func PNG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for x := 0; x < w; x++ {
		img.Set(x, 0, color.NRGBA{R: 0x1a, G: 0x56, B: 0xdb, A: 0xff})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func str(s string) *string { return &s }

// testBrand stores a workspace's brand, reads it back in every read of a
// workspace and the log, refuses every bad field without storing anything,
// and keeps a logo.
func testBrand(t *testing.T, s Store) {
	e := newEnv(t, s, "brand")
	texts := map[string]map[string]string{"DE": {"date.format": "{day}. {month} {year}"}}
	u := consentd.WorkspaceUpdate{SenderName: str("Example GmbH"), DefaultLanguage: str("DE"), AccentColor: str("#1A56DB"),
		PrivacyURL: str("https://example.com/privacy?x=1"), Footer: str("Example GmbH, Hauptstraße 1, 10115 Berlin"),
		PublicURL: str("https://news.example.com/"), Texts: &texts}
	ws, err := s.UpdateWorkspace(e.ctx, e.ws, u, "admin-key")
	if err != nil {
		t.Fatalf("UpdateWorkspace(brand) = %v", err)
	}
	want := consentd.Brand{SenderName: "Example GmbH", DefaultLanguage: "de", AccentColor: "#1a56db", PrivacyURL: "https://example.com/privacy?x=1",
		Footer: "Example GmbH, Hauptstraße 1, 10115 Berlin", PublicURL: "https://news.example.com",
		Texts: map[string]map[string]string{"de": {"date.format": "{day}. {month} {year}"}}}
	if !reflect.DeepEqual(ws.Brand, want) {
		t.Errorf("UpdateWorkspace(brand) = %+v; want %+v", ws.Brand, want)
	}
	if got, err := s.Workspace(e.ctx, e.ws); err != nil || !reflect.DeepEqual(got.Brand, want) {
		t.Errorf("Workspace() brand = %+v, %v; want %+v", got.Brand, err, want)
	}
	if got, err := s.WorkspaceByName(e.ctx, "brand"); err != nil || !reflect.DeepEqual(got.Brand, want) {
		t.Errorf("WorkspaceByName() brand = %+v, %v; want %+v", got.Brand, err, want)
	}
	if l, err := s.Workspaces(e.ctx); err != nil || len(l) != 1 || !reflect.DeepEqual(l[0].Brand, want) {
		t.Errorf("Workspaces() = %v, %v; want the brand", l, err)
	}
	l := e.entries()
	if le := decode(t, l[len(l)-1]); le.Type != consentd.LogWorkspaceChanged || !strings.Contains(string(le.After), `"sender_name":"Example GmbH"`) ||
		!strings.Contains(string(le.After), `"public_url":"https://news.example.com"`) || !strings.Contains(string(le.After), `"texts":{"de":`) {
		t.Errorf("UpdateWorkspace logged %s; want workspace.changed with the brand", le.After)
	}
	if got := ws.LinkBase("http://127.0.0.1:8080/"); got != "https://news.example.com" {
		t.Errorf("LinkBase() = %q; want the workspace's public URL", got)
	}

	// Every bad field: refused naming it, nothing stored, nothing logged.
	size := e.logSize()
	tooLong := strings.Repeat("x", 2001)
	for _, tc := range []struct {
		field string
		u     consentd.WorkspaceUpdate
	}{
		{"default_language", consentd.WorkspaceUpdate{DefaultLanguage: str("xx")}},
		{"default_language", consentd.WorkspaceUpdate{DefaultLanguage: str("it")}},
		{"default_language", consentd.WorkspaceUpdate{DefaultLanguage: str("de-AT")}},
		{"accent_color", consentd.WorkspaceUpdate{AccentColor: str("#777777")}},
		{"accent_color", consentd.WorkspaceUpdate{AccentColor: str("red")}},
		{"accent_color", consentd.WorkspaceUpdate{AccentColor: str("#12345g")}},
		{"privacy_url", consentd.WorkspaceUpdate{PrivacyURL: str("ftp://example.com/privacy")}},
		{"privacy_url", consentd.WorkspaceUpdate{PrivacyURL: str("/privacy")}},
		{"privacy_url", consentd.WorkspaceUpdate{PrivacyURL: str("https://user:pw@example.com/")}},
		{"privacy_url", consentd.WorkspaceUpdate{PrivacyURL: str("javascript:alert(1)")}},
		{"public_url", consentd.WorkspaceUpdate{PublicURL: str("https://example.com/?a=b")}},
		{"public_url", consentd.WorkspaceUpdate{PublicURL: str("https://example.com/#top")}},
		{"public_url", consentd.WorkspaceUpdate{PublicURL: str("example.com")}},
		{"sender_name", consentd.WorkspaceUpdate{SenderName: str(strings.Repeat("x", 201))}},
		{"sender_name", consentd.WorkspaceUpdate{SenderName: str("a\x00b")}},
		{"footer", consentd.WorkspaceUpdate{Footer: str(strings.Repeat("x", 1001))}},
		{"texts.xx", consentd.WorkspaceUpdate{Texts: &map[string]map[string]string{"xx": {"date.format": "x"}}}},
		{"texts.de.no.such.key", consentd.WorkspaceUpdate{Texts: &map[string]map[string]string{"de": {"no.such.key": "x"}}}},
		{"texts.de.date.format", consentd.WorkspaceUpdate{Texts: &map[string]map[string]string{"de": {"date.format": tooLong}}}},
		{"texts.de.date.format", consentd.WorkspaceUpdate{Texts: &map[string]map[string]string{"de": {"date.format": "{day} {address}"}}}},
		{"texts.de.date.format", consentd.WorkspaceUpdate{Texts: &map[string]map[string]string{"de": {"date.format": ""}}}},
		// A good field with a bad one: neither is stored.
		{"accent_color", consentd.WorkspaceUpdate{SenderName: str("Other"), AccentColor: str("#ffff00")}},
	} {
		_, err := s.UpdateWorkspace(e.ctx, e.ws, tc.u, "test")
		wantField(t, "UpdateWorkspace("+tc.field+")", err, consentd.EINVALID, tc.field)
	}
	if got, err := s.Workspace(e.ctx, e.ws); err != nil || !reflect.DeepEqual(got.Brand, want) {
		t.Errorf("after refused updates Workspace() brand = %+v, %v; want %+v", got.Brand, err, want)
	}
	if n := e.logSize(); n != size {
		t.Errorf("LogSize() after refused updates = %d; want %d", n, size)
	}

	// Empty strings clear; an empty texts object removes every override.
	empty := map[string]map[string]string{}
	ws, err = s.UpdateWorkspace(e.ctx, e.ws, consentd.WorkspaceUpdate{AccentColor: str(""), PublicURL: str(""), Texts: &empty}, "test")
	if err != nil || ws.AccentColor != "" || ws.PublicURL != "" || ws.Texts != nil || ws.SenderName != "Example GmbH" {
		t.Errorf("UpdateWorkspace(clear) = %+v, %v; want colour, public URL and texts cleared, the rest kept", ws, err)
	}
	if got := ws.LinkBase("http://127.0.0.1:8080/"); got != "http://127.0.0.1:8080" {
		t.Errorf("LinkBase() without a public URL = %q; want the server's", got)
	}

	// The logo: stored, described, served, replaced, removed.
	logo := PNG(t, 40, 20)
	ws, err = s.SetLogo(e.ctx, e.ws, "image/png", logo, "admin-key")
	sum := sha256.Sum256(logo)
	hexSum := hex.EncodeToString(sum[:])
	wantLogo := &consentd.Logo{ContentType: "image/png", Size: len(logo), Width: 40, Height: 20, SHA256: hexSum, URL: "/brand/" + e.ws + "/logo/" + hexSum}
	if err != nil || !reflect.DeepEqual(ws.Logo, wantLogo) {
		t.Fatalf("SetLogo(png) = %+v, %v; want %+v", ws, err, wantLogo)
	}
	if got, err := s.Workspace(e.ctx, e.ws); err != nil || !reflect.DeepEqual(got.Logo, wantLogo) {
		t.Errorf("Workspace().Logo = %+v, %v; want %+v", got.Logo, err, wantLogo)
	}
	if info, data, err := s.Logo(e.ctx, e.ws); err != nil || !bytes.Equal(data, logo) || !reflect.DeepEqual(info, wantLogo) {
		t.Errorf("Logo() = %+v, %d bytes, %v; want the bytes stored", info, len(data), err)
	}
	l = e.entries()
	if le := decode(t, l[len(l)-1]); le.Type != consentd.LogWorkspaceChanged || !strings.Contains(string(le.After), hexSum) || len(le.After) > 2000 {
		t.Errorf("SetLogo logged %s; want workspace.changed describing the logo, without its bytes", le.After)
	}
	size = e.logSize()
	for _, tc := range []struct {
		what, ctype string
		data        []byte
		code        string
	}{
		{"text as png", "image/png", []byte("hello, this is not an image"), consentd.EINVALID},
		{"svg", "image/svg+xml", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), consentd.EUNSUPPORTEDMEDIATYPE},
		{"png as jpeg", "image/jpeg", logo, consentd.EINVALID},
		{"truncated png", "image/png", logo[:len(logo)-20], consentd.EINVALID},
		{"too large", "image/png", append(PNG(t, 10, 10), make([]byte, 300<<10)...), consentd.ETOOLARGE},
		{"too wide", "image/png", PNG(t, 2049, 1), consentd.EINVALID},
	} {
		_, err := s.SetLogo(e.ctx, e.ws, tc.ctype, tc.data, "test")
		wantField(t, "SetLogo("+tc.what+")", err, tc.code, "body")
	}
	if n := e.logSize(); n != size {
		t.Errorf("LogSize() after refused logos = %d; want %d", n, size)
	}
	if _, data, err := s.Logo(e.ctx, e.ws); err != nil || !bytes.Equal(data, logo) {
		t.Errorf("Logo() after refused logos = %d bytes, %v; want the first", len(data), err)
	}
	if _, err := s.SetLogo(e.ctx, "ws_nothere", "image/png", logo, "test"); consentd.ErrorCode(err) != consentd.ENOTFOUND {
		t.Errorf("SetLogo(unknown workspace) = %v; want ENOTFOUND", err)
	}
	other := newEnv(t, s, "other")
	if _, _, err := s.Logo(e.ctx, other.ws); consentd.ErrorCode(err) != consentd.ENOTFOUND {
		t.Errorf("Logo(another workspace) = %v; want ENOTFOUND", err)
	}
	ws, err = s.SetLogo(e.ctx, e.ws, "", nil, "admin-key")
	if err != nil || ws.Logo != nil {
		t.Errorf("SetLogo(nil) = %+v, %v; want no logo", ws, err)
	}
	if _, _, err := s.Logo(e.ctx, e.ws); consentd.ErrorCode(err) != consentd.ENOTFOUND {
		t.Errorf("Logo() after removal = %v; want ENOTFOUND", err)
	}
}

// testLanguages checks the languages of parties, proofs and the catalog's
// names: stored canonical, refused when malformed, nothing stored then.
func testLanguages(t *testing.T, s Store) {
	e := newEnv(t, s, "languages")
	p := &consentd.Party{ID: "cust-1", ContactPoints: []consentd.PartyContactPoint{{Kind: consentd.KindEmail, Value: "jane@example.com"}}, Language: "de-at"}
	if err := s.PutParty(e.ctx, e.ws, p, "test"); err != nil {
		t.Fatalf("PutParty(de-at) = %v", err)
	}
	if got, err := s.Party(e.ctx, e.ws, "cust-1"); err != nil || got.Language != "de-AT" {
		t.Errorf("Party().Language = %+v, %v; want de-AT", got, err)
	}
	l := e.entries()
	if le := decode(t, l[len(l)-1]); !strings.Contains(string(le.After), `"language":"de-AT"`) {
		t.Errorf("PutParty logged %s; want the language", le.After)
	}
	size := e.logSize()
	for _, lang := range []string{"xx", "de_AT!", "en-", strings.Repeat("a", 40)} {
		err := s.PutParty(e.ctx, e.ws, &consentd.Party{ID: "cust-1", ContactPoints: []consentd.PartyContactPoint{}, Language: lang}, "test")
		wantField(t, "PutParty(language "+lang+")", err, consentd.EINVALID, "language")
	}
	if got, err := s.Party(e.ctx, e.ws, "cust-1"); err != nil || got.Language != "de-AT" || len(got.ContactPoints) != 1 {
		t.Errorf("Party() after refused puts = %+v, %v; want unchanged", got, err)
	}

	// A proof's language and text.
	const text = "Ja, ich möchte den Newsletter."
	sum := sha256.Sum256([]byte(text))
	hexSum := hex.EncodeToString(sum[:])
	w := cw("jane@example.com", "newsletter", "opted_in", e.t0)
	w.Proof = &consentd.Proof{Language: "DE", Text: text}
	e.mustWrite(w)
	c := e.consent("jane@example.com#newsletter:email")
	if c.Proof == nil || c.Proof.Language != "de" || c.Proof.TextSHA256 != hexSum || c.Proof.Text != text {
		t.Errorf("Consent().Proof = %+v; want language de, the text and its SHA-256", c.Proof)
	}
	size = e.logSize()
	for _, tc := range []struct {
		field string
		proof consentd.Proof
	}{
		{"proof.language", consentd.Proof{Language: "xx"}},
		{"proof.text_sha256", consentd.Proof{TextSHA256: strings.ToUpper(hexSum)}},
		{"proof.text_sha256", consentd.Proof{TextSHA256: "abc"}},
		{"proof.text_sha256", consentd.Proof{Text: text + ".", TextSHA256: hexSum}},
		{"proof.text", consentd.Proof{Text: "a\x00b"}},
	} {
		w := cw("joe@example.com", "newsletter", "opted_in", e.t0)
		w.Proof = &tc.proof
		res := e.write(w)
		wantField(t, "WriteConsents("+tc.field+")", res[0].Err, consentd.EINVALID, tc.field)
	}
	if n := e.logSize(); n != size {
		t.Errorf("LogSize() after refused writes = %d; want %d", n, size)
	}

	// Names and descriptions of the catalog per language.
	pu := &consentd.Purpose{ID: "surveys", Name: "Surveys", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"email": {}},
		Names: map[string]string{"de": "Umfragen", "ar": "استطلاعات"}, Descriptions: map[string]string{"fr": "Nos enquêtes."}}
	pu.Normalize()
	if err := s.PutPurpose(e.ctx, e.ws, pu, true, "test"); err != nil {
		t.Fatalf("PutPurpose(names) = %v", err)
	}
	to := &consentd.Topic{ID: "yearly", Purpose: "surveys", Name: "Yearly", Names: map[string]string{"es": "Anual"}}
	if err := s.PutTopic(e.ctx, e.ws, to, true, "test"); err != nil {
		t.Fatalf("PutTopic(names) = %v", err)
	}
	cat, err := s.Catalog(e.ctx, e.ws)
	if err != nil || cat.Purposes["surveys"].Names["ar"] != "استطلاعات" || cat.Purposes["surveys"].Descriptions["fr"] != "Nos enquêtes." ||
		cat.Topics["yearly"].Names["es"] != "Anual" {
		t.Errorf("Catalog() = %+v, %v; want the names per language", cat, err)
	}
	size = e.logSize()
	for _, tc := range []struct {
		field string
		names map[string]string
		descs map[string]string
	}{
		{"names.xx", map[string]string{"xx": "X"}, nil},
		{"names.DE", map[string]string{"DE": "Umfragen"}, nil},
		{"names.it", map[string]string{"it": "Sondaggi"}, nil},
		{"names.de", map[string]string{"de": strings.Repeat("x", 201)}, nil},
		{"descriptions.fr", nil, map[string]string{"fr": strings.Repeat("x", 1001)}},
	} {
		bad := *pu
		bad.Names, bad.Descriptions = tc.names, tc.descs
		wantField(t, "PutPurpose("+tc.field+")", s.PutPurpose(e.ctx, e.ws, &bad, false, "test"), consentd.EINVALID, tc.field)
		badT := *to
		badT.Names, badT.Descriptions = tc.names, tc.descs
		wantField(t, "PutTopic("+tc.field+")", s.PutTopic(e.ctx, e.ws, &badT, false, "test"), consentd.EINVALID, tc.field)
	}
	if n := e.logSize(); n != size {
		t.Errorf("LogSize() after refused catalog changes = %d; want %d", n, size)
	}
}

// wantField fails t unless err is an *Error with code whose fields name
// field.
func wantField(t *testing.T, what string, err error, code, field string) {
	t.Helper()
	e, ok := err.(*consentd.Error)
	if !ok || e.Code != code {
		t.Errorf("%s = %v (code %q); want code %q naming %s", what, err, consentd.ErrorCode(err), code, field)
		return
	}
	for _, f := range e.Fields {
		if f.Field == field {
			return
		}
	}
	t.Errorf("%s = %v, fields %+v; want field %s", what, err, e.Fields, field)
}

// RunBrandUpgrade checks migration 0016 (the brand) as an upgrade from the
// schema before it: a workspace with settings, a party and a consent are
// written, the migration's columns dropped, and the store opened again:
// the data is kept, the brand empty, and it can be set.
func RunBrandUpgrade(t *testing.T, open func(t *testing.T) Store, exec Exec) {
	s := open(t)
	e := newEnv(t, s, "upgrade")
	if _, err := s.UpdateWorkspace(e.ctx, e.ws, consentd.WorkspaceUpdate{DefaultRegion: str("DE"), SMSSenderName: str("Acme")}, "test"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutParty(e.ctx, e.ws, &consentd.Party{ID: "cust-1", ContactPoints: []consentd.PartyContactPoint{{Kind: consentd.KindEmail, Value: "jane@example.com"}}}, "test"); err != nil {
		t.Fatal(err)
	}
	e.mustWrite(cw("jane@example.com", "newsletter", "opted_in", e.t0))
	size := e.logSize()
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	undo := []string{`DELETE FROM schema_migrations WHERE version = '0016_brand'`, `ALTER TABLE parties DROP COLUMN language`}
	for _, col := range []string{"sender_name", "default_language", "accent_color", "privacy_url", "footer", "public_url", "texts",
		"logo", "logo_type", "logo_sha256", "logo_width", "logo_height"} {
		undo = append(undo, `ALTER TABLE workspaces DROP COLUMN `+col)
	}
	for _, q := range undo {
		if _, err := exec(e.ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s = open(t)
	e.s = s
	t.Cleanup(func() { s.Close() })
	ws, err := s.Workspace(e.ctx, e.ws)
	if err != nil || ws.Name != "upgrade" || ws.DefaultRegion != "DE" || ws.SMSSenderName != "Acme" || !reflect.DeepEqual(ws.Brand, consentd.Brand{}) {
		t.Fatalf("Workspace() after the upgrade = %+v, %v; want the settings kept and no brand", ws, err)
	}
	if p, err := s.Party(e.ctx, e.ws, "cust-1"); err != nil || len(p.ContactPoints) != 1 || p.Language != "" {
		t.Errorf("Party() after the upgrade = %+v, %v; want the party, no language", p, err)
	}
	if c := e.consent("jane@example.com#newsletter:email"); c.Status != consentd.OptedIn {
		t.Errorf("Consent() after the upgrade = %+v; want opted in", c)
	}
	if n := e.logSize(); n != size {
		t.Errorf("LogSize() after the upgrade = %d; want %d", n, size)
	}
	if ws, err := s.UpdateWorkspace(e.ctx, e.ws, consentd.WorkspaceUpdate{SenderName: str("Acme GmbH"), DefaultLanguage: str("fr")}, "test"); err != nil ||
		ws.SenderName != "Acme GmbH" || ws.DefaultLanguage != "fr" {
		t.Errorf("UpdateWorkspace() after the upgrade = %+v, %v", ws, err)
	}
}
