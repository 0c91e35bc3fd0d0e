package api

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/consentd/consentd"
)

// Problem is an RFC 9457 problem document with consentd's stable code.
type Problem struct {
	Type   string                `json:"type"`
	Title  string                `json:"title"`
	Status int                   `json:"status"`
	Detail string                `json:"detail,omitempty"`
	Code   string                `json:"code"`
	Fields []consentd.FieldError `json:"fields,omitempty"`
}

// statusOf maps error codes to HTTP statuses: the one place that does.
func statusOf(code string) int {
	switch code {
	case consentd.EMALFORMED:
		return http.StatusBadRequest
	case consentd.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case consentd.EFORBIDDEN:
		return http.StatusForbidden
	case consentd.ENOTFOUND, consentd.ENOTINEFFECT:
		return http.StatusNotFound
	case consentd.EMETHODNOTALLOWED:
		return http.StatusMethodNotAllowed
	case consentd.ECONFLICT:
		return http.StatusConflict
	case consentd.ELEAFERASED:
		return http.StatusGone
	case consentd.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case consentd.EUNSUPPORTEDMEDIATYPE:
		return http.StatusUnsupportedMediaType
	case consentd.ERATELIMITED:
		return http.StatusTooManyRequests
	case consentd.EINTERNAL:
		return http.StatusInternalServerError
	}
	return http.StatusUnprocessableEntity // validation codes
}

// problemOf turns any error into a problem document; internal errors say
// nothing about their cause.
func problemOf(err error) Problem {
	code := consentd.ErrorCode(err)
	status := statusOf(code)
	p := Problem{Type: problemTypeOf(code), Title: http.StatusText(status), Status: status, Detail: consentd.ErrorMessage(err), Code: code}
	var e *consentd.Error
	if errors.As(err, &e) {
		p.Fields = e.Fields
	}
	return p
}

// writeError writes err as problem+json and logs internal errors (never the
// request's personal data: the route pattern, not the path).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := problemOf(err)
	if p.Code == consentd.EINTERNAL {
		s.Log.Error("internal error", "method", r.Method, "route", r.Pattern, "err", err)
	}
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="consentd"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	e := encoders.Get().(*pooledEncoder)
	e.enc.Encode(v) // one Write of the whole value, as json.Encoder does
	w.Write(e.buf.Bytes())
	e.put()
}

// pooledEncoder is a JSON encoder (HTML not escaped) with its buffer,
// reused across answers: an answer costs no encoder and no buffer of its
// own. A buffer grown past 64 KiB by a large answer is dropped rather
// than kept.
type pooledEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var encoders = sync.Pool{New: func() any {
	e := &pooledEncoder{}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false)
	return e
}}

func (e *pooledEncoder) put() {
	if e.buf.Cap() > 64<<10 {
		return
	}
	e.buf.Reset()
	encoders.Put(e)
}

// Body size limits. A batch (10,000 consents, 100,000 contact points) is
// read item by item within maxBatchBody: about 800 bytes a consent (a
// typical one is 150 to 600), 80 a contact point.
const (
	maxBody      = 1 << 20
	maxBatchBody = 8 << 20
)

// decode reads a JSON body strictly: one value, known fields only. It
// returns EMALFORMED, EINVALIDTIME or ETOOLARGE with a message that says what
// is wrong and, where it can, the field.
func decode(r *http.Request, limit int64, v any) error {
	b := bodies.Get().(*bytes.Buffer)
	defer putBody(b)
	if _, err := b.ReadFrom(http.MaxBytesReader(nil, r.Body, limit)); err != nil {
		return jsonError(err)
	}
	// decodeBytes keeps nothing of the body: encoding/json copies what it
	// decodes (strings, json.RawMessage) and errors copy what they quote,
	// so the buffer can serve the next request.
	return decodeBytes(b.Bytes(), v)
}

// bodies are the buffers decode reads request bodies into; one grown past
// 64 KiB by a large body is dropped rather than kept.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func putBody(b *bytes.Buffer) {
	if b.Cap() > 64<<10 {
		return
	}
	b.Reset()
	bodies.Put(b)
}

// decodeBytes decodes body into v strictly (see decode) and checks what it
// decoded: the body valid UTF-8, not null, and its strings storable text
// within the max tags of v's type (input.go). Every JSON body the API reads
// goes through it, each item of a batch included.
func decodeBytes(body []byte, v any) error {
	if !utf8.Valid(body) {
		_, at := consentd.JSONTextProblem(body)
		return consentd.Errorf(consentd.EMALFORMED, "the body is not valid UTF-8 (at byte %d)", at)
	}
	if bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
		return consentd.Errorf(consentd.EMALFORMED, "the body is null; it must be a JSON object")
	}
	if err := decodeJSON(body, v); err != nil {
		return readOnly(v, err)
	}
	if err := checkInput(v); err != nil {
		return err
	}
	// Lone surrogate escapes decode to U+FFFD, which checkInput cannot
	// tell from a U+FFFD sent as such; escaped NULs were named above.
	if p, at := consentd.JSONTextProblem(body); p != "" {
		if field := jsonPathAt(body, at); field != "" {
			return consentd.FieldErrorf(consentd.EINVALID, field, "%s %s", field, p)
		}
		return consentd.Errorf(consentd.EINVALID, "the body %s (at byte %d)", p, at)
	}
	return nil
}

// readOnly turns the error of an unknown field that v's type names as
// read-only (a readOnlyFields method: fields of the resource that consentd
// sets, which an input type leaves out) into a 422 naming the field.
func readOnly(v any, err error) error {
	ro, ok := v.(interface{ readOnlyFields() []string })
	if !ok {
		return err
	}
	for _, f := range ro.readOnlyFields() {
		if strings.HasSuffix(consentd.ErrorMessage(err), "unknown field \""+f+"\"") {
			return consentd.FieldErrorf(consentd.EINVALID, f, "%s is read-only: consentd sets it", f)
		}
	}
	return err
}

func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var pe *time.ParseError
		if errors.As(err, &pe) {
			field := findString(body, pe.Value)
			if i := bytes.Index(body, []byte(`"`+pe.Value+`"`)); field == "" && i >= 0 {
				// time.Time parses the JSON string's raw bytes, escapes
				// and all: find them in the body.
				field = jsonPathAt(body, i+1)
			}
			return consentd.FieldErrorf(consentd.EINVALIDTIME, field, "%s must be an RFC 3339 time such as 2026-03-14T12:00:00Z", field)
		}
		if strings.HasPrefix(err.Error(), "Time.UnmarshalJSON") { // a time given as a number, object...
			field := nonStringTime(body, v)
			return consentd.FieldErrorf(consentd.EINVALIDTIME, field, "%s must be an RFC 3339 time string such as \"2026-03-14T12:00:00Z\"", cmp.Or(field, "a time"))
		}
		return jsonError(err)
	}
	if dec.More() {
		return consentd.Errorf(consentd.EMALFORMED, "the body holds more than one JSON value")
	}
	return nil
}

// nonStringTime returns the JSON name of the first top-level field of the
// struct v points to that is a time in Go but not a string in body, or "".
func nonStringTime(body []byte, v any) string {
	var doc map[string]json.RawMessage
	if json.Unmarshal(body, &doc) != nil {
		return ""
	}
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return ""
	}
	timeType := reflect.TypeFor[time.Time]()
	for i := range t.NumField() {
		f := t.Field(i)
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if ft != timeType || name == "" || name == "-" {
			continue
		}
		if raw, ok := doc[name]; ok && len(raw) > 0 && raw[0] != '"' && string(raw) != "null" {
			return name
		}
	}
	return ""
}

// findString returns the dotted path of the first string value s in the
// JSON document body, or "" when there is none.
func findString(body []byte, s string) string {
	var doc any
	if json.Unmarshal(body, &doc) != nil {
		return ""
	}
	var walk func(v any, path string) (string, bool)
	walk = func(v any, path string) (string, bool) {
		switch v := v.(type) {
		case string:
			return path, v == s
		case map[string]any:
			for _, k := range sortedIDs(v) {
				p := k
				if path != "" {
					p = path + "." + k
				}
				if found, ok := walk(v[k], p); ok {
					return found, true
				}
			}
		case []any:
			for i, e := range v {
				if found, ok := walk(e, fmt.Sprintf("%s[%d]", path, i)); ok {
					return found, true
				}
			}
		}
		return "", false
	}
	path, _ := walk(doc, "")
	return path
}

func jsonError(err error) error {
	var mbe *http.MaxBytesError
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &mbe):
		return consentd.Errorf(consentd.ETOOLARGE, "the body is larger than %d bytes", mbe.Limit)
	case errors.As(err, &te) && te.Field == "":
		return consentd.Errorf(consentd.EMALFORMED, "%s", consentd.JSONErrorMessage(err, "the body"))
	case errors.As(err, &te):
		return consentd.FieldErrorf(consentd.EMALFORMED, te.Field, "%s", consentd.JSONErrorMessage(err, "the body"))
	case errors.As(err, &se):
		return consentd.Errorf(consentd.EMALFORMED, "the body is not valid JSON (at byte %d)", se.Offset)
	case errors.Is(err, io.EOF):
		return consentd.Errorf(consentd.EMALFORMED, "the body is empty")
	}
	return consentd.Errorf(consentd.EMALFORMED, "the body is not valid: %s", strings.TrimPrefix(err.Error(), "json: "))
}
