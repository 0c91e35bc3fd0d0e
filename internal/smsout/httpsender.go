package smsout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"sigs.k8s.io/yaml"
)

// HTTPConfig configures a generic HTTP sender, read from a JSON or YAML
// file (LoadHTTPConfig). Example (YAML):
//
//	url: https://sms.example.com/v1/messages
//	method: POST                 # default POST
//	format: json                 # json or form
//	body: '{"to": "{{.To}}", "from": "{{.From}}", "text": "{{.Body}}"}'
//	from: Acme                   # default sender
//	headers: {X-Tenant: acme}
//	auth: {type: bearer, secret_env: SMS_API_TOKEN}
//	response:
//	  id_path: message.id
//	  code_path: error.code
//	  opted_out_codes: ["21610"]
//	  retry_codes: ["throttled"]
type HTTPConfig struct {
	URL     string            `json:"url"`
	Method  string            `json:"method,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	// Format is how the body is encoded and which values the template
	// gets: json (To, From and Body escaped for use inside a JSON string,
	// quotes not included; the result must be valid JSON) or form (each
	// value URL-encoded for a form field).
	Format string `json:"format"`
	// Body is a Go text/template over the fields To, From and Body.
	Body string   `json:"body"`
	From string   `json:"from,omitempty"`
	Auth HTTPAuth `json:"auth,omitempty"`
	// Response says what the provider's answer means.
	Response HTTPResponse `json:"response,omitempty"`
}

// HTTPAuth is how a generic sender authenticates. The secret is the
// password (basic), the token (bearer) or the header's value (header); it
// is read from the environment variable SecretEnv, or given as Secret.
type HTTPAuth struct {
	Type      string `json:"type,omitempty"` // "", basic, bearer or header
	Username  string `json:"username,omitempty"`
	Header    string `json:"header,omitempty"` // the header's name, for type header
	Secret    string `json:"secret,omitempty"`
	SecretEnv string `json:"secret_env,omitempty"`
}

// HTTPResponse maps a provider's answer to an Outcome. A path is a dot
// path into the JSON answer ("id", "error.code", "messages.0.status"); a
// code found there is compared as text (a JSON number 21610 is "21610").
type HTTPResponse struct {
	IDPath           string   `json:"id_path,omitempty"`
	CodePath         string   `json:"code_path,omitempty"`
	OptedOutStatuses []int    `json:"opted_out_statuses,omitempty"`
	OptedOutCodes    []string `json:"opted_out_codes,omitempty"`
	// RetryStatuses are the HTTP statuses to try again later; empty
	// means 429 and every 5xx.
	RetryStatuses []int    `json:"retry_statuses,omitempty"`
	RetryCodes    []string `json:"retry_codes,omitempty"`
	// SuccessCodes, when set, are the only codes a 2xx answer may carry
	// to count as sent (a provider that answers 200 with a status field,
	// "0" for accepted); a 2xx with another code is Failed.
	SuccessCodes []string `json:"success_codes,omitempty"`
}

// HTTPSender sends texts with a configured HTTP request.
type HTTPSender struct {
	cfg    HTTPConfig
	secret string
	tmpl   *template.Template
	client *http.Client
}

// LoadHTTPConfig reads a generic sender's configuration from a JSON or
// YAML file; unknown fields are errors.
func LoadHTTPConfig(path string) (HTTPConfig, error) {
	var c HTTPConfig
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("sms http config: %w", err)
	}
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return c, fmt.Errorf("sms http config %s: %w", path, err)
	}
	return c, nil
}

// NewHTTPSender checks c and returns its sender; getenv reads SecretEnv
// (os.Getenv when nil) and client makes the requests (nil: a client with
// DefaultTimeout). Its errors never quote the secret.
func NewHTTPSender(c HTTPConfig, getenv func(string) string, client *http.Client) (*HTTPSender, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if c.Method == "" {
		c.Method = http.MethodPost
	}
	c.Method = strings.ToUpper(c.Method)
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("sms http config: url must be an http or https URL")
	}
	switch c.Format {
	case "json", "form":
	default:
		return nil, fmt.Errorf("sms http config: format must be json or form")
	}
	tmpl, err := template.New("body").Option("missingkey=error").Parse(c.Body)
	if err != nil {
		return nil, fmt.Errorf("sms http config: body template: %w", err)
	}
	s := &HTTPSender{cfg: c, tmpl: tmpl, client: defaultClient(client)}
	a := c.Auth
	if a.Type != "" {
		s.secret = a.Secret
		if a.SecretEnv != "" {
			s.secret = getenv(a.SecretEnv)
		}
		if s.secret == "" {
			return nil, fmt.Errorf("sms http config: auth %s needs a secret (secret_env names an empty variable or none is given)", a.Type)
		}
	}
	switch a.Type {
	case "", "basic", "bearer":
	case "header":
		if http.CanonicalHeaderKey(a.Header) == "" || strings.ContainsAny(a.Header, " :\r\n") {
			return nil, fmt.Errorf("sms http config: auth header needs a header name")
		}
	default:
		return nil, fmt.Errorf("sms http config: auth type must be basic, bearer or header")
	}
	// A template that does not run on a sample, or JSON that does not
	// parse, is a configuration error: say so at start, not per message.
	if _, err := s.render(Message{To: "+10000000000", From: "x", Body: "test \"quoted\"\n"}); err != nil {
		return nil, fmt.Errorf("sms http config: %w", err)
	}
	return s, nil
}

// render builds the request body of m.
func (s *HTTPSender) render(m Message) ([]byte, error) {
	esc := url.QueryEscape
	if s.cfg.Format == "json" {
		esc = jsonEscape
	}
	var b bytes.Buffer
	data := struct{ To, From, Body string }{esc(m.To), esc(orDefault(m.From, s.cfg.From)), esc(m.Body)}
	if err := s.tmpl.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("body template: %w", err)
	}
	if s.cfg.Format == "json" && !json.Valid(b.Bytes()) {
		return nil, fmt.Errorf("body template does not make valid JSON (put each field inside quotes: \"{{.Body}}\")")
	}
	return b.Bytes(), nil
}

// jsonEscape returns s as the inside of a JSON string.
func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// Send renders and sends m, and reads the answer as Response says: an
// opted-out status or code is OptedOut; a network error, a retry status
// (default 429 and 5xx) or a retry code is Retry; another 2xx is Sent
// (Failed when SuccessCodes are set and the code is not one); anything
// else is Failed. The errors name the HTTP status and the code, never the
// secret, the URL, the number or the text.
func (s *HTTPSender) Send(ctx context.Context, m Message) Result {
	body, err := s.render(m)
	if err != nil {
		return failure(Failed, "", "sms http: %v", err)
	}
	req, err := http.NewRequestWithContext(ctx, s.cfg.Method, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return failure(Failed, "", "sms http: %v", redact(err))
	}
	if s.cfg.Format == "json" {
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range s.cfg.Headers {
		req.Header.Set(k, v)
	}
	switch s.cfg.Auth.Type {
	case "basic":
		req.SetBasicAuth(s.cfg.Auth.Username, s.secret)
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+s.secret)
	case "header":
		req.Header.Set(s.cfg.Auth.Header, s.secret)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return failure(Retry, "", "sms http: %v", redact(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return failure(Retry, "", "sms http: reading the answer (HTTP %d): %v", resp.StatusCode, err)
	}
	var doc any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if d.Decode(&doc) != nil {
		doc = nil // not JSON: the status decides
	}
	r := s.cfg.Response
	code := lookup(doc, r.CodePath)
	st := resp.StatusCode
	retry := slices.Contains(r.RetryStatuses, st) || len(r.RetryStatuses) == 0 && retryStatus(st)
	switch {
	case slices.Contains(r.OptedOutStatuses, st) || code != "" && slices.Contains(r.OptedOutCodes, code):
		return failure(OptedOut, code, "sms http: the recipient opted out (HTTP %d%s)", st, codeSuffix(code))
	case retry || code != "" && slices.Contains(r.RetryCodes, code):
		return failure(Retry, code, "sms http: HTTP %d%s: try again later", st, codeSuffix(code))
	case st/100 == 2 && (len(r.SuccessCodes) == 0 || slices.Contains(r.SuccessCodes, code)):
		return Result{Outcome: Sent, ProviderID: lookup(doc, r.IDPath)}
	}
	return failure(Failed, code, "sms http: HTTP %d%s", st, codeSuffix(code))
}

// lookup follows a dot path through decoded JSON (objects by key, arrays
// by index) and returns the scalar there as text; "" when path is empty or
// leads nowhere.
func lookup(doc any, path string) string {
	if path == "" || doc == nil {
		return ""
	}
	v := doc
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return ""
			}
			v = x[i]
		default:
			return ""
		}
	}
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}
