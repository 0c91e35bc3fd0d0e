package consentd

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// JSONErrorMessage says what is wrong with a JSON (or YAML read as JSON)
// document that failed to decode, in the user's words: the field and the
// kind of value it takes ("field purposes.channels must be an object, not a
// JSON array"), never Go's type names. what names the document for errors
// about it as a whole ("the body", "the catalog file").
func JSONErrorMessage(err error, what string) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field == "":
		return fmt.Sprintf("%s must be %s, not a JSON %s", what, JSONKind(te.Type), jsonValue(te.Value))
	case errors.As(err, &te):
		return fmt.Sprintf("field %s must be %s, not a JSON %s", te.Field, JSONKind(te.Type), jsonValue(te.Value))
	case errors.As(err, &se):
		return fmt.Sprintf("%s is not valid JSON (at byte %d)", what, se.Offset)
	}
	// Decoders wrap (sigs.k8s.io/yaml: "error unmarshaling JSON: while
	// decoding JSON: json: ..."): the innermost error says what is wrong.
	for {
		u := errors.Unwrap(err)
		if u == nil {
			break
		}
		err = u
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// jsonValue names the JSON value the decoder found ("bool" is a Go word).
func jsonValue(v string) string {
	if v == "bool" {
		return "true or false"
	}
	return v
}

// JSONKind names what a JSON value must be to decode into t.
func JSONKind(t reflect.Type) string {
	if t == nil {
		return "another kind of value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[time.Time]() {
		return "an RFC 3339 time string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another kind of value"
}
