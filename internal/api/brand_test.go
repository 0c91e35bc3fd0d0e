package api_test

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/i18n"
	"github.com/consentd/consentd/internal/storetest"
)

// wantProblem fails t unless r is a problem of status and code naming
// field.
func wantProblem(t *testing.T, r *response, status int, code, field string) {
	t.Helper()
	p := r.problem(t)
	if r.status != status || p.Code != code || !slices.ContainsFunc(p.Fields, func(f consentd.FieldError) bool { return f.Field == field }) {
		t.Errorf("%s %s = %s; want %d %s naming %s", r.method, r.path, r, status, code, field)
	}
}

// TestBrandOverHTTP sets a workspace's brand through PATCH /v1/workspace,
// reads it back, and sees every bad field refused naming it with nothing
// stored, on both backends.
func TestBrandOverHTTP(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		admin := e.a.key(consentd.RoleAdmin)
		r := e.must("PATCH", "/v1/workspace", admin, `{"sender_name":"Example GmbH","default_language":"DE","accent_color":"#1A56DB",
			"privacy_url":"https://example.com/privacy","footer":"Example GmbH, Hauptstraße 1, 10115 Berlin","public_url":"https://news.example.com/",
			"texts":{"de":{"date.format":"{day}. {month} {year}"}}}`, 200)
		var ws consentd.Workspace
		r.decode(t, &ws)
		want := consentd.Brand{SenderName: "Example GmbH", DefaultLanguage: "de", AccentColor: "#1a56db", PrivacyURL: "https://example.com/privacy",
			Footer: "Example GmbH, Hauptstraße 1, 10115 Berlin", PublicURL: "https://news.example.com",
			Texts: map[string]map[string]string{"de": {"date.format": "{day}. {month} {year}"}}}
		check := func(what string) {
			t.Helper()
			var got consentd.Workspace
			e.must("GET", "/v1/workspace", e.a.key(consentd.RoleRead), nil, 200).decode(t, &got)
			if got.SenderName != want.SenderName || got.DefaultLanguage != want.DefaultLanguage || got.AccentColor != want.AccentColor ||
				got.PrivacyURL != want.PrivacyURL || got.Footer != want.Footer || got.PublicURL != want.PublicURL ||
				got.Texts["de"]["date.format"] != want.Texts["de"]["date.format"] || len(got.Texts) != 1 {
				t.Errorf("%s: GET /v1/workspace brand = %+v; want %+v", what, got.Brand, want)
			}
		}
		if ws.AccentColor != "#1a56db" || ws.PublicURL != "https://news.example.com" {
			t.Errorf("PATCH /v1/workspace = %s; want the brand in its stored form", r)
		}
		check("after PATCH")

		// Links of a workspace with its own domain point there.
		var link struct {
			URL             string `json:"url"`
			ListUnsubscribe string `json:"list_unsubscribe"`
		}
		e.must("POST", "/v1/links", e.a.key(consentd.RoleWrite), `{"kind":"preferences","contact_point":"jane@example.com","channel_type":"weekly:email"}`, 200).decode(t, &link)
		if !strings.HasPrefix(link.URL, "https://news.example.com/p/") || !strings.HasPrefix(link.ListUnsubscribe, "<https://news.example.com/u/") {
			t.Errorf("POST /v1/links with a public_url = %+v; want links on https://news.example.com", link)
		}
		e.must("POST", "/v1/links", e.b.key(consentd.RoleWrite), `{"kind":"preferences","contact_point":"jane@example.com"}`, 200).decode(t, &link)
		if strings.Contains(link.URL, "news.example.com") {
			t.Errorf("POST /v1/links in another workspace = %s; want the server's URL", link.URL)
		}

		size := e.logSize(admin)
		for _, tc := range []struct{ body, field string }{
			{`{"default_language":"xx"}`, "default_language"},
			{`{"default_language":"it"}`, "default_language"},
			{`{"accent_color":"#777777"}`, "accent_color"},
			{`{"accent_color":"blue"}`, "accent_color"},
			{`{"privacy_url":"ftp://example.com/"}`, "privacy_url"},
			{`{"privacy_url":"https://user:pw@example.com/"}`, "privacy_url"},
			{`{"public_url":"https://example.com/?a=b"}`, "public_url"},
			{`{"public_url":"not a url"}`, "public_url"},
			{`{"sender_name":"` + strings.Repeat("x", 201) + `"}`, "sender_name"},
			{`{"footer":"` + strings.Repeat("x", 1001) + `"}`, "footer"},
			{`{"texts":{"xx":{"date.format":"x"}}}`, "texts.xx"},
			{`{"texts":{"de":{"no.such.key":"x"}}}`, "texts.de.no.such.key"},
			{`{"texts":{"de":{"date.format":"{day} {secret}"}}}`, "texts.de.date.format"},
			{`{"texts":{"de":{"date.format":"` + strings.Repeat("x", 2001) + `"}}}`, "texts.de.date.format"},
			{`{"sender_name":"Other","accent_color":"#ffff00"}`, "accent_color"},
		} {
			r := e.do("PATCH", "/v1/workspace", admin, tc.body)
			p := r.problem(t)
			if r.status < 400 || r.status >= 500 || !slices.ContainsFunc(p.Fields, func(f consentd.FieldError) bool { return f.Field == tc.field }) {
				t.Errorf("PATCH /v1/workspace %.80s = %s; want 4xx naming %s", tc.body, r, tc.field)
			}
		}
		r = e.do("PATCH", "/v1/workspace", admin, `{"accent_color":"#777777"}`)
		if p := r.problem(t); !strings.Contains(p.Detail, "4.48:1") {
			t.Errorf("PATCH accent_color #777777: detail %q; want the measured contrast", p.Detail)
		}
		check("after refused PATCHes")
		if n := e.logSize(admin); n != size {
			t.Errorf("log size after refused PATCHes = %d; want %d", n, size)
		}
		for _, role := range []consentd.Role{consentd.RoleWrite, consentd.RoleRead, consentd.RoleAgent, consentd.RoleCheck} {
			r := e.do("PATCH", "/v1/workspace", e.a.key(role), `{"sender_name":"Mallory"}`)
			if r.status != 403 {
				t.Errorf("PATCH /v1/workspace as %s = %s; want 403", role, r)
			}
		}
		check("after forbidden PATCHes")

		// Names and descriptions of the catalog per language.
		e.must("POST", "/v1/purposes", admin, `{"id":"surveys","name":"Surveys","names":{"de":"Umfragen"},"descriptions":{"fr":"Nos enquêtes."},"type":"commercial","channels":{"email":{}}}`, 201)
		e.must("PATCH", "/v1/purposes/surveys", admin, `{"names":{"es":"Encuestas"}}`, 200)
		var pu consentd.Purpose
		e.must("GET", "/v1/purposes/surveys", e.a.key(consentd.RoleRead), nil, 200).decode(t, &pu)
		if pu.Names["de"] != "Umfragen" || pu.Names["es"] != "Encuestas" || pu.Descriptions["fr"] != "Nos enquêtes." {
			t.Errorf("GET /v1/purposes/surveys = %+v; want the names and descriptions per language", pu)
		}
		wantProblem(t, e.do("PATCH", "/v1/purposes/surveys", admin, `{"names":{"xx":"X"}}`), 422, consentd.EINVALID, "names.xx")
		wantProblem(t, e.do("POST", "/v1/topics", admin, `{"id":"yearly","purpose":"surveys","name":"Yearly","descriptions":{"DE":"x"}}`), 422, consentd.EINVALID, "descriptions.DE")
		e.must("GET", "/v1/topics/yearly", admin, nil, 404)

		// A party's language, canonical; an unknown subtag refused.
		var p consentd.Party
		e.must("PUT", "/v1/parties/p1", e.a.key(consentd.RoleWrite), `{"contact_points":[],"language":"pt-br"}`, 200).decode(t, &p)
		if p.Language != "pt-BR" {
			t.Errorf("PUT /v1/parties/p1 language pt-br = %q; want pt-BR", p.Language)
		}
		wantProblem(t, e.do("PUT", "/v1/parties/p1", e.a.key(consentd.RoleWrite), `{"contact_points":[],"language":"xx"}`), 422, consentd.EINVALID, "language")
		e.must("GET", "/v1/parties/p1", e.a.key(consentd.RoleRead), nil, 200).decode(t, &p)
		if p.Language != "pt-BR" {
			t.Errorf("GET /v1/parties/p1 after a refused PUT: language %q; want pt-BR", p.Language)
		}
	})
}

// TestLogoOverHTTP uploads, serves, replaces and removes a logo, and
// refuses what is not a small raster image, on both backends.
func TestLogoOverHTTP(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		admin := e.a.key(consentd.RoleAdmin)
		png := storetest.PNG(t, 120, 40)
		r := e.do("PUT", "/v1/workspace/logo", admin, png, "Content-Type", "image/png")
		var ws consentd.Workspace
		if r.status != 200 {
			t.Fatalf("PUT /v1/workspace/logo = %s; want 200", r)
		}
		r.decode(t, &ws)
		if ws.Logo == nil || ws.Logo.Width != 120 || ws.Logo.Height != 40 || ws.Logo.Size != len(png) || ws.Logo.ContentType != "image/png" ||
			ws.Logo.URL != "/brand/"+e.a.id+"/logo/"+ws.Logo.SHA256 {
			t.Fatalf("PUT /v1/workspace/logo = %s; want the logo described", r.body)
		}
		first := ws.Logo.URL

		// Served without a key, byte for byte, with its type and headers.
		res, err := e.client().Get(e.srv.URL + first)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !bytes.Equal(body, png) {
			t.Errorf("GET %s = %d, %d bytes; want 200 and the %d bytes uploaded", first, res.StatusCode, len(body), len(png))
		}
		for h, v := range map[string]string{"Content-Type": "image/png", "Cache-Control": "public, max-age=31536000, immutable",
			"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'"} {
			if got := res.Header.Get(h); got != v {
				t.Errorf("GET %s: %s %q; want %q", first, h, got, v)
			}
		}
		var got consentd.Workspace
		e.must("GET", "/v1/workspace", e.a.key(consentd.RoleRead), nil, 200).decode(t, &got)
		if got.Logo == nil || got.Logo.URL != first {
			t.Errorf("GET /v1/workspace logo = %+v; want %s", got.Logo, first)
		}

		// Refused: nothing changes.
		size := e.logSize(admin)
		for _, tc := range []struct {
			what, ctype string
			body        []byte
			status      int
			code        string
		}{
			{"a text file labelled image/png", "image/png", []byte("just some text, not a picture\n"), 415, consentd.EUNSUPPORTEDMEDIATYPE},
			{"an SVG", "image/svg+xml", []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="10" height="10"/></svg>`), 415, consentd.EUNSUPPORTEDMEDIATYPE},
			{"an SVG labelled image/png", "image/png", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), 415, consentd.EUNSUPPORTEDMEDIATYPE},
			{"a 300 KiB image", "image/png", append(storetest.PNG(t, 10, 10), make([]byte, 300<<10)...), 413, consentd.ETOOLARGE},
			{"a 2049 px wide image", "image/png", storetest.PNG(t, 2049, 2), 422, consentd.EINVALID},
			{"no type", "", png, 415, consentd.EUNSUPPORTEDMEDIATYPE},
		} {
			header := []string{"Content-Type", tc.ctype}
			r := e.do("PUT", "/v1/workspace/logo", admin, tc.body, header...)
			if p := r.problem(t); r.status != tc.status || p.Code != tc.code || !slices.ContainsFunc(p.Fields, func(f consentd.FieldError) bool { return f.Field == "body" }) {
				t.Errorf("PUT /v1/workspace/logo %s = %s; want %d %s naming the body", tc.what, r, tc.status, tc.code)
			}
		}
		for _, role := range []consentd.Role{consentd.RoleWrite, consentd.RoleRead, consentd.RoleAgent, consentd.RoleCheck} {
			if r := e.do("PUT", "/v1/workspace/logo", e.a.key(role), storetest.PNG(t, 5, 5), "Content-Type", "image/png"); r.status != 403 {
				t.Errorf("PUT /v1/workspace/logo as %s = %s; want 403", role, r)
			}
			if r := e.do("DELETE", "/v1/workspace/logo", e.a.key(role), nil); r.status != 403 {
				t.Errorf("DELETE /v1/workspace/logo as %s = %s; want 403", role, r)
			}
		}
		if n := e.logSize(admin); n != size {
			t.Errorf("log size after refused logos = %d; want %d", n, size)
		}
		if res, err := e.client().Get(e.srv.URL + first); err != nil || res.StatusCode != 200 {
			t.Errorf("GET %s after refused logos = %v, %v; want 200", first, res, err)
		} else {
			res.Body.Close()
		}

		// Replaced: the old hash is gone; another workspace's path is not
		// this logo's.
		e.must("PUT", "/v1/workspace/logo", admin, nil, 415) // no body, no type
		r = e.do("PUT", "/v1/workspace/logo", admin, storetest.PNG(t, 64, 64), "Content-Type", "image/png")
		r.decode(t, &ws)
		if r.status != 200 || ws.Logo.URL == first {
			t.Fatalf("PUT /v1/workspace/logo again = %s; want a new URL", r)
		}
		for _, path := range []string{first, "/brand/" + e.b.id + "/logo/" + ws.Logo.SHA256, "/brand/" + e.a.id + "/logo/nothex"} {
			if r := e.do("GET", path, "", nil); r.status != 404 {
				t.Errorf("GET %s = %s; want 404", path, r)
			}
		}
		e.must("GET", ws.Logo.URL, "", nil, 200)

		r = e.must("DELETE", "/v1/workspace/logo", admin, nil, 200)
		got = consentd.Workspace{}
		r.decode(t, &got)
		if got.Logo != nil {
			t.Errorf("DELETE /v1/workspace/logo = %s; want no logo", r.body)
		}
		if r := e.do("GET", ws.Logo.URL, "", nil); r.status != 404 {
			t.Errorf("GET %s after DELETE = %s; want 404", ws.Logo.URL, r)
		}
	})
}

// TestTextsOverHTTP lists every text key with its shipped wording and the
// workspace's overrides.
func TestTextsOverHTTP(t *testing.T) {
	e := newEnv(t)
	e.must("PATCH", "/v1/workspace", e.a.key(consentd.RoleAdmin), `{"texts":{"fr":{"date.format":"le {day} {month} {year}"}}}`, 200)
	var out struct {
		Languages []string `json:"languages"`
		Texts     []struct {
			Key          string            `json:"key"`
			Placeholders []string          `json:"placeholders"`
			Shipped      map[string]string `json:"shipped"`
			Overrides    map[string]string `json:"overrides"`
		} `json:"texts"`
	}
	e.must("GET", "/v1/texts", e.a.key(consentd.RoleRead), nil, 200).decode(t, &out)
	if !slices.Equal(out.Languages, i18n.Supported) {
		t.Errorf("GET /v1/texts languages = %v; want %v", out.Languages, i18n.Supported)
	}
	var keys []string
	for _, x := range out.Texts {
		keys = append(keys, x.Key)
		if en, _ := i18n.Text("en", x.Key); x.Shipped["en"] != en {
			t.Errorf("GET /v1/texts %s: en %q; want %q", x.Key, x.Shipped["en"], en)
		}
		if x.Key == "date.format" && (x.Overrides["fr"] != "le {day} {month} {year}" || !slices.Equal(x.Placeholders, []string{"day", "month", "year"})) {
			t.Errorf("GET /v1/texts date.format = %+v; want the override and the placeholders", x)
		}
	}
	if !slices.Equal(keys, i18n.Keys()) {
		t.Errorf("GET /v1/texts keys = %v; want every i18n key %v", keys, i18n.Keys())
	}
	// Another workspace sees no override.
	out.Texts = nil
	e.must("GET", "/v1/texts", e.b.key(consentd.RoleRead), nil, 200).decode(t, &out)
	for _, x := range out.Texts {
		if len(x.Overrides) > 0 {
			t.Errorf("GET /v1/texts in workspace beta: %s has overrides %v", x.Key, x.Overrides)
		}
	}
}
