package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/consentd/consentd"
)

// ReferenceStream answers an NDJSON decision stream of workspace wsID the
// slow way: the reference the stream (its stages, its fast path, its hand
// encoding) is checked against. It reads one line at a time with
// bufio.Scanner, decodes every line as JSON over the query's defaults,
// decides it with Server.decide (as POST /v1/decisions does), encodes the
// answer with encoding/json and flushes it at once, so that a client can
// wait for the answer to a line before it sends the next.
func (s *Server) ReferenceStream(w http.ResponseWriter, r *http.Request, wsID string) {
	q := r.URL.Query()
	onlyAllowed := q.Get("only") == "allowed"
	defaults := consentd.DecisionRequest{Purpose: q.Get("purpose"), Channel: q.Get("channel"), Topic: q.Get("topic")}
	rc := http.NewResponseController(w)
	rc.EnableFullDuplex()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(200)
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	errorLine := func(v any) {
		b, _ := json.Marshal(v)
		out.Write(b)
		out.WriteByte('\n')
	}
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		req := defaults
		if err := decodeBytes(b, &req); err != nil {
			if !onlyAllowed {
				p := problemOf(consentd.Errorf(consentd.EMALFORMED, "line %d is not a JSON decision request: %s", line, consentd.ErrorMessage(err)))
				errorLine(decisionError{Error: &p})
			}
		} else if d, err := s.decide(r, wsID, &req); err != nil {
			if consentd.ErrorCode(err) == consentd.EINTERNAL {
				break
			}
			if !onlyAllowed {
				p := problemOf(err)
				errorLine(decisionError{ContactPoint: req.ContactPoint, Error: &p})
			}
		} else if d.Allowed || !onlyAllowed {
			enc.Encode(d)
		}
		if out.Len() > 0 {
			w.Write(out.Bytes())
			out.Reset()
			rc.Flush()
		}
	}
	if err := sc.Err(); err != nil {
		p := problemOf(consentd.Errorf(consentd.EMALFORMED, "reading line %d: %v", line+1, err))
		errorLine(decisionError{Error: &p})
		w.Write(out.Bytes())
	}
	r.Body.Close() // golang/go#68560, as streamDecisions
}
