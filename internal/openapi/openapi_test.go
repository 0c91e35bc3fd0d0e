package openapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
)

// Sample types, shaped like consentd's but local to the test.

type Status string

type Audit struct {
	CreatedAt time.Time  `json:"created_at" doc:"When the record was created."`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
	CreatedBy string     `json:"created_by"`
}

type Source struct {
	Kind   string         `json:"kind" enum:"api,import,ui"`
	Detail map[string]any `json:"detail,omitempty"`
}

type ConsentWrite struct {
	PartyID    string            `json:"party_id" doc:"The party who consents."`
	Purpose    string            `json:"purpose"`
	Status     Status            `json:"status" enum:"granted,denied,withdrawn"`
	Channels   []string          `json:"channels,omitempty" enum:"email,sms,whatsapp"`
	CapturedAt *time.Time        `json:"captured_at,omitempty"`
	Evidence   json.RawMessage   `json:"evidence,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Signature  []byte            `json:"signature,omitzero"`
	Retention  time.Duration     `json:"retention,omitzero"`
	Source     *Source           `json:"source"`
	Weight     int64             `json:"weight,string,omitempty"`
	Extra      any               `json:"extra"`
	internal   int
	Ignored    string `json:"-"`
	Dash       string `json:"-,"`
	Untagged   bool
}

type Consent struct {
	ConsentWrite
	*Audit
	ID       string `json:"id"`
	Version  int    `json:"version"`
	Purpose  string `json:"purpose" doc:"Shadows ConsentWrite.Purpose."`
	Location struct {
		Country string `json:"country"`
		Region  string `json:"region,omitempty"`
	} `json:"location"`
	Scores [3]float64    `json:"scores"`
	ByYear map[int]uint8 `json:"by_year,omitempty"`
}

type Node struct {
	Name     string           `json:"name"`
	Children []Node           `json:"children,omitempty"`
	Parent   *Node            `json:"parent,omitempty"`
	Index    map[string]*Node `json:"index,omitempty"`
}

type Page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// URL collides with net/url.URL, Problem with the built-in Problem schema.
type URL struct {
	Href string `json:"href"`
}

type Problem struct {
	Oops string `json:"oops"`
}

type Link struct {
	Self URL     `json:"self" doc:"A $ref with a description beside it."`
	Std  url.URL `json:"std"`
}

func sampleDoc() *Document {
	d := New("consentd", "1.0.0", "The consent ledger API.")
	d.Add(Operation{
		Method: "POST", Path: "/v1/consents", Summary: "Record a consent",
		Tags: []string{"consents"}, Roles: []string{"writer", "admin"},
		Request: ConsentWrite{}, Response: Consent{}, Status: 201,
		Errors: []int{422, 400, 401, 403, 400},
	})
	d.Add(Operation{
		Method: "get", Path: "/v1/consents/{id}", Summary: "Get a consent",
		Tags: []string{"consents"}, Roles: []string{"reader"},
		Response: &Consent{},
		Query: []Param{
			{Name: "view", Description: "How much to return.", Enum: []string{"full", "summary"}},
			{Name: "id", In: "path", Description: "The consent id."},
		},
		Errors: []int{404},
	})
	d.Add(Operation{
		Method: "POST", Path: "/v1/consents:batch", Summary: "Record consents in bulk",
		Tags: []string{"consents"}, Roles: []string{"writer"},
		Request: []ConsentWrite{}, RequestTypes: []string{"application/x-ndjson"},
		Response: Page[Consent]{}, ResponseTypes: []string{"application/x-ndjson"}, ResponseItem: Consent{},
		Errors: []int{400, 413},
	})
	d.Add(Operation{
		Method: "POST", Path: "/v1/parties/{id}:opt-out-all", Summary: "Withdraw every consent of a party",
		Tags: []string{"parties"}, Roles: []string{"admin"}, Status: 204, Errors: []int{404},
	})
	d.Add(Operation{
		Method: "GET", Path: "/v1/consents", OperationID: "listConsents", Summary: "List consents",
		Tags: []string{"consents"}, Roles: []string{"reader"},
		Response: Page[Consent]{}, ResponseTypes: []string{"text/csv", "application/x-ndjson"},
		Query: []Param{
			{Name: "workspace", Required: true},
			{Name: "limit", Type: "integer"},
			{Name: "include_withdrawn", Type: "boolean"},
		},
	})
	d.Add(Operation{Method: "GET", Path: "/v1/tree", Tags: []string{"misc"}, Response: &Node{}})
	d.Add(Operation{Method: "GET", Path: "/v1/links", Tags: []string{"misc"}, Response: []Link{}})
	d.Add(Operation{
		Method: "PUT", Path: "/v1/problems/{pid}", Tags: []string{"misc"}, Roles: []string{"admin"},
		Request: Problem{}, Response: map[string]Problem{}, Errors: []int{409},
	})
	d.Add(Operation{
		Method: "POST", Path: "/v1/imports", Summary: "Import a CSV file", Roles: []string{"admin"},
		RequestTypes: []string{"text/csv; charset=utf-8"}, Status: 202, Errors: []int{415},
	})
	d.Add(Operation{
		Method: "GET", Path: "/healthz",
		Response: struct {
			OK bool `json:"ok"`
		}{},
	})
	return d
}

func marshal(t *testing.T, d *Document) []byte {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKinOpenAPI validates the document with kin-openapi, which supports
// OpenAPI 3.1 (JSON Schema 2020-12) as of v0.13x.
func TestKinOpenAPI(t *testing.T) {
	b := marshal(t, sampleDoc())
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(b)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("kin-openapi sees version %q as before 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if got := len(doc.Paths.Map()); got != 9 {
		t.Errorf("%d paths, want 9", got)
	}
}

// TestInstances checks the schemas against what encoding/json actually
// writes: populated values validate against their component, and the
// properties are exactly the keys written.
func TestInstances(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(marshal(t, sampleDoc()))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	write := ConsentWrite{
		PartyID: "p1", Purpose: "news", Status: "granted", Channels: []string{"email"},
		CapturedAt: &now, Evidence: json.RawMessage(`{"ip":"10.0.0.1"}`),
		Attributes: map[string]string{"a": "b"}, Signature: []byte{1, 2, 3},
		Retention: time.Hour, Source: &Source{Kind: "api", Detail: map[string]any{"x": 1}},
		Weight: 7, Extra: []int{1}, Dash: "d", Untagged: true,
	}
	c := Consent{ConsentWrite: write, Audit: &Audit{CreatedAt: now, UpdatedAt: &now, CreatedBy: "k"},
		ID: "c1", Version: 2, Purpose: "shadow", Scores: [3]float64{1, 2, 3}, ByYear: map[int]uint8{2024: 1}}
	c.Location.Country = "NL"
	c.Location.Region = "NH"
	root := Node{Name: "root", Children: []Node{{Name: "a"}}, Index: map[string]*Node{"b": {Name: "b"}}}
	root.Parent = &Node{Name: "up"}

	cases := []struct {
		component string
		value     any
	}{
		{"ConsentWrite", write},
		{"Consent", c},
		{"Consent", Consent{ID: "c2", ConsentWrite: ConsentWrite{Status: "denied"}}}, // nil *Audit and *Source
		{"Node", root},
		{"Page_Consent", Page[Consent]{Items: []Consent{c}, Next: "n"}},
		{"openapi.URL", URL{Href: "x"}},
		{"openapi.Problem", Problem{Oops: "o"}},
	}
	for _, tc := range cases {
		ref := doc.Components.Schemas[tc.component]
		if ref == nil {
			t.Fatalf("no component %s", tc.component)
		}
		var v any
		b, _ := json.Marshal(tc.value)
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		if err := ref.Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.EnableFormatValidation()); err != nil {
			t.Errorf("%s: %s does not validate: %v", tc.component, b, err)
		}
	}

	// Fully populated: the properties are exactly the keys written.
	for name, value := range map[string]any{"ConsentWrite": write, "Consent": c} {
		var m map[string]any
		b, _ := json.Marshal(value)
		json.Unmarshal(b, &m)
		props := slices.Sorted(mapsKeys(doc.Components.Schemas[name].Value.Properties))
		got := slices.Sorted(mapsKeys(m))
		if !slices.Equal(props, got) {
			t.Errorf("%s: properties %v, encoding/json writes %v", name, props, got)
		}
	}

	// And the schemas reject what they should.
	bad := map[string]string{
		"missing required id":  `{"party_id":"p","status":"granted","source":null,"extra":null,"-":"","Untagged":false,"version":1,"location":{"country":"x"},"scores":[1,2,3]}`,
		"status not in enum":   `{"party_id":"p","purpose":"x","status":"maybe","source":null,"extra":null,"-":"","Untagged":false,"id":"c","version":1,"location":{"country":"x"},"scores":[1,2,3]}`,
		"channel not in enum":  `{"party_id":"p","purpose":"x","status":"granted","channels":["fax"],"source":null,"extra":null,"-":"","Untagged":false,"id":"c","version":1,"location":{"country":"x"},"scores":[1,2,3]}`,
		"scores of wrong size": `{"party_id":"p","purpose":"x","status":"granted","source":null,"extra":null,"-":"","Untagged":false,"id":"c","version":1,"location":{"country":"x"},"scores":[1,2]}`,
		"bad created_at":       `{"party_id":"p","purpose":"x","status":"granted","source":null,"extra":null,"-":"","Untagged":false,"id":"c","version":1,"location":{"country":"x"},"scores":[1,2,3],"created_at":"yesterday","created_by":"k"}`,
	}
	for name, js := range bad {
		var v any
		if err := json.Unmarshal([]byte(js), &v); err != nil {
			t.Fatal(err)
		}
		if err := doc.Components.Schemas["Consent"].Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.EnableFormatValidation()); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestStructure checks what kin-openapi does not: every $ref resolves, every
// path parameter is declared, and the security of each operation matches its
// roles.
func TestStructure(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(marshal(t, sampleDoc()), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v", doc["openapi"])
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	var refs int
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok {
				refs++
				name, ok := strings.CutPrefix(r, "#/components/schemas/")
				if !ok || schemas[name] == nil {
					t.Errorf("dangling $ref %q", r)
				}
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
	if refs == 0 {
		t.Error("no $ref at all")
	}
	ops := map[string]Operation{}
	for _, op := range sampleDoc().Operations() {
		ops[op.OperationID] = op
	}
	ids := map[string]bool{}
	for path, item := range doc["paths"].(map[string]any) {
		names, err := pathParams(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
		}
		for method, o := range item.(map[string]any) {
			o := o.(map[string]any)
			id := o["operationId"].(string)
			if ids[id] {
				t.Errorf("operationId %s twice", id)
			}
			ids[id] = true
			var declared []string
			params, _ := o["parameters"].([]any)
			for _, p := range params {
				p := p.(map[string]any)
				if p["in"] == "path" {
					declared = append(declared, p["name"].(string))
					if p["required"] != true {
						t.Errorf("%s %s: path parameter %v not required", method, path, p["name"])
					}
				}
			}
			if !slices.Equal(declared, names) {
				t.Errorf("%s %s: path parameters %v, path has %v", method, path, declared, names)
			}
			op := ops[id]
			// An operation with roles needs the bearer scheme; a public
			// one has the empty requirement, which says so.
			sec, _ := o["security"].([]any)
			secured := len(sec) == 1 && len(sec[0].(map[string]any)) == 1
			public := len(sec) == 1 && len(sec[0].(map[string]any)) == 0
			if secured != (len(op.Roles) > 0) || public != (len(op.Roles) == 0) {
				t.Errorf("%s %s: security %v with roles %v", method, path, o["security"], op.Roles)
			}
			if len(o["responses"].(map[string]any)) == 0 {
				t.Errorf("%s %s: no responses", method, path)
			}
		}
	}
	if len(ids) != 10 {
		t.Errorf("%d operations, want 10", len(ids))
	}
}

// fragment returns the JSON at a path of keys in the marshalled document,
// indented for comparison.
func fragment(t *testing.T, doc []byte, keys ...string) string {
	t.Helper()
	var v any = json.RawMessage(doc)
	for _, k := range keys {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(v.(json.RawMessage), &m); err != nil {
			t.Fatalf("at %q: %v", k, err)
		}
		var ok bool
		if v, ok = m[k]; !ok {
			t.Fatalf("no key %q in %v", k, keys)
		}
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, v.(json.RawMessage), "", "  "); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestGolden(t *testing.T) {
	doc := marshal(t, sampleDoc())
	golden := []struct {
		keys []string
		want string
	}{
		{[]string{"components", "schemas", "ConsentWrite"}, `{
  "type": "object",
  "properties": {
    "-": {
      "type": "string"
    },
    "Untagged": {
      "type": "boolean"
    },
    "attributes": {
      "type": "object",
      "additionalProperties": {
        "type": "string"
      }
    },
    "captured_at": {
      "type": "string",
      "format": "date-time"
    },
    "channels": {
      "type": "array",
      "items": {
        "type": "string",
        "enum": [
          "email",
          "sms",
          "whatsapp"
        ]
      }
    },
    "evidence": {},
    "extra": {},
    "party_id": {
      "type": "string",
      "description": "The party who consents."
    },
    "purpose": {
      "type": "string"
    },
    "retention": {
      "type": "integer",
      "format": "int64",
      "description": "A duration in nanoseconds."
    },
    "signature": {
      "type": "string",
      "contentEncoding": "base64"
    },
    "source": {
      "anyOf": [
        {
          "$ref": "#/components/schemas/Source"
        },
        {
          "type": "null"
        }
      ]
    },
    "status": {
      "type": "string",
      "enum": [
        "granted",
        "denied",
        "withdrawn"
      ]
    },
    "weight": {
      "type": "string"
    }
  },
  "required": [
    "party_id",
    "purpose",
    "status",
    "extra",
    "-",
    "Untagged"
  ]
}`},
		{[]string{"components", "schemas", "Node"}, `{
  "type": "object",
  "properties": {
    "children": {
      "type": "array",
      "items": {
        "$ref": "#/components/schemas/Node"
      }
    },
    "index": {
      "type": "object",
      "additionalProperties": {
        "$ref": "#/components/schemas/Node"
      }
    },
    "name": {
      "type": "string"
    },
    "parent": {
      "$ref": "#/components/schemas/Node"
    }
  },
  "required": [
    "name"
  ]
}`},
		{[]string{"components", "schemas", "Problem"}, `{
  "type": "object",
  "description": "A problem details object (RFC 9457).",
  "properties": {
    "code": {
      "type": "string",
      "description": "The stable, machine-readable error code; clients switch on it."
    },
    "detail": {
      "type": "string",
      "description": "A human-readable explanation specific to this occurrence."
    },
    "fields": {
      "type": "array",
      "description": "The input fields that failed validation.",
      "items": {
        "type": "object",
        "properties": {
          "code": {
            "type": "string",
            "description": "The stable error code of this field's problem."
          },
          "field": {
            "type": "string",
            "description": "The offending input field."
          },
          "message": {
            "type": "string",
            "description": "A human-readable explanation."
          }
        },
        "required": [
          "field",
          "code",
          "message"
        ]
      }
    },
    "instance": {
      "type": "string",
      "format": "uri-reference",
      "description": "A URI reference that identifies this occurrence."
    },
    "status": {
      "type": "integer",
      "description": "The HTTP status code."
    },
    "title": {
      "type": "string",
      "description": "A short, human-readable summary of the problem type."
    },
    "type": {
      "type": "string",
      "format": "uri-reference",
      "description": "A URI reference that identifies the problem type."
    }
  },
  "required": [
    "code"
  ]
}`},
		{[]string{"paths", "/v1/parties/{id}:opt-out-all", "post"}, `{
  "operationId": "postV1PartiesByIdOptOutAll",
  "summary": "Withdraw every consent of a party",
  "tags": [
    "parties"
  ],
  "parameters": [
    {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
        "type": "string"
      }
    }
  ],
  "responses": {
    "204": {
      "description": "No Content"
    },
    "404": {
      "description": "Not Found",
      "content": {
        "application/problem+json": {
          "schema": {
            "$ref": "#/components/schemas/Problem"
          }
        }
      }
    }
  },
  "security": [
    {
      "bearer": []
    }
  ],
  "x-roles": [
    "admin"
  ]
}`},
		{[]string{"paths", "/v1/consents/{id}", "get", "parameters"}, `[
  {
    "name": "id",
    "in": "path",
    "description": "The consent id.",
    "required": true,
    "schema": {
      "type": "string"
    }
  },
  {
    "name": "view",
    "in": "query",
    "description": "How much to return.",
    "schema": {
      "type": "string",
      "enum": [
        "full",
        "summary"
      ]
    }
  }
]`},
		{[]string{"paths", "/v1/consents:batch", "post", "requestBody"}, `{
  "required": true,
  "content": {
    "application/json": {
      "schema": {
        "type": "array",
        "items": {
          "$ref": "#/components/schemas/ConsentWrite"
        }
      }
    },
    "application/x-ndjson": {
      "schema": {
        "$ref": "#/components/schemas/ConsentWrite"
      }
    }
  }
}`},
		{[]string{"paths", "/v1/consents:batch", "post", "responses", "200", "content"}, `{
  "application/json": {
    "schema": {
      "$ref": "#/components/schemas/Page_Consent"
    }
  },
  "application/x-ndjson": {
    "schema": {
      "$ref": "#/components/schemas/Consent"
    }
  }
}`},
		{[]string{"paths", "/v1/consents", "get", "responses", "200", "content"}, `{
  "application/json": {
    "schema": {
      "$ref": "#/components/schemas/Page_Consent"
    }
  },
  "application/x-ndjson": {
    "schema": {
      "$ref": "#/components/schemas/Page_Consent"
    }
  },
  "text/csv": {
    "schema": {
      "type": "string"
    }
  }
}`},
		{[]string{"paths", "/v1/imports", "post", "requestBody"}, `{
  "required": true,
  "content": {
    "text/csv; charset=utf-8": {
      "schema": {
        "type": "string"
      }
    }
  }
}`},
		{[]string{"paths", "/v1/imports", "post", "responses", "202"}, `{
  "description": "Accepted"
}`},
		{[]string{"components", "schemas", "Link", "properties", "self"}, `{
  "$ref": "#/components/schemas/openapi.URL",
  "description": "A $ref with a description beside it."
}`},
		{[]string{"components", "securitySchemes"}, `{
  "bearer": {
    "type": "http",
    "scheme": "bearer",
    "description": "An API key, sent in the Authorization header as a bearer token."
  }
}`},
		{[]string{"tags"}, `[
  {
    "name": "consents"
  },
  {
    "name": "parties"
  },
  {
    "name": "misc"
  }
]`},
	}
	for _, g := range golden {
		if got := fragment(t, doc, g.keys...); got != g.want {
			t.Errorf("%v:\ngot:\n%s\nwant:\n%s", g.keys, got, g.want)
		}
	}

	// Consent: embedded fields inlined, Purpose shadowed, *Audit's fields
	// optional (not in required),
	// the anonymous struct inline, the array sized, the int-keyed map.
	consent := fragment(t, doc, "components", "schemas", "Consent")
	for _, want := range []string{
		`"purpose": {
      "type": "string",
      "description": "Shadows ConsentWrite.Purpose."
    }`,
		`"created_at": {
      "type": "string",
      "format": "date-time",
      "description": "When the record was created."
    }`,
		`"location": {
      "type": "object",
      "properties": {
        "country": {
          "type": "string"
        },
        "region": {
          "type": "string"
        }
      },
      "required": [
        "country"
      ]
    }`,
		`"scores": {
      "type": "array",
      "items": {
        "type": "number",
        "format": "double"
      },
      "minItems": 3,
      "maxItems": 3
    }`,
		`"by_year": {
      "type": "object",
      "additionalProperties": {
        "type": "integer",
        "minimum": 0
      },
      "propertyNames": {
        "type": "string",
        "pattern": "^-?[0-9]+$"
      }
    }`,
		`"required": [
    "party_id",
    "status",
    "extra",
    "-",
    "Untagged",
    "id",
    "version",
    "purpose",
    "location",
    "scores"
  ]`,
	} {
		if !strings.Contains(consent, want) {
			t.Errorf("Consent lacks\n%s\nin\n%s", want, consent)
		}
	}
}

func TestComponentNames(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]any
		}
	}
	if err := json.Unmarshal(marshal(t, sampleDoc()), &doc); err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(mapsKeys(doc.Components.Schemas))
	want := []string{
		"Consent", "ConsentWrite", "Link", "Node", "Page_Consent", "Problem",
		"Source", "Userinfo", "openapi.Problem", "openapi.URL", "url.URL",
	}
	if !slices.Equal(got, want) {
		t.Errorf("components %v\nwant %v", got, want)
	}
}

func TestDeterminism(t *testing.T) {
	d := sampleDoc()
	first := marshal(t, d)
	// Concurrent marshals (run with -race).
	done := make(chan []byte)
	for range 4 {
		go func() {
			b, _ := json.Marshal(d)
			done <- b
		}()
	}
	for range 4 {
		if b := <-done; !bytes.Equal(b, first) {
			t.Fatal("concurrent marshals differ")
		}
	}
	for range 20 {
		if b := marshal(t, d); !bytes.Equal(b, first) {
			t.Fatal("two marshals of one document differ")
		}
		if b := marshal(t, sampleDoc()); !bytes.Equal(b, first) {
			t.Fatal("marshals of two equal documents differ")
		}
	}
}

func TestOperations(t *testing.T) {
	d := sampleDoc()
	ops := d.Operations()
	var ids []string
	for _, op := range ops {
		ids = append(ids, op.OperationID)
	}
	want := []string{
		"postV1Consents", "getV1ConsentsById", "postV1ConsentsBatch", "postV1PartiesByIdOptOutAll",
		"listConsents", "getV1Tree", "getV1Links", "putV1ProblemsByPid", "postV1Imports", "getHealthz",
	}
	if !slices.Equal(ids, want) {
		t.Errorf("ids %v\nwant %v", ids, want)
	}
	if ops[1].Method != "GET" || ops[1].Status != 200 || ops[1].Query[0].In != "query" || ops[1].Query[0].Type != "string" {
		t.Errorf("defaults not filled in: %+v", ops[1])
	}
	if !slices.Equal(ops[0].Errors, []int{400, 401, 403, 422}) {
		t.Errorf("errors %v not sorted and deduplicated", ops[0].Errors)
	}
	// The copies are the caller's.
	ops[0].Roles[0] = "changed"
	ops[1].Query[0].Enum[0] = "changed"
	if again := d.Operations(); again[0].Roles[0] != "writer" || again[1].Query[0].Enum[0] != "full" {
		t.Error("Operations returned shared slices")
	}
}

func TestAddPanics(t *testing.T) {
	type Bad struct {
		C chan int `json:"c"`
	}
	type BadEnum struct {
		N int `json:"n" enum:"1,2"`
	}
	type BadKey struct {
		M map[[2]int]string `json:"m"`
	}
	type Loop map[string]Loop
	cases := map[string]Operation{
		"method":            {Method: "FETCH", Path: "/x"},
		"relative path":     {Method: "GET", Path: "x"},
		"unbalanced":        {Method: "GET", Path: "/x/{id"},
		"wildcard":          {Method: "GET", Path: "/x/{rest...}"},
		"param twice":       {Method: "GET", Path: "/x/{id}/{id}"},
		"query in path":     {Method: "GET", Path: "/x?a=b"},
		"204 with body":     {Method: "GET", Path: "/x", Status: 204, Response: URL{}},
		"bad status":        {Method: "GET", Path: "/x", Status: 1000},
		"bad error":         {Method: "GET", Path: "/x", Errors: []int{302}},
		"error is success":  {Method: "GET", Path: "/x", Status: 409, Errors: []int{409}},
		"param type":        {Method: "GET", Path: "/x", Query: []Param{{Name: "a", Type: "number"}}},
		"param in":          {Method: "GET", Path: "/x", Query: []Param{{Name: "a", In: "header"}}},
		"param not in path": {Method: "GET", Path: "/x", Query: []Param{{Name: "a", In: "path"}}},
		"param twice in q":  {Method: "GET", Path: "/x", Query: []Param{{Name: "a"}, {Name: "a"}}},
		"enum on integer":   {Method: "GET", Path: "/x", Query: []Param{{Name: "a", Type: "integer", Enum: []string{"1"}}}},
		"media type":        {Method: "GET", Path: "/x", Response: URL{}, ResponseTypes: []string{"text/"}},
		"chan":              {Method: "POST", Path: "/x", Request: Bad{}},
		"func":              {Method: "POST", Path: "/x", Response: func() {}},
		"enum tag on int":   {Method: "POST", Path: "/x", Request: BadEnum{}},
		"map key":           {Method: "POST", Path: "/x", Request: BadKey{}},
		"recursive map":     {Method: "POST", Path: "/x", Request: Loop{}},
		"item without seq":  {Method: "POST", Path: "/x", Request: URL{}, RequestItem: URL{}, RequestTypes: []string{"text/csv"}},
		"204 with item":     {Method: "POST", Path: "/x", Status: 204, ResponseItem: URL{}},
	}
	for name, op := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil {
					t.Error("no panic")
				} else if !strings.HasPrefix(r.(string), "openapi: ") {
					t.Errorf("panic %v", r)
				}
			}()
			New("t", "1", "").Add(op)
		})
	}

	conflicts := map[string][2]Operation{
		"route twice":       {{Method: "GET", Path: "/x/{id}"}, {Method: "get", Path: "/x/{id}", OperationID: "other"}},
		"param names":       {{Method: "GET", Path: "/x/{id}"}, {Method: "DELETE", Path: "/x/{key}"}},
		"operation id":      {{Method: "GET", Path: "/a", OperationID: "op"}, {Method: "GET", Path: "/b", OperationID: "op"}},
		"derived id clash":  {{Method: "GET", Path: "/a-b"}, {Method: "GET", Path: "/a/b"}},
		"same erased route": {{Method: "GET", Path: "/x/{a}:y"}, {Method: "GET", Path: "/x/{a}:y", OperationID: "z"}},
	}
	for name, ops := range conflicts {
		t.Run(name, func(t *testing.T) {
			d := New("t", "1", "")
			d.Add(ops[0])
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			d.Add(ops[1])
		})
	}
}

func TestDeriveID(t *testing.T) {
	for in, want := range map[string]string{
		"GET /":                              "get",
		"GET /v1/consents/{id}":              "getV1ConsentsById",
		"POST /v1/consents:batch":            "postV1ConsentsBatch",
		"POST /v1/parties/{id}:opt-out-all":  "postV1PartiesByIdOptOutAll",
		"DELETE /v1/a/{party_id}/b/{cid}":    "deleteV1AByPartyIdBByCid",
		"GET /v1/workspaces/{ws}/export.csv": "getV1WorkspacesByWsExportCsv",
	} {
		method, path, _ := strings.Cut(in, " ")
		if got := deriveID(method, path); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// TestTypeFieldsMatchEncodingJSON compares the property names with the keys
// encoding/json writes for structs with tricky embedding.
func TestTypeFieldsMatchEncodingJSON(t *testing.T) {
	type A struct {
		X int
		Y int
	}
	type B struct {
		X int
		Z int
	}
	type Tagged struct {
		Y int `json:"Y"`
	}
	type inner struct {
		Hidden int `json:"hidden"`
	}
	type Outer struct {
		A         // X conflicts with B.X at the same depth: both dropped
		B         //
		Tagged    // Y tagged beats A.Y untagged
		inner     // unexported embedded struct: fields promoted
		*Source   // pointer: promoted, optional
		Named   A `json:"named"`
	}
	v := Outer{Source: &Source{Kind: "api", Detail: map[string]any{"a": 1}}}
	var m map[string]any
	b, _ := json.Marshal(v)
	json.Unmarshal(b, &m)
	var names []string
	for _, f := range typeFields(reflect.TypeFor[Outer]()) {
		names = append(names, f.name)
		if f.name == "kind" && f.required {
			t.Error("field promoted through a pointer is required")
		}
	}
	if got := slices.Sorted(mapsKeys(m)); !slices.Equal(slices.Sorted(slices.Values(names)), got) {
		t.Errorf("typeFields %v, encoding/json %v", names, got)
	}
}

// TestKinOpenAPIRejects shows that the kin-openapi checks above have teeth
// for 3.1 documents: breaking the generated document makes them fail.
func TestKinOpenAPIRejects(t *testing.T) {
	good := marshal(t, sampleDoc())
	breaks := map[string]func(doc map[string]any){
		"dangling $ref": func(doc map[string]any) {
			delete(doc["components"].(map[string]any)["schemas"].(map[string]any), "Problem")
		},
		"undeclared path parameter": func(doc map[string]any) {
			op := doc["paths"].(map[string]any)["/v1/parties/{id}:opt-out-all"].(map[string]any)["post"].(map[string]any)
			delete(op, "parameters")
		},
		"response without description": func(doc map[string]any) {
			op := doc["paths"].(map[string]any)["/healthz"].(map[string]any)["get"].(map[string]any)
			delete(op["responses"].(map[string]any)["200"].(map[string]any), "description")
		},
		"unknown security scheme": func(doc map[string]any) {
			delete(doc["components"].(map[string]any), "securitySchemes")
		},
	}
	for name, breakIt := range breaks {
		var doc map[string]any
		json.Unmarshal(good, &doc)
		breakIt(doc)
		b, _ := json.Marshal(doc)
		loaded, err := openapi3.NewLoader().LoadFromData(b)
		if err == nil {
			err = loaded.Validate(context.Background())
		}
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestZeroDocument(t *testing.T) {
	var d Document
	d.Add(Operation{Method: "GET", Path: "/healthz"})
	doc, err := openapi3.NewLoader().LoadFromData(marshal(t, &d))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Paths.Find("/healthz") == nil {
		t.Error("operation of a zero Document lost")
	}
}

// TestStatusesPatchesAndPublicOperations covers OtherStatuses, MergePatch,
// RequestOptional, Description, tags' descriptions, the license, the
// server and the empty security requirement of a public operation.
func TestStatusesPatchesAndPublicOperations(t *testing.T) {
	type Inner struct {
		A string `json:"a"`
		B int    `json:"b"`
	}
	type Thing struct {
		ID    string           `json:"id"`
		Inner Inner            `json:"inner"`
		Tags  map[string]Inner `json:"tags"`
	}
	d := New("t", "1", "")
	d.SetLicense("Apache License 2.0", "Apache-2.0")
	d.DescribeTag("things", "Things.")
	d.Add(Operation{Method: "POST", Path: "/things", Tags: []string{"things"}, Description: "Makes a thing.", Roles: []string{"admin"},
		Request: Thing{}, Response: Thing{}, Status: 201, OtherStatuses: []int{200}})
	d.Add(Operation{Method: "PATCH", Path: "/things/{id}", Tags: []string{"things"}, Roles: []string{"admin"},
		Request: Thing{}, Response: Thing{}, MergePatch: true})
	d.Add(Operation{Method: "POST", Path: "/things/{id}:poke", Request: Inner{}, RequestOptional: true, Status: 204, Roles: []string{"admin"}})
	d.Add(Operation{Method: "GET", Path: "/public"})
	b := marshal(t, d)
	loaded, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	post := loaded.Paths.Find("/things").Post
	for _, st := range []int{200, 201} {
		if r := post.Responses.Status(st); r == nil || r.Value.Content.Get("application/json") == nil {
			t.Errorf("POST /things: no JSON %d answer", st)
		}
	}
	if post.Description != "Makes a thing." {
		t.Errorf("description %q", post.Description)
	}
	patch := loaded.Paths.Find("/things/{id}").Patch
	for _, mt := range []string{"application/json", "application/merge-patch+json"} {
		m := patch.RequestBody.Value.Content.Get(mt)
		if m == nil {
			t.Fatalf("PATCH: no %s body", mt)
		}
		s := m.Schema.Value
		if len(s.Required) != 0 {
			t.Errorf("PATCH %s: required %v", mt, s.Required)
		}
		opts := []openapi3.SchemaValidationOption{openapi3.EnableJSONSchema2020()}
		for _, ok := range []string{`{}`, `{"inner":{"b":2}}`, `{"inner":null}`, `{"tags":{"x":{"a":"y"},"z":null}}`} {
			var v any
			json.Unmarshal([]byte(ok), &v)
			if err := s.VisitJSON(v, opts...); err != nil {
				t.Errorf("PATCH %s refuses the patch %s: %v", mt, ok, err)
			}
		}
		var v any
		json.Unmarshal([]byte(`{"inner":{"b":"two"}}`), &v)
		if err := s.VisitJSON(v, opts...); err == nil {
			t.Errorf("PATCH %s takes a patch of the wrong type", mt)
		}
	}
	if rb := loaded.Paths.Find("/things/{id}:poke").Post.RequestBody.Value; rb.Required {
		t.Error("an optional body is required")
	}
	if sec := loaded.Paths.Find("/public").Get.Security; sec == nil || len(*sec) != 1 || len((*sec)[0]) != 0 {
		t.Errorf("public operation: security %v, want [{}]", sec)
	}
	if loaded.Info.License == nil || loaded.Info.License.Name != "Apache License 2.0" || len(loaded.Servers) != 1 || loaded.Servers[0].URL != "/" {
		t.Errorf("info %+v, servers %v", loaded.Info, loaded.Servers)
	}
	if tg := loaded.Tags.Get("things"); tg == nil || tg.Description != "Things." {
		t.Errorf("tag %+v", tg)
	}
	for name, op := range map[string]Operation{
		"other status not 2xx":  {Method: "GET", Path: "/x", OtherStatuses: []int{302}},
		"other status twice":    {Method: "GET", Path: "/x", OtherStatuses: []int{200}},
		"other status with 204": {Method: "GET", Path: "/x", Status: 204, OtherStatuses: []int{200}},
		"error is other status": {Method: "GET", Path: "/x", Status: 201, OtherStatuses: []int{200}, Errors: []int{200}},
		"patch without request": {Method: "PATCH", Path: "/x", MergePatch: true},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			New("t", "1", "").Add(op)
		})
	}
}
