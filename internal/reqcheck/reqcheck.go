// Package reqcheck refuses HTTP requests whose path, query or form holds
// text that may not be stored: invalid UTF-8, NUL or another control
// character, tab and line breaks included (ids, tokens and the public
// forms' values are one line), or a value longer than MaxParamLen. The
// API and the public pages check every request with it before a handler
// reads a parameter, so that no handler passes such text to a store, where
// PostgreSQL would fail on it (a 500) and SQLite would keep it.
//
// net/url keeps the bytes of an escape such as %FF in URL.Path and in query
// values as they are, invalid UTF-8 included; it is encoding/json that
// later turns them into U+FFFD (in a job's input or an answer), so that
// /x/%FF and /x/%FE would name one record. Refusing them here keeps ids
// distinct.
package reqcheck

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/consentd/consentd"
)

// MaxParamLen is the longest path segment, query parameter name or value,
// or form value, in bytes. Handlers check tighter limits of their own.
const MaxParamLen = 2048

// Path checks each segment of r's path, percent-decoded, and names the
// field "path".
func Path(r *http.Request) error {
	p := r.URL.EscapedPath()
	if len(p) <= MaxParamLen && plainASCII(p) {
		return nil // no escapes: every segment is itself, printable and short enough
	}
	for seg := range strings.SplitSeq(p, "/") {
		v, err := url.PathUnescape(seg)
		if err != nil {
			return consentd.FieldErrorf(consentd.EMALFORMED, "path", "the path has a malformed %% escape")
		}
		if err := value("path", "a path segment", v); err != nil {
			return err
		}
	}
	return nil
}

// PathValues checks the values of the wildcards names of the route that
// matched r, naming each.
func PathValues(r *http.Request, names ...string) error {
	for _, n := range names {
		if err := value(n, "path parameter "+n, r.PathValue(n)); err != nil {
			return err
		}
	}
	return nil
}

// Query checks r's query string: well-formed escapes, and each name and
// value storable text of at most MaxParamLen bytes. An error names the
// parameter.
func Query(r *http.Request) error {
	if r.URL.RawQuery == "" {
		return nil
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return consentd.FieldErrorf(consentd.EMALFORMED, "query", "the query string is malformed: %s", strings.TrimPrefix(err.Error(), "invalid URL escape "))
	}
	return Values(q, "query parameter")
}

// Values checks form or query values: names and values storable text of
// at most MaxParamLen bytes. what says what they are in messages.
func Values(q url.Values, what string) error {
	for name, vs := range q {
		if p := problem(name); p != "" {
			return consentd.FieldErrorf(consentd.EMALFORMED, "query", "a %s name %s", what, p)
		}
		if len(name) > MaxParamLen {
			return consentd.FieldErrorf(consentd.EINVALID, "query", "a %s name is longer than %d bytes", what, MaxParamLen)
		}
		for _, v := range vs {
			if err := value(name, what+" "+name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

func value(field, what, v string) error {
	if p := problem(v); p != "" {
		return consentd.FieldErrorf(consentd.EMALFORMED, field, "%s %s", what, p)
	}
	if len(v) > MaxParamLen {
		return consentd.FieldErrorf(consentd.EINVALID, field, "%s is longer than %d bytes", what, MaxParamLen)
	}
	return nil
}

// plainASCII reports whether s is printable ASCII (0x20-0x7E) without a
// percent sign: text that needs no unescaping and that problem accepts.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '%' {
			return false
		}
	}
	return true
}

// problem is consentd.TextProblem without its leeway for tab and line
// breaks: ids, tokens and the values of the public forms are one line.
func problem(s string) string {
	if p := consentd.TextProblem(s); p != "" {
		return p
	}
	if strings.ContainsAny(s, "\t\n\r") {
		return "holds a control character"
	}
	return ""
}
