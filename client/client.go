// Package client is a Go client for consentd's HTTP API v1: one method per
// operation of the API, typed requests and answers built on the types of
// package consentd, RFC 9457 problems as *Error values with the stable
// error code, pagination helpers, and streaming NDJSON for batch decisions
// and the consent export.
//
//	c := client.New("https://consentd.example.com", os.Getenv("CONSENTD_KEY"))
//	d, err := c.Decide(ctx, consentd.DecisionRequest{ContactPoint: "jane@example.com", Purpose: "newsletter", Channel: "email"})
//	if err != nil {
//		var e *client.Error
//		if errors.As(err, &e) && e.Code == consentd.ENOTFOUND { ... }
//	}
//
// # Retries and idempotency
//
// The client never retries a request by itself: it makes exactly one
// attempt and returns what happened. Whether to retry is the caller's
// decision, and the API makes most writes safe to repeat:
//
//   - A consent write (WriteConsent, WriteConsents) is an upsert ordered by
//     captured_at: sending the same write again finds the consent as the
//     first attempt left it and answers outcome "unchanged" (it is logged
//     again, as every API write is).
//   - PUT operations (PutParty, PutRule, PutRecord) replace by id; a repeated
//     record with the same fields enqueues no jobs.
//   - CreateImport with the same file, format and options answers the
//     existing import and writes nothing.
//   - Create operations that take an id (CreatePurpose, CreateTopic,
//     CreateWebhook with an id) answer 409 conflict when repeated; those
//     without one (CreateKey, CreateRequest, CreateSuppression, CreateLink,
//     CreateCheckpoint, CreateWebhook without an id) create a second
//     resource when repeated, so retry them only when the first attempt
//     surely did not reach the server.
//
// Decisions and reads have no side effects and are always safe to retry.
// A 429 rate_limited answer is not retried either: its *Error carries the
// server's Retry-After as RetryAfter, for the caller to wait.
//
// # Errors
//
// A non-2xx answer is returned as *Error, which carries the HTTP status and
// the problem document; its Code is one of consentd's stable error codes
// (consentd.ENOTFOUND, consentd.EINVALID, ...). *Error unwraps to a
// *consentd.Error, so consentd.ErrorCode(err) works on it too. Transport
// failures are returned wrapped with the method and path.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// DefaultUserAgent is the User-Agent sent unless WithUserAgent says
// otherwise.
const DefaultUserAgent = "consentd-go-client/1"

// Client calls one consentd server with one API key. It is safe for
// concurrent use.
type Client struct {
	base string // scheme, host and optional path prefix, without a trailing slash
	key  string
	hc   *http.Client
	ua   string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests through hc (timeouts,
// proxies, TLS settings, transports). The default is http.DefaultClient. A
// timeout on hc bounds streaming calls too (DecideStream, ExportConsents):
// prefer contexts for those.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option { return func(c *Client) { c.ua = ua } }

// New returns a client of the server at baseURL (such as
// "https://consentd.example.com" or "http://127.0.0.1:8080"; a path prefix
// is kept) that authenticates with apiKey.
func New(baseURL, apiKey string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(baseURL, "/"), key: apiKey, hc: http.DefaultClient, ua: DefaultUserAgent}
	for _, o := range opts {
		o(c)
	}
	return c
}

// BaseURL returns the server's URL as the client uses it.
func (c *Client) BaseURL() string { return c.base }

// esc escapes one path segment: ids may hold '@', '#', '/', '?' and spaces
// (a consent id is "<contact point>#<channel type id>").
func esc(id string) string { return url.PathEscape(id) }

// request is one API call: method, path (escaped), query, body.
type request struct {
	method string
	path   string
	query  url.Values
	body   io.Reader
	ctype  string // the body's media type
	accept string
	size   int64 // the body's length when known (> 0)
}

// jsonRequest returns a request whose body is v as JSON (none when v is
// nil).
func jsonRequest(method, path string, query url.Values, v any) (*request, error) {
	r := &request{method: method, path: path, query: query, accept: "application/json"}
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encoding the request: %w", method, path, err)
		}
		r.body, r.ctype = bytes.NewReader(b), "application/json"
	}
	return r, nil
}

// send sends r and returns the response when its status is 2xx; any other
// status is returned as *Error, the body read and closed. The caller closes
// a returned response's body.
func (c *Client) send(ctx context.Context, r *request) (*http.Response, error) {
	u := c.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, r.body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	if r.size > 0 {
		req.ContentLength = r.size
	}
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	if r.accept != "" {
		req.Header.Set("Accept", r.accept)
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	if c.ua != "" {
		req.Header.Set("User-Agent", c.ua)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, errorFrom(r.method, r.path, resp)
	}
	return resp, nil
}

// maxAnswer bounds a JSON answer the client reads into memory.
const maxAnswer = 64 << 20

// call sends r and decodes a JSON answer into out (nil: the body is
// dropped). It returns the answer's HTTP status.
func (c *Client) call(ctx context.Context, r *request, out any) (int, error) {
	resp, err := c.send(ctx, r)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
		return resp.StatusCode, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: reading the answer: %w", r.method, r.path, err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: decoding the answer: %w", r.method, r.path, err)
	}
	return resp.StatusCode, nil
}

// do is call for a JSON request body in (nil: none).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) (int, error) {
	r, err := jsonRequest(method, path, query, in)
	if err != nil {
		return 0, err
	}
	return c.call(ctx, r, out)
}
