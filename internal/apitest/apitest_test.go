package apitest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/consentd/consentd/internal/apitest"
	"github.com/consentd/consentd/internal/openapi"
)

// recorder is a testing.TB that keeps the errors reported to it.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

type thing struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type line struct {
	N int `json:"n"`
}

// server serves a small document and handlers that answer as the test
// case says.
func server(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) *httptest.Server {
	doc := openapi.New("t", "1", "")
	doc.Add(openapi.Operation{Method: "POST", Path: "/v1/things", Summary: "s", Request: thing{}, Response: thing{}, Status: 201, Errors: []int{400, 422}})
	doc.Add(openapi.Operation{Method: "GET", Path: "/v1/things/{id}:peek", Summary: "s", Response: thing{}, Errors: []int{404}})
	doc.Add(openapi.Operation{Method: "GET", Path: "/v1/lines", Summary: "s", ResponseTypes: []string{"application/x-ndjson"}, ResponseItem: line{}})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(doc) })
	mux.HandleFunc("GET /problems/known", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<p>known</p>") })
	mux.HandleFunc("/v1/", answer)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func problem(w http.ResponseWriter, status int, typ string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"type":%q,"title":"x","status":%d,"code":"known"}`, typ, status)
}

func jsonAnswer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// TestTransportFindsDisagreements: the transport reports what a server
// answers that its document does not declare, and only that.
func TestTransportFindsDisagreements(t *testing.T) {
	cases := []struct {
		name    string
		method  string
		path    string
		body    string
		header  []string
		answer  func(w http.ResponseWriter, r *http.Request)
		wantErr string // "" for none
	}{
		{"as declared", "POST", "/v1/things", `{"id":"a","name":"b"}`, nil,
			func(w http.ResponseWriter, r *http.Request) { jsonAnswer(w, 201, `{"id":"a","name":"b"}`) }, ""},
		{"undeclared status", "POST", "/v1/things", `{"id":"a","name":"b"}`, nil,
			func(w http.ResponseWriter, r *http.Request) { jsonAnswer(w, 200, `{"id":"a","name":"b"}`) }, "status is not supported"},
		{"missing field in the answer", "POST", "/v1/things", `{"id":"a","name":"b"}`, nil,
			func(w http.ResponseWriter, r *http.Request) { jsonAnswer(w, 201, `{"id":"a"}`) }, "name"},
		{"invalid request accepted", "POST", "/v1/things", `{"id":"a"}`, nil,
			func(w http.ResponseWriter, r *http.Request) { jsonAnswer(w, 201, `{"id":"a","name":""}`) }, "the request does not match"},
		{"invalid request marked", "POST", "/v1/things", `{"id":"a"}`, []string{apitest.Invalid, "on purpose"},
			func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get(apitest.Invalid) != "" {
					t.Error("the Invalid header reached the server")
				}
				jsonAnswer(w, 201, `{"id":"a","name":""}`)
			}, ""},
		{"invalid request refused", "POST", "/v1/things", `{"id":`, nil,
			func(w http.ResponseWriter, r *http.Request) { problem(w, 400, "/problems/known") }, ""},
		{"undeclared error", "POST", "/v1/things", `{"id":"a","name":"b"}`, nil,
			func(w http.ResponseWriter, r *http.Request) { problem(w, 409, "/problems/known") }, "status is not supported"},
		{"problem type without a page", "POST", "/v1/things", `{"id":"a","name":"b"}`, nil,
			func(w http.ResponseWriter, r *http.Request) { problem(w, 422, "/problems/unknown") }, "want 200"},
		{"problem type a URN", "POST", "/v1/things", `{"id":"a","name":"b"}`, nil,
			func(w http.ResponseWriter, r *http.Request) { problem(w, 422, "urn:x:known") }, "does not resolve"},
		{"custom method path", "GET", "/v1/things/a%23b:peek", "", nil,
			func(w http.ResponseWriter, r *http.Request) { jsonAnswer(w, 200, `{"id":"a#b","name":"b"}`) }, ""},
		{"undocumented /v1 route", "GET", "/v1/nothing", "", nil,
			func(w http.ResponseWriter, r *http.Request) { jsonAnswer(w, 200, `{}`) }, "no operation"},
		{"undocumented route refused", "GET", "/v1/nothing", "", nil,
			func(w http.ResponseWriter, r *http.Request) { problem(w, 404, "/problems/known") }, ""},
		{"NDJSON lines", "GET", "/v1/lines", "", nil,
			func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/x-ndjson")
				io.WriteString(w, "{\"n\":1}\n{\"n\":2}\n")
			}, ""},
		{"NDJSON line of the wrong shape", "GET", "/v1/lines", "", nil,
			func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/x-ndjson")
				io.WriteString(w, "{\"n\":1}\n{\"n\":\"two\"}\n")
			}, "line 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := server(t, c.answer)
			rec := &recorder{TB: t}
			client := &http.Client{Transport: apitest.Transport(rec, nil)}
			var body io.Reader
			if c.body != "" {
				body = strings.NewReader(c.body)
			}
			req, _ := http.NewRequest(c.method, srv.URL+c.path, body)
			if c.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			for i := 0; i+1 < len(c.header); i += 2 {
				req.Header.Set(c.header[i], c.header[i+1])
			}
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.ReadAll(res.Body)
			res.Body.Close()
			all := strings.Join(rec.errs, "\n")
			switch {
			case c.wantErr == "" && len(rec.errs) > 0:
				t.Errorf("reported:\n%s\nwant nothing", all)
			case c.wantErr != "" && !strings.Contains(all, c.wantErr):
				t.Errorf("reported:\n%s\nwant an error with %q", all, c.wantErr)
			}
		})
	}
}
