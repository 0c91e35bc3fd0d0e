package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/consentd/consentd"
)

// This file checks a decoded JSON body against the struct tags of its
// type: every string (struct fields, slice elements, map keys and values,
// the strings inside json.RawMessage and interface values) must be
// storable text (consentd.TextProblem), and a field tagged max:"N" holds at
// most N bytes (a string, each string of a slice or map, the keys of a map,
// a json.RawMessage's JSON) or, for an integer, at most N; min:"N" is an
// integer's least value. The OpenAPI generator (internal/openapi) documents
// the same tags as maxLength, minimum and maximum, so the limits are
// written in one place. Errors are 422 invalid naming the field by its JSON
// path (source.name, consents[2].reason).

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

// limits are a field's min and max tags; has* say whether they are set.
type limits struct {
	min, max       int64
	hasMin, hasMax bool
}

func tagLimits(tag reflect.StructTag) (limits, error) {
	var l limits
	var err error
	if v, ok := tag.Lookup("max"); ok {
		l.hasMax = true
		if l.max, err = strconv.ParseInt(v, 10, 64); err != nil {
			return l, fmt.Errorf("max tag %q: %w", v, err)
		}
	}
	if v, ok := tag.Lookup("min"); ok {
		l.hasMin = true
		if l.min, err = strconv.ParseInt(v, 10, 64); err != nil {
			return l, fmt.Errorf("min tag %q: %w", v, err)
		}
	}
	return l, nil
}

// checkInput checks the decoded value v (a pointer to the body's value).
func checkInput(v any) error {
	return checkValue(reflect.ValueOf(v), "", limits{})
}

func checkValue(v reflect.Value, path string, l limits) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return checkValue(v.Elem(), path, l)
	case reflect.String:
		return checkString(path, v.String(), l)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := v.Int()
		switch {
		case l.hasMin && n < l.min:
			return consentd.FieldErrorf(consentd.EINVALID, path, "%s is at least %d", path, l.min)
		case l.hasMax && n > l.max:
			return consentd.FieldErrorf(consentd.EINVALID, path, "%s is at most %d", path, l.max)
		}
	case reflect.Struct:
		if v.Type() == timeType {
			return nil
		}
		return checkStruct(v, path)
	case reflect.Slice, reflect.Array:
		if v.Type() == rawType {
			return checkRaw(path, v.Bytes(), l)
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return nil // []byte: base64, no text
		}
		for i := range v.Len() {
			if err := checkValue(v.Index(i), fmt.Sprintf("%s[%d]", path, i), l); err != nil {
				return err
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			k := iter.Key()
			if k.Kind() == reflect.String {
				// A bad key is named by its map: it is not fit for a message.
				if err := checkString(path, k.String(), l); err != nil {
					return err
				}
			}
			p := join(path, fmt.Sprint(k.Interface()))
			if err := checkValue(iter.Value(), p, l); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkStruct checks the fields encoding/json decodes into, named by their
// JSON names; embedded structs without a name are inlined.
func checkStruct(v reflect.Value, path string) error {
	fields, err := structFields(v.Type())
	if err != nil {
		return err
	}
	for _, f := range fields {
		fv := v.Field(f.index)
		if f.inline {
			if err := checkValue(fv, path, f.limits); err != nil {
				return err
			}
			continue
		}
		if err := checkValue(fv, join(path, f.name), f.limits); err != nil {
			return err
		}
	}
	return nil
}

// checkedField is what checkStruct needs of one struct field: its index,
// its JSON name (or inline: an embedded struct without a name) and its
// limits.
type checkedField struct {
	index  int
	name   string
	inline bool
	limits limits
}

// fieldCache holds each struct type's checked fields (reflect.Type ->
// []checkedField), read once per type rather than on every request: the
// tags of a type never change.
var fieldCache sync.Map

// structFields returns t's checked fields: the exported ones and the
// embedded ones, not those tagged json:"-". A bad min or max tag is a
// programming error (a 500); it is not cached, so it is reported every
// time.
func structFields(t reflect.Type) ([]checkedField, error) {
	if c, ok := fieldCache.Load(t); ok {
		return c.([]checkedField), nil
	}
	var fields []checkedField
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() && !sf.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		l, err := tagLimits(sf.Tag)
		if err != nil {
			return nil, fmt.Errorf("%v.%s: %w", t, sf.Name, err)
		}
		f := checkedField{index: i, name: name, limits: l}
		if sf.Anonymous && name == "" {
			f.inline = true
		} else if name == "" {
			f.name = sf.Name
		}
		fields = append(fields, f)
	}
	fieldCache.Store(t, fields)
	return fields, nil
}

func checkString(path, s string, l limits) error {
	if p := consentd.TextProblem(s); p != "" {
		return consentd.FieldErrorf(consentd.EINVALID, path, "%s %s", path, p)
	}
	if l.hasMax && int64(len(s)) > l.max {
		return consentd.FieldErrorf(consentd.EINVALID, path, "%s is longer than %d bytes", path, l.max)
	}
	return nil
}

// checkRaw checks a json.RawMessage: its size, and the strings in it.
func checkRaw(path string, raw []byte, l limits) error {
	if len(raw) == 0 {
		return nil
	}
	if l.hasMax && int64(len(raw)) > l.max {
		return consentd.FieldErrorf(consentd.EINVALID, path, "%s is longer than %d bytes of JSON", path, l.max)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return consentd.FieldErrorf(consentd.EMALFORMED, path, "%s is not valid JSON", path)
	}
	return checkValue(reflect.ValueOf(doc), path, limits{})
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// jsonPathAt returns the path (source.name, consents[2].reason) of the
// string in the JSON document body whose text holds byte offset at, or ""
// when there is none: it names the field of a problem found in the raw
// bytes, such as a lone surrogate escape.
func jsonPathAt(body []byte, at int) string {
	type frame struct {
		object  bool
		key     string // object: the current member's name
		index   int    // array: the current element's index
		wantKey bool   // object: the next token is a member name
	}
	path := func(stack []frame) string {
		var b strings.Builder
		for _, f := range stack {
			if !f.object {
				fmt.Fprintf(&b, "[%d]", f.index)
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
		}
		return b.String()
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		end := int(dec.InputOffset())
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				stack = append(stack, frame{object: d == '{', wantKey: d == '{'})
				continue
			}
			stack = stack[:len(stack)-1]
		} else if top != nil && top.object && top.wantKey {
			top.key, top.wantKey = tok.(string), false
			if end > at {
				return path(stack)
			}
			continue
		} else if _, ok := tok.(string); ok && end > at {
			return path(stack)
		}
		// A value ended: the next member or element.
		if len(stack) > 0 {
			if top := &stack[len(stack)-1]; top.object {
				top.wantKey = true
			} else {
				top.index++
			}
		}
		if end > at {
			return ""
		}
	}
}
