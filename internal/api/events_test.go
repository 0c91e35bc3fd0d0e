package api_test

import (
	"strings"
	"testing"

	"github.com/consentd/consentd"
)

const hookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// TestWebhooksOverHTTP covers the webhook routes: bad input answers a
// problem with a stable code and stores nothing; the secret is write-only;
// ids conflict; workspaces are isolated.
func TestWebhooksOverHTTP(t *testing.T) {
	e := newEnv(t)
	admin, read := e.a.key(consentd.RoleAdmin), e.a.key(consentd.RoleRead)
	const target = "https://93.184.215.14/hook" // a public address: no DNS needed

	for _, c := range []struct {
		name, body string
		status     int
		code       string
		field      string
	}{
		{"malformed", `{"url":`, 400, consentd.EMALFORMED, ""},
		{"unknown field", `{"url":"` + target + `","colour":"red"}`, 400, consentd.EMALFORMED, ""},
		{"no url", `{}`, 422, consentd.EINVALID, "url"},
		{"relative url", `{"url":"/hook"}`, 422, consentd.EINVALID, "url"},
		{"ftp url", `{"url":"ftp://93.184.215.14/x"}`, 422, consentd.EINVALID, "url"},
		{"credentials in url", `{"url":"https://u:p@93.184.215.14/x"}`, 422, consentd.EINVALID, "url"},
		{"unknown event", `{"url":"` + target + `","events":["consent.exploded"]}`, 422, consentd.EINVALID, "events"},
		{"secret without prefix", `{"url":"` + target + `","secret":"hunter2hunter2hunter2hunter2"}`, 422, consentd.EINVALID, "secret"},
		{"short secret", `{"url":"` + target + `","secret":"whsec_c2hvcnQ="}`, 422, consentd.EINVALID, "secret"},
		{"bad id", `{"id":"Bad Id","url":"` + target + `"}`, 422, consentd.EINVALID, "id"},
		{"loopback", `{"url":"http://127.0.0.1:8080/hook"}`, 422, consentd.EWEBHOOKTARGET, "url"},
		{"private", `{"url":"http://10.0.0.1/hook"}`, 422, consentd.EWEBHOOKTARGET, "url"},
		{"link-local", `{"url":"http://169.254.169.254/latest/meta-data"}`, 422, consentd.EWEBHOOKTARGET, "url"},
		{"localhost by name", `{"url":"http://localhost/hook"}`, 422, consentd.EWEBHOOKTARGET, "url"},
	} {
		r := e.do("POST", "/v1/webhooks", admin, c.body)
		p := r.problem(t)
		if r.status != c.status || p.Code != c.code {
			t.Errorf("%s: POST /v1/webhooks = %s; want %d %s", c.name, r, c.status, c.code)
		}
		if c.field != "" && (len(p.Fields) == 0 || p.Fields[0].Field != c.field) {
			t.Errorf("%s: fields %+v; want %s", c.name, p.Fields, c.field)
		}
	}
	if r := e.must("GET", "/v1/webhooks", read, nil, 200); !strings.Contains(r.String(), `"webhooks":[]`) {
		t.Fatalf("after refused creations: GET /v1/webhooks = %s; want none", r)
	}

	// Created with a secret: the answer does not carry it.
	r := e.must("POST", "/v1/webhooks", admin, `{"id":"crm","url":"`+target+`","events":["consent.changed"],"secret":"`+hookSecret+`","origin":"crm"}`, 201)
	if strings.Contains(r.String(), "whsec_") || r.header.Get("Location") != "/v1/webhooks/crm" {
		t.Errorf("POST /v1/webhooks with a secret = %s, Location %q; want no secret, Location /v1/webhooks/crm", r, r.header.Get("Location"))
	}
	// Without one: generated, shown this once; an id generated too.
	var gen consentd.Webhook
	e.must("POST", "/v1/webhooks", admin, `{"url":"`+target+`"}`, 201).decode(t, &gen)
	if !strings.HasPrefix(gen.Secret, "whsec_") || gen.ID == "" || !consentd.ValidID(gen.ID) {
		t.Errorf("POST /v1/webhooks without secret or id = %+v; want both generated", gen)
	}
	if _, err := consentd.WebhookKey(gen.Secret); err != nil {
		t.Errorf("generated secret %q: %v", gen.Secret, err)
	}
	if r := e.do("POST", "/v1/webhooks", admin, `{"id":"crm","url":"`+target+`"}`); r.status != 409 || r.problem(t).Code != consentd.ECONFLICT {
		t.Errorf("POST /v1/webhooks with an existing id = %s; want 409 %s", r, consentd.ECONFLICT)
	}
	for _, path := range []string{"/v1/webhooks", "/v1/webhooks/crm", "/v1/webhooks/" + gen.ID} {
		if r := e.must("GET", path, read, nil, 200); strings.Contains(r.String(), "whsec_") {
			t.Errorf("GET %s = %s; the secret is write-only", path, r)
		}
	}
	var got consentd.Webhook
	e.must("GET", "/v1/webhooks/crm", read, nil, 200).decode(t, &got)
	if got.URL != target || got.Origin != "crm" || len(got.Events) != 1 || got.Disabled {
		t.Errorf("GET /v1/webhooks/crm = %+v", got)
	}

	// PATCH: bad input changes nothing.
	for _, c := range []struct {
		body   string
		status int
		code   string
	}{
		{`{"url":"http://192.168.1.1/"}`, 422, consentd.EWEBHOOKTARGET},
		{`{"url":"nope"}`, 422, consentd.EINVALID},
		{`{"events":["nope"]}`, 422, consentd.EINVALID},
		{`{"secret":""}`, 422, consentd.EINVALID},
		{`{"position":0}`, 400, consentd.EMALFORMED},
		{`[`, 400, consentd.EMALFORMED},
	} {
		if r := e.do("PATCH", "/v1/webhooks/crm", admin, c.body); r.status != c.status || r.problem(t).Code != c.code {
			t.Errorf("PATCH %s = %s; want %d %s", c.body, r, c.status, c.code)
		}
	}
	var after consentd.Webhook
	e.must("GET", "/v1/webhooks/crm", read, nil, 200).decode(t, &after)
	if after.URL != got.URL || !after.UpdatedAt.Equal(got.UpdatedAt) || len(after.Events) != 1 {
		t.Errorf("after refused PATCHes: %+v; want unchanged %+v", after, got)
	}
	var patched consentd.Webhook
	e.must("PATCH", "/v1/webhooks/crm", admin, `{"events":[],"disabled":true}`, 200).decode(t, &patched)
	if len(patched.Events) != 0 || !patched.Disabled || patched.DisabledReason == "" || patched.Origin != "crm" {
		t.Errorf("PATCH events [], disabled = %+v", patched)
	}
	if r := e.do("PATCH", "/v1/webhooks/nope", admin, `{"disabled":false}`); r.status != 404 {
		t.Errorf("PATCH unknown webhook = %s; want 404", r)
	}

	// Deliveries: empty, paged; bad paging refused.
	if r := e.must("GET", "/v1/webhooks/crm/deliveries", read, nil, 200); !strings.Contains(r.String(), `"deliveries":[]`) {
		t.Errorf("GET deliveries = %s; want none", r)
	}
	for _, q := range []string{"?limit=0", "?limit=x", "?page_token=zz"} {
		if r := e.do("GET", "/v1/webhooks/crm/deliveries"+q, read, nil); r.status != 422 || r.problem(t).Code != consentd.EINVALID {
			t.Errorf("GET deliveries%s = %s; want 422 %s", q, r, consentd.EINVALID)
		}
	}

	// Another workspace sees none of it.
	other := e.b.key(consentd.RoleAdmin)
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/webhooks/crm"}, {"GET", "/v1/webhooks/crm/deliveries"}, {"DELETE", "/v1/webhooks/crm"}, {"PATCH", "/v1/webhooks/crm"},
	} {
		var body any
		if c.method == "PATCH" {
			body = `{"disabled":false}`
		}
		if r := e.do(c.method, c.path, other, body); r.status != 404 {
			t.Errorf("%s %s from beta = %s; want 404", c.method, c.path, r)
		}
	}
	if r := e.must("GET", "/v1/webhooks", other, nil, 200); !strings.Contains(r.String(), `"webhooks":[]`) {
		t.Errorf("GET /v1/webhooks from beta = %s; want none", r)
	}

	e.must("DELETE", "/v1/webhooks/crm", admin, nil, 204)
	e.must("GET", "/v1/webhooks/crm", read, nil, 404)
}
