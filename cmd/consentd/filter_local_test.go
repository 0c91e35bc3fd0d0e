package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/index"
	"github.com/consentd/consentd/internal/pgtest"
)

// TestFilterSameAsReference runs consentd filter, offline and against the
// running server, on random recipient lists (CSV with quotes, embedded
// newlines, CRLF, LF and mixed line endings, a BOM, blank lines, malformed
// rows, no final newline; NDJSON likewise) and checks that it writes the
// counts of the straightforward loop (encoding/csv or a line reader, and
// Prepared.Decide row by row) and, byte for byte, the input's header and
// the input's rows that loop keeps. Blocks of a few bytes cut rows and
// quoted fields anywhere. On SQLite, then on PostgreSQL.
func TestFilterSameAsReference(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			store := []string{"--data", filepath.Join(t.TempDir(), "data")}
			if backend == "postgres" {
				store = append(store, "--database", pgtest.FreshDB(t))
			}
			r, err := startReplica(ctx, map[string]string{"CONSENTD_ADMIN_KEY": benchAdminKey}, io.Discard, store...)
			if err != nil {
				t.Fatal(err)
			}
			defer r.close()
			seedFilterStore(ctx, t, "http://"+r.addr)
			defer func(n int) { filterReadSize = n }(filterReadSize)
			rng := rand.New(rand.NewPCG(17, 2))
			for i := range 24 {
				ndjson := i%4 == 3
				in := randomRecipients(rng, 400, ndjson)
				for _, tc := range []struct{ channel, column string }{{"email", ""}, {"sms", "phone"}} {
					for _, block := range []int{1 << 20, 1 + rng.IntN(40)} {
						filterReadSize = block
						args := append([]string{"--purpose", "news", "--channel", tc.channel}, store...)
						if tc.column != "" {
							args = append(args, "--column", tc.column)
						}
						if ndjson && in[0] != '{' {
							args = append(args, "--format", "ndjson") // else guessed
						}
						wantOut, wantCounts := referenceFilter(ctx, t, args, in)
						if i < 4 && block == 1<<20 {
							t.Logf("list %d, %s: %s", i, tc.channel, wantCounts)
						}
						for _, mode := range []struct {
							name string
							args []string
						}{{"local", nil}, {"server", []string{"--server", "http://" + r.addr, "--key", benchAdminKey}}} {
							var out, errb bytes.Buffer
							m := &Main{Stdin: bytes.NewReader(in), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
							if code := m.Run(ctx, append(append([]string{"filter"}, args...), mode.args...)); code != 0 {
								t.Fatalf("filter %s = %d: %s", mode.name, code, errb.String())
							}
							if out.String() != wantOut {
								t.Fatalf("list %d (%s, %s, blocks of %d): filter wrote\n%q\nthe reference\n%q\ninput\n%q", i, mode.name, tc.channel, block, out.String(), wantOut, in)
							}
							if got := strings.TrimSpace(errb.String()); got != "consentd filter: "+wantCounts {
								t.Fatalf("list %d (%s, %s, blocks of %d): filter said %q; the reference counts %q", i, mode.name, tc.channel, block, got, wantCounts)
							}
						}
					}
				}
			}
		})
	}
}

// seedFilterStore makes a purpose "news" on email (non-restrictive) and sms
// (restrictive) with opt-outs, opt-ins and suppressions among the addresses randomRecipients uses.
func seedFilterStore(ctx context.Context, t *testing.T, base string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	must := func(path string, body any) {
		t.Helper()
		if err := httpJSON(ctx, c, "POST", base+path, body, nil); err != nil {
			t.Fatal(err)
		}
	}
	must("/v1/purposes", map[string]any{"id": "news", "name": "News", "type": "commercial",
		"channels": map[string]any{"email": map[string]any{"enforcement": "non_restrictive"}, "sms": map[string]any{"enforcement": "restrictive"}}})
	at := time.Now().Add(-time.Hour).Format(time.RFC3339)
	var batch []map[string]any
	for i := 0; i < 50; i += 3 {
		batch = append(batch, map[string]any{"contact_point": fmt.Sprintf("user%d@example.com", i), "channel": "email", "purpose": "news",
			"status": "opted_out", "captured_at": at, "source": map[string]any{"type": "import"}})
	}
	batch = append(batch,
		map[string]any{"contact_point": "jöran@bücher.example", "channel": "email", "purpose": "news", "status": "opted_out", "captured_at": at, "source": map[string]any{"type": "api"}},
		map[string]any{"contact_point": "+14155550123", "channel": "sms", "purpose": "news", "status": "opted_in", "captured_at": at, "source": map[string]any{"type": "api"}},
		map[string]any{"contact_point": "+442079460958", "channel": "sms", "purpose": "news", "status": "opted_in", "captured_at": at, "source": map[string]any{"type": "api"}},
		map[string]any{"contact_point": "+14155550124", "channel": "sms", "purpose": "news", "status": "opted_out", "captured_at": at, "source": map[string]any{"type": "api"}})
	must("/v1/consents:batch", map[string]any{"consents": batch})
	must("/v1/suppressions", map[string]any{"contact_point": "user7@example.com", "reason": "hard_bounce"})
}

// randomRecipients returns a recipient list of n rows: CSV with the
// columns name, email, phone and note, or NDJSON.
func randomRecipients(rng *rand.Rand, n int, ndjson bool) []byte {
	emails := []string{"user1@example.com", "user3@example.com", "User3@Example.COM", " user6@example.com ", "user7@example.com",
		"user12@example.com", "jöran@bücher.example", "JÖRAN@BÜCHER.EXAMPLE", "jöran@xn--bcher-kva.example", "ｕｓｅｒ1@example.com",
		"not-an-address", "a@b", "@example.com", "user1@@example.com", "user1@example..com", "", " ", "user1@exa mple.com",
		"user1@example.com\u200b", "é@例え.テスト", "user1@[127.0.0.1]", "x@xn--zz.example", "user\x7f@example.com", "u@1.2.3.4",
		"user49@example.com", "user48@example.com", "\\.", "\ta@example.com"}
	phones := []string{"+14155550123", "+1 (415) 555-0123", "001 415 555 0123", "+1-415-555-0124", "4155550123", "+44 20 7946 0958",
		"+44 (0)20 7946 0958", "+1 415 555 0123 ext", "++14155550123", "+1\u00a0415\u00a0555\u00a00123", "+１ ４１５", "0", "", "+999 1234"}
	pick := func(l []string) string { return l[rng.IntN(len(l))] }
	if ndjson {
		var b bytes.Buffer
		for range n {
			switch rng.IntN(12) {
			case 0:
				b.WriteString("\n")
			case 1:
				b.WriteString("not json\n")
			case 2:
				fmt.Fprintf(&b, "{\"email\":%q,\"phone\":%q}\r\n", pick(emails), pick(phones))
			case 3:
				fmt.Fprintf(&b, "{\"contact_point\":5,\"email\":%q}\n", pick(emails))
			case 4:
				b.WriteString("[1,2]\n   \n")
			default:
				fmt.Fprintf(&b, "{\"contact_point\":%q,\"phone\":%q,\"n\":{\"email\":\"x\"}}\n", pick(emails), pick(phones))
			}
		}
		if rng.IntN(2) == 0 {
			b.WriteString(`{"email":"user1@example.com"}`) // no final newline
		}
		return b.Bytes()
	}
	// A list has LF, CRLF or mixed line endings; some quote no field that
	// needs no quotes (their blocks go the unquoted way).
	eols := [][]string{{"\n"}, {"\r\n"}, {"\n", "\r\n"}}[rng.IntN(3)]
	quoteSome := rng.IntN(3) > 0
	cell := func(s string) string {
		switch rng.IntN(6) {
		case 0:
			if !quoteSome {
				break
			}
			return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
		default:
			if strings.ContainsAny(s, "\",\r\n") {
				return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
			}
		}
		return s
	}
	notes := []string{"x", "likes, commas", "say \"hi\"", "multi\nline", "multi\r\nline", "", " lead", "lone\rcr", "ü", "\u00a0nbsp", "\\."}
	if !quoteSome {
		notes = []string{"x", "", " lead", "ü", "\u00a0nbsp", "\\.", "a\tb"}
	}
	var b bytes.Buffer
	if rng.IntN(2) == 0 {
		b.WriteString("\xef\xbb\xbf")
	}
	if rng.IntN(3) == 0 {
		b.WriteString("\r\n\n")
	}
	b.WriteString("name,Email,phone,note" + pick(eols))
	for range n {
		eol := pick(eols)
		k := rng.IntN(40)
		if !quoteSome && k > 0 && k != 3 {
			k = 40 // no quotes anywhere
		}
		switch k {
		case 0:
			b.WriteString(eol) // a blank line
			continue
		case 1:
			b.WriteString("bare\"quote,user1@example.com,+14155550123,x" + eol)
			continue
		case 2:
			b.WriteString("q,\"user1@example.com\"x,+14155550123,y" + eol)
			continue
		case 3:
			b.WriteString("short" + eol)
			continue
		case 4:
			b.WriteString("a,user1@example.com,+14155550123,x,extra,\"more\"" + eol)
			continue
		case 5:
			b.WriteString("\r\r\n")
			continue
		case 6: // a bare quote, then a quoted field over two lines: the error ends the record with its line
			b.WriteString("b\"q,\"user1@example.com\nnext\",+14155550123,x" + eol)
			continue
		case 7: // a quote error after a quoted field
			b.WriteString("c,\"user1@example.com\"\r,+14155550123,x" + eol)
			continue
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s%s", cell(fmt.Sprintf("n%d", rng.IntN(100))), cell(pick(emails)), cell(pick(phones)), cell(pick(notes)), eol)
	}
	switch rng.IntN(4) {
	case 0:
		b.WriteString("last,user1@example.com,+14155550123,no newline")
	case 1:
		b.WriteString("last,user1@example.com,+14155550123,cr at the end\r")
	case 2:
		b.WriteString("last,user1@example.com,+14155550123,\"unterminated\n")
	}
	return b.Bytes()
}

// referenceFilter is the straightforward filter: encoding/csv (or a line
// reader for NDJSON) reads the rows, Prepared.Decide decides them one by
// one, and the output is the input's bytes of the header (with its BOM) and
// of each kept row, line ending included. It returns the output and the
// counts line.
func referenceFilter(ctx context.Context, t *testing.T, args []string, in []byte) (string, string) {
	t.Helper()
	m := &Main{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	fs := flag.NewFlagSet("filter", flag.ContinueOnError)
	var c config
	m.flags(fs, &c, false)
	purpose := fs.String("purpose", "", "")
	channel := fs.String("channel", "", "")
	column := fs.String("column", "", "")
	format := fs.String("format", "", "")
	fs.StringVar(&c.Workspace, "workspace", consentd.DefaultWorkspace, "")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	db, ws, err := m.openWorkspace(ctx, &c)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := index.New(db, slog.New(slog.DiscardHandler)).Prepare(ctx, ws.ID, *purpose, "", *channel)
	if err != nil {
		t.Fatal(err)
	}
	// The rows, each with its contact point and its bytes in the input.
	type row struct {
		cp  string
		raw []byte
	}
	var rows []row
	var out bytes.Buffer
	if *format == "ndjson" || *format == "" && len(in) > 0 && in[0] == '{' {
		br := bufio.NewReader(bytes.NewReader(in))
		for {
			line, err := br.ReadBytes('\n')
			if len(bytes.TrimSpace(line)) > 0 {
				rows = append(rows, row{ndjsonContactPoint(line, *column), line})
			}
			if err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
		}
	} else {
		// encoding/csv reads the records; its InputOffset says where each
		// ends, and the blank lines it skipped before a record are not
		// the record's.
		body := in
		if bytes.HasPrefix(body, []byte("\xef\xbb\xbf")) {
			out.WriteString("\xef\xbb\xbf")
			body = body[3:]
		}
		cr := csv.NewReader(bytes.NewReader(body))
		cr.FieldsPerRecord = -1
		prev := int64(0)
		raw := func() []byte {
			b := body[prev:cr.InputOffset()]
			prev = cr.InputOffset()
			for {
				if bytes.HasPrefix(b, []byte("\n")) {
					b = b[1:]
				} else if bytes.HasPrefix(b, []byte("\r\n")) {
					b = b[2:]
				} else {
					return b
				}
			}
		}
		hdr, err := cr.Read()
		if err != nil {
			t.Fatal(err)
		}
		col, err := csvColumn(hdr, *column)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(raw())
		for {
			rec, err := cr.Read()
			var pe *csv.ParseError
			switch {
			case err == io.EOF:
			case errors.As(err, &pe):
				rows = append(rows, row{"", raw()}) // a malformed row: never kept
				continue
			case err != nil:
				t.Fatal(err)
			case col < len(rec):
				rows = append(rows, row{rec[col], raw()})
				continue
			default:
				rows = append(rows, row{"", raw()})
				continue
			}
			break
		}
	}
	var st filterStats
	var res consentd.DecisionResult
	for _, r := range rows {
		st.rows++
		if r.cp == "" {
			st.invalid++
			continue
		}
		if err := p.Decide(r.cp, &res); err != nil {
			if consentd.ErrorCode(err) != consentd.EINVALIDCONTACTPOINT {
				t.Fatal(err)
			}
			st.invalid++
			continue
		}
		if !res.Allowed {
			st.denied++
			continue
		}
		st.kept++
		out.Write(r.raw)
	}
	return out.String(), fmt.Sprintf("kept %d of %d rows (%d denied, %d invalid addresses)", st.kept, st.rows, st.denied, st.invalid)
}

// TestFilterStopsOnWriteError gives filter a list whose input then blocks
// (a pipe nobody writes to any more) and an output that fails: it stops
// with the error (exit 1) rather than waiting for the input.
func TestFilterStopsOnWriteError(t *testing.T) {
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data")
	r, err := startReplica(ctx, map[string]string{"CONSENTD_ADMIN_KEY": benchAdminKey}, io.Discard, "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	seedFilterStore(ctx, t, "http://"+r.addr)
	var errb bytes.Buffer
	unblock := make(chan struct{})
	defer close(unblock)
	rows := strings.NewReader("email\n" + strings.Repeat("user1@example.com\n", 200_000))
	m := &Main{Stdin: io.MultiReader(rows, blockedReader(unblock)), Stdout: failingWriter{new(int)}, Stderr: &errb, Getenv: func(string) string { return "" }}
	code := make(chan int, 1)
	go func() {
		code <- m.Run(ctx, []string{"filter", "--data", data, "--purpose", "news", "--channel", "email"})
	}()
	select {
	case c := <-code:
		if c != 1 || !strings.Contains(errb.String(), "disk full") {
			t.Errorf("filter with a failing output = %d, %q; want 1 and the error", c, errb.String())
		}
	case <-time.After(60 * time.Second): // a hang, not a speed
		t.Fatal("filter waited for its input after its output failed")
	}
}

// blockedReader blocks until its channel is closed, then ends.
type blockedReader chan struct{}

func (b blockedReader) Read([]byte) (int, error) {
	<-b
	return 0, io.EOF
}

// failingWriter takes the header, then fails.
type failingWriter struct{ n *int }

func (w failingWriter) Write(p []byte) (int, error) {
	if *w.n += len(p); *w.n > 100 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}
