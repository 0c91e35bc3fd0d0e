// Package openapi builds the OpenAPI 3.1 description of consentd's HTTP API
// from the same route table the server dispatches on, so the document served
// at /openapi.json cannot drift from the code.
//
// Each route is described by an [Operation] whose request and response bodies
// are given as zero values of their Go types; [Document.MarshalJSON] turns
// those types into JSON Schema (the dialect of OpenAPI 3.1) by reflection,
// following the rules of encoding/json:
//
//   - a named struct type becomes a component, #/components/schemas/<Name>,
//     and is referenced with $ref, so recursive types are fine; when two
//     distinct types share a name, both are qualified with their package name
//     ("api.Consent", "store.Consent"); an anonymous struct is inlined;
//   - properties are named by the json tag; "-" and unexported fields are
//     skipped; the fields of embedded structs are inlined with encoding/json's
//     rules for conflicting names;
//   - a property is required unless its tag has omitempty or omitzero, its
//     type is a pointer, or it is promoted from an embedded pointer; a
//     pointer without omitempty or omitzero is written as null when nil, so
//     its schema is {"anyOf": [<element's schema>, {"type": "null"}]};
//   - time.Time is a date-time string, json.RawMessage and interfaces are any
//     value ({}), []byte is a base64 string, json.Number is a number, other
//     json.Marshaler types are any value, encoding.TextMarshaler types are
//     strings, maps are objects with additionalProperties, slices and arrays
//     are arrays, pointers are their element's schema, named string types
//     are strings, and the ",string" tag option makes a string;
//   - time.Duration is an integer count of nanoseconds, which is what
//     encoding/json writes for it;
//   - the struct tag enum:"a,b,c" gives a string field (or the strings of a
//     slice field) an enum, and doc:"..." gives a property its description;
//   - the struct tag max:"N" gives a string field (or the strings of a slice,
//     or the keys and values of a map) maxLength N, an integer maximum N,
//     and a json.RawMessage the words "at most N bytes of JSON" in its
//     description; min:"N" gives an integer minimum N. The API enforces the
//     same tags when it decodes a body (internal/api, input.go).
//
// Every document also has the RFC 9457 Problem schema, used for each error
// status an operation lists, and the bearer security scheme, required by
// every operation that names the API key roles it admits.
package openapi

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// Param is a query or path parameter of an [Operation].
type Param struct {
	// Name is the parameter's name as it appears in the query string or in
	// the {name} of the path.
	Name string
	// In is "query" or "path"; empty means "query". Path parameters are
	// derived from the path, so a Param with In "path" is only needed to
	// give one a description, a type or an enum.
	In string
	// Description is the parameter's documentation.
	Description string
	// Required marks a query parameter as required; path parameters
	// always are.
	Required bool
	// Type is "string" (the default), "integer" or "boolean".
	Type string
	// Enum lists the values a string parameter may take.
	Enum []string
	// Minimum and Maximum, when set, bound an integer parameter.
	Minimum, Maximum *int
}

// Operation is one route of the API: a method on a path with its request,
// response and error bodies.
type Operation struct {
	// Method is GET, POST, PUT, PATCH or DELETE (HEAD, OPTIONS and TRACE are
	// accepted too). It is case-insensitive and stored in upper case.
	Method string
	// Path is the path template, with {name} for a path parameter. Colons
	// are literal, as in "/v1/consents:batch" or
	// "/v1/parties/{id}:opt-out-all".
	Path string
	// OperationID names the operation uniquely. If empty, it is derived
	// from the method and path: "POST /v1/parties/{id}:opt-out-all" gives
	// "postV1PartiesByIdOptOutAll".
	OperationID string
	// Summary is a one-line description.
	Summary string
	// Description says what the operation does in a few sentences: its
	// effect, whether it is idempotent, and its notable errors.
	Description string
	// Tags group operations in documentation tools.
	Tags []string
	// Roles are the API key roles allowed to call the operation; they are
	// emitted as the extension "x-roles". An operation with roles requires
	// the bearer security scheme; one without roles is public.
	Roles []string
	// Request is nil, or a zero value of the JSON request body's type, such
	// as ConsentWrite{}. A pointer is the same as its element.
	Request any
	// RequestTypes are request media types accepted besides
	// application/json, such as "application/x-ndjson". For line-delimited
	// JSON types (NDJSON, JSON Lines, JSON text sequences) the schema is
	// that of one record: RequestItem's type if set, else the element type
	// when Request is a slice or an array, else Request's type. For other
	// JSON types (+json) it is Request's schema, and for anything else a
	// string.
	RequestTypes []string
	// RequestItem is nil, or a zero value of the type of one record of a
	// line-delimited request media type, for when it is not the one derived
	// from Request. It requires such a type in RequestTypes.
	RequestItem any
	// MergePatch says the request body is an RFC 7396 JSON merge patch of
	// a Request: it is described as application/merge-patch+json (and
	// application/json, which servers commonly take for it too) with a
	// schema of Request's type in which no property is required and every
	// property may be null (a null removes a member).
	MergePatch bool
	// RequestOptional says the request body may be left out (an empty
	// body is the same as the zero value).
	RequestOptional bool
	// Response is nil, or a zero value of the success body's type.
	Response any
	// Status is the success status; zero means 200. 204 has no body, so
	// Response, ResponseTypes and ResponseItem must then be empty.
	Status int
	// OtherStatuses are further success statuses (2xx) that answer the
	// same body as Status, such as 200 beside 201 for an upsert that
	// answers 201 when it created the resource and 200 when it existed.
	OtherStatuses []int
	// ResponseTypes are response media types offered besides
	// application/json, such as "application/x-ndjson" or "text/csv"; their
	// schemas follow the rules of RequestTypes.
	ResponseTypes []string
	// ResponseItem is to ResponseTypes what RequestItem is to RequestTypes.
	ResponseItem any
	// Query are the operation's parameters: query parameters, and the path
	// parameters that need more than the derived default (a required
	// string).
	Query []Param
	// Errors are the operation's error statuses, 400 to 599; each is
	// documented as an application/problem+json body of the Problem schema.
	Errors []int
}

// Document is an OpenAPI 3.1 document built from [Operation]s. Add
// operations once, at start-up; MarshalJSON may then be called from any
// number of goroutines. Document is safe for concurrent use.
type Document struct {
	mu          sync.RWMutex
	title       string
	version     string
	description string
	ops         []Operation
	license     *license
	tagDocs     map[string]string // tag name -> description
	ids         map[string]bool   // operation ids in use
	routes      map[string]bool   // "METHOD template" in use, parameter names erased
	templates   map[string]string // template with parameter names erased -> path
}

// New returns an empty document whose info object has the given title,
// version (of the API, not of OpenAPI) and description.
func New(title, version, description string) *Document {
	return &Document{
		title:       title,
		version:     version,
		description: description,
		ids:         map[string]bool{},
		routes:      map[string]bool{},
		templates:   map[string]string{},
	}
}

// SetLicense sets the API's license: its name and SPDX identifier.
func (d *Document) SetLicense(name, spdx string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.license = &license{Name: name, Identifier: spdx}
}

// DescribeTag gives a tag of the operations its description.
func (d *Document) DescribeTag(name, description string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tagDocs == nil {
		d.tagDocs = map[string]string{}
	}
	d.tagDocs[name] = description
}

// Add adds op to the document. Like http.ServeMux.Handle, it panics when the
// operation is malformed, because the route table is fixed at compile time
// and a mistake in it is a programming error that a test should catch: an
// unknown method, a malformed path, a route or operation id added twice, two
// paths that differ only in their parameter names, a parameter that is
// invalid or not in the path, a status out of range, or a body type that
// cannot be described (such as a channel, a func or an enum tag on a field
// that is not a string).
func (d *Document) Add(op Operation) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ids == nil { // a zero Document
		d.ids, d.routes, d.templates = map[string]bool{}, map[string]bool{}, map[string]string{}
	}
	op, err := normalize(op)
	if err == nil {
		err = d.checkUnique(op)
	}
	if err != nil {
		panic(fmt.Sprintf("openapi: %s %s: %v", op.Method, op.Path, err))
	}
	d.ids[op.OperationID] = true
	tmpl := eraseParams(op.Path)
	d.routes[op.Method+" "+tmpl] = true
	d.templates[tmpl] = op.Path
	d.ops = append(d.ops, op)
}

// Operations returns copies of the operations added, in the order they were
// added, with their defaults filled in: Method in upper case, OperationID
// derived if it was empty, Status 200 if it was zero, In "query" and Type
// "string" for parameters that had none, and Errors sorted without
// duplicates.
func (d *Document) Operations() []Operation {
	d.mu.RLock()
	defer d.mu.RUnlock()
	ops := make([]Operation, len(d.ops))
	for i, op := range d.ops {
		ops[i] = cloneOp(op)
	}
	return ops
}

// MarshalJSON returns the document as JSON. The output depends only on the
// operations added and their order: object keys are sorted, so two calls
// return the same bytes.
func (d *Document) MarshalJSON() ([]byte, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	doc, err := d.build()
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	return json.Marshal(doc)
}

var methods = []string{"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"}

// normalize checks op on its own and fills in its defaults.
func normalize(op Operation) (Operation, error) {
	op = cloneOp(op)
	op.Method = strings.ToUpper(op.Method)
	if !slices.Contains(methods, op.Method) {
		return op, fmt.Errorf("unknown method %q", op.Method)
	}
	names, err := pathParams(op.Path)
	if err != nil {
		return op, err
	}
	if op.OperationID == "" {
		op.OperationID = deriveID(op.Method, op.Path)
	}
	if op.Status == 0 {
		op.Status = http.StatusOK
	}
	if op.Status < 100 || op.Status > 599 {
		return op, fmt.Errorf("status %d out of range", op.Status)
	}
	for _, st := range op.OtherStatuses {
		if st < 200 || st > 299 || st == op.Status {
			return op, fmt.Errorf("other success status %d is not a 2xx besides %d", st, op.Status)
		}
		if st == http.StatusNoContent || op.Status == http.StatusNoContent {
			return op, fmt.Errorf("status 204 cannot share a body with another status")
		}
	}
	slices.Sort(op.OtherStatuses)
	op.OtherStatuses = slices.Compact(op.OtherStatuses)
	if op.MergePatch && op.Request == nil {
		return op, fmt.Errorf("a merge patch without a Request type")
	}
	if op.Status == http.StatusNoContent && (op.Response != nil || op.ResponseItem != nil || len(op.ResponseTypes) > 0) {
		return op, fmt.Errorf("status 204 has no body, but a response is given")
	}
	seen := map[string]bool{}
	for i := range op.Query {
		p := &op.Query[i]
		if p.In == "" {
			p.In = "query"
		}
		if p.Type == "" {
			p.Type = "string"
		}
		switch {
		case p.Name == "":
			return op, fmt.Errorf("parameter %d has no name", i)
		case p.In != "query" && p.In != "path":
			return op, fmt.Errorf("parameter %q: in %q is neither query nor path", p.Name, p.In)
		case p.Type != "string" && p.Type != "integer" && p.Type != "boolean":
			return op, fmt.Errorf("parameter %q: unknown type %q", p.Name, p.Type)
		case len(p.Enum) > 0 && p.Type != "string":
			return op, fmt.Errorf("parameter %q: enum on a %s", p.Name, p.Type)
		case (p.Minimum != nil || p.Maximum != nil) && p.Type != "integer":
			return op, fmt.Errorf("parameter %q: minimum or maximum on a %s", p.Name, p.Type)
		case p.In == "path" && !slices.Contains(names, p.Name):
			return op, fmt.Errorf("path parameter %q is not in the path", p.Name)
		case seen[p.In+" "+p.Name]:
			return op, fmt.Errorf("parameter %q (%s) given twice", p.Name, p.In)
		}
		seen[p.In+" "+p.Name] = true
		if p.In == "path" {
			p.Required = true
		}
	}
	for _, s := range op.Errors {
		if s < 400 || s > 599 {
			return op, fmt.Errorf("error status %d out of range", s)
		}
		if s == op.Status || slices.Contains(op.OtherStatuses, s) {
			return op, fmt.Errorf("error status %d is also a success status", s)
		}
	}
	slices.Sort(op.Errors)
	op.Errors = slices.Compact(op.Errors)
	for i, list := range [][]string{op.RequestTypes, op.ResponseTypes} {
		seq := false
		for _, mt := range list {
			base, _, err := mime.ParseMediaType(mt)
			if err != nil {
				return op, fmt.Errorf("media type %q: %v", mt, err)
			}
			seq = seq || isJSONSeq(base)
		}
		if item := []any{op.RequestItem, op.ResponseItem}[i]; item != nil && !seq {
			return op, fmt.Errorf("an item type without a line-delimited JSON media type")
		}
	}
	// Describe the bodies once, to report types that cannot be described.
	g := newGen()
	for _, body := range []any{op.Request, op.Response, op.RequestItem, op.ResponseItem} {
		if body != nil {
			if _, err := g.bodySchemas(body); err != nil {
				return op, err
			}
		}
	}
	return op, nil
}

// checkUnique checks op against the operations already added.
func (d *Document) checkUnique(op Operation) error {
	tmpl := eraseParams(op.Path)
	if d.routes[op.Method+" "+tmpl] {
		return fmt.Errorf("route added twice")
	}
	if p, ok := d.templates[tmpl]; ok && p != op.Path {
		return fmt.Errorf("path differs from %q only in parameter names", p)
	}
	if d.ids[op.OperationID] {
		return fmt.Errorf("operation id %q used twice; set OperationID", op.OperationID)
	}
	return nil
}

func cloneOp(op Operation) Operation {
	op.Tags = slices.Clone(op.Tags)
	op.Roles = slices.Clone(op.Roles)
	op.RequestTypes = slices.Clone(op.RequestTypes)
	op.ResponseTypes = slices.Clone(op.ResponseTypes)
	op.Errors = slices.Clone(op.Errors)
	op.OtherStatuses = slices.Clone(op.OtherStatuses)
	op.Query = slices.Clone(op.Query)
	for i := range op.Query {
		op.Query[i].Enum = slices.Clone(op.Query[i].Enum)
	}
	return op
}

// pathParams returns the names of the {name} parameters of path in order.
func pathParams(path string) ([]string, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("path does not start with /")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("path has a query or fragment")
	}
	var names []string
	rest := path
	for {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			return names, nil
		}
		if rest[i] == '}' {
			return nil, fmt.Errorf("unbalanced }")
		}
		j := strings.IndexAny(rest[i+1:], "{}")
		if j < 0 || rest[i+1+j] != '}' {
			return nil, fmt.Errorf("unbalanced {")
		}
		name := rest[i+1 : i+1+j]
		if !isIdent(name) {
			return nil, fmt.Errorf("path parameter {%s} is not an identifier", name)
		}
		if slices.Contains(names, name) {
			return nil, fmt.Errorf("path parameter {%s} appears twice", name)
		}
		names = append(names, name)
		rest = rest[i+2+j:]
	}
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// eraseParams turns "/a/{id}:x" into "/a/{}:x": OpenAPI holds two templates
// that differ only in parameter names to be the same path.
func eraseParams(path string) string {
	var b strings.Builder
	in := false
	for _, c := range path {
		switch {
		case c == '{':
			in = true
			b.WriteRune(c)
		case c == '}':
			in = false
			b.WriteRune(c)
		case !in:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// deriveID makes an operation id from the method and path: the method in
// lower case, then each word of the path capitalized, with "By" before a
// parameter name: "GET /v1/consents/{id}" gives "getV1ConsentsById".
func deriveID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	param := false
	word := func(w string) {
		if w == "" {
			return
		}
		if param {
			b.WriteString("By")
			param = false
		}
		b.WriteString(strings.ToUpper(w[:1]))
		b.WriteString(w[1:])
	}
	start := -1
	for i, c := range path + "/" {
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if alnum {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			word(path[start:i])
			start = -1
		}
		switch c {
		case '{':
			param = true
		case '}':
			param = false
		}
	}
	return b.String()
}

// The document's JSON shape. Struct fields marshal in declaration order and
// maps in key order, so output is deterministic.
type (
	document struct {
		OpenAPI    string              `json:"openapi"`
		Info       info                `json:"info"`
		Servers    []server            `json:"servers"`
		Tags       []tag               `json:"tags,omitempty"`
		Paths      map[string]pathItem `json:"paths"`
		Components components          `json:"components"`
	}
	info struct {
		Title       string   `json:"title"`
		Version     string   `json:"version"`
		Description string   `json:"description,omitempty"`
		License     *license `json:"license,omitempty"`
	}
	license struct {
		Name       string `json:"name"`
		Identifier string `json:"identifier,omitempty"`
	}
	server struct {
		URL         string `json:"url"`
		Description string `json:"description,omitempty"`
	}
	tag struct {
		Name        string `json:"name"`
		Description string `json:"description,omitempty"`
	}
	pathItem  map[string]*operation // keyed by lower-case method
	operation struct {
		OperationID string                `json:"operationId"`
		Summary     string                `json:"summary,omitempty"`
		Description string                `json:"description,omitempty"`
		Tags        []string              `json:"tags,omitempty"`
		Parameters  []parameter           `json:"parameters,omitempty"`
		RequestBody *requestBody          `json:"requestBody,omitempty"`
		Responses   map[string]response   `json:"responses"`
		Security    []map[string][]string `json:"security,omitempty"`
		Roles       []string              `json:"x-roles,omitempty"`
	}
	parameter struct {
		Name        string  `json:"name"`
		In          string  `json:"in"`
		Description string  `json:"description,omitempty"`
		Required    bool    `json:"required,omitempty"`
		Schema      *schema `json:"schema"`
	}
	requestBody struct {
		Required bool                 `json:"required"`
		Content  map[string]mediaType `json:"content"`
	}
	response struct {
		Description string               `json:"description"`
		Content     map[string]mediaType `json:"content,omitempty"`
	}
	mediaType struct {
		Schema *schema `json:"schema"`
	}
	components struct {
		Schemas         map[string]*schema        `json:"schemas"`
		SecuritySchemes map[string]securityScheme `json:"securitySchemes"`
	}
	securityScheme struct {
		Type        string `json:"type"`
		Scheme      string `json:"scheme"`
		Description string `json:"description,omitempty"`
	}
)

const (
	problemName = "Problem"
	problemType = "application/problem+json"
	// mergePatchType is RFC 7396's media type of a JSON merge patch.
	mergePatchType = "application/merge-patch+json"
	jsonType       = "application/json"
	bearerScheme   = "bearer"
)

// build assembles the document. It fails only if a body type cannot be
// described, which Add has already ruled out.
func (d *Document) build() (*document, error) {
	g := newGen()
	doc := &document{
		OpenAPI: "3.1.0",
		Info:    info{Title: d.title, Version: d.version, Description: d.description, License: d.license},
		// The server the document is served from: paths are relative to
		// its root.
		Servers: []server{{URL: "/", Description: "the server that serves this document"}},
		Paths:   map[string]pathItem{},
		Components: components{
			Schemas: map[string]*schema{},
			SecuritySchemes: map[string]securityScheme{
				bearerScheme: {Type: "http", Scheme: "bearer", Description: "An API key, sent in the Authorization header as a bearer token."},
			},
		},
	}
	tagSeen := map[string]bool{}
	var all []*schema // every schema built here, for resolveRefs
	for _, op := range d.ops {
		o := &operation{
			OperationID: op.OperationID,
			Summary:     op.Summary,
			Description: op.Description,
			Tags:        op.Tags,
			Responses:   map[string]response{},
			Roles:       op.Roles,
		}
		for _, t := range op.Tags {
			if !tagSeen[t] {
				tagSeen[t] = true
				doc.Tags = append(doc.Tags, tag{Name: t, Description: d.tagDocs[t]})
			}
		}
		if len(op.Roles) > 0 {
			o.Security = []map[string][]string{{bearerScheme: {}}}
		} else {
			// Public: the empty requirement says no credentials.
			o.Security = []map[string][]string{{}}
		}
		o.Parameters = parameters(op)
		if op.Request != nil || len(op.RequestTypes) > 0 {
			content, err := g.content(op.Request, op.RequestItem, op.RequestTypes)
			if err != nil {
				return nil, fmt.Errorf("%s %s: request: %w", op.Method, op.Path, err)
			}
			if op.MergePatch {
				patch, err := g.patchSchema(op.Request)
				if err != nil {
					return nil, fmt.Errorf("%s %s: request: %w", op.Method, op.Path, err)
				}
				content[jsonType] = mediaType{Schema: patch}
				content[mergePatchType] = mediaType{Schema: patch.clone()}
			}
			o.RequestBody = &requestBody{Required: !op.RequestOptional, Content: content}
			for _, mt := range content {
				all = append(all, mt.Schema)
			}
		}
		ok := response{Description: statusText(op.Status)}
		if op.Response != nil || len(op.ResponseTypes) > 0 {
			content, err := g.content(op.Response, op.ResponseItem, op.ResponseTypes)
			if err != nil {
				return nil, fmt.Errorf("%s %s: response: %w", op.Method, op.Path, err)
			}
			ok.Content = content
			for _, mt := range content {
				all = append(all, mt.Schema)
			}
		}
		o.Responses[fmt.Sprint(op.Status)] = ok
		for _, st := range op.OtherStatuses {
			other := response{Description: statusText(st), Content: map[string]mediaType{}}
			for mt, m := range ok.Content {
				c := m.Schema.clone()
				other.Content[mt] = mediaType{Schema: c}
				all = append(all, c)
			}
			if len(other.Content) == 0 {
				other.Content = nil
			}
			o.Responses[fmt.Sprint(st)] = other
		}
		for _, s := range op.Errors {
			ref := &schema{Ref: "#/components/schemas/" + problemName}
			o.Responses[fmt.Sprint(s)] = response{
				Description: statusText(s),
				Content:     map[string]mediaType{problemType: {Schema: ref}},
			}
		}
		item := doc.Paths[op.Path]
		if item == nil {
			item = pathItem{}
			doc.Paths[op.Path] = item
		}
		item[strings.ToLower(op.Method)] = o
	}
	names := componentNames(g.order, []string{problemName})
	for t, s := range g.structs {
		doc.Components.Schemas[names[t]] = s
		all = append(all, s)
	}
	for _, p := range doc.Paths {
		for _, o := range p {
			for _, prm := range o.Parameters {
				all = append(all, prm.Schema)
			}
		}
	}
	for _, s := range all {
		resolveRefs(s, names)
	}
	doc.Components.Schemas[problemName] = problemSchema()
	return doc, nil
}

// parameters returns op's path parameters in path order, then its query
// parameters in the order given.
func parameters(op Operation) []parameter {
	var ps []parameter
	names, _ := pathParams(op.Path) // checked by Add
	for _, n := range names {
		p := Param{Name: n, In: "path", Type: "string"}
		for _, q := range op.Query {
			if q.In == "path" && q.Name == n {
				p = q
			}
		}
		ps = append(ps, param(p, true))
	}
	for _, q := range op.Query {
		if q.In == "query" {
			ps = append(ps, param(q, q.Required))
		}
	}
	return ps
}

func param(p Param, required bool) parameter {
	return parameter{
		Name:        p.Name,
		In:          p.In,
		Description: p.Description,
		Required:    required,
		Schema:      &schema{Type: p.Type, Enum: slices.Clone(p.Enum), Minimum: p.Minimum, Maximum: p.Maximum},
	}
}

// content describes a body of the Go type of v (if not nil) as
// application/json, and as each of the extra media types, whose records
// are of the type of item if that is not nil.
func (g *gen) content(v, item any, extra []string) (map[string]mediaType, error) {
	content := map[string]mediaType{}
	var whole, record *schema
	var err error
	if v != nil {
		if whole, err = g.bodySchemas(v); err != nil {
			return nil, err
		}
		if record, err = g.recordSchema(v); err != nil {
			return nil, err
		}
		content[jsonType] = mediaType{Schema: whole}
	}
	if item != nil {
		if record, err = g.bodySchemas(item); err != nil {
			return nil, err
		}
	}
	for _, mt := range extra {
		base, _, _ := mime.ParseMediaType(mt) // checked by Add
		var s *schema
		switch {
		case base == jsonType && v != nil:
			continue // already there
		case isJSONSeq(base):
			s = record
		case base == jsonType || strings.HasSuffix(base, "+json"):
			s = whole
		default:
			s = &schema{Type: "string"}
		}
		if s == nil {
			s = &schema{} // JSON, but of no declared type
		} else {
			s = s.clone()
		}
		content[mt] = mediaType{Schema: s}
	}
	return content, nil
}

// isJSONSeq reports whether a media type is a sequence of JSON texts, one
// record per line or per RS-separated item.
func isJSONSeq(base string) bool {
	switch base {
	case "application/x-ndjson", "application/ndjson", "application/jsonl",
		"application/x-jsonlines", "application/jsonlines", "application/json-seq":
		return true
	}
	return false
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return fmt.Sprintf("Status %d", code)
}

// problemSchema is RFC 9457's problem details object with consentd's
// extension members code and fields.
func problemSchema() *schema {
	str := func(desc string) *schema { return &schema{Type: "string", Description: desc} }
	field := &schema{
		Type: "object",
		Properties: map[string]*schema{
			"field":   str("The offending input field."),
			"code":    str("The stable error code of this field's problem."),
			"message": str("A human-readable explanation."),
		},
		Required: []string{"field", "code", "message"},
	}
	return &schema{
		Type:        "object",
		Description: "A problem details object (RFC 9457).",
		Properties: map[string]*schema{
			"type":     {Type: "string", Format: "uri-reference", Description: "A URI reference that identifies the problem type."},
			"title":    str("A short, human-readable summary of the problem type."),
			"status":   {Type: "integer", Description: "The HTTP status code."},
			"detail":   str("A human-readable explanation specific to this occurrence."),
			"instance": {Type: "string", Format: "uri-reference", Description: "A URI reference that identifies this occurrence."},
			"code":     str("The stable, machine-readable error code; clients switch on it."),
			"fields":   {Type: "array", Items: field, Description: "The input fields that failed validation."},
		},
		Required: []string{"code"},
	}
}

// componentNames names the struct types: each by its own name, unless
// another type (or a reserved name) has that name, in which case it is
// qualified by its package name, then by its package path, and as a last
// resort numbered in order of appearance. Names depend only on the set of
// types and their order, never on map iteration.
func componentNames(types []reflect.Type, reserved []string) map[reflect.Type]string {
	names := map[reflect.Type]string{}
	taken := map[string]bool{}
	for _, r := range reserved {
		taken[r] = true
	}
	levels := []func(reflect.Type) string{
		shortName,
		func(t reflect.Type) string { return sanitize(pkgName(t.PkgPath())) + "." + shortName(t) },
		func(t reflect.Type) string { return sanitize(t.PkgPath()) + "." + shortName(t) },
	}
	pending := types
	for _, level := range levels {
		count := map[string]int{}
		for _, t := range pending {
			count[level(t)]++
		}
		var next []reflect.Type
		for _, t := range pending {
			if n := level(t); count[n] == 1 && !taken[n] {
				names[t] = n
				taken[n] = true
			} else {
				next = append(next, t)
			}
		}
		pending = next
	}
	for _, t := range pending {
		base := sanitize(t.PkgPath()) + "." + shortName(t)
		for i := 2; ; i++ {
			if n := fmt.Sprintf("%s_%d", base, i); !taken[n] {
				names[t] = n
				taken[n] = true
				break
			}
		}
	}
	return names
}

func pkgName(path string) string {
	return path[strings.LastIndex(path, "/")+1:]
}

// shortName is t's name, with the type arguments of a generic type reduced
// to their unqualified names: Page[github.com/x/y.Consent] gives
// Page_Consent.
func shortName(t reflect.Type) string {
	name := t.Name()
	i := strings.IndexByte(name, '[')
	if i < 0 {
		return name
	}
	var b strings.Builder
	b.WriteString(name[:i])
	// Drop the package path of each qualified name in the arguments.
	args := name[i:]
	start := -1
	flush := func(end int) {
		if start >= 0 {
			w := args[start:end]
			b.WriteString(w[strings.LastIndex(w, ".")+1:])
			start = -1
		}
	}
	for j, c := range args {
		if c == '_' || c == '.' || c == '/' || c == '-' || c == '~' ||
			'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			if start < 0 {
				start = j
			}
			continue
		}
		flush(j)
		b.WriteByte('_')
	}
	flush(len(args))
	return sanitize(b.String())
}

// sanitize makes s a valid component name: characters outside
// [A-Za-z0-9._-] become _, runs of _ are merged and trailing _ dropped.
func sanitize(s string) string {
	var b strings.Builder
	for _, c := range s {
		ok := c == '.' || c == '-' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !ok {
			c = '_'
		}
		if c == '_' && strings.HasSuffix(b.String(), "_") {
			continue
		}
		b.WriteRune(c)
	}
	return strings.TrimRight(b.String(), "_")
}
