package api

import (
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/sqlite"
)

// fastDecisionSeeds are request bodies of every kind: the usual ones (which
// must take the fast path) and ones at its edges (escapes, other cases,
// repeated and unknown members, limits, bad JSON), which must not take it
// unless decodeBytes gives the same request.
var fastDecisionSeeds = []string{
	`{"contact_point":"user12345@example.com","channel":"email","purpose":"news"}`,
	`{"contact_point":"user12345@example.com","channel":"email","purpose":"news","topic":"weekly"}`,
	` { "purpose" : "news" , "channel":"sms",` + "\n\t\r" + `"contact_point":"+4915112345678" } ` + "\n",
	`{}`, ` {	} `, `{"channel":""}`, `{"topic":"x"}`,
	`{"contact_point":"a@example.com","contact_point":"b@example.com"}`,
	`{"Contact_Point":"a@example.com","channel":"email","purpose":"news"}`,
	`{"CHANNEL":"email"}`,
	`{"contact_point":"a\u0040example.com","channel":"email","purpose":"news"}`,
	`{"contact_point":"a\"b@example.com"}`, `{"contact_point":"a\\b"}`,
	`{"contact_point":"ä@example.com","channel":"email","purpose":"news"}`,
	"{\"contact_point\":\"a\x01b\"}", "{\"contact_point\":\"a\x7fb\"}", "{\"contact_point\":\"\xff\"}",
	`{"contact_point":"a@example.com","extra":1}`, `{"contact_point":null}`, `{"contact_point":1}`,
	`{"contact_point":["a"]}`, `{"contact_point":"a",}`, `{"contact_point":"a"`, `{"contact_point":"a"}}`,
	`{"contact_point":"a"} {}`, `{"contact_point":"a"} x`, `{"contact_point" "a"}`, `{,"contact_point":"a"}`,
	`{"contact_point":"a",,"channel":"b"}`, `[]`, `null`, ``, ` `, `"a"`, `{"contact_point":"a"`,
	`{"contact_point":"` + strings.Repeat("a", 1024) + `"}`,
	`{"contact_point":"` + strings.Repeat("a", 1025) + `"}`,
	`{"channel":"` + strings.Repeat("c", 256) + `","purpose":"` + strings.Repeat("p", 256) + `","topic":"` + strings.Repeat("t", 256) + `"}`,
	`{"channel":"` + strings.Repeat("c", 257) + `"}`, `{"purpose":"` + strings.Repeat("p", 257) + `"}`, `{"topic":"` + strings.Repeat("t", 257) + `"}`,
	`{"readOnly":"x"}`, `{"contact_point":"a", "topic":"b", "channel":"c", "purpose":"d"}`,
}

// checkFastDecision fails when fastDecisionRequest takes body but
// decodeBytes, the slow path, would refuse it or decode another request.
func checkFastDecision(t *testing.T, body string) bool {
	t.Helper()
	var fast, slow consentd.DecisionRequest
	ok := fastDecisionRequest([]byte(body), &fast)
	err := decodeBytes([]byte(body), &slow)
	if ok && (err != nil || fast != slow) {
		t.Errorf("fast path took %q as %+v; decodeBytes: %+v, %v", body, fast, slow, err)
	}
	return ok
}

// TestFastDecisionRequest holds the single decision's hand-written decoder
// to encoding/json: every body it takes, decodeBytes takes too and decodes
// to the same request; the others go to decodeBytes (so the errors are
// its own). Seeds, then random mutations of them.
func TestFastDecisionRequest(t *testing.T) {
	for i, body := range fastDecisionSeeds {
		took := checkFastDecision(t, body)
		if i < 7 && !took {
			t.Errorf("the fast path refused %q, a plain request", body)
		}
	}
	// Mutations: bytes inserted, replaced or dropped, from an alphabet of
	// the bytes that matter to the grammar and a few that must not pass.
	alphabet := []byte("{}[]\":, \t\r\n\\uaA0_ce\x00\x1f\x7f\xc3\xa4\xff")
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 50_000; n++ {
		b := []byte(fastDecisionSeeds[rng.IntN(len(fastDecisionSeeds))])
		for m := 1 + rng.IntN(3); m > 0; m-- {
			at := rng.IntN(len(b) + 1)
			c := alphabet[rng.IntN(len(alphabet))]
			switch rng.IntN(3) {
			case 0:
				b = append(b[:at], append([]byte{c}, b[at:]...)...)
			case 1:
				if at < len(b) {
					b[at] = c
				}
			case 2:
				if at < len(b) {
					b = append(b[:at], b[at+1:]...)
				}
			}
		}
		checkFastDecision(t, string(b))
		if t.Failed() {
			return
		}
	}
}

// FuzzFastDecisionRequest is TestFastDecisionRequest's property under go
// test -fuzz.
func FuzzFastDecisionRequest(f *testing.F) {
	for _, s := range fastDecisionSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) { checkFastDecision(t, body) })
}

// TestDecisionRouteWithoutMux checks ServeHTTP's shortcut to the single
// decision's handler: it takes exactly the requests the mux gives that
// route, and leaves them the Pattern the mux would set.
func TestDecisionRouteWithoutMux(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(filepath.Join(dir, "consentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	signer, err := ledger.LoadOrCreateKey(filepath.Join(dir, "checkpoint.key"), "consentd")
	if err != nil {
		t.Fatal(err)
	}
	s := New(db, signer, slog.New(slog.DiscardHandler))
	if s.decisionRoute == nil {
		t.Fatal("no decision route: ServeHTTP would always ask the mux")
	}
	for i, tt := range []struct{ method, target string }{
		{"POST", "/v1/decisions"}, {"POST", "/v1/decisions?x=1"}, {"POST", "http://h/v1/decisions"},
		{"GET", "/v1/decisions"}, {"PUT", "/v1/decisions"}, {"POST", "/v1/decisions/"}, {"POST", "/v1//decisions"},
		{"POST", "/v1/decision%73"}, {"POST", "/v1%2Fdecisions"}, {"POST", "/v1/decisions:batch"}, {"POST", "/v1/./decisions"},
	} {
		// The first three take the shortcut; the others the mux (which
		// also redirects unclean paths and unescapes %73).
		r := httptest.NewRequest(tt.method, tt.target, strings.NewReader(`{}`))
		_, want := s.mux.Handler(r)
		fast := IsDecision(r)
		if fast && want != "POST /v1/decisions" || !fast && i < 3 {
			t.Errorf("%s %s: shortcut %v; the mux's pattern is %q", tt.method, tt.target, fast, want)
		}
		r = httptest.NewRequest(tt.method, tt.target, strings.NewReader(`{}`))
		s.ServeHTTP(httptest.NewRecorder(), r)
		if r.Pattern != want && !(want == "/" && r.Pattern == "") {
			t.Errorf("%s %s: served with pattern %q; the mux's is %q", tt.method, tt.target, r.Pattern, want)
		}
	}
}
