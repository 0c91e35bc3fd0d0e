package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/openapi"
)

func decisionOp(o openapi.Operation) openapi.Operation {
	o.Request, o.Response = consentd.DecisionRequest{}, consentd.DecisionResult{}
	return o
}

// batchDecisions is the JSON form of a batch decision.
type batchDecisions struct {
	Purpose       string   `json:"purpose" max:"256"`
	Channel       string   `json:"channel" max:"256"`
	Topic         string   `json:"topic,omitempty" max:"256"`
	ContactPoints []string `json:"contact_points" max:"1024"`
}

// decisionLine documents one line of an NDJSON batch: a DecisionRequest
// whose purpose and channel may be left to the query's defaults.
type decisionLine struct {
	ContactPoint string `json:"contact_point"`
	Channel      string `json:"channel,omitempty" doc:"default: the channel query parameter"`
	Purpose      string `json:"purpose,omitempty" doc:"default: the purpose query parameter"`
	Topic        string `json:"topic,omitempty" doc:"default: the topic query parameter"`
}

// decisionItem documents one answer of a batch: a decision, or for a line
// that could not be decided, its contact point and a problem.
type decisionItem struct {
	*consentd.DecisionResult
	Error *Problem `json:"error,omitempty"`
}

// decisionError is the answer to a request that could not be decided.
type decisionError struct {
	ContactPoint string   `json:"contact_point"`
	Error        *Problem `json:"error"`
}

type batchDecisionAnswer struct {
	Results []decisionItem `json:"results"`
}

func batchDecisionOp(o openapi.Operation) openapi.Operation {
	o.Request, o.Response = batchDecisions{}, batchDecisionAnswer{}
	o.RequestTypes, o.ResponseTypes = []string{"application/x-ndjson"}, []string{"application/x-ndjson"}
	o.RequestItem, o.ResponseItem = decisionLine{}, decisionItem{}
	o.Query = []openapi.Param{
		{Name: "purpose", Description: "default for NDJSON lines that do not say"},
		{Name: "channel", Description: "default for NDJSON lines that do not say"},
		{Name: "topic", Description: "default for NDJSON lines that do not say"},
		{Name: "only", Enum: []string{"allowed"}, Description: "answer only the allowed contact points"},
	}
	return o
}

func (s *Server) postDecision(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	var in consentd.DecisionRequest
	if err := decodeDecision(r, &in); err != nil {
		return err
	}
	if pd, ok := s.Decider.(partsDecider); ok {
		start := time.Now()
		d := &consentd.DecisionResult{}
		sub, err := pd.DecideParts(r.Context(), k.WorkspaceID, &in, d)
		if err != nil {
			return err
		}
		s.counted(k.WorkspaceID, &in, d, start)
		writeDecisionParts(w, d, sub, in.Channel)
		return nil
	}
	d, err := s.decide(r, k.WorkspaceID, &in)
	if err != nil {
		return err
	}
	writeDecision(w, d)
	return nil
}

// partsDecider is a Decider that answers without building the consent id
// (index.Index): a single decision's answer writes it from its parts, the
// contact point, "#" and the subscription's and channel's channel type id,
// which saves the string's allocation.
type partsDecider interface {
	DecideParts(ctx context.Context, wsID string, req *consentd.DecisionRequest, res *consentd.DecisionResult) (subscription string, err error)
}

// decodeDecision reads a single decision's request as decode(r, maxBody,
// in) would, with the same result and the same errors: a body that
// fastDecisionRequest takes is filled in by hand (no reflection, no
// decoder: most of the cost of a decision over HTTP was encoding/json),
// any other goes through decodeBytes, which says what is wrong with it.
func decodeDecision(r *http.Request, in *consentd.DecisionRequest) error {
	b := bodies.Get().(*bytes.Buffer)
	defer putBody(b)
	if _, err := b.ReadFrom(http.MaxBytesReader(nil, r.Body, maxBody)); err != nil {
		return jsonError(err)
	}
	if fastDecisionRequest(b.Bytes(), in) {
		return nil
	}
	*in = consentd.DecisionRequest{}
	return decodeBytes(b.Bytes(), in)
}

// fastDecisionRequest fills in from body and returns true when body is a
// JSON object whose members are distinct ones of contact_point, channel,
// purpose and topic, spelled exactly so, each a string of printable ASCII
// (0x20-0x7E) without escapes and within its max tag, with JSON whitespace
// around the tokens. Such a body is one that decodeBytes accepts, giving
// the same request (TestFastDecisionRequest compares them). Anything else
// (escapes, other bytes, names in other cases, repeated or unknown
// members, other types, trailing data) returns false with in undefined,
// for decodeBytes.
func fastDecisionRequest(body []byte, in *consentd.DecisionRequest) bool {
	*in = consentd.DecisionRequest{}
	i := skipJSONSpaceBytes(body, 0)
	if i >= len(body) || body[i] != '{' {
		return false
	}
	i = skipJSONSpaceBytes(body, i+1)
	if i < len(body) && body[i] == '}' {
		return skipJSONSpaceBytes(body, i+1) == len(body)
	}
	var seen [4]bool
	for {
		name, next, ok := plainJSONString(body, i)
		if !ok {
			return false
		}
		i = skipJSONSpaceBytes(body, next)
		if i >= len(body) || body[i] != ':' {
			return false
		}
		value, next, ok := plainJSONString(body, skipJSONSpaceBytes(body, i+1))
		if !ok {
			return false
		}
		var field *string
		var at, limit int
		switch string(name) {
		case "contact_point":
			field, at, limit = &in.ContactPoint, 0, 1024
		case "channel":
			field, at, limit = &in.Channel, 1, 256
		case "purpose":
			field, at, limit = &in.Purpose, 2, 256
		case "topic":
			field, at, limit = &in.Topic, 3, 256
		default:
			return false
		}
		if seen[at] || len(value) > limit {
			return false
		}
		seen[at] = true
		*field = string(value)
		i = skipJSONSpaceBytes(body, next)
		if i >= len(body) {
			return false
		}
		switch body[i] {
		case ',':
			i = skipJSONSpaceBytes(body, i+1)
		case '}':
			return skipJSONSpaceBytes(body, i+1) == len(body)
		default:
			return false
		}
	}
}

// plainJSONString returns the text of the JSON string that starts at
// body[i] and the index after its closing quote, when every byte of it is
// printable ASCII other than a backslash (no escapes: the text is the
// bytes); ok is false otherwise.
func plainJSONString(body []byte, i int) (text []byte, next int, ok bool) {
	if i >= len(body) || body[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(body); j++ {
		switch c := body[j]; {
		case c == '"':
			return body[i+1 : j], j + 1, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// skipJSONSpaceBytes is skipJSONSpace for bytes.
func skipJSONSpaceBytes(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// writeDecisionParts is writeDecision for an answer whose consent id is
// d.ContactPoint, "#" and consentd.ChannelTypeID(subscription, channel),
// with the same bytes.
func writeDecisionParts(w http.ResponseWriter, d *consentd.DecisionResult, subscription, channel string) {
	for _, s := range [...]string{d.ContactPoint, subscription, channel, string(d.Reason), string(d.Enforcement), string(d.Status)} {
		if plainRun(s) != len(s) {
			d.ConsentID = d.ContactPoint + "#" + consentd.ChannelTypeID(subscription, channel)
			writeDecision(w, d)
			return
		}
	}
	b := decisionBuffers.Get().(*[]byte)
	*b = appendDecisionTailParts(appendDecisionHead((*b)[:0], d), d.ContactPoint, d.Seq, "#", subscription, ":", channel)
	writeDecisionBuffer(w, b)
}

// writeDecision writes d as writeJSON(w, 200, d) would, byte for byte.
// When every string of d is plain ASCII (no control character, quote or
// backslash: encoding/json writes such a string as it is) the answer is
// appended by hand into a pooled buffer, without reflection; otherwise
// encoding/json writes it, escapes and all.
func writeDecision(w http.ResponseWriter, d *consentd.DecisionResult) {
	for _, s := range [...]string{d.ContactPoint, d.ConsentID, string(d.Reason), string(d.Enforcement), string(d.Status)} {
		if plainRun(s) != len(s) {
			writeJSON(w, 200, d)
			return
		}
	}
	b := decisionBuffers.Get().(*[]byte)
	*b = appendDecision((*b)[:0], d)
	writeDecisionBuffer(w, b)
}

// writeDecisionBuffer writes an answer built in one of decisionBuffers,
// and gives the buffer back.
func writeDecisionBuffer(w http.ResponseWriter, b *[]byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(200)
	w.Write(*b)
	decisionBuffers.Put(b)
}

// decisionBuffers are writeDecision's buffers: an answer is a few hundred
// bytes at most (a contact point is at most 1 KiB, twice).
var decisionBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// MaxBatchDecisions bounds a JSON batch; NDJSON streams have no bound.
const MaxBatchDecisions = 100000

func (s *Server) postDecisionBatch(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	onlyAllowed := r.URL.Query().Get("only") == "allowed"
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-ndjson" {
		return s.streamDecisions(w, r, k, onlyAllowed)
	}
	var in batchDecisions
	var cps []string
	err := decodeBatch(w, r, maxBatchBody, batchBody{Field: "contact_points", MaxItems: MaxBatchDecisions,
		TooMany: fmt.Sprintf("a JSON batch holds at most %d contact points; stream NDJSON for more", MaxBatchDecisions), Head: &in,
		Item: func(raw []byte) error {
			var cp string
			if err := decodeBytes(raw, &cp); err != nil {
				if len(raw) == 0 || raw[0] != '"' {
					return consentd.Errorf(consentd.EMALFORMED, "must be a string")
				}
				return err
			}
			cps = append(cps, cp)
			return nil
		}})
	if err != nil {
		return err
	}
	in.ContactPoints = cps
	// The answer, the same bytes writeJSON would write for {"results":
	// [...]} (a *consentd.DecisionResult or a decisionError each), is written as it is decided rather than built
	// whole: 100,000 answers would hold about 100 MB. It is sent once 32
	// KiB are ready; until then an error that is the whole batch's (an
	// unknown purpose or topic, found by the first decision, or an internal
	// error) is still answered as a problem. After that such an error
	// aborts the answer, cutting the connection, so that no client takes
	// a partial answer for a whole one.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	buf.WriteString(`{"results":[`)
	sent, items := false, 0
	for _, cp := range in.ContactPoints {
		d, err := s.decide(r, k.WorkspaceID, &consentd.DecisionRequest{ContactPoint: cp, Channel: in.Channel, Purpose: in.Purpose, Topic: in.Topic})
		var item any
		switch code := consentd.ErrorCode(err); {
		case code == consentd.EINTERNAL, code == consentd.EUNKNOWNPURPOSE || code == consentd.EUNKNOWNTOPIC:
			if !sent {
				return err // the whole batch is wrong, not one item
			}
			s.Log.Error("decision batch cut short", "code", code, "err", err)
			panic(http.ErrAbortHandler)
		case err != nil:
			if !onlyAllowed {
				p := problemOf(err)
				item = decisionError{ContactPoint: cp, Error: &p}
			}
		case d.Allowed || !onlyAllowed:
			item = d
		}
		if item == nil {
			continue
		}
		if items > 0 {
			buf.WriteByte(',')
		}
		items++
		enc.Encode(item)
		buf.Truncate(buf.Len() - 1) // Encode's newline
		if buf.Len() >= 32<<10 {
			if !sent {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(200)
				sent = true
			}
			if _, err := w.Write(buf.Bytes()); err != nil {
				return nil // the client went away
			}
			buf.Reset()
		}
	}
	buf.WriteString("]}\n")
	if !sent {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
	}
	w.Write(buf.Bytes())
	return nil
}
