package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/consentd/consentd"
)

// batchBody describes a batch request's body for decodeBatch: a JSON object
// with one array member, Field, of at most MaxItems elements.
type batchBody struct {
	Field    string
	MaxItems int
	TooMany  string // the ETOOLARGE message for more than MaxItems
	// Head receives the object's other members, decoded by decodeBytes
	// with the array's key kept and its value replaced by [] (the items
	// go to Item instead), so the request type's strict checks apply to
	// them.
	Head any
	// Item decodes one element of the array, given as raw JSON, before
	// the next is read; raw is reused for the next element.
	Item func(raw []byte) error
}

// decodeBatch reads a batch body item by item as it arrives, so that a
// request's memory is its decoded items and a small read buffer, never the
// whole body: it stops with ETOOLARGE at element MaxItems+1 or at limit
// bytes, and refuses a body whose declared Content-Length is over limit
// before reading any of it. A null body, a missing array or a null one is
// EINVALID. An element that does not decode is the whole request's error,
// its fields prefixed with the element's place (consents[3].status).
//
// When it returns an error before the body's end it asks for the
// connection to be closed after the answer: otherwise the server would try
// to read (and throw away) the rest of the body before answering.
func decodeBatch(w http.ResponseWriter, r *http.Request, limit int64, b batchBody) error {
	err := readBatch(r, limit, b)
	if err != nil {
		w.Header().Set("Connection", "close")
	}
	return err
}

func readBatch(r *http.Request, limit int64, b batchBody) error {
	if r.ContentLength > limit {
		return consentd.Errorf(consentd.ETOOLARGE, "the body is larger than %d bytes", limit)
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, limit))
	required := func() error {
		return consentd.FieldErrorf(consentd.EINVALID, b.Field, "%s is required: a JSON array", b.Field)
	}
	tok, err := dec.Token()
	switch {
	case err != nil:
		return jsonError(err)
	case tok == nil:
		return required() // a null body
	case tok != json.Delim('{'):
		return consentd.Errorf(consentd.EMALFORMED, "the body must be a JSON object")
	}
	head := []byte{'{'}
	seen := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return jsonError(err)
		}
		key, _ := tok.(string) // Token returns object keys as strings
		if len(head) > 1 {
			head = append(head, ',')
		}
		head, _ = appendJSON(head, key)
		head = append(head, ':')
		// Member names match as encoding/json matches them to fields:
		// without regard to case.
		if !strings.EqualFold(key, b.Field) {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return jsonError(err)
			}
			head = append(head, raw...)
			continue
		}
		if seen {
			return consentd.FieldErrorf(consentd.EMALFORMED, b.Field, "%s appears twice", b.Field)
		}
		seen = true
		head = append(head, '[', ']')
		tok, err = dec.Token()
		switch {
		case err != nil:
			return jsonError(err)
		case tok == nil:
			return required()
		case tok != json.Delim('['):
			return consentd.FieldErrorf(consentd.EMALFORMED, b.Field, "field %s must be an array", b.Field)
		}
		// One buffer for every element: Item decodes from it and keeps
		// nothing of it.
		var raw json.RawMessage
		for n := 0; dec.More(); n++ {
			if n == b.MaxItems {
				return consentd.Errorf(consentd.ETOOLARGE, "%s", b.TooMany)
			}
			if err := dec.Decode(&raw); err != nil {
				return jsonError(err)
			}
			if err := b.Item(raw); err != nil {
				return itemError(fmt.Sprintf("%s[%d]", b.Field, n), err)
			}
		}
		if _, err := dec.Token(); err != nil { // ]
			return jsonError(err)
		}
	}
	if _, err := dec.Token(); err != nil { // }
		return jsonError(err)
	}
	// Read to the end: a second value is an error, and the server needs
	// the body consumed to keep the connection.
	if _, err := dec.Token(); err == nil {
		return consentd.Errorf(consentd.EMALFORMED, "the body holds more than one JSON value")
	} else if !errors.Is(err, io.EOF) {
		return jsonError(err)
	}
	if !seen {
		return required()
	}
	return decodeBytes(append(head, '}'), b.Head)
}

// appendJSON appends v as JSON.
func appendJSON(b []byte, v any) ([]byte, error) {
	j, err := json.Marshal(v)
	return append(b, j...), err
}

// itemError returns err with its message and fields placed in the batch
// element at path.
func itemError(path string, err error) error {
	var e *consentd.Error
	if !errors.As(err, &e) {
		return err
	}
	out := &consentd.Error{Code: e.Code, Message: path + ": " + e.Message}
	for _, f := range e.Fields {
		if f.Field == "" {
			f.Field = path
		} else {
			f.Field = path + "." + f.Field
		}
		out.Fields = append(out.Fields, f)
	}
	if len(out.Fields) == 0 { // the element itself is wrong: name it
		out.Fields = []consentd.FieldError{{Field: path, Code: e.Code, Message: e.Message}}
	}
	return out
}
