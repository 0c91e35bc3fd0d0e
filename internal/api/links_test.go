package api_test

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/signedlink"
	"github.com/getkin/kin-openapi/openapi3"
)

type linkJSON struct {
	URL                 string     `json:"url"`
	Token               string     `json:"token"`
	ListUnsubscribe     string     `json:"list_unsubscribe"`
	ListUnsubscribePost string     `json:"list_unsubscribe_post"`
	ChannelType         string     `json:"channel_type"`
	ExpiresAt           *time.Time `json:"expires_at"`
}

// linkEnv is newEnv with POST /v1/links enabled, as serve does.
func linkEnv(t *testing.T) (*env, *signedlink.Keyring) {
	e := newEnv(t)
	keys, err := signedlink.LoadOrCreate(filepath.Join(t.TempDir(), "link-keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.api.EnableLinks(keys, "https://consent.example.com/"); err != nil {
		t.Fatal(err)
	}
	return e, keys
}

func TestEnableLinksPublicURL(t *testing.T) {
	e := newEnv(t)
	keys, _ := signedlink.LoadOrCreate(filepath.Join(t.TempDir(), "k.json"))
	for _, u := range []string{"ftp://x.example", "consent.example.com", "https://x.example/?a=b", "https://user:pw@x.example"} {
		if err := e.api.EnableLinks(keys, u); err == nil {
			t.Errorf("EnableLinks(%q) = nil; want an error", u)
		}
	}
	if err := e.api.EnableLinks(nil, ""); err == nil {
		t.Errorf("EnableLinks(nil keyring) = nil; want an error")
	}
}

func TestPostLinkUnsubscribe(t *testing.T) {
	e, keys := linkEnv(t)
	var a linkJSON
	e.must("POST", "/v1/links", e.a.key(consentd.RoleWrite), `{"kind":"unsubscribe","contact_point":" Jane@Example.COM ","channel_type":"weekly:email"}`, 200).decode(t, &a)
	if !strings.HasPrefix(a.URL, "https://consent.example.com/u/") || a.URL != "https://consent.example.com/u/"+a.Token {
		t.Errorf("url = %q; want https://consent.example.com/u/<token>", a.URL)
	}
	if a.ListUnsubscribe != "<"+a.URL+">" || a.ListUnsubscribePost != "List-Unsubscribe=One-Click" {
		t.Errorf("headers = %q, %q; want <url> and List-Unsubscribe=One-Click", a.ListUnsubscribe, a.ListUnsubscribePost)
	}
	if a.ExpiresAt != nil || a.ChannelType != "weekly:email" {
		t.Errorf("expires_at %v, channel_type %q; want none (unsubscribe links do not expire) and weekly:email", a.ExpiresAt, a.ChannelType)
	}
	// No address in the link, in any form.
	payload := strings.Split(a.Token, ".")[1]
	raw, _ := base64.RawURLEncoding.DecodeString(payload)
	for _, s := range []string{a.URL, string(raw)} {
		if strings.Contains(strings.ToLower(s), "jane") || strings.Contains(s, "example.com#") {
			t.Errorf("the link holds the address: %s", s)
		}
	}
	c, err := keys.Verify(a.Token, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := e.store.WorkspaceSecret(context.Background(), e.a.id)
	h := consentd.ContactPointHash(secret, consentd.KindEmail, "jane@example.com")
	if c.Kind != "unsubscribe" || c.Workspace != e.a.id || c.Hash != base64.RawURLEncoding.EncodeToString(h[:]) || c.CPKind != "email" || c.ChannelType != "weekly:email" || c.ExpiresAt != 0 {
		t.Errorf("claims = %+v; want unsubscribe, workspace alpha, the normalized address's hash, weekly:email, no expiry", c)
	}
	// The plaintext is stored, normalized, for the pages.
	cps, _, err := e.store.LinkedContactPoints(context.Background(), e.a.id, h)
	if err != nil || len(cps) != 1 || cps[0].Value != "jane@example.com" {
		t.Errorf("stored contact point = %v, %v; want jane@example.com", cps, err)
	}
}

func TestPostLinkPreferences(t *testing.T) {
	e, keys := linkEnv(t)
	admin := e.a.key(consentd.RoleAdmin)
	e.must("PATCH", "/v1/purposes/newsletter", admin, `{"channels":{"email":{"enforcement":"non_restrictive","external_id":"0eB000000000001"},"sms":{"enforcement":"restrictive"}}}`, 200)

	var a linkJSON
	e.must("POST", "/v1/links", admin, `{"kind":"preferences","contact_point":"+1 415 555 0123","expires_in":3600}`, 200).decode(t, &a)
	if !strings.HasPrefix(a.URL, "https://consent.example.com/p/") || a.ListUnsubscribe != "<"+a.URL+">" || a.ListUnsubscribePost != "" {
		t.Errorf("preference link without channel type = %+v; want /p/, List-Unsubscribe to the page, no one-click", a)
	}
	if a.ExpiresAt == nil || time.Until(*a.ExpiresAt) > time.Hour+time.Minute || time.Until(*a.ExpiresAt) < 59*time.Minute {
		t.Errorf("expires_at = %v; want in an hour", a.ExpiresAt)
	}
	if c, err := keys.Verify(a.Token, time.Now()); err != nil || c.CPKind != "phone" || c.Kind != "preferences" {
		t.Errorf("claims = %+v, %v; want a preferences link for a phone", c, err)
	}
	if _, err := keys.Verify(a.Token, time.Now().Add(2*time.Hour)); err == nil {
		t.Errorf("the link verifies after expires_in")
	}

	// With a channel type, by its external id: List-Unsubscribe is a
	// one-click link for it.
	e.must("POST", "/v1/links", admin, `{"kind":"preferences","contact_point":"jane@example.com","channel_type":"0eB000000000001"}`, 200).decode(t, &a)
	if !strings.Contains(a.URL, "/p/") || !strings.HasPrefix(a.ListUnsubscribe, "<https://consent.example.com/u/") || a.ListUnsubscribePost != "List-Unsubscribe=One-Click" || a.ChannelType != "newsletter:email" {
		t.Errorf("preference link with a channel type = %+v; want a one-click /u/ List-Unsubscribe for newsletter:email", a)
	}
	u := strings.TrimSuffix(strings.TrimPrefix(a.ListUnsubscribe, "<https://consent.example.com/u/"), ">")
	if c, err := keys.Verify(u, time.Now()); err != nil || c.Kind != "unsubscribe" || c.ChannelType != "newsletter:email" {
		t.Errorf("List-Unsubscribe claims = %+v, %v", c, err)
	}
}

func TestPostLinkErrors(t *testing.T) {
	e, _ := linkEnv(t)
	admin := e.a.key(consentd.RoleAdmin)
	n := e.logSize(admin)
	for _, c := range []struct {
		body, code, field string
	}{
		{`{"kind":"confirm","contact_point":"jane@example.com","channel_type":"newsletter:email"}`, consentd.EINVALID, "kind"},
		{`{"kind":"unsubscribe","contact_point":"jane@example.com"}`, consentd.EINVALID, "channel_type"},
		{`{"kind":"unsubscribe","contact_point":"jane@example.com","channel_type":"nothing:email"}`, consentd.EUNKNOWNCHANNELTYPE, "channel_type"},
		{`{"kind":"unsubscribe","contact_point":"","channel_type":"newsletter:email"}`, consentd.EINVALIDCONTACTPOINT, "contact_point"},
		{`{"kind":"unsubscribe","contact_point":"jane@","channel_type":"newsletter:email"}`, consentd.EINVALIDCONTACTPOINT, "contact_point"},
		{`{"kind":"unsubscribe","contact_point":"jane@example.com","channel_type":"newsletter:sms"}`, consentd.EINVALIDCONTACTPOINT, "contact_point"},
		{`{"kind":"unsubscribe","contact_point":"jane@example.com","channel_type":"newsletter:email","contact_point_kind":"phone"}`, consentd.EINVALID, "contact_point_kind"},
		{`{"kind":"preferences","contact_point":"jane@example.com","contact_point_kind":"fax"}`, consentd.EINVALID, "contact_point_kind"},
		{`{"kind":"preferences","contact_point":"jane@example.com","expires_in":-1}`, consentd.EINVALID, "expires_in"},
		{`{"kind":"preferences","contact_point":"jane@example.com","url":"x"}`, consentd.EMALFORMED, ""},
		{``, consentd.EMALFORMED, ""},
	} {
		r := e.do("POST", "/v1/links", admin, c.body)
		p := r.problem(t)
		if p.Code != c.code || (c.field != "" && !slices.ContainsFunc(p.Fields, func(f consentd.FieldError) bool { return f.Field == c.field })) {
			t.Errorf("POST /v1/links %s = %s; want %s on %q", c.body, r, c.code, c.field)
		}
	}
	if got := e.logSize(admin); got != n {
		t.Errorf("refused links logged %d entries", got-n)
	}
	// Roles: admin and write only.
	for _, role := range allRoles {
		r := e.do("POST", "/v1/links", e.a.key(role), `{"kind":"preferences","contact_point":"jane@example.com"}`)
		want := 403
		if role == consentd.RoleAdmin || role == consentd.RoleWrite {
			want = 200
		}
		if r.status != want {
			t.Errorf("POST /v1/links as %s = %s; want %d", role, r, want)
		}
	}
	if r := e.do("POST", "/v1/links", "", `{}`); r.status != 401 {
		t.Errorf("POST /v1/links without a key = %s; want 401", r)
	}
	// The document has the route with its roles.
	found := false
	for _, op := range e.api.Operations() {
		if op.Method == "POST" && op.Path == "/v1/links" {
			found = slices.Equal(op.Roles, []string{"admin", "write"})
		}
	}
	if !found {
		t.Errorf("Operations() has no POST /v1/links for admin and write")
	}
}

// The document with POST /v1/links is valid OpenAPI 3.1 and names it.
func TestLinksOpenAPI(t *testing.T) {
	e, _ := linkEnv(t)
	r := e.must("GET", "/openapi.json", "", nil, 200)
	doc, err := openapi3.NewLoader().LoadFromData(r.body)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("validate: %v", err)
	}
	op := doc.Paths.Find("/v1/links")
	if op == nil || op.Post == nil || op.Post.Security == nil || op.Post.RequestBody == nil {
		t.Fatalf("/openapi.json: POST /v1/links missing, or without security or request body")
	}
}
