package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/api"
)

// TestBatchItemLimitWhileDecoding sends one item more than a batch may hold
// and then nothing, keeping the body open: the answer, 413 naming the
// limit, must come while the body is still being sent, not after it ends.
func TestBatchItemLimitWhileDecoding(t *testing.T) {
	e := newEnv(t)
	key := e.a.key(consentd.RoleWrite)
	at := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	for _, c := range []struct {
		path, head, want string
		n                int
		item             func(i int) string
	}{
		{"/v1/consents:batch", `{"consents":[`, fmt.Sprintf("at most %d consents", api.MaxBatch), api.MaxBatch + 1, func(i int) string {
			return fmt.Sprintf(`{"contact_point":"u%d@example.com","channel":"email","purpose":"newsletter","status":"opted_in","captured_at":%q,"source":{"type":"api"}}`, i, at)
		}},
		{"/v1/decisions:batch", `{"purpose":"newsletter","channel":"email","contact_points":[`, fmt.Sprintf("at most %d contact points", api.MaxBatchDecisions), api.MaxBatchDecisions + 1, func(i int) string {
			return fmt.Sprintf(`"u%d@example.com"`, i)
		}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		pr, pw := io.Pipe()
		go func() {
			bw := bufio.NewWriter(pw)
			bw.WriteString(c.head)
			for i := range c.n {
				if i > 0 {
					bw.WriteByte(',')
				}
				bw.WriteString(c.item(i))
			}
			bw.Flush() // and then nothing: the array and the body stay open
			<-ctx.Done()
			pw.CloseWithError(ctx.Err())
		}()
		req, _ := http.NewRequestWithContext(ctx, "POST", e.srv.URL+c.path, pr)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		res, err := e.srv.Client().Do(req)
		if err != nil {
			cancel()
			t.Fatalf("POST %s with %d items and an open body: %v; want 413 before the body ends", c.path, c.n, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		cancel()
		r := &response{method: "POST", path: c.path, status: res.StatusCode, header: res.Header, body: b}
		if p := r.problem(t); r.status != 413 || p.Code != consentd.ETOOLARGE || !strings.Contains(p.Detail, c.want) {
			t.Errorf("POST %s with %d items = %s; want 413 %s saying %q", c.path, c.n, r, consentd.ETOOLARGE, c.want)
		}
	}
}

// TestBatchDeclaredTooLarge sends only the headers of a batch whose
// Content-Length is over the byte limit: it is answered 413 at once.
func TestBatchDeclaredTooLarge(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/v1/consents:batch", "/v1/decisions:batch"} {
		status, body := headersOnly(t, e.srv.Listener.Addr().String(), path, e.a.key(consentd.RoleWrite), "application/json", 17<<20)
		if status != 413 || !strings.Contains(body, consentd.ETOOLARGE) {
			t.Errorf("POST %s declaring 17 MiB = %d %s; want 413 %s without the body", path, status, body, consentd.ETOOLARGE)
		}
	}
}

// headersOnly sends a POST's headers declaring length body bytes, sends no
// body, and returns the answer's status and body (bounded wait).
func headersOnly(t *testing.T, addr, path, key, contentType string, length int64) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", path, addr, key, contentType, length)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("POST %s declaring %d bytes, no body: no answer within 10s: %v", path, length, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestBatchNullItems: a null body, a null or missing array is refused, not
// an empty success; an empty array still is one.
func TestBatchNullItems(t *testing.T) {
	e := newEnv(t)
	write, check := e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleCheck)
	for _, c := range []struct {
		path, key, body string
		status          int
		code            string
	}{
		{"/v1/consents:batch", write, `null`, 422, consentd.EINVALID},
		{"/v1/consents:batch", write, `{"consents":null}`, 422, consentd.EINVALID},
		{"/v1/consents:batch", write, `{}`, 422, consentd.EINVALID},
		{"/v1/consents:batch", write, `{"consents":{}}`, 400, consentd.EMALFORMED},
		{"/v1/consents:batch", write, `{"consents":[],"consents":[]}`, 400, consentd.EMALFORMED},
		{"/v1/consents:batch", write, `{"consents":[]} {}`, 400, consentd.EMALFORMED},
		{"/v1/consents:batch", write, `{"consents":[{"contact_point":5}]}`, 400, consentd.EMALFORMED},
		{"/v1/decisions:batch", check, `null`, 422, consentd.EINVALID},
		{"/v1/decisions:batch", check, `{"purpose":"newsletter","channel":"email","contact_points":null}`, 422, consentd.EINVALID},
		{"/v1/decisions:batch", check, `{"purpose":"newsletter","channel":"email","contact_points":[5]}`, 400, consentd.EMALFORMED},
		{"/v1/decisions:batch", check, `{"purpose":"newsletter","channel":"email","contact_points":[],"extra":1}`, 400, consentd.EMALFORMED},
	} {
		r := e.do("POST", c.path, c.key, c.body)
		if p := r.problem(t); r.status != c.status || p.Code != c.code {
			t.Errorf("POST %s %s = %s; want %d %s", c.path, c.body, r, c.status, c.code)
		}
	}
	// The place of a bad item is named.
	r := e.do("POST", "/v1/consents:batch", write, `{"consents":[{"contact_point":"a@example.com"},{"contact_point":5}]}`)
	if p := r.problem(t); len(p.Fields) != 1 || p.Fields[0].Field != "consents[1].contact_point" {
		t.Errorf("POST /v1/consents:batch with a bad second item = %s; want its field consents[1].contact_point", r)
	}
	var res struct {
		Results []json.RawMessage `json:"results"`
	}
	e.must("POST", "/v1/consents:batch", write, `{"consents":[]}`, 200).decode(t, &res)
	if res.Results == nil || len(res.Results) != 0 {
		t.Errorf("POST /v1/consents:batch with no items: results %v; want []", res.Results)
	}
	e.must("POST", "/v1/decisions:batch", check, `{"purpose":"newsletter","channel":"email","contact_points":[]}`, 200)
}

// TestDecisionBatchAnswerWrittenAsDecided: a JSON batch's answer, written
// as it is decided, is byte for byte the NDJSON stream's answers to the
// same contact points, joined into {"results":[...]}; past the first 32 KiB
// as well as within them.
func TestDecisionBatchAnswerWrittenAsDecided(t *testing.T) {
	e := newEnv(t)
	write, check := e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleCheck)
	e.must("POST", "/v1/consents", write, map[string]any{"contact_point": "u7@example.com", "channel": "email", "purpose": "newsletter",
		"status": "opted_out", "captured_at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "source": map[string]any{"type": "api"}}, 201)
	for _, n := range []int{3, 3000} {
		var cps []string
		var lines strings.Builder
		for i := range n {
			cp := fmt.Sprintf("u%d@example.com", i)
			if i%10 == 3 {
				cp = fmt.Sprintf("not an address %d", i)
			}
			cps = append(cps, cp)
			fmt.Fprintf(&lines, "{\"contact_point\":%q}\n", cp)
		}
		for _, q := range []string{"", "&only=allowed"} {
			stream := e.do("POST", "/v1/decisions:batch?purpose=newsletter&channel=email"+q, check, lines.String(), "Content-Type", "application/x-ndjson")
			want := `{"results":[` + strings.Join(strings.Split(strings.TrimSuffix(string(stream.body), "\n"), "\n"), ",") + "]}\n"
			r := e.must("POST", "/v1/decisions:batch?x=1"+q, check, map[string]any{"purpose": "newsletter", "channel": "email", "contact_points": cps}, 200)
			if string(r.body) != want {
				t.Errorf("POST /v1/decisions:batch JSON, %d contact points%s: %d bytes, not the NDJSON answers joined (%d bytes)", n, q, len(r.body), len(want))
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("POST /v1/decisions:batch JSON: Content-Type %q", ct)
			}
		}
	}
}
