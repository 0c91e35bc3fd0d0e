package api

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/consentd/consentd"
)

// TestAppendDecisionMatchesEncodingJSON checks the stream's hand-built
// answer lines against encoding/json, byte for byte.
func TestAppendDecisionMatchesEncodingJSON(t *testing.T) {
	for _, d := range []consentd.DecisionResult{
		{Decision: consentd.Decision{Allowed: true, Reason: consentd.ReasonOptedIn, Enforcement: consentd.Restrictive, Status: consentd.OptedIn},
			ContactPoint: "jane@example.com", ConsentID: "jane@example.com#news:email", Seq: 42},
		{Decision: consentd.Decision{Reason: consentd.ReasonChannelNotOffered}, ContactPoint: "+14155552671", ConsentID: "+14155552671#news:sms"},
		{Decision: consentd.Decision{Allowed: true, Reason: consentd.ReasonNotOptedOut, Enforcement: consentd.NonRestrictive},
			ContactPoint: "jörg@xn--bcher-kva.de", ConsentID: "jörg@xn--bcher-kva.de#news:email", Seq: 1},
		{Decision: consentd.Decision{Reason: consentd.ReasonNoConsent}, ContactPoint: "odd \"quoted\" \\ \x01 \u2028 custom", ConsentID: "x#y:z"},
	} {
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

func TestSimpleLine(t *testing.T) {
	for _, tt := range []struct {
		line string
		want string
		ok   bool
	}{
		{`{"contact_point":"jane@example.com"}`, "jane@example.com", true},
		{` { "contact_point" : "jane@example.com" } `, "jane@example.com", true},
		{`{"contact_point":"a\"b"}`, "", false},
		{`{"contact_point":"jane@example.com","purpose":"x"}`, "", false},
		{`{"purpose":"x","contact_point":"jane@example.com"}`, "", false},
		{`["jane@example.com"]`, "", false},
		{`{"contact_point":42}`, "", false},
	} {
		got, ok := simpleLine([]byte(tt.line))
		if string(got) != tt.want || ok != tt.ok {
			t.Errorf("simpleLine(%q) = %q, %v; want %q, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}
