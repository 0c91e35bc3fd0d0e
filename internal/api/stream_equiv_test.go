package api_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// streamLines is the number of random lines TestDecisionStreamEqualsReference
// streams per query: CONSENTD_STREAM_LINES (1000000 for the check),
// else 20,000, which runs in a few seconds.
func streamLines(t *testing.T) int {
	if v := os.Getenv("CONSENTD_STREAM_LINES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 10 {
			t.Fatalf("CONSENTD_STREAM_LINES=%q: want a number of lines, at least 10", v)
		}
		return n
	}
	return 20_000
}

// TestDecisionStreamEqualsReference streams the same random lines (good,
// opted-out, opted-in and bad addresses, duplicates, per-line purposes,
// topics and channels, unknown ones, blank lines, invalid JSON, extra and
// repeated fields, escapes, control characters, invalid UTF-8, lines too
// long for a contact point) through POST /v1/decisions:batch and through
// the reference (ReferenceStream: every line decoded and decided on its
// own, one at a time) on two workspaces in the same state, with the same
// catalog change in the middle of each stream, and wants the same bytes.
//
// The change: the first half of the lines is sent, then a sentinel line
// whose answer is always written; once the sentinel's answer is read (so
// every line before it was decided), the purpose's email enforcement is
// switched, then the second half is sent. Each line is decided on the
// state at the moment it is decided (its answer's seq says which): the
// lines after the change answer from the new catalog.
func TestDecisionStreamEqualsReference(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		n := streamLines(t)
		// The same writes, in the same order, in both workspaces: their
		// states and seqs stay equal.
		at := time.Now().Add(-time.Hour)
		for _, ws := range []workspace{e.a, e.b} {
			var batch []map[string]any
			for i := range 3000 {
				switch {
				case i%3 == 0:
					batch = append(batch, write(fmt.Sprintf("user%d@example.com", i), "newsletter", "", "email", "opted_out", at))
				case i%5 == 0:
					batch = append(batch, write(fmt.Sprintf("user%d@example.com", i), "newsletter", "", "email", "opted_in", at))
				case i%7 == 0:
					batch = append(batch, write(fmt.Sprintf("user%d@example.com", i), "newsletter", "weekly", "email", "opted_in", at))
				case i%11 == 0:
					batch = append(batch, write(fmt.Sprintf("+1415555%04d", i), "newsletter", "", "sms", "opted_in", at))
				}
			}
			for len(batch) > 0 {
				k := min(len(batch), 1000)
				e.must("POST", "/v1/consents:batch", ws.key(consentd.RoleWrite), map[string]any{"consents": batch[:k]}, 200)
				batch = batch[k:]
			}
		}
		ref := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e.api.ReferenceStream(w, r, e.b.id) }))
		defer ref.Close()
		lines := randomStreamLines(rand.New(rand.NewPCG(17, uint64(n))), n)
		enforcement := []string{"restrictive", "non_restrictive"}
		for i, q := range []string{
			"purpose=newsletter&channel=email",
			"purpose=newsletter&channel=email&only=allowed",
			"purpose=newsletter&channel=sms&topic=weekly",
			"channel=email",
		} {
			change := func(ws workspace) func() {
				return func() {
					e.must("PATCH", "/v1/purposes/newsletter", ws.key(consentd.RoleAdmin),
						fmt.Sprintf(`{"channels":{"email":{"enforcement":%q}}}`, enforcement[i%2]), 200)
				}
			}
			got := streamAround(t, e.srv.URL+"/v1/decisions:batch?"+q, e.a.key(consentd.RoleCheck), lines, change(e.a))
			want := streamAround(t, ref.URL+"/?"+q, "", lines, change(e.b))
			t.Logf("%s: %d answer lines, %d of them no_consent", q, len(got), strings.Count(strings.Join(got, "\n"), `"reason":"no_consent"`))
			if len(got) != len(want) {
				t.Errorf("%s: %d answer lines; the reference answers %d", q, len(got), len(want))
			}
			for j := range min(len(got), len(want)) {
				if got[j] != want[j] {
					t.Errorf("%s: answer line %d is\n%s\nthe reference's is\n%s", q, j+1, got[j], want[j])
					break
				}
			}
		}
	})
}

// streamSentinel is decided under the transactional purpose orders, whose
// email enforcement is disabled: it is always allowed, so its answer is
// written whatever the query.
const streamSentinel = `{"contact_point":"sentinel@example.com","purpose":"orders","channel":"email"}`

// streamAround streams lines to url: the first half, the sentinel, then,
// once the sentinel's answer is read, change() and the second half. It
// returns the answer lines.
func streamAround(t *testing.T, url, key string, lines []string, change func()) []string {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", url, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	half := len(lines) / 2
	send := func(part []string) error {
		bw := bufio.NewWriterSize(pw, 64<<10)
		for _, l := range part {
			bw.WriteString(l)
			bw.WriteByte('\n')
		}
		return bw.Flush()
	}
	sent := make(chan error, 1)
	go func() { sent <- send(append(lines[:half:half], streamSentinel)) }()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("POST %s = %d %s", url, res.StatusCode, b)
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var answers []string
	changed := false
	for sc.Scan() {
		answers = append(answers, sc.Text())
		if !changed && strings.Contains(sc.Text(), `"contact_point":"sentinel@example.com"`) {
			if err := <-sent; err != nil {
				t.Fatalf("sending the first half: %v", err)
			}
			changed = true
			change()
			go func() { err := send(lines[half:]); pw.CloseWithError(err); sent <- err }()
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading the answers of %s: %v", url, err)
	}
	if !changed {
		t.Fatalf("%s: no answer to the sentinel line in %d answers", url, len(answers))
	}
	if err := <-sent; err != nil {
		t.Fatalf("sending the second half: %v", err)
	}
	return answers
}

// randomStreamLines returns n lines of a recipient list as a send pipeline
// might send it, most of them the common {"contact_point": "..."}, with
// every kind of line the stream must answer as the reference does.
func randomStreamLines(rng *rand.Rand, n int) []string {
	user := func() string { return fmt.Sprintf("user%d@example.com", rng.IntN(3500)) }
	cp := func(s string) string { return `{"contact_point":"` + s + `"}` }
	long := strings.Repeat("x", 1020)
	odd := []string{
		``, `   `, "\t", "\r", "\v", " \u00a0 ", // blank, or blank to bytes.TrimSpace only
		`{"contact_point":`, `not json`, `[1,2]`, `null`, `"str"`, `{}`, `{"contact_point":42}`, `{"contact_point":null}`,
		`{"contact_point":"a@example.com"}{"contact_point":"b@example.com"}`, `{"contact_point":"a@example.com"} x`,
		`{"contact_point":"user1@example.com","extra":1}`, `{"contact_point":"user3@example.com","purpose":"newsletter"}`,
		`{"contact_point":"user3@example.com","contact_point":"user4@example.com"}`, `{"Contact_Point":"user3@example.com"}`,
		`{"contact_point":"user9@example.com","purpose":"nope"}`, `{"contact_point":"user9@example.com","topic":"weekly"}`,
		`{"contact_point":"user9@example.com","topic":"nope"}`, `{"contact_point":"+14155550011","channel":"sms"}`,
		`{"contact_point":"user9@example.com","channel":"push"}`, `{"contact_point":"user9@example.com","channel":""}`,
		`{"contact_point":"user9@example.com","channel":"Bad Channel"}`, `{"contact_point":"user9@example.com","purpose":"orders"}`,
		`{"contact_point":"u\u0031@example.com"}`, `{"contact_point":"a\"b@example.com"}`, `{"contact_point":"a\u0000b@example.com"}`,
		`{"contact_point":"\ud800@example.com"}`, `{"contact_point":"a\\b@example.com"}`, `{"contact_point":"a\/b@example.com"}`,
		"{\"contact_point\":\"a\tb@example.com\"}", "{\"contact_point\":\"a\x01b@example.com\"}", "{\"contact_point\":\"a\xffb@example.com\"}",
		"\v{\"contact_point\":\"user5@example.com\"}", "\u00a0{\"contact_point\":\"user5@example.com\"}",
		cp("jörg@bücher.de"), cp("JÖRG@BÜCHER.DE"), cp("user@xn--bcher-kva.de"), cp("<b>@example.com"), cp("a&b@example.com"),
		cp(long + "@x.y"), cp(long + "@x.yz"), cp(long + long),
		cp(""), cp("@"), cp("a@"), cp("user@@example.com"), cp("not an address"), cp("user 1@example.com"),
		cp("+14155550123"), cp("(415) 555-0123"), cp("mailto:user2@example.com"), cp(" user2@example.com "),
		` { "contact_point" : "User7@Example.COM" } `, "{\"contact_point\":\"user8@example.com\"}\r", "\t{\t\"contact_point\"\t:\t\"user8@example.com\"\t}\t",
	}
	lines := make([]string, n)
	for i := range lines {
		switch r := rng.IntN(100); {
		case r < 70:
			lines[i] = cp(user())
		case r < 75:
			lines[i] = cp(strings.ToUpper(user()))
		case r < 78:
			lines[i] = fmt.Sprintf(`{"contact_point":"+1415555%04d"}`, rng.IntN(3000))
		case r < 80:
			lines[i] = fmt.Sprintf(`{"contact_point":%q,"topic":"weekly"}`, user())
		default:
			lines[i] = odd[rng.IntN(len(odd))]
		}
	}
	return lines
}

// TestDecisionStreamEndsAsReference: how a stream ends (a last line without
// a newline, one too long for the line bound, a blank end) is answered as
// the reference answers it, on streams long enough to span chunks.
func TestDecisionStreamEndsAsReference(t *testing.T) {
	e := newEnv(t)
	ref := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e.api.ReferenceStream(w, r, e.b.id) }))
	defer ref.Close()
	var many strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&many, "{\"contact_point\":\"user%d@example.com\"}\n", i)
	}
	tooLong := `{"contact_point":"` + strings.Repeat("x", 1<<20) + `"}`
	cases := []struct{ name, body string }{
		{"empty", ""},
		{"unterminated last line", many.String() + `{"contact_point":"last@example.com"}`},
		{"unterminated last line with CR", many.String() + "{\"contact_point\":\"last@example.com\"}\r"},
		{"blank end", many.String() + "\n\n  \n"},
		{"line too long at the end", many.String() + tooLong + "\n" + many.String()},
		{"line too long unterminated", many.String() + tooLong},
		{"line of the most bytes", many.String() + `{"contact_point":"` + strings.Repeat("x", 1<<20-21) + "\"}\n" + many.String()},
		{"line too long first", tooLong + "\n"},
		{"bad lines only", strings.Repeat("nope\n", 3000)},
	}
	// A stream that ends before its body, again and again on one
	// keep-alive connection: the server must not panic reading the next
	// request (golang/go#68560).
	for range 10 {
		cases = append(cases, struct{ name, body string }{"line too long, then a few bytes, again", tooLong + "\n{}\n"},
			struct{ name, body string }{"a good stream after", many.String()})
	}
	// Our requests go on a client of their own, which counts its
	// connections: one, kept alive, unless the server dropped it.
	ours := &http.Client{Transport: &http.Transport{}}
	conns := 0
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if !info.Reused {
			conns++
		}
	}}
	for _, tt := range cases {
		post := func(url, key string) string {
			req, _ := http.NewRequest("POST", url, strings.NewReader(tt.body))
			if key != "" {
				req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
			}
			req.Header.Set("Content-Type", "application/x-ndjson")
			if key != "" {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			c := http.DefaultClient
			if key != "" {
				c = ours
			}
			res, err := c.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatalf("%s: reading: %v", tt.name, err)
			}
			return fmt.Sprintf("%d %s", res.StatusCode, b)
		}
		got := post(e.srv.URL+"/v1/decisions:batch?purpose=newsletter&channel=email", e.a.key(consentd.RoleCheck))
		want := post(ref.URL+"/?purpose=newsletter&channel=email", "")
		if got != want {
			i := 0
			for i < min(len(got), len(want)) && got[i] == want[i] {
				i++
			}
			t.Errorf("%s: %d bytes, the reference's %d; they differ at byte %d: %q against %q", tt.name, len(got), len(want), i,
				clip(got[i:]), clip(want[i:]))
		}
		if !bytes.HasPrefix([]byte(got), []byte("200")) {
			t.Errorf("%s: %s", tt.name, clip(got))
		}
	}
	if conns != 1 {
		t.Errorf("our requests took %d connections; want 1, kept alive (the server panics reading the next request after a stream that ends before its body: golang/go#68560)", conns)
	}
}

func clip(s string) string { return s[:min(len(s), 200)] }

// TestDecisionStreamClientGoesAway: a client that goes away mid-stream,
// its body still open, ends the stream's reader, workers and writer: the
// server's Close, which waits for every handler, returns.
func TestDecisionStreamClientGoesAway(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	go func() {
		for i := range 3000 {
			fmt.Fprintf(pw, "{\"contact_point\":\"user%d@example.com\"}\n", i)
		}
		<-ctx.Done() // the body stays open
		pw.CloseWithError(ctx.Err())
	}()
	req, _ := http.NewRequestWithContext(ctx, "POST", e.srv.URL+"/v1/decisions:batch?purpose=newsletter&channel=email", pr)
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Authorization", "Bearer "+e.a.key(consentd.RoleCheck))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(res.Body)
	for i := 0; i < 3000 && sc.Scan(); i++ {
	}
	cancel()
	res.Body.Close()
	closed := make(chan struct{})
	go func() { e.srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("the server's Close did not return 30s after the client went away: the stream's handler still runs")
	}
}
