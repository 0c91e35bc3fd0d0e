package api

import (
	"time"

	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/consentd/consentd/internal/index"
	"mime"
	"net/http"

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
	if err := decode(r, maxBody, &in); err != nil {
		return err
	}
	d, err := s.decide(r, k.WorkspaceID, &in)
	if err != nil {
		return err
	}
	writeJSON(w, 200, d)
	return nil
}

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

// streamDecisions answers an NDJSON stream line by line, in order, reading
// and writing at once: memory stays flat whatever the stream's length. Lines
// that are just {"contact_point": "..."} under the query's purpose and
// channel take a fast path (a prepared decider, no JSON decoding, the answer
// appended by hand); any other line is decoded and decided on its own.
func (s *Server) streamDecisions(w http.ResponseWriter, r *http.Request, k *consentd.APIKey, onlyAllowed bool) error {
	q := r.URL.Query()
	defaults := consentd.DecisionRequest{Purpose: q.Get("purpose"), Channel: q.Get("channel"), Topic: q.Get("topic")}
	var prepared *index.Prepared
	if p, ok := s.Decider.(Preparer); ok && defaults.Purpose != "" && defaults.Channel != "" {
		var err error
		if prepared, err = p.Prepare(r.Context(), k.WorkspaceID, defaults.Purpose, defaults.Topic, defaults.Channel); err != nil {
			return err // the stream's own purpose, topic or channel is wrong: say so before any line
		}
	}
	rc := http.NewResponseController(w)
	rc.EnableFullDuplex()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(200)
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	out := make([]byte, 0, 64<<10)
	var res consentd.DecisionResult
	line := 0
	// The fast path's decisions share a workspace, purpose and channel:
	// they are counted here by outcome and handed to the Tally in one call
	// per kind each time the answers are flushed and when the stream ends,
	// rather than in one locked call per line.
	tl := streamTally{}
	handOver := func() {
		now := time.Now()
		for kind, n := range tl {
			s.Tally.CountN(k.WorkspaceID, defaults.Purpose, defaults.Channel, kind.allowed, kind.reason, now, n)
		}
		clear(tl)
	}
	defer handOver()
	flush := func() bool {
		handOver()
		if _, err := w.Write(out); err != nil {
			return false // the client went away
		}
		out = out[:0]
		rc.Flush()
		return true
	}
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var item any
		if cp, ok := simpleLine(b); ok && prepared != nil {
			res = consentd.DecisionResult{}
			// Time one line in 16: the histogram stays faithful, and two
			// clock reads and an observation per line cost a tenth of the
			// stream's CPU.
			timed := line&15 == 0
			var start time.Time
			if timed {
				start = time.Now()
			}
			if err := prepared.Decide(string(cp), &res); err != nil {
				if consentd.ErrorCode(err) == consentd.EINTERNAL {
					s.Log.Error("decision stream", "err", err)
					break
				}
				p := problemOf(err)
				item = decisionError{ContactPoint: string(cp), Error: &p}
			} else {
				tl[streamKey{res.Allowed, res.Reason}]++
				if timed {
					observeDecision(start, res.Allowed)
				}
				if res.Allowed || !onlyAllowed {
					out = appendDecision(out, &res)
				}
			}
		} else {
			req := defaults
			if err := decodeBytes(b, &req); err != nil {
				p := problemOf(consentd.Errorf(consentd.EMALFORMED, "line %d is not a JSON decision request: %s", line, consentd.ErrorMessage(err)))
				item = decisionError{Error: &p}
			} else if d, err := s.decide(r, k.WorkspaceID, &req); err != nil {
				if consentd.ErrorCode(err) == consentd.EINTERNAL {
					s.Log.Error("decision stream", "err", err)
					break // the status is sent; the stream ends short
				}
				p := problemOf(err)
				item = decisionError{ContactPoint: req.ContactPoint, Error: &p}
			} else if d.Allowed || !onlyAllowed {
				out = appendDecision(out, d)
			}
		}
		if item != nil && !onlyAllowed {
			b, _ := json.Marshal(item)
			out = append(append(out, b...), '\n')
		}
		if len(out) > 32<<10 && !flush() {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		p := problemOf(consentd.Errorf(consentd.EMALFORMED, "reading line %d: %v", line+1, err))
		b, _ := json.Marshal(decisionError{Error: &p})
		out = append(append(out, b...), '\n')
	}
	flush()
	return nil
}

// streamTally counts a stream's fast-path decisions by outcome and reason.
type streamTally map[streamKey]int64

type streamKey struct {
	allowed bool
	reason  consentd.Reason
}
