package api

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/consentd/consentd"
)

// TestAppendDecisionMatchesEncodingJSON checks the stream's hand-built
// answer lines against encoding/json, byte for byte.
func TestAppendDecisionMatchesEncodingJSON(t *testing.T) {
	decisions := []consentd.DecisionResult{
		{Decision: consentd.Decision{Allowed: true, Reason: consentd.ReasonOptedIn, Enforcement: consentd.Restrictive, Status: consentd.OptedIn},
			ContactPoint: "jane@example.com", ConsentID: "jane@example.com#news:email", Seq: 42},
		{Decision: consentd.Decision{Reason: consentd.ReasonChannelNotOffered}, ContactPoint: "+14155552671", ConsentID: "+14155552671#news:sms"},
		{Decision: consentd.Decision{Allowed: true, Reason: consentd.ReasonNotOptedOut, Enforcement: consentd.NonRestrictive},
			ContactPoint: "jörg@xn--bcher-kva.de", ConsentID: "jörg@xn--bcher-kva.de#news:email", Seq: 1},
		{Decision: consentd.Decision{Reason: consentd.ReasonNoConsent}, ContactPoint: "odd \"quoted\" \\ \x01 \u2028 custom", ConsentID: "x#y:z"},
		{Decision: consentd.Decision{Reason: consentd.ReasonNoConsent}, ContactPoint: "odd \"quoted\" \\ \x01 \xff", ConsentID: "odd \"quoted\" \\ \x01 \xff#news:email"},
		{Decision: consentd.Decision{Reason: consentd.ReasonNoConsent}, ContactPoint: "cut\xe2\x80", ConsentID: "cut\xe2\x80\xa8#news:email"},
		{Decision: consentd.Decision{Allowed: true, Reason: consentd.ReasonOptedIn, Enforcement: consentd.Restrictive, Status: consentd.OptedIn},
			ContactPoint: "jane@example.com", ConsentID: "jane@example.com", Seq: -1},
		{Decision: consentd.Decision{Reason: consentd.ReasonNoConsent}, ContactPoint: "a<b>&c@example.com", ConsentID: "a<b>&c@example.com#news.weekly:e-mail", Seq: 7},
	}
	// Each decision alone, then through one answerHead, which keeps the
	// last head: in order, twice over.
	var head answerHead
	for i, d := range append(slices.Clone(decisions), decisions...) {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		enc.Encode(&d)
		// The stream's consent ids are the contact point and "#...",
		// given apart (index.Prepared.DecideNoID).
		rest, ok := strings.CutPrefix(d.ConsentID, d.ContactPoint)
		if !ok || !strings.HasPrefix(rest, "#") {
			continue
		}
		noID := d
		noID.ConsentID = ""
		got := head.appendDecision([]byte("x"), &noID, rest)[1:]
		if !bytes.Equal(got, want.Bytes()) && !jsonEqual(got, want.Bytes()) {
			t.Errorf("answerHead.appendDecision(%+v), decision %d =\n%s; want\n%s", d, i, got, want.Bytes())
		}
	}
	for _, d := range decisions {
		// The single decision's answer: writeDecision writes exactly what
		// writeJSON writes, headers and bytes, plain or escaped.
		want, got := httptest.NewRecorder(), httptest.NewRecorder()
		writeJSON(want, 200, &d)
		writeDecision(got, &d)
		if got.Code != want.Code || !reflect.DeepEqual(got.Header(), want.Header()) || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
			t.Errorf("writeDecision(%+v) = %d %v\n%s; want %d %v\n%s", d, got.Code, got.Header(), got.Body, want.Code, want.Header(), want.Body)
		}
		// The same with the consent id given in parts (index.DecideParts),
		// where the id is the contact point, "#" and a channel type id.
		rest, ok := strings.CutPrefix(d.ConsentID, d.ContactPoint+"#")
		sub, channel, ok2 := strings.Cut(rest, ":")
		if !ok || !ok2 {
			continue
		}
		parts := d
		parts.ConsentID = ""
		got = httptest.NewRecorder()
		writeDecisionParts(got, &parts, sub, channel)
		if got.Code != want.Code || !reflect.DeepEqual(got.Header(), want.Header()) || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
			t.Errorf("writeDecisionParts(%+v, %q, %q) = %d %v\n%s; want %d %v\n%s", parts, sub, channel, got.Code, got.Header(), got.Body, want.Code, want.Header(), want.Body)
		}
	}
	for _, d := range decisions {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		enc.Encode(&d)
		got := appendDecision(nil, &d)
		if !bytes.Equal(got, want.Bytes()) && !jsonEqual(got, want.Bytes()) {
			t.Errorf("appendDecision(%+v) =\n%s; want\n%s", d, got, want.Bytes())
		}
	}
}

// jsonEqual allows the one legal difference: how U+2028 is written.
func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && bytes.Equal(mustMarshal(x), mustMarshal(y))
}

func mustMarshal(v any) []byte { b, _ := json.Marshal(v); return b }

// TestFastContactPoint: the lines the fast path takes, and those it leaves
// to the slow path because decoding them would not give the bytes as they
// are, or would refuse them.
func TestFastContactPoint(t *testing.T) {
	long := strings.Repeat("a", 1020) + "@x.y"
	for _, tt := range []struct {
		line string
		want string
		ok   bool
	}{
		{`{"contact_point":"jane@example.com"}`, "jane@example.com", true},
		{` { "contact_point" : "jane@example.com" } `, "jane@example.com", true},
		{"\t{\"contact_point\":\"jane@example.com\"}\r", "jane@example.com", true},
		{`{"contact_point":"jörg@bücher.de"}`, "jörg@bücher.de", true},
		{`{"contact_point":""}`, "", true},
		{`{"contact_point":"` + long[:1024] + `"}`, long[:1024], true},
		{`{"contact_point":"` + long + "x" + `"}`, "", false}, // over the field's 1024 bytes
		{`{"contact_point":"a\"b"}`, "", false},
		{`{"contact_point":"a\u0041b"}`, "", false},
		{"{\"contact_point\":\"a\tb@example.com\"}", "", false},   // a raw control character is not JSON
		{"{\"contact_point\":\"a\xffb@example.com\"}", "", false}, // not UTF-8
		{"\v{\"contact_point\":\"jane@example.com\"}", "", false}, // not JSON whitespace
		{"\u00a0{\"contact_point\":\"jane@example.com\"}", "", false},
		{`{"contact_point":"jane@example.com","purpose":"x"}`, "", false},
		{`{"purpose":"x","contact_point":"jane@example.com"}`, "", false},
		{`{"Contact_Point":"jane@example.com"}`, "", false},
		{`{"contact_point":"jane@example.com"}}`, "", false},
		{`{"contact_point":"jane@example.com"`, "", false},
		{`{"contact_point":"jane@example.com`, "", false},
		{`["jane@example.com"]`, "", false},
		{`{"contact_point":42}`, "", false},
		{`{"contact_point":null}`, "", false},
		{``, "", false},
	} {
		got, ok := fastContactPoint(tt.line)
		if got != tt.want || ok != tt.ok {
			t.Errorf("fastContactPoint(%q) = %q, %v; want %q, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}

// TestAppendStringMatchesEncodingJSON checks appendString, which tests
// eight bytes at a time, against encoding/json on strings with a byte to
// escape (or not) at every position of runs of every length.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	specials := []string{"\"", "\\", "\x00", "\x1f", " ", "\x7f", "é", "\xff", "\u2028", "~", "<", "&"}
	for n := range 20 {
		for at := 0; at <= n; at++ {
			for _, sp := range specials {
				s := strings.Repeat("a", at) + sp + strings.Repeat("b", n-at)
				var want bytes.Buffer
				enc := json.NewEncoder(&want)
				enc.SetEscapeHTML(false)
				enc.Encode(s)
				got := append(appendString(nil, s), '\n')
				if !bytes.Equal(got, want.Bytes()) && !jsonEqual(got, want.Bytes()) {
					t.Errorf("appendString(%q) = %s; want %s", s, got, want.Bytes())
				}
			}
		}
	}
}

// BenchmarkStreamLine measures the stream's own per-line work around the
// decision: reading a common line and appending its answer.
func BenchmarkStreamLine(b *testing.B) {
	line := `{"contact_point":"user123456@example.com"}`
	d := consentd.DecisionResult{Decision: consentd.Decision{Allowed: true, Reason: consentd.ReasonNotOptedOut, Enforcement: consentd.NonRestrictive},
		ContactPoint: "user123456@example.com", ConsentID: "user123456@example.com#news:email", Seq: 100001}
	b.Run("fastContactPoint", func(b *testing.B) {
		for range b.N {
			fastContactPoint(line)
		}
	})
	b.Run("appendDecision", func(b *testing.B) {
		out := make([]byte, 0, 4096)
		for range b.N {
			out = appendDecision(out[:0], &d)
		}
	})
	b.Run("answerHead.appendDecision", func(b *testing.B) {
		out := make([]byte, 0, 4096)
		var h answerHead
		for range b.N {
			out = h.appendDecision(out[:0], &d, "#news:email")
		}
	})
}
