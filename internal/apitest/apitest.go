// Package apitest makes every test that talks HTTP to consentd's API check
// the exchange against the API document the server serves at /openapi.json:
// the document is the contract, and a test that sees the server answer an
// undeclared status, a body of the wrong shape or a problem whose type does
// not resolve fails, naming the operation, the status and the schema error.
//
// Tests send their requests through [Transport] (or a [Client]). It is an
// http.RoundTripper that, for each request to a server, loads that server's
// /openapi.json once (through kin-openapi, which reads OpenAPI 3.1), finds
// the operation, and checks:
//
//   - the response: its status is declared, its media type is one of the
//     operation's, and its body matches the schema (each line of an NDJSON
//     body matches the schema of one line);
//   - the request, unless the server answered 4xx: tests send malformed,
//     incomplete and unknown-field bodies on purpose to see them refused,
//     and such a request is not the server's fault; its refusal is still
//     checked, as a response. A request the document calls invalid that the
//     server accepts (2xx, 3xx, 5xx) fails the test, which is how a
//     document that demands too much (a read-only field, every field of a
//     merge patch) is found;
//     A test that sends a request invalid on purpose which the server
//     still answers 2xx (a batch that keeps its good items and reports the
//     bad ones) sets the header [Invalid] on it, with the reason as value;
//     the transport removes the header before sending;
//   - the problem type: the `type` of an application/problem+json answer,
//     resolved against the request's URL, answers 200 on the same server.
//
// Routes the document does not describe (the public pages, /healthz,
// /metrics) are not checked, except under /v1/, where an undocumented route
// may only answer a problem with 404 or 405.
//
// Bodies are checked as they pass, not read ahead: a request body is copied
// while the transport sends it, a response body while the test reads it,
// and the exchange is checked when the test has read the response to its
// end or closed it. Streaming tests (NDJSON both ways) keep working.
package apitest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

func init() {
	// CSV and the C2SP tlog-proof text are strings to the document; kin's
	// own CSV decoder would reject ragged rows, which imports test on
	// purpose. HTML is the problem pages'.
	for _, ct := range []string{"text/csv", "text/x.tlog-proof", "text/html", "text/markdown"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
	}
	// Logos (PUT /v1/workspace/logo, GET /brand/...) are bytes, strings
	// of binary content to the document.
	for _, ct := range []string{"image/png", "image/jpeg", "image/gif", "image/webp"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
	}
}

// Invalid is a request header that marks a request as invalid on purpose:
// the transport does not check it against the document (its answer still
// is) and does not send the header.
const Invalid = "Apitest-Invalid"

// Client is an http.Client whose transport is Transport(t, nil).
func Client(t testing.TB) *http.Client {
	return &http.Client{Transport: Transport(t, nil)}
}

// Transport returns a RoundTripper that sends requests through base
// (http.DefaultTransport when nil) and reports, with t.Errorf, every
// exchange that does not match the server's /openapi.json.
func Transport(t testing.TB, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{t: t, base: base, docs: map[string]*contract{}, types: map[string]bool{}}
}

type transport struct {
	t    testing.TB
	base http.RoundTripper

	mu    sync.Mutex
	docs  map[string]*contract // by scheme://host; nil: the server has none
	types map[string]bool      // problem type URLs already resolved to 200
}

// contract is one loaded document with its routes.
type contract struct {
	doc    *openapi3.T
	routes []pathRoute
}

// pathRoute is one path template of the document as a regular expression.
// kin-openapi's own routers do not match a parameter followed by literal
// text in one segment ("/v1/parties/{id}:opt-out-all"), which consentd
// uses for custom methods, so the transport routes by itself.
type pathRoute struct {
	path  string
	re    *regexp.Regexp
	names []string
}

func newRoutes(doc *openapi3.T) []pathRoute {
	var rs []pathRoute
	param := regexp.MustCompile(`\{([^{}]+)\}`)
	for _, path := range doc.Paths.InMatchingOrder() {
		var b strings.Builder
		var names []string
		last := 0
		for _, m := range param.FindAllStringSubmatchIndex(path, -1) {
			b.WriteString(regexp.QuoteMeta(path[last:m[0]]))
			b.WriteString(`([^/]+?)`)
			names = append(names, path[m[2]:m[3]])
			last = m[1]
		}
		b.WriteString(regexp.QuoteMeta(path[last:]))
		rs = append(rs, pathRoute{path: path, re: regexp.MustCompile("^" + b.String() + "$"), names: names})
	}
	// The template with the most literal text first: /v1/jobs/{id}:retry
	// before /v1/jobs/{id}, which would match "x:retry" as an id.
	literal := func(p string) int { return len(param.ReplaceAllString(p, "")) }
	sort.SliceStable(rs, func(i, j int) bool { return literal(rs[i].path) > literal(rs[j].path) })
	return rs
}

var errNoRoute = errors.New("no operation in /openapi.json has this path")

// findRoute finds the operation of a request; it matches the escaped path,
// as the server's mux does, and unescapes the parameters.
func (c *contract) findRoute(req *http.Request) (*routers.Route, map[string]string, error) {
	p := req.URL.EscapedPath()
	for _, r := range c.routes {
		m := r.re.FindStringSubmatch(p)
		if m == nil {
			continue
		}
		item := c.doc.Paths.Value(r.path)
		op := item.GetOperation(req.Method)
		if op == nil {
			return nil, nil, fmt.Errorf("%s has no %s operation", r.path, req.Method)
		}
		params := map[string]string{}
		for i, n := range r.names {
			v, err := url.PathUnescape(m[i+1])
			if err != nil {
				v = m[i+1]
			}
			params[n] = v
		}
		return &routers.Route{Spec: c.doc, Path: r.path, PathItem: item, Method: req.Method, Operation: op}, params, nil
	}
	return nil, nil, errNoRoute
}

// loaded caches documents by content: every test server serves the same
// one, and loading it takes a while.
var loaded sync.Map // sha256 -> *contract or error

func (tr *transport) contract(u *url.URL) (*contract, error) {
	origin := u.Scheme + "://" + u.Host
	tr.mu.Lock()
	c, ok := tr.docs[origin]
	tr.mu.Unlock()
	if ok {
		return c, nil
	}
	body, status, err := tr.get(origin + "/openapi.json")
	if err != nil {
		return nil, fmt.Errorf("apitest: GET %s/openapi.json: %w", origin, err)
	}
	if status == http.StatusNotFound {
		c = nil // not an API server: nothing to check
	} else if status != http.StatusOK {
		return nil, fmt.Errorf("apitest: GET %s/openapi.json answered %d", origin, status)
	} else if c, err = load(body); err != nil {
		return nil, err
	}
	tr.mu.Lock()
	tr.docs[origin] = c
	tr.mu.Unlock()
	return c, nil
}

func load(body []byte) (*contract, error) {
	sum := sha256.Sum256(body)
	if v, ok := loaded.Load(sum); ok {
		if err, ok := v.(error); ok {
			return nil, err
		}
		return v.(*contract), nil
	}
	c, err := func() (*contract, error) {
		doc, err := openapi3.NewLoader().LoadFromData(body)
		if err != nil {
			return nil, fmt.Errorf("apitest: load /openapi.json: %w", err)
		}
		if err := doc.Validate(context.Background()); err != nil {
			return nil, fmt.Errorf("apitest: /openapi.json is not a valid document: %w", err)
		}
		return &contract{doc: doc, routes: newRoutes(doc)}, nil
	}()
	if err != nil {
		loaded.Store(sum, err)
		return nil, err
	}
	loaded.Store(sum, c)
	return c, nil
}

// get fetches a URL through the base transport, unchecked.
func (tr *transport) get(u string) ([]byte, int, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	res, err := tr.base.RoundTrip(req)
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return b, res.StatusCode, err
}

func (tr *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	c, err := tr.contract(req.URL)
	if err != nil {
		tr.t.Errorf("%s %s: %v", req.Method, req.URL.Path, err)
		return tr.base.RoundTrip(req)
	}
	if c == nil {
		return tr.base.RoundTrip(req)
	}
	ex := &exchange{tr: tr, c: c, method: req.Method, url: req.URL, header: req.Header.Clone()}
	if req.Header.Get(Invalid) != "" {
		ex.invalid = true
		req = req.Clone(req.Context())
		req.Header.Del(Invalid)
		ex.header.Del(Invalid)
	}
	if req.Body != nil && req.Body != http.NoBody {
		if req.GetBody != nil {
			// A body the client can replay: take a copy now.
			rc, err := req.GetBody()
			if err == nil {
				b, err := io.ReadAll(rc)
				rc.Close()
				if err == nil {
					ex.reqBody = &lockedBuf{}
					ex.reqBody.Write(b)
				}
			}
		}
		if ex.reqBody == nil {
			// A stream: copy it as the transport sends it.
			ex.reqBody = &lockedBuf{}
			req = req.Clone(req.Context())
			req.Body = &teeBody{rc: req.Body, buf: ex.reqBody}
		}
	}
	res, err := tr.base.RoundTrip(req)
	if err != nil {
		return res, err
	}
	ex.status, ex.resHeader = res.StatusCode, res.Header.Clone()
	res.Body = &checkedBody{rc: res.Body, ex: ex}
	return res, nil
}

// lockedBuf is a bytes.Buffer written by the transport's goroutine and read
// by the test's.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

type teeBody struct {
	rc  io.ReadCloser
	buf *lockedBuf
}

func (b *teeBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.buf.Write(p[:n])
	return n, err
}

func (b *teeBody) Close() error { return b.rc.Close() }

// checkedBody copies the response body as the test reads it and checks the
// exchange at its end or when it is closed, whichever comes first.
type checkedBody struct {
	rc   io.ReadCloser
	ex   *exchange
	buf  bytes.Buffer
	eof  bool
	once sync.Once
}

func (b *checkedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.buf.Write(p[:n])
	if err == io.EOF {
		b.eof = true
		b.once.Do(func() { b.ex.check(b.buf.Bytes(), true) })
	}
	return n, err
}

func (b *checkedBody) Close() error {
	if !b.eof {
		// Read the rest, so that the whole body is checked; a test that
		// closes early (a cut-short stream) gets what was sent.
		rest, _ := io.ReadAll(io.LimitReader(b.rc, 64<<20))
		b.buf.Write(rest)
	}
	b.once.Do(func() { b.ex.check(b.buf.Bytes(), false) })
	return b.rc.Close()
}

// exchange is one request and its response.
type exchange struct {
	tr        *transport
	c         *contract
	method    string
	url       *url.URL
	header    http.Header
	reqBody   *lockedBuf // nil: no body
	invalid   bool       // marked Invalid: the request is not checked
	status    int
	resHeader http.Header
}

func (ex *exchange) errorf(op, format string, args ...any) {
	ex.tr.t.Helper()
	ex.tr.t.Errorf("contract: %s %s (%s) answered %d: %s", ex.method, ex.url.Path, op, ex.status, fmt.Sprintf(format, args...))
}

// check checks the exchange against the document; body is the response
// body as read.
func (ex *exchange) check(body []byte, complete bool) {
	ex.tr.t.Helper()
	req, err := http.NewRequest(ex.method, ex.url.String(), nil)
	if err != nil {
		ex.tr.t.Errorf("contract: %s %s: %v", ex.method, ex.url, err)
		return
	}
	req.Header = ex.header.Clone()
	var reqBody []byte
	if ex.reqBody != nil {
		reqBody = ex.reqBody.Bytes()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
		req.ContentLength = int64(len(reqBody))
	}
	route, params, err := ex.c.findRoute(req)
	if err != nil {
		// Undocumented: only an API path must be documented, and there
		// an unknown route or method may only be refused as a problem.
		if strings.HasPrefix(ex.url.Path, "/v1/") &&
			!((ex.status == http.StatusNotFound || ex.status == http.StatusMethodNotAllowed) && isProblem(ex.resHeader)) {
			ex.errorf("undocumented", "no operation in /openapi.json: %v", err)
		}
		if isProblem(ex.resHeader) {
			ex.checkProblem("undocumented", body)
		}
		return
	}
	op := route.Operation.OperationID
	opts := &openapi3filter.Options{
		AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
		IncludeResponseStatus: true,
		MultiError:            true,
		SkipSettingDefaults:   true,
	}
	opts.WithCustomSchemaErrorFunc(schemaError)
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}

	// The request: unless it was refused (see the package comment).
	if !ex.invalid && (ex.status < 400 || ex.status >= 500) {
		rOpts := *opts
		mt := mediaType(ex.header.Get("Content-Type"))
		if isSeq(mt) && reqBody != nil {
			rOpts.ExcludeRequestBody = true
			var m *openapi3.MediaType
			if rb := route.Operation.RequestBody; rb != nil && rb.Value != nil {
				m = rb.Value.Content.Get(mt)
			}
			ex.checkLines(op, "request", m, mt, reqBody)
		}
		rin := *in
		rin.Options = &rOpts
		if err := openapi3filter.ValidateRequest(context.Background(), &rin); err != nil {
			ex.errorf(op, "the request does not match the document, yet the server accepted it: %v", err)
		}
	}

	// The response.
	if !complete && ex.status < 300 {
		// Cut short by the test: the body may end mid-line.
		if i := bytes.LastIndexByte(body, '\n'); i >= 0 {
			body = body[:i+1]
		}
	}
	rOpts := *opts
	mt := mediaType(ex.resHeader.Get("Content-Type"))
	if isSeq(mt) {
		rOpts.ExcludeResponseBody = true
		if r := route.Operation.Responses.Status(ex.status); r != nil && r.Value != nil {
			if r.Value.Content.Get(mt) == nil {
				ex.errorf(op, "media type %s is not declared for status %d", mt, ex.status)
			} else {
				ex.checkLines(op, "response", r.Value.Content.Get(mt), mt, body)
			}
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 ex.status,
		Header:                 ex.resHeader,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &rOpts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		ex.errorf(op, "the response does not match the document: %v; body %.300s", err, body)
	}
	if isProblem(ex.resHeader) {
		ex.checkProblem(op, body)
	}
}

// checkLines checks each line of an NDJSON body against m's schema, that
// of one line.
func (ex *exchange) checkLines(op, what string, m *openapi3.MediaType, mt string, body []byte) {
	ex.tr.t.Helper()
	if m == nil || m.Schema == nil || m.Schema.Value == nil {
		ex.errorf(op, "the %s's media type %s is not declared", what, mt)
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var v any
		if err := json.Unmarshal(line, &v); err != nil {
			if what == "response" {
				ex.errorf(op, "%s line %d is not JSON: %v", what, n, err)
			}
			continue // a request line that is bad on purpose
		}
		if err := m.Schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors(),
			openapi3.SetSchemaErrorMessageCustomizer(schemaError)); err != nil {
			ex.errorf(op, "%s line %d does not match the schema of %s: %v; line %.300s", what, n, mt, err, line)
		}
	}
}

// checkProblem checks that a problem's type resolves to a page (200) on the
// server that sent it.
func (ex *exchange) checkProblem(op string, body []byte) {
	ex.tr.t.Helper()
	var p struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Type == "" {
		ex.errorf(op, "a problem without a type: %.300s", body)
		return
	}
	ref, err := url.Parse(p.Type)
	if err != nil {
		ex.errorf(op, "problem type %q is not a URI reference: %v", p.Type, err)
		return
	}
	u := ex.url.ResolveReference(ref)
	if u.Scheme != "http" && u.Scheme != "https" || u.Host != ex.url.Host {
		ex.errorf(op, "problem type %q does not resolve to a page of this server", p.Type)
		return
	}
	key := u.String()
	ex.tr.mu.Lock()
	done := ex.tr.types[key]
	ex.tr.mu.Unlock()
	if done {
		return
	}
	_, status, err := ex.tr.get(key)
	if err != nil || status != http.StatusOK {
		ex.errorf(op, "problem type %q: GET %s answered %d (%v), want 200", p.Type, key, status, err)
		return
	}
	ex.tr.mu.Lock()
	ex.tr.types[key] = true
	ex.tr.mu.Unlock()
}

// schemaError is a schema error in one line: where, and what is wrong,
// without kin-openapi's dump of the whole schema and value.
func schemaError(err *openapi3.SchemaError) string {
	at := "/" + strings.Join(err.JSONPointer(), "/")
	return fmt.Sprintf("at %s: %s", at, err.Reason)
}

func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ct
	}
	return strings.ToLower(mt)
}

func isProblem(h http.Header) bool {
	return mediaType(h.Get("Content-Type")) == "application/problem+json"
}

// isSeq reports whether a media type is line-delimited JSON.
func isSeq(mt string) bool {
	switch mt {
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines":
		return true
	}
	return false
}
