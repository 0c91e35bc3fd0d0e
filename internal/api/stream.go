package api

import (
	"bytes"
	"context"
	"strconv"
	"unicode/utf8"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/index"
)

// Preparer is a Decider that prepares many decisions for one purpose, topic
// and channel: the NDJSON stream's fast path.
type Preparer interface {
	Prepare(ctx context.Context, wsID, purpose, topic, channel string) (*index.Prepared, error)
}

// simpleLine returns X when line is exactly {"contact_point":"X"} (spaces
// allowed around the tokens) and X has no escapes: the common line of a
// recipient list, read without decoding JSON.
func simpleLine(line []byte) ([]byte, bool) {
	const key = `"contact_point"`
	b := bytes.TrimSpace(line)
	if len(b) < len(key)+4 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, false
	}
	b = bytes.TrimSpace(b[1 : len(b)-1])
	if !bytes.HasPrefix(b, []byte(key)) {
		return nil, false
	}
	b = bytes.TrimSpace(b[len(key):])
	if len(b) < 3 || b[0] != ':' {
		return nil, false
	}
	b = bytes.TrimSpace(b[1:])
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return nil, false
	}
	v := b[1 : len(b)-1]
	if bytes.IndexByte(v, '"') >= 0 || bytes.IndexByte(v, '\\') >= 0 {
		return nil, false
	}
	return v, true
}

// appendDecision appends d as one JSON line, the same fields encoding/json
// writes for consentd.DecisionResult.
func appendDecision(b []byte, d *consentd.DecisionResult) []byte {
	b = append(b, `{"allowed":`...)
	b = strconv.AppendBool(b, d.Allowed)
	b = append(b, `,"reason":`...)
	b = appendString(b, string(d.Reason))
	if d.Enforcement != "" {
		b = append(b, `,"enforcement":`...)
		b = appendString(b, string(d.Enforcement))
	}
	if d.Status != "" {
		b = append(b, `,"status":`...)
		b = appendString(b, string(d.Status))
	}
	b = append(b, `,"contact_point":`...)
	b = appendString(b, d.ContactPoint)
	b = append(b, `,"consent_id":`...)
	b = appendString(b, d.ConsentID)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, d.Seq, 10)
	return append(b, "}\n"...)
}

// appendString appends s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced, everything else as is.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf:
			b = append(b, c)
			i++
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
			i++
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
		}
	}
	return append(b, '"')
}
