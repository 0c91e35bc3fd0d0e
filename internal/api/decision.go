package api

import (
	"time"

	"bufio"
	"bytes"
	"encoding/json"
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

// batchDecisionResults is what a JSON batch writes: *consentd.DecisionResult
// or decisionError items.
type batchDecisionResults struct {
	Results []any `json:"results"`
}

func batchDecisionOp(o openapi.Operation) openapi.Operation {
	o.Request, o.Response = batchDecisions{}, batchDecisionAnswer{}
	o.RequestTypes, o.ResponseTypes = []string{"application/x-ndjson"}, []string{"application/x-ndjson"}
	o.RequestItem, o.ResponseItem = consentd.DecisionRequest{}, decisionItem{}
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
	if err := decode(r, maxBatchBody, &in); err != nil {
		return err
	}
	if len(in.ContactPoints) > MaxBatchDecisions {
		return consentd.Errorf(consentd.ETOOLARGE, "a JSON batch holds at most %d contact points; stream NDJSON for more", MaxBatchDecisions)
	}
	out := batchDecisionResults{Results: make([]any, 0, len(in.ContactPoints))}
	for _, cp := range in.ContactPoints {
		d, err := s.decide(r, k.WorkspaceID, &consentd.DecisionRequest{ContactPoint: cp, Channel: in.Channel, Purpose: in.Purpose, Topic: in.Topic})
		switch code := consentd.ErrorCode(err); {
		case code == consentd.EINTERNAL:
			return err
		case code == consentd.EUNKNOWNPURPOSE || code == consentd.EUNKNOWNTOPIC:
			return err // the whole batch is wrong, not one item
		case err != nil:
			if !onlyAllowed {
				p := problemOf(err)
				out.Results = append(out.Results, decisionError{ContactPoint: cp, Error: &p})
			}
		case d.Allowed || !onlyAllowed:
			out.Results = append(out.Results, d)
		}
	}
	writeJSON(w, 200, out)
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
	flush := func() bool {
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
