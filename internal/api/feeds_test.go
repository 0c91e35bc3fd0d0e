package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/consentd/consentd"
)

type feedJSON struct {
	ID         string                    `json:"id"`
	Provider   string                    `json:"provider"`
	Username   string                    `json:"username"`
	Secret     string                    `json:"secret"`
	URL        string                    `json:"url"`
	SoftBounce consentd.SoftBouncePolicy `json:"soft_bounce"`
}

// TestFeedsCRUD: feeds are created, listed, read and deleted through the
// API, per workspace, never showing a stored secret.
func TestFeedsCRUD(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		admin := e.a.key(consentd.RoleAdmin)
		var pm feedJSON
		r := e.must("POST", "/v1/feeds", admin, `{"id":"pm","provider":"postmark","soft_bounce":{"limit":2,"window":"24h"}}`, 201)
		r.decode(t, &pm)
		if len(pm.Secret) < 16 || pm.Username != "consentd" || !strings.HasSuffix(pm.URL, "/feeds/"+e.a.id+"/postmark/pm") || pm.SoftBounce.Limit != 2 {
			t.Errorf("POST /v1/feeds (postmark) = %s; want a generated password shown once, the URL", r)
		}
		if loc := r.header.Get("Location"); loc != "/v1/feeds/pm" {
			t.Errorf("Location = %q", loc)
		}
		e.must("POST", "/v1/feeds", admin, `{"id":"pm","provider":"mailgun","secret":"key-1"}`, http.StatusConflict)
		e.must("POST", "/v1/feeds", admin, `{"id":"mg","provider":"mailgun","secret":"key-1"}`, 201)
		for _, bad := range []string{
			`{"id":"x","provider":"fax"}`,
			`{"id":"x","provider":"mailgun"}`,
			`{"id":"x","provider":"sendgrid","public_key":"bm9wZQ=="}`,
			`{"id":"x","provider":"postmark","soft_bounce":{"window":"forever"}}`,
			`{"id":"x","provider":"mailgun","secret":"k","settings":{"region":"eu"}}`,
		} {
			if r := e.do("POST", "/v1/feeds", admin, bad); r.status != 422 && r.status != 400 {
				t.Errorf("POST %s = %s; want 400 or 422", bad, r)
			}
		}
		e.must("POST", "/v1/feeds", e.a.key(consentd.RoleWrite), `{"id":"w","provider":"mailgun","secret":"k"}`, 403)
		var got feedJSON
		e.must("GET", "/v1/feeds/pm", e.a.key(consentd.RoleRead), nil, 200).decode(t, &got)
		if got.Secret != "" || got.ID != "pm" || got.URL != pm.URL {
			t.Errorf("GET /v1/feeds/pm = %+v; want no secret", got)
		}
		var l struct{ Feeds []feedJSON }
		r = e.must("GET", "/v1/feeds", admin, nil, 200)
		r.decode(t, &l)
		if len(l.Feeds) != 2 || strings.Contains(string(r.body), "key-1") || strings.Contains(string(r.body), pm.Secret) {
			t.Errorf("GET /v1/feeds = %s; want two feeds, no secrets", r)
		}
		e.must("GET", "/v1/feeds/pm", e.b.key(consentd.RoleAdmin), nil, 404)
		e.must("DELETE", "/v1/feeds/pm", e.b.key(consentd.RoleAdmin), nil, 404)
		e.must("DELETE", "/v1/feeds/pm", admin, nil, 204)
		e.must("GET", "/v1/feeds/pm", admin, nil, 404)
	})
}

// TestLinkMessageRef: a link that names a channel type gives the value a
// sender attaches to a message for the feeds.
func TestLinkMessageRef(t *testing.T) {
	e, keys := linkEnv(t)
	var a struct {
		Token      string `json:"token"`
		MessageRef string `json:"message_ref"`
	}
	e.must("POST", "/v1/links", e.a.key(consentd.RoleWrite), `{"kind":"unsubscribe","contact_point":"jane@example.com","channel_type":"weekly:email"}`, 200).decode(t, &a)
	if a.MessageRef != a.Token {
		t.Errorf("message_ref of an unsubscribe link = %q; want its token", a.MessageRef)
	}
	e.must("POST", "/v1/links", e.a.key(consentd.RoleWrite), `{"kind":"preferences","contact_point":"jane@example.com","channel_type":"weekly:email"}`, 200).decode(t, &a)
	c, err := keys.Verify(a.MessageRef, e.now())
	if err != nil || c.Kind != "unsubscribe" || c.ChannelType != "weekly:email" {
		t.Errorf("message_ref of a preference link = %+v, %v; want an unsubscribe token for weekly:email", c, err)
	}
	a.MessageRef = ""
	e.must("POST", "/v1/links", e.a.key(consentd.RoleWrite), `{"kind":"preferences","contact_point":"jane@example.com"}`, 200).decode(t, &a)
	if a.MessageRef != "" {
		t.Errorf("message_ref of a preference link without channel type = %q; want none", a.MessageRef)
	}
}
