package openapi

import (
	"encoding/json"
	"testing"
)

// TestLimitTags: max and min tags become maxLength (strings, the strings of
// arrays, map keys and string values), minimum and maximum (integers), and a
// description note (json.RawMessage); integer query parameters take
// Minimum and Maximum; a tag on another kind of field, or a bound on a
// non-integer parameter, panics in Add.
func TestLimitTags(t *testing.T) {
	type Item struct {
		N string `json:"n"`
	}
	type Limited struct {
		Name    string            `json:"name" max:"200"`
		Tags    []string          `json:"tags" max:"16"`
		Labels  map[string]string `json:"labels" max:"32"`
		Items   map[string]Item   `json:"items" max:"8"`
		Limit   *int              `json:"limit,omitempty" min:"1" max:"1000"`
		Details json.RawMessage   `json:"details,omitempty" max:"4096" doc:"anything"`
	}
	one, max := 1, 1000
	d := New("t", "1", "")
	d.Add(Operation{Method: "POST", Path: "/x", Request: Limited{}, Query: []Param{{Name: "limit", Type: "integer", Minimum: &one, Maximum: &max}}})
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Schema map[string]any `json:"schema"`
			} `json:"parameters"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(marshal(t, d), &doc); err != nil {
		t.Fatal(err)
	}
	p := doc.Components.Schemas["Limited"].Properties
	for _, c := range []struct {
		got  any
		want any
	}{
		{p["name"]["maxLength"], 200.0},
		{p["tags"]["items"].(map[string]any)["maxLength"], 16.0},
		{p["labels"]["propertyNames"].(map[string]any)["maxLength"], 32.0},
		{p["labels"]["additionalProperties"].(map[string]any)["maxLength"], 32.0},
		{p["items"]["propertyNames"].(map[string]any)["maxLength"], 8.0},
		{p["limit"]["minimum"], 1.0},
		{p["limit"]["maximum"], 1000.0},
		{p["details"]["description"], "anything; at most 4096 bytes of JSON"},
		{doc.Paths["/x"]["post"].Parameters[0].Schema["minimum"], 1.0},
		{doc.Paths["/x"]["post"].Parameters[0].Schema["maximum"], 1000.0},
	} {
		if c.got != c.want {
			t.Errorf("got %v; want %v\n%v", c.got, c.want, p)
		}
	}

	type BadMax struct {
		B bool `json:"b" max:"1"`
	}
	type BadNumber struct {
		S string `json:"s" max:"ten"`
	}
	for name, op := range map[string]Operation{
		"max on a bool":     {Method: "POST", Path: "/x", Request: BadMax{}},
		"max not a number":  {Method: "POST", Path: "/x", Request: BadNumber{}},
		"maximum on string": {Method: "GET", Path: "/x", Query: []Param{{Name: "a", Maximum: &max}}},
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
