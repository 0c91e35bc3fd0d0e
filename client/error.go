package client

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/consentd/consentd"
)

// Problem is an RFC 9457 problem document as consentd writes it: the
// answer to a failed request, and the error of one item of a batch.
type Problem struct {
	Type   string                `json:"type"`
	Title  string                `json:"title"`
	Status int                   `json:"status"`
	Detail string                `json:"detail,omitempty"`
	Code   string                `json:"code" doc:"consentd's stable error code: switch on it, never on detail"`
	Fields []consentd.FieldError `json:"fields,omitempty" doc:"the offending input fields"`
	// Extensions holds the document's other members, which RFC 9457
	// allows a server to add.
	Extensions map[string]json.RawMessage `json:"-"`
}

// problemMembers are the members Problem has fields for.
var problemMembers = map[string]bool{"type": true, "title": true, "status": true, "detail": true, "code": true, "fields": true}

// UnmarshalJSON decodes a problem document, keeping unknown members in
// Extensions.
func (p *Problem) UnmarshalJSON(b []byte) error {
	type plain Problem
	var q plain
	if err := json.Unmarshal(b, &q); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	for k, v := range all {
		if !problemMembers[k] {
			if q.Extensions == nil {
				q.Extensions = map[string]json.RawMessage{}
			}
			q.Extensions[k] = v
		}
	}
	*p = Problem(q)
	return nil
}

// Error implements error: the code and the detail.
func (p *Problem) Error() string {
	if p.Detail == "" {
		return p.Code
	}
	return p.Code + ": " + p.Detail
}

// Unwrap returns the problem as a *consentd.Error, so that
// consentd.ErrorCode and errors.As(err, **consentd.Error) see its code.
func (p *Problem) Unwrap() error {
	return &consentd.Error{Code: p.Code, Message: p.Detail, Fields: p.Fields}
}

// Error is a non-2xx answer of the API: the HTTP status, the request it
// answered, and the problem document. When the answer was not a problem
// document (a proxy's error page), Code is empty and Body holds the first
// bytes of the answer. Use errors.As to get it from a returned error.
type Error struct {
	StatusCode int    // the HTTP status
	Method     string // the request's method
	Path       string // the request's path, as sent (escaped)
	Problem
	Body []byte // the answer when it was not a problem document, at most 4 KiB
	// RetryAfter is the answer's Retry-After (429 rate_limited, 503): how
	// long to wait before trying again; 0 when the answer has none.
	RetryAfter time.Duration
}

// Error implements error: method, path, status, code and detail.
func (e *Error) Error() string {
	if e.Code == "" {
		body := strings.TrimSpace(string(e.Body))
		if body == "" {
			return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode))
		}
		return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode), body)
	}
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.StatusCode, e.Problem.Error())
}

// Unwrap returns the problem as a *consentd.Error (nil when the answer
// was not a problem document).
func (e *Error) Unwrap() error {
	if e.Code == "" {
		return nil
	}
	return e.Problem.Unwrap()
}

// errorFrom reads a non-2xx answer into an *Error.
func errorFrom(method, path string, resp *http.Response) *Error {
	e := &Error{StatusCode: resp.StatusCode, Method: method, Path: path, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var p Problem
	if json.Unmarshal(b, &p) == nil && p.Code != "" {
		e.Problem = p
		if e.Status == 0 {
			e.Status = resp.StatusCode
		}
		return e
	}
	if len(b) > 4096 {
		b = b[:4096]
	}
	e.Body = b
	return e
}

// retryAfter reads a Retry-After value: delay seconds, or an HTTP date
// (RFC 9110 section 10.2.3); 0 when v is neither or in the past.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, 1<<31)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Code returns the stable error code of err: the code of an *Error or
// *Problem in its chain (or of a *consentd.Error), "" for nil, and
// consentd.EINTERNAL for any other error, as consentd.ErrorCode does.
func Code(err error) string { return consentd.ErrorCode(err) }
