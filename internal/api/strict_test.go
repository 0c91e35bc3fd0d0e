package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/openapi"
)

// ---- strict input: storable text, bounded fields, the same 4xx on both backends ----

// badTexts are the texts no field, path or query parameter may hold, as
// they are written into a JSON string (body) and into a URL (path, query).
var badTexts = []struct {
	name, json, url string
}{
	{"NUL", `a\u0000b`, "a%00b"},
	{"invalid UTF-8", "a\xffb", "a%FFb"},
	{"control character", `a\u0007b`, "a%07b"},
	{"lone surrogate", `a\ud800b`, "a%ED%A0%80b"}, // in a URL: the surrogate's (invalid) UTF-8 bytes
}

// example returns a JSON value of Go type t with every field set: strings
// "x" (or the first value of their enum), numbers 1, times an hour ago, a
// json.RawMessage an object with one string, a slice one element, a map one
// key "k". Bodies generated from it reach every string of a request type.
func example(t reflect.Type, enum string) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case reflect.TypeFor[time.Time]():
		return time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	case reflect.TypeFor[json.RawMessage]():
		return map[string]any{"note": "x"}
	}
	first, _, _ := strings.Cut(enum, ",")
	switch t.Kind() {
	case reflect.String:
		if first != "" {
			return first
		}
		return "x"
	case reflect.Bool:
		return false
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return 1
	case reflect.Interface:
		return "x"
	case reflect.Slice, reflect.Array:
		return []any{example(t.Elem(), enum)}
	case reflect.Map:
		return map[string]any{"k": example(t.Elem(), "")}
	case reflect.Struct:
		m := map[string]any{}
		exampleFields(t, m)
		return m
	}
	panic(fmt.Sprintf("example: %v", t))
}

func exampleFields(t reflect.Type, m map[string]any) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			// Promoted fields; the outer struct's own fields, set
			// after, win as they do in encoding/json.
			inner := map[string]any{}
			exampleFields(ft, inner)
			for k, v := range inner {
				if _, ok := m[k]; !ok {
					m[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = example(f.Type, f.Tag.Get("enum"))
	}
}

// stringLeaves returns the paths (source.name, consents[0].reason) of the
// strings in the JSON value v, with a setter for each.
func stringLeaves(v any, path string, set func(any)) (paths []string, setters []func(any)) {
	switch v := v.(type) {
	case string:
		return []string{path}, []func(any){set}
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			ps, ss := stringLeaves(v[k], p, func(x any) { v[k] = x })
			paths, setters = append(paths, ps...), append(setters, ss...)
		}
	case []any:
		for i := range v {
			ps, ss := stringLeaves(v[i], fmt.Sprintf("%s[%d]", path, i), func(x any) { v[i] = x })
			paths, setters = append(paths, ps...), append(setters, ss...)
		}
	}
	return paths, setters
}

// validExamples are bodies the routes would take (with the env's catalog
// and on the path fillPath makes): bad text injected into one of their
// strings must be what refuses the request. The generated examples reach
// every field, but are often refused for other reasons too.
var validExamples = map[string]string{
	"POST /v1/consents": `{"contact_point":"jane@example.com","channel":"email","purpose":"newsletter","status":"opted_in","captured_at":"2026-01-02T03:04:05Z",
		"source":{"type":"form","name":"signup","details":{"page":"home"}},"reason":"asked","party_id":"p1","jurisdiction":"DE","origin":"crm",
		"proof":{"ip":"192.0.2.1","user_agent":"Mozilla/5.0","form_version":"v1","text_version":"t1"}}`,
	"POST /v1/consents:batch": `{"consents":[{"contact_point":"jane@example.com","channel_type":"newsletter:email","status":"opted_out","captured_at":"2026-01-02T03:04:05Z",
		"source":{"type":"api","name":"sync"},"reason":"asked"}]}`,
	"POST /v1/suppressions":       `{"contact_point":"jane@example.com","reason":"do_not_contact","note":"asked by phone"}`,
	"PUT /v1/parties/{id}":        `{"contact_points":[{"kind":"email","value":"jane@example.com"}],"external_ids":{"crm":"c1"}}`,
	"POST /v1/keys":               `{"role":"read","name":"reporting"}`,
	"PUT /v1/records/{type}/{id}": `{"email":"jane@example.com","nested":{"a":["b"]}}`,
	"POST /v1/webhooks":           `{"url":"http://127.0.0.1:1/hook","origin":"crm","events":["consent.changed"]}`,
	"PATCH /v1/workspace":         `{"name":"alpha"}`,
	"POST /v1/inbound/sms":        `{"from":"+4915112345678","text":"STOP","provider":"p","message_id":"m1"}`,
	"POST /v1/requests":           `{"type":"access","contact_point":"jane@example.com","regulation":"gdpr","reference":"T-1"}`,
	"POST /v1/decisions":          `{"contact_point":"jane@example.com","channel":"email","purpose":"newsletter"}`,
	"POST /v1/purposes":           `{"id":"offers","name":"Offers","type":"commercial","channels":{"email":{}}}`,
	"POST /v1/topics":             `{"id":"daily","purpose":"newsletter","name":"Daily"}`,
}

// bodyWith returns the example body of op (the valid one when valid is
// set and there is one) with the string at leaf i replaced by bad (JSON
// string content), and the leaf's path.
func bodyWith(t *testing.T, op openapi.Operation, valid bool, i int, bad string) ([]byte, string, bool) {
	var doc any
	if !valid {
		doc = example(reflect.TypeOf(op.Request), "")
	} else if v, ok := validExamples[op.Method+" "+op.Path]; !ok {
		return nil, "", false
	} else if err := json.Unmarshal([]byte(v), &doc); err != nil {
		t.Fatalf("%s %s: valid example: %v", op.Method, op.Path, err)
	}
	paths, setters := stringLeaves(doc, "", nil)
	if i >= len(paths) {
		return nil, "", false
	}
	const marker = "@@BAD@@"
	setters[i](marker)
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Replace(b, []byte(marker), []byte(bad), 1), paths[i], true
}

// pathWith fills op's path: the parameter target with value (already
// URL-escaped), the others with x1.
func pathWith(op openapi.Operation, target, value string) string {
	return pathParam.ReplaceAllStringFunc(op.Path, func(p string) string {
		if p == "{"+target+"}" {
			return value
		}
		return "x1"
	})
}

// wantRefused fails unless r is a 4xx problem document; when field is not
// empty and the problem names fields, the first must be field. A batch may
// instead answer 200 with every item refused.
func wantRefused(t *testing.T, what string, r *response, field string) {
	t.Helper()
	if r.status == 200 && strings.Contains(r.path, ":batch") && allItemsRefused(r.body) {
		return
	}
	if r.status < 400 || r.status > 499 {
		t.Errorf("%s: %s %.100s = %.300s; want a 4xx problem", what, r.method, r.path, r)
		return
	}
	p := r.problem(t)
	if field != "" && r.status != 404 && (len(p.Fields) == 0 || p.Fields[0].Field != field) {
		t.Errorf("%s: %s %.100s = %.300s; want the problem to name %s", what, r.method, r.path, r, field)
	}
}

// TestBadTextRefusedEverywhere walks the route table: for every operation,
// NUL, invalid UTF-8, a control character and a lone surrogate in each path
// parameter, each documented query parameter and each string of its JSON
// body (generated from the request type, one string at a time) are
// refused with a 4xx problem on both backends: never a success, never a
// 500 (the env fails a test whose server logged an error), never stored.
func TestBadTextRefusedEverywhere(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		e.api.WebhookAllowPrivate = true
		admin, read := e.a.key(consentd.RoleAdmin), e.a.key(consentd.RoleRead)
		// The valid examples are taken as they are.
		for route, body := range validExamples {
			method, path, _ := strings.Cut(route, " ")
			if r := e.do(method, fillPath(method, path), admin, body); r.status >= 300 {
				t.Errorf("valid example %s: %s", route, r)
			}
		}
		size := e.logSize(read)
		sent := 0
		for _, op := range e.api.Operations() {
			var valid any
			if b, ok := validExamples[op.Method+" "+op.Path]; ok {
				valid = b
			} else if op.Request != nil {
				valid = example(reflect.TypeOf(op.Request), "")
			}
			for _, bad := range badTexts {
				what := op.Method + " " + op.Path + ": " + bad.name
				for _, w := range pathParam.FindAllString(op.Path, -1) {
					name := strings.Trim(w, "{}")
					wantRefused(t, what+" in path parameter "+name, e.do(op.Method, pathWith(op, name, bad.url), admin, valid), name)
					sent++
				}
				for _, p := range op.Query {
					if p.In == "query" {
						r := e.do(op.Method, fillPath(op.Method, op.Path)+"?"+url.QueryEscape(p.Name)+"="+bad.url, admin, valid)
						wantRefused(t, what+" in query parameter "+p.Name, r, p.Name)
						sent++
					}
				}
				if op.Request == nil {
					continue
				}
				for _, valid := range []bool{true, false} {
					for i := 0; ; i++ {
						body, field, ok := bodyWith(t, op, valid, i, bad.json)
						if !ok {
							break
						}
						r := e.do(op.Method, fillPath(op.Method, op.Path), admin, body)
						sent++
						if bad.name != "invalid UTF-8" { // bytes that are not UTF-8 make the whole body malformed
							wantRefused(t, what+" in body field "+field, r, field)
						} else {
							wantRefused(t, what+" in body field "+field, r, "")
						}
					}
				}
			}
		}
		if n := e.logSize(read); n != size {
			t.Errorf("log size %d after the refused requests; want %d", n, size)
		}
		t.Logf("%d requests with bad text, all refused", sent)
	})
}

// TestNullBodyRefused: a JSON null where an object is expected is a 4xx,
// never a success, on every operation that takes a JSON body.
func TestNullBodyRefused(t *testing.T) {
	e := newEnv(t)
	admin := e.a.key(consentd.RoleAdmin)
	for _, op := range e.api.Operations() {
		if op.Request == nil {
			continue
		}
		wantRefused(t, "null body", e.do(op.Method, fillPath(op.Method, op.Path), admin, "null"), "")
	}
}

// TestFieldSizeLimits: a 1 MB value in each bounded field is a 422 naming
// the field, and nothing is stored, on both backends; proof.ip must be an
// IP address and proof.confirmed_at a time not in the future.
func TestFieldSizeLimits(t *testing.T) {
	const mb = 1000 * 1000 // under the 1 MiB body limit: the field's own limit refuses it
	big := strings.Repeat("a", mb)
	backends(t, func(t *testing.T, e *env) {
		write_, read := e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleRead)
		at := time.Now().Add(-time.Hour)
		size := e.logSize(read)
		for _, c := range []struct {
			field string
			set   func(w map[string]any)
		}{
			{"source.name", func(w map[string]any) { w["source"] = map[string]any{"type": "form", "name": big} }},
			{"source.details", func(w map[string]any) {
				w["source"] = map[string]any{"type": "form", "details": map[string]any{"a": big}}
			}},
			{"reason", func(w map[string]any) { w["reason"] = big }},
			{"origin", func(w map[string]any) { w["origin"] = big }},
			{"party_id", func(w map[string]any) { w["party_id"] = big }},
			{"proof.user_agent", func(w map[string]any) { w["proof"] = map[string]any{"user_agent": big} }},
			{"proof.ip", func(w map[string]any) { w["proof"] = map[string]any{"ip": big} }},
			{"proof.ip", func(w map[string]any) { w["proof"] = map[string]any{"ip": "not-an-ip"} }},
			{"proof.ip", func(w map[string]any) { w["proof"] = map[string]any{"ip": "192.0.2.1, 10.0.0.1"} }},
			{"proof.confirmed_at", func(w map[string]any) { w["proof"] = map[string]any{"confirmed_at": "3000-01-01T00:00:00Z"} }},
			{"proof.confirmed_at", func(w map[string]any) { w["proof"] = map[string]any{"confirmed_at": "1969-12-31T00:00:00Z"} }},
		} {
			w := write("big@example.com", "newsletter", "", "email", "opted_in", at)
			c.set(w)
			r := e.do("POST", "/v1/consents", write_, w)
			if r.status != 422 {
				t.Errorf("POST /v1/consents with a bad %s = %.200s; want 422", c.field, r)
				continue
			}
			wantRefused(t, "bad "+c.field, r, c.field)
			b := e.do("POST", "/v1/consents:batch", write_, map[string]any{"consents": []any{w}})
			if b.status < 400 && !bytes.Contains(b.body, []byte(`"field":"`+c.field+`"`)) {
				t.Errorf("POST /v1/consents:batch with a bad %s = %.300s; want the item refused naming the field", c.field, b)
			}
		}
		// A good proof is taken.
		w := write("ok@example.com", "newsletter", "", "email", "opted_in", at)
		w["proof"] = map[string]any{"ip": "2001:db8::1", "user_agent": "Mozilla/5.0", "confirmed_at": at.Format(time.RFC3339)}
		e.must("POST", "/v1/consents", write_, w, 201)
		if n := e.logSize(read); n != size+1 {
			t.Errorf("log size %d; want %d: only the good write", n, size+1)
		}
		if r := e.do("GET", consentPath("big@example.com#newsletter:email"), read, nil); r.status != 404 {
			t.Errorf("the refused consent: %s; want 404", r)
		}

		// Ids and names in paths and queries.
		admin := e.a.key(consentd.RoleAdmin)
		for _, c := range []struct {
			method, path string
			body         any
			field        string
		}{
			{"PUT", "/v1/parties/" + big, map[string]any{"contact_points": []any{}}, "id"},
			{"PUT", "/v1/records/contact/" + big, map[string]any{"a": 1}, "id"},
			{"PUT", "/v1/records/" + big + "/r1", map[string]any{"a": 1}, "type"},
			{"PUT", "/v1/records/contact/r1?origin=" + big, map[string]any{"a": 1}, "origin"},
			{"PUT", "/v1/records/contact/" + strings.Repeat("i", 201), map[string]any{"a": 1}, "id"},
			{"PUT", "/v1/parties/" + strings.Repeat("p", 201), map[string]any{"contact_points": []any{}}, "id"},
			{"POST", "/v1/suppressions", map[string]any{"contact_point": "s@example.com", "reason": "do_not_contact", "note": big}, "note"},
			{"POST", "/v1/keys", map[string]any{"role": "read", "name": big}, "name"},
			{"POST", "/v1/parties/p1:opt-out-all", map[string]any{"reason": big}, "reason"},
			{"GET", "/v1/consents?page_token=" + big, nil, "page_token"},
			{"POST", "/v1/consents:search", map[string]any{"page_token": big}, "page_token"},
		} {
			wantRefused(t, "1 MB "+c.field, e.do(c.method, c.path, admin, c.body), c.field)
		}
		// The import name, with imports enabled.
		e.api.EnableImports(t.TempDir(), 1<<20)
		r := e.do("POST", "/v1/imports?format=native&name="+big, admin, "contact_point,channel,purpose,status,captured_at\n", "Content-Type", "text/csv")
		wantRefused(t, "1 MB import name", r, "name")
		r = e.do("POST", "/v1/imports?format=native&purpose=newsletter", admin, "contact_point,channel,purpose,status,captured_at\n", "Content-Type", "text/csv")
		if r.status != 422 {
			t.Errorf("POST /v1/imports?format=native&purpose= = %s; want 422", r)
		}
		wantRefused(t, "purpose on a native import", r, "purpose")
		if n := e.logSize(read); n != size+1 {
			t.Errorf("log size %d after the refused requests; want %d", n, size+1)
		}
	})
}

// TestRecordIDsDoNotCollide: %FF and %FE, distinct bytes that JSON would
// both turn into U+FFFD, are refused as record ids (and types), so that two
// records never share one id.
func TestRecordIDsDoNotCollide(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		write_ := e.a.key(consentd.RoleWrite)
		for _, p := range []string{"/v1/records/contact/%FF", "/v1/records/contact/%FE", "/v1/records/%FF/r1", "/v1/records/contact/a%C3"} {
			r := e.do("PUT", p, write_, map[string]any{"name": "x"})
			if r.status != 400 {
				t.Errorf("PUT %s = %s; want 400", p, r)
			}
			wantRefused(t, "invalid UTF-8 record id", r, "")
		}
		// A valid non-ASCII id is taken, and is its own record.
		e.must("PUT", "/v1/records/contact/%C3%BF", write_, map[string]any{"name": "x"}, 200)
		var a struct {
			ID     string `json:"id"`
			Change string `json:"change"`
		}
		e.must("PUT", "/v1/records/contact/%C3%BE", write_, map[string]any{"name": "x"}, 200).decode(t, &a)
		if a.ID != "þ" || a.Change != "created" {
			t.Errorf("PUT /v1/records/contact/þ = %+v; want a new record þ", a)
		}
	})
}

// TestLimitBounded: every route that takes ?limit= refuses one out of 1 to
// 1000 or not a whole number, naming limit; so does consents:search's
// body; /openapi.json says the range.
func TestLimitBounded(t *testing.T) {
	e := newEnv(t)
	admin := e.a.key(consentd.RoleAdmin)
	n := 0
	for _, op := range e.api.Operations() {
		for _, p := range op.Query {
			if p.Name != "limit" {
				continue
			}
			n++
			if p.Minimum == nil || *p.Minimum != 1 || p.Maximum == nil || *p.Maximum != 1000 {
				t.Errorf("%s %s: limit documented without minimum 1 and maximum 1000", op.Method, op.Path)
			}
			for _, v := range []string{"-1", "0", "1001", "1000000000000", "abc", "1.5", "%20"} {
				wantRefused(t, "limit="+v, e.do(op.Method, fillPath(op.Method, op.Path)+"?limit="+v, admin, nil), "limit")
			}
			if r := e.do(op.Method, fillPath(op.Method, op.Path)+"?limit=1000", admin, nil); r.status != 200 && (r.status != 404 || !strings.Contains(op.Path, "{")) {
				t.Errorf("%s %s?limit=1000 = %s; want 200 (404 for a resource that does not exist)", op.Method, op.Path, r)
			}
		}
	}
	if n < 7 {
		t.Errorf("%d routes take ?limit=; want at least 7", n)
	}
	for _, v := range []string{"-1", "0", "1001", "1000000000000", `"abc"`, "1.5"} {
		wantRefused(t, "search limit "+v, e.do("POST", "/v1/consents:search", admin, `{"limit":`+v+`}`), "limit")
	}
	e.must("POST", "/v1/consents:search", admin, `{"limit":1000}`, 200)
	e.must("POST", "/v1/consents:search", admin, `{}`, 200)
}

// TestWebhookReadOnlyFields: the fields consentd sets are refused on
// create with a 422 naming them, and the request schema does not list them.
func TestWebhookReadOnlyFields(t *testing.T) {
	e := newEnv(t)
	e.api.WebhookAllowPrivate = true
	admin := e.a.key(consentd.RoleAdmin)
	for _, f := range []string{`"failures":3`, `"position":5`, `"next_attempt_at":"2026-01-01T00:00:00Z"`, `"created_at":"2026-01-01T00:00:00Z"`, `"updated_at":"2026-01-01T00:00:00Z"`} {
		r := e.do("POST", "/v1/webhooks", admin, `{"url":"http://127.0.0.1:1/hook",`+f+`}`)
		name, _, _ := strings.Cut(strings.Trim(f, `"`), `"`)
		if r.status != 422 {
			t.Errorf("POST /v1/webhooks with %s = %s; want 422", f, r)
		}
		wantRefused(t, "read-only "+name, r, name)
	}
	var list struct {
		Webhooks []any `json:"webhooks"`
	}
	e.must("GET", "/v1/webhooks", admin, nil, 200).decode(t, &list)
	if len(list.Webhooks) != 0 {
		t.Errorf("webhooks after the refused creates: %v", list.Webhooks)
	}
	e.must("POST", "/v1/webhooks", admin, `{"url":"http://127.0.0.1:1/hook"}`, 201)

	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	e.must("GET", "/openapi.json", "", nil, 200).decode(t, &doc)
	var post struct {
		RequestBody struct {
			Content map[string]struct {
				Schema struct {
					Ref string `json:"$ref"`
				} `json:"schema"`
			} `json:"content"`
		} `json:"requestBody"`
	}
	if err := json.Unmarshal(doc.Paths["/v1/webhooks"]["post"], &post); err != nil {
		t.Fatal(err)
	}
	ref := post.RequestBody.Content["application/json"].Schema.Ref
	props := doc.Components.Schemas[strings.TrimPrefix(ref, "#/components/schemas/")].Properties
	if len(props) == 0 {
		t.Fatalf("POST /v1/webhooks request schema %q has no properties", ref)
	}
	for _, f := range []string{"failures", "position", "next_attempt_at", "created_at", "updated_at"} {
		if _, ok := props[f]; ok {
			t.Errorf("POST /v1/webhooks request schema lists the read-only %s", f)
		}
	}
}

// TestEveryRequestStringBounded: every string a request type holds (but
// enums), and every json.RawMessage, carries a max tag, which decode
// enforces and /openapi.json documents as maxLength; so a new field
// cannot go into the log unbounded.
func TestEveryRequestStringBounded(t *testing.T) {
	e := newEnv(t)
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type, path string, tag reflect.StructTag) []string
	walk = func(ty reflect.Type, path string, tag reflect.StructTag) []string {
		for ty.Kind() == reflect.Pointer {
			ty = ty.Elem()
		}
		_, bounded := tag.Lookup("max")
		_, enum := tag.Lookup("enum")
		switch {
		case ty == reflect.TypeFor[json.RawMessage]() || ty.Kind() == reflect.String:
			if !bounded && !enum {
				return []string{path}
			}
		case ty == reflect.TypeFor[time.Time]():
		case ty.Kind() == reflect.Slice || ty.Kind() == reflect.Array:
			return walk(ty.Elem(), path+"[]", tag)
		case ty.Kind() == reflect.Map:
			var out []string
			if !bounded {
				out = append(out, path+" (keys)")
			}
			if ty.Elem().Kind() == reflect.Interface {
				return out // any JSON: bounded by the body's size
			}
			return append(out, walk(ty.Elem(), path+".*", tag)...)
		case ty.Kind() == reflect.Struct:
			if seen[ty] {
				return nil
			}
			seen[ty] = true
			defer delete(seen, ty)
			var out []string
			for i := range ty.NumField() {
				f := ty.Field(i)
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if name == "-" || !f.IsExported() && !f.Anonymous {
					continue
				}
				out = append(out, walk(f.Type, path+"."+name, f.Tag)...)
			}
			return out
		}
		return nil
	}
	for _, op := range e.api.Operations() {
		if op.Request == nil {
			continue
		}
		for _, p := range walk(reflect.TypeOf(op.Request), "", "") {
			if strings.HasPrefix(op.Path, "/v1/records/") && p == " (keys)" {
				continue // a record's fields: any JSON object, bounded by the body's size
			}
			t.Errorf("%s %s: %s has no max tag", op.Method, op.Path, p)
		}
	}
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					MaxLength   int    `json:"maxLength"`
					Description string `json:"description"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	e.must("GET", "/openapi.json", "", nil, 200).decode(t, &doc)
	src := doc.Components.Schemas["Source"].Properties
	if src["name"].MaxLength != 200 || !strings.Contains(src["details"].Description, "at most 4096 bytes of JSON") {
		t.Errorf("/openapi.json Source: name %+v, details %+v; want maxLength 200 and the details' limit", src["name"], src["details"])
	}
	if n := doc.Components.Schemas["ConsentWrite"].Properties["reason"].MaxLength; n != consentd.MaxReasonLen {
		t.Errorf("/openapi.json ConsentWrite.reason maxLength %d; want %d", n, consentd.MaxReasonLen)
	}
}

// allItemsRefused reports whether a batch answer ({"<name>": [items]})
// holds items, each of them an error.
func allItemsRefused(body []byte) bool {
	var doc map[string][]map[string]json.RawMessage
	if json.Unmarshal(body, &doc) != nil || len(doc) != 1 {
		return false
	}
	for _, items := range doc {
		if len(items) == 0 {
			return false
		}
		for _, it := range items {
			if _, ok := it["error"]; !ok || len(it) != 1 {
				return false
			}
		}
	}
	return true
}
