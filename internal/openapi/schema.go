package openapi

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
)

// schema is a JSON Schema (2020-12, as in OpenAPI 3.1), restricted to the
// keywords this package emits. An empty schema accepts any value.
type schema struct {
	Ref                  string             `json:"$ref,omitempty"`
	AnyOf                []*schema          `json:"anyOf,omitempty"`
	Type                 string             `json:"type,omitempty"`
	Format               string             `json:"format,omitempty"`
	ContentEncoding      string             `json:"contentEncoding,omitempty"`
	Description          string             `json:"description,omitempty"`
	Enum                 []string           `json:"enum,omitempty"`
	Pattern              string             `json:"pattern,omitempty"`
	MaxLength            *int               `json:"maxLength,omitempty"`
	Minimum              *int               `json:"minimum,omitempty"`
	Maximum              *int               `json:"maximum,omitempty"`
	Items                *schema            `json:"items,omitempty"`
	MinItems             *int               `json:"minItems,omitempty"`
	MaxItems             *int               `json:"maxItems,omitempty"`
	Properties           map[string]*schema `json:"properties,omitempty"`
	Required             []string           `json:"required,omitempty"`
	AdditionalProperties *schema            `json:"additionalProperties,omitempty"`
	PropertyNames        *schema            `json:"propertyNames,omitempty"`

	// refType is the struct type a $ref points to, until resolveRefs
	// names it.
	refType reflect.Type
}

// clone returns a deep copy of s.
func (s *schema) clone() *schema {
	if s == nil {
		return nil
	}
	c := *s
	c.Enum = slices.Clone(s.Enum)
	c.Required = slices.Clone(s.Required)
	if s.AnyOf != nil {
		c.AnyOf = make([]*schema, len(s.AnyOf))
		for i, a := range s.AnyOf {
			c.AnyOf[i] = a.clone()
		}
	}
	c.Items = s.Items.clone()
	c.AdditionalProperties = s.AdditionalProperties.clone()
	c.PropertyNames = s.PropertyNames.clone()
	if s.Properties != nil {
		c.Properties = make(map[string]*schema, len(s.Properties))
		for k, v := range s.Properties {
			c.Properties[k] = v.clone()
		}
	}
	return &c
}

// resolveRefs sets the $ref of every schema in the tree s that points to a
// struct type.
func resolveRefs(s *schema, names map[reflect.Type]string) {
	if s == nil {
		return
	}
	if s.refType != nil {
		s.Ref = "#/components/schemas/" + names[s.refType]
	}
	for _, a := range s.AnyOf {
		resolveRefs(a, names)
	}
	resolveRefs(s.Items, names)
	resolveRefs(s.AdditionalProperties, names)
	resolveRefs(s.PropertyNames, names)
	for _, p := range s.Properties {
		resolveRefs(p, names)
	}
}

var (
	timeType          = reflect.TypeFor[time.Time]()
	durationType      = reflect.TypeFor[time.Duration]()
	rawMessageType    = reflect.TypeFor[json.RawMessage]()
	numberType        = reflect.TypeFor[json.Number]()
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// gen turns Go types into schemas. Named struct types become components:
// their schemas are kept in structs, and refer to each other by refType
// until the whole set is known and can be named.
type gen struct {
	structs map[reflect.Type]*schema // nil while being built
	order   []reflect.Type           // struct types in order of appearance
	active  map[reflect.Type]bool    // named non-struct types being built
}

func newGen() *gen {
	return &gen{structs: map[reflect.Type]*schema{}, active: map[reflect.Type]bool{}}
}

// bodySchemas returns the schema of the type of v, a body value.
func (g *gen) bodySchemas(v any) (*schema, error) {
	return g.schemaOf(reflect.TypeOf(v))
}

// recordSchema returns the schema of one record of a line-delimited stream
// of v: that of v's element type if v is a slice or array (other than
// []byte), else that of v's type.
func (g *gen) recordSchema(v any) (*schema, error) {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && !isBytes(t) && !special(t) {
		return g.schemaOf(t.Elem())
	}
	return g.schemaOf(t)
}

// special reports whether t has a schema of its own, rather than the one
// its kind would give.
func special(t reflect.Type) bool {
	switch t {
	case timeType, durationType, rawMessageType, numberType:
		return true
	}
	return implements(t, jsonMarshalerType) || implements(t, textMarshalerType)
}

// implements reports whether t or *t implements iface, as encoding/json
// would use it for an addressable value.
func implements(t, iface reflect.Type) bool {
	return t.Implements(iface) || t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(iface)
}

// isBytes reports whether encoding/json writes a value of type t as a base64
// string: a slice of a byte kind that does not marshal itself.
func isBytes(t reflect.Type) bool {
	if t.Kind() != reflect.Slice || t.Elem().Kind() != reflect.Uint8 {
		return false
	}
	p := reflect.PointerTo(t.Elem())
	return !p.Implements(jsonMarshalerType) && !p.Implements(textMarshalerType)
}

// schemaOf returns the schema of values of type t. It fails for types
// encoding/json cannot marshal and for invalid enum tags.
func (g *gen) schemaOf(t reflect.Type) (*schema, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case timeType:
		return &schema{Type: "string", Format: "date-time"}, nil
	case durationType:
		return &schema{Type: "integer", Format: "int64", Description: "A duration in nanoseconds."}, nil
	case rawMessageType:
		return &schema{}, nil
	case numberType:
		return &schema{Type: "number"}, nil
	}
	if implements(t, jsonMarshalerType) {
		return &schema{}, nil // its own encoding, of unknown shape
	}
	if implements(t, textMarshalerType) {
		return &schema{Type: "string"}, nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return &schema{Type: "boolean"}, nil
	case reflect.Int8, reflect.Int16, reflect.Int32:
		return &schema{Type: "integer", Format: "int32"}, nil
	case reflect.Int, reflect.Int64:
		return &schema{Type: "integer", Format: "int64"}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		zero := 0
		return &schema{Type: "integer", Minimum: &zero}, nil
	case reflect.Float32:
		return &schema{Type: "number", Format: "float"}, nil
	case reflect.Float64:
		return &schema{Type: "number", Format: "double"}, nil
	case reflect.String:
		return &schema{Type: "string"}, nil
	case reflect.Interface:
		return &schema{}, nil
	case reflect.Struct:
		if t.Name() == "" {
			return g.structSchema(t)
		}
		if _, ok := g.structs[t]; !ok {
			g.structs[t] = nil // mark, so recursion stops here
			g.order = append(g.order, t)
			s, err := g.structSchema(t)
			if err != nil {
				return nil, err
			}
			g.structs[t] = s
		}
		return &schema{refType: t}, nil
	case reflect.Map, reflect.Slice, reflect.Array:
		if t.Name() != "" {
			if g.active[t] {
				return nil, fmt.Errorf("type %v is recursive without a struct; it cannot be described", t)
			}
			g.active[t] = true
			defer delete(g.active, t)
		}
		return g.containerSchema(t)
	}
	return nil, fmt.Errorf("type %v cannot be marshalled to JSON", t)
}

func (g *gen) containerSchema(t reflect.Type) (*schema, error) {
	if isBytes(t) {
		return &schema{Type: "string", ContentEncoding: "base64"}, nil
	}
	elem, err := g.schemaOf(t.Elem())
	if err != nil {
		return nil, err
	}
	switch t.Kind() {
	case reflect.Slice:
		return &schema{Type: "array", Items: elem}, nil
	case reflect.Array:
		n := t.Len()
		return &schema{Type: "array", Items: elem, MinItems: &n, MaxItems: &n}, nil
	}
	// A map. encoding/json accepts string, integer and TextMarshaler keys.
	s := &schema{Type: "object", AdditionalProperties: elem}
	k := t.Key()
	switch {
	case k.Kind() == reflect.String:
	case implements(k, textMarshalerType):
	case k.Kind() >= reflect.Int && k.Kind() <= reflect.Int64:
		s.PropertyNames = &schema{Type: "string", Pattern: "^-?[0-9]+$"}
	case k.Kind() >= reflect.Uint && k.Kind() <= reflect.Uintptr:
		s.PropertyNames = &schema{Type: "string", Pattern: "^[0-9]+$"}
	default:
		return nil, fmt.Errorf("map key type %v cannot be marshalled to JSON", k)
	}
	return s, nil
}

// structSchema returns the object schema of the struct type t.
func (g *gen) structSchema(t reflect.Type) (*schema, error) {
	s := &schema{Type: "object"}
	for _, f := range typeFields(t) {
		fs, err := g.fieldSchema(f)
		if err != nil {
			return nil, fmt.Errorf("%v.%s: %w", t, f.goName, err)
		}
		if s.Properties == nil {
			s.Properties = map[string]*schema{}
		}
		s.Properties[f.name] = fs
		if f.required {
			s.Required = append(s.Required, f.name)
		}
	}
	return s, nil
}

func (g *gen) fieldSchema(f field) (*schema, error) {
	var s *schema
	if f.quoted {
		s = &schema{Type: "string"}
	} else {
		var err error
		if s, err = g.schemaOf(f.typ); err != nil {
			return nil, err
		}
	}
	if tag, ok := f.tag.Lookup("enum"); ok {
		values, err := parseEnum(tag)
		if err != nil {
			return nil, err
		}
		target := s
		for target.Type == "array" && target.Items != nil {
			target = target.Items
		}
		if target.Type != "string" || target.Format != "" || target.ContentEncoding != "" {
			return nil, fmt.Errorf("enum tag on a field that is not a string or a list of strings")
		}
		target.Enum = values
	}
	note, err := applyLimits(s, f.tag)
	if err != nil {
		return nil, err
	}
	if f.nullable && !reflect.DeepEqual(s, &schema{}) {
		s = &schema{AnyOf: []*schema{s, {Type: "null"}}}
	}
	if doc := f.tag.Get("doc"); doc != "" {
		s.Description = doc
	}
	if note != "" {
		s.Description = strings.TrimPrefix(s.Description+"; "+note, "; ")
	}
	return s, nil
}

// applyLimits sets the max and min tags on s: maxLength on strings (those
// of arrays, and the keys and string values of maps, too), maximum and minimum on
// integers. For a field of any JSON value (json.RawMessage), whose size
// JSON Schema cannot state, it returns a note for the description.
func applyLimits(s *schema, tag reflect.StructTag) (note string, err error) {
	bound := func(name string) (*int, error) {
		v, ok := tag.Lookup(name)
		if !ok {
			return nil, nil
		}
		var n int
		if _, err := fmt.Sscanf(v, "%d", &n); err != nil || fmt.Sprint(n) != v {
			return nil, fmt.Errorf("%s tag %q is not an integer", name, v)
		}
		return &n, nil
	}
	max, err := bound("max")
	if err != nil {
		return "", err
	}
	min, err := bound("min")
	if err != nil || max == nil && min == nil {
		return "", err
	}
	target := s
	for {
		if target.Type == "array" && target.Items != nil {
			target = target.Items
		} else if target.Type == "object" && target.AdditionalProperties != nil {
			if max != nil && target.PropertyNames == nil {
				target.PropertyNames = &schema{Type: "string", MaxLength: max}
			}
			target = target.AdditionalProperties
			if target.refType != nil {
				return "", nil // a map of objects: max bounds its keys
			}
		} else {
			break
		}
	}
	switch {
	case target.Type == "string" && target.Format == "" && target.ContentEncoding == "" && min == nil:
		target.MaxLength = max
	case target.Type == "integer":
		target.Minimum, target.Maximum = min, max
	case reflect.DeepEqual(target, &schema{}) && min == nil:
		return fmt.Sprintf("at most %d bytes of JSON", *max), nil
	default:
		return "", fmt.Errorf("max or min tag on a field that is not a string, an integer or a JSON value")
	}
	return "", nil
}

func parseEnum(tag string) ([]string, error) {
	var values []string
	for v := range strings.SplitSeq(tag, ",") {
		v = strings.TrimSpace(v)
		if v == "" {
			return nil, fmt.Errorf("enum tag %q has an empty value", tag)
		}
		if slices.Contains(values, v) {
			return nil, fmt.Errorf("enum tag %q repeats %q", tag, v)
		}
		values = append(values, v)
	}
	return values, nil
}

// field is a property of a struct as encoding/json sees it.
type field struct {
	name     string            // JSON name
	goName   string            // Go name, for errors
	tagged   bool              // name comes from the json tag
	index    []int             // path through embedded structs
	typ      reflect.Type      // the field's type
	tag      reflect.StructTag // for enum and doc
	quoted   bool              // the ",string" option applies
	required bool
	nullable bool // a pointer without omitempty or omitzero: nil is null
}

// typeFields returns the fields encoding/json marshals for the struct type
// t, in the order it marshals them. It follows encoding/json's typeFields:
// the fields of embedded structs are promoted, and of several fields with
// one name the least deeply embedded wins, a tagged one breaking a tie, and
// if that leaves several, none is marshalled.
func typeFields(t reflect.Type) []field {
	type level struct {
		typ   reflect.Type
		index []int
		opt   bool // reached through an embedded pointer, so may be absent
	}
	var fields []field
	current := []level{}
	next := []level{{typ: t}}
	var count, nextCount map[reflect.Type]int
	visited := map[reflect.Type]bool{}
	for len(next) > 0 {
		current, next = next, current[:0]
		count, nextCount = nextCount, map[reflect.Type]int{}
		for _, l := range current {
			if visited[l.typ] {
				continue
			}
			visited[l.typ] = true
			for i := range l.typ.NumField() {
				sf := l.typ.Field(i)
				if sf.Anonymous {
					ft := sf.Type
					if ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !validTagName(name) {
					name = ""
				}
				index := append(slices.Clone(l.index), i)
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if name != "" || !sf.Anonymous || ft.Kind() != reflect.Struct {
					f := field{
						name:   name,
						goName: sf.Name,
						tagged: name != "",
						index:  index,
						typ:    sf.Type,
						tag:    sf.Tag,
					}
					if f.name == "" {
						f.name = sf.Name
					}
					omit := false
					for o := range strings.SplitSeq(opts, ",") {
						switch o {
						case "omitempty", "omitzero":
							omit = true
						case "string":
							switch ft.Kind() {
							case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
								reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
								reflect.Float32, reflect.Float64, reflect.String:
								f.quoted = true
							}
						}
					}
					f.required = !omit && !l.opt && sf.Type.Kind() != reflect.Pointer
					f.nullable = !omit && sf.Type.Kind() == reflect.Pointer
					fields = append(fields, f)
					if count[l.typ] > 1 {
						// The same struct embedded twice at one level:
						// its fields annihilate each other.
						fields = append(fields, fields[len(fields)-1])
					}
					continue
				}
				nextCount[ft]++
				if nextCount[ft] == 1 {
					next = append(next, level{typ: ft, index: index, opt: l.opt || sf.Type.Kind() == reflect.Pointer})
				}
			}
		}
	}
	sort.SliceStable(fields, func(i, j int) bool {
		a, b := fields[i], fields[j]
		if a.name != b.name {
			return a.name < b.name
		}
		if len(a.index) != len(b.index) {
			return len(a.index) < len(b.index)
		}
		if a.tagged != b.tagged {
			return a.tagged
		}
		return slices.Compare(a.index, b.index) < 0
	})
	var out []field
	for i := 0; i < len(fields); {
		j := i + 1
		for j < len(fields) && fields[j].name == fields[i].name {
			j++
		}
		if f, ok := dominant(fields[i:j]); ok {
			out = append(out, f)
		}
		i = j
	}
	sort.Slice(out, func(i, j int) bool { return slices.Compare(out[i].index, out[j].index) < 0 })
	return out
}

// dominant picks the field that wins among fields of one name, sorted by
// depth then taggedness: the first, unless the second ties with it.
func dominant(fs []field) (field, bool) {
	if len(fs) > 1 && len(fs[0].index) == len(fs[1].index) && fs[0].tagged == fs[1].tagged {
		return field{}, false
	}
	return fs[0], true
}

// validTagName reports whether encoding/json accepts s as a JSON name.
func validTagName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
			// Any punctuation but backslash and quotes.
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

// patchSchema returns the schema of an RFC 7396 JSON merge patch of a value
// of v's type: its object schemas, inlined, with no required property and
// every property nullable, since a patch names only what it changes and a
// null removes a member.
func (g *gen) patchSchema(v any) (*schema, error) {
	s, err := g.bodySchemas(v)
	if err != nil {
		return nil, err
	}
	return g.patchOf(s, 0), nil
}

// maxPatchDepth bounds how deep patchOf inlines components; below it a
// component is referenced whole, which also ends recursive types.
const maxPatchDepth = 4

func (g *gen) patchOf(s *schema, depth int) *schema {
	if s.refType != nil && depth < maxPatchDepth && g.structs[s.refType] != nil {
		inline := g.structs[s.refType].clone()
		if s.Description != "" {
			inline.Description = s.Description
		}
		s = inline
	} else {
		s = s.clone()
	}
	for i, a := range s.AnyOf {
		s.AnyOf[i] = g.patchOf(a, depth)
	}
	if s.Type == "object" {
		s.Required = nil
		for k, p := range s.Properties {
			s.Properties[k] = nullable(g.patchOf(p, depth+1))
		}
		if s.AdditionalProperties != nil {
			s.AdditionalProperties = nullable(g.patchOf(s.AdditionalProperties, depth+1))
		}
	}
	return s
}

// nullable returns s, also admitting null.
func nullable(s *schema) *schema {
	if reflect.DeepEqual(s, &schema{}) || reflect.DeepEqual(s, &schema{Description: s.Description}) {
		return s // any value already
	}
	for _, a := range s.AnyOf {
		if a.Type == "null" {
			return s
		}
	}
	desc := s.Description
	s.Description = ""
	return &schema{AnyOf: []*schema{s, {Type: "null"}}, Description: desc}
}
