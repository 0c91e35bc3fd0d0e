package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/index"
)

// Preparer is a Decider that prepares many decisions for one purpose, topic
// and channel: the NDJSON stream's fast path.
type Preparer interface {
	Prepare(ctx context.Context, wsID, purpose, topic, channel string) (*index.Prepared, error)
}

// The NDJSON decision stream runs in three stages, so that it uses every
// core while the answers keep the request's order:
//
//   - a reader cuts the body into chunks of whole lines (streamChunkSize
//     bytes at most, unless one line is longer) and hands each to the
//     workers and, in the same order, to the writer;
//   - workers (one per core) answer the lines of a chunk into the chunk's
//     own answer buffer: a line that is just {"contact_point": "..."}
//     under the query's purpose and channel is read without decoding JSON,
//     decided by the worker's index.Prepared and answered by appending
//     bytes; any other line is decoded and decided on its own (the slow
//     path, which the fast one must equal byte for byte);
//   - the writer (the handler's goroutine) waits for each chunk in turn,
//     writes its answers through a large buffer and flushes when no
//     further chunk is ready, so that a client that waits for its answers
//     gets them.
//
// A fixed set of chunks goes round, so memory stays flat whatever the
// stream's length.
const (
	streamChunkSize = 64 << 10
	// streamMaxLine is the longest line, as the bufio.Scanner the stream
	// first read lines with allowed: a longer one ends the stream with
	// "reading line N: bufio.Scanner: token too long".
	streamMaxLine = 1 << 20
	// streamBufferSize is the writer's buffer: answers are about four
	// times the size of their lines.
	streamBufferSize = 256 << 10
)

// streamChunk is some whole lines of a stream and, once a worker is done
// with it, their answers.
type streamChunk struct {
	in    []byte // whole lines, the last one unterminated at the body's end
	first int    // the number of the chunk's first line (from 1)
	// tail is a read error to answer after the chunk's lines, as the
	// problem of line tailLine; the stream ends with it.
	tail     error
	tailLine int
	last     bool // the stream ends after this chunk

	out     []byte        // the answers
	tally   []streamCount // the fast path's decisions, counted
	stopped bool          // an internal error: the stream ends after out
	done    chan struct{}
}

// streamCount counts a stream's fast-path decisions of one outcome and
// reason: they share a workspace, purpose and channel, and are handed to
// the Tally in one call per kind and chunk rather than one per line.
type streamCount struct {
	allowed bool
	reason  consentd.Reason
	n       int64
}

// decisionStream is one NDJSON stream being answered.
type decisionStream struct {
	s           *Server
	r           *http.Request
	wsID        string
	defaults    consentd.DecisionRequest
	onlyAllowed bool
	// prepared holds one index.Prepared per worker (it re-resolves the
	// catalog in place when it changes, so it is not shared); nil when
	// the query does not name a purpose and a channel, or the Decider
	// does not prepare.
	prepared []*index.Prepared
}

// streamWorkers is the number of workers of a stream: one per core the
// process may use, at most 8.
func streamWorkers() int { return min(max(runtime.GOMAXPROCS(0), 1), 8) }

// streamDecisions answers an NDJSON stream: one answer line per request
// line, in order, reading and writing at once.
func (s *Server) streamDecisions(w http.ResponseWriter, r *http.Request, k *consentd.APIKey, onlyAllowed bool) error {
	q := r.URL.Query()
	st := &decisionStream{s: s, r: r, wsID: k.WorkspaceID, onlyAllowed: onlyAllowed,
		defaults: consentd.DecisionRequest{Purpose: q.Get("purpose"), Channel: q.Get("channel"), Topic: q.Get("topic")}}
	workers := streamWorkers()
	if p, ok := s.Decider.(Preparer); ok && st.defaults.Purpose != "" && st.defaults.Channel != "" {
		for range workers {
			prep, err := p.Prepare(r.Context(), k.WorkspaceID, st.defaults.Purpose, st.defaults.Topic, st.defaults.Channel)
			if err != nil {
				return err // the stream's own purpose, topic or channel is wrong: say so before any line
			}
			st.prepared = append(st.prepared, prep)
		}
	}
	rc := http.NewResponseController(w)
	rc.EnableFullDuplex()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(200)
	st.run(w, rc, r.Body, workers)
	// A stream that ends before its body (a line too long, an internal
	// error, a client gone) leaves the rest unread; with full duplex, the
	// server would then start its next read of the connection while its
	// own read of that rest is pending, and panic (golang/go#68560).
	// Closing the body here, the reader done, settles it first.
	r.Body.Close()
	return nil
}

// run answers the stream with the given number of workers and returns when
// every goroutine it started has ended.
func (st *decisionStream) run(w http.ResponseWriter, rc *http.ResponseController, body io.Reader, workers int) {
	nChunks := 2*workers + 2
	free := make(chan *streamChunk, nChunks)
	work := make(chan *streamChunk, nChunks)
	ordered := make(chan *streamChunk, nChunks)
	quit := make(chan struct{})
	for range nChunks {
		free <- &streamChunk{done: make(chan struct{}, 1)}
	}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		readChunks(body, free, work, ordered, quit)
	}()
	for i := range workers {
		var p *index.Prepared
		if st.prepared != nil {
			p = st.prepared[i]
		}
		go func() {
			var head answerHead
			for c := range work {
				st.answerChunk(c, p, &head)
				c.done <- struct{}{}
			}
		}()
	}

	bw := bufio.NewWriterSize(w, streamBufferSize)
	stopped := false
	// stop ends the stream: early (the client went away, an internal
	// error), or after its last chunk, when the reader has read its last.
	stop := func(early bool) {
		if !stopped {
			stopped = true
			close(quit)
			select {
			case <-readerDone:
			default:
				if early {
					// Unblock a read waiting for the client.
					rc.SetReadDeadline(time.Now())
				}
			}
		}
	}
	for c := range ordered {
		<-c.done
		if !stopped {
			st.handOver(c.tally)
			_, err := bw.Write(c.out)
			if err == nil && (len(ordered) == 0 || c.stopped || c.last) {
				if err = bw.Flush(); err == nil {
					err = rc.Flush()
				}
			}
			if err != nil || c.stopped || c.last {
				stop(err != nil || c.stopped)
			}
		}
		c.reset()
		free <- c
	}
	<-readerDone
}

func (c *streamChunk) reset() {
	if cap(c.in) > 2*streamChunkSize {
		c.in = nil // a long line's buffer is not kept
	}
	if cap(c.out) > 16*streamChunkSize {
		c.out = nil
	}
	c.in, c.out, c.tally = c.in[:0], c.out[:0], c.tally[:0]
	c.tail, c.tailLine, c.last, c.stopped = nil, 0, false, false
}

// handOver gives the Tally the counts of a chunk's fast-path decisions.
func (st *decisionStream) handOver(counts []streamCount) {
	if len(counts) == 0 {
		return
	}
	now := time.Now()
	for _, k := range counts {
		st.s.Tally.CountN(st.wsID, st.defaults.Purpose, st.defaults.Channel, k.allowed, k.reason, now, k.n)
	}
}

// readChunks cuts body into chunks of whole lines and sends each to work
// and ordered, until the body ends or quit is closed. It closes work and
// ordered when it returns. Lines are cut as bufio.ScanLines cuts them
// (with streamMaxLine as the scanner's bound); a chunk is sent as soon as
// a read completes a line, so that a client that waits gets its answers.
func readChunks(body io.Reader, free <-chan *streamChunk, work, ordered chan<- *streamChunk, quit <-chan struct{}) {
	defer close(ordered)
	defer close(work)
	var carry []byte // the start of a line that the next chunk completes
	line := 1        // the number of the next line
	send := func(c *streamChunk) {
		c.first = line
		line += bytes.Count(c.in, []byte{'\n'})
		ordered <- c
		work <- c
	}
	for {
		var c *streamChunk
		select {
		case c = <-free:
		case <-quit:
			return
		}
		if cap(c.in) < streamChunkSize {
			c.in = make([]byte, 0, streamChunkSize)
		}
		c.in = append(c.in[:0], carry...)
		carry = carry[:0]
		searched := 0 // c.in[:searched] holds no newline
		for {
			select {
			case <-quit:
				return
			default:
			}
			if len(c.in) == cap(c.in) {
				if len(c.in) >= streamMaxLine {
					// One line fills the scanner's whole buffer.
					c.in, c.tail, c.tailLine, c.last = c.in[:0], bufio.ErrTooLong, line, true
					send(c)
					return
				}
				grown := make([]byte, len(c.in), min(2*cap(c.in), streamMaxLine))
				copy(grown, c.in)
				c.in = grown
			}
			n, err := body.Read(c.in[len(c.in):cap(c.in)])
			c.in = c.in[:len(c.in)+n]
			if err != nil {
				// The rest is the last line, even after an error other
				// than the end (as bufio.Scanner has it).
				if err != io.EOF {
					c.tail, c.tailLine = err, line+bytes.Count(c.in, []byte{'\n'})
					if len(c.in) > 0 && c.in[len(c.in)-1] != '\n' {
						c.tailLine++ // the unterminated last line counts
					}
				}
				c.last = true
				send(c)
				return
			}
			if i := bytes.LastIndexByte(c.in[searched:], '\n'); i >= 0 {
				end := searched + i + 1
				carry = append(carry, c.in[end:]...)
				c.in = c.in[:end]
				break
			}
			searched = len(c.in)
		}
		send(c)
	}
}

// answerChunk answers the lines of c into c.out with the worker's
// prepared decider (nil: every line takes the slow path). A panic stops
// the stream like an internal error.
func (st *decisionStream) answerChunk(c *streamChunk, p *index.Prepared, head *answerHead) {
	defer func() {
		if v := recover(); v != nil {
			st.s.Log.Error("decision stream", "panic", fmt.Sprint(v))
			c.stopped = true
		}
	}()
	// The lines as a string over the chunk's buffer, not a copy (at a
	// million lines a second, the copy's allocation was a tenth of the
	// stream's time, in the allocator and the collections it brought
	// about). The contact points the fast path cuts from it live only as
	// long as the line's answer is being made: Prepared.Decide and the
	// answer's encoding read them and keep nothing, and the buffer is
	// reused only once the writer is done with the chunk. Anything that
	// keeps a line's text copies it (the slow path decodes a copy).
	text := unsafe.String(unsafe.SliceData(c.in), len(c.in))
	var res consentd.DecisionResult
	for n := c.first; len(text) > 0; n++ {
		var line string
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			line, text = text, ""
		}
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if !st.answerLine(c, p, head, line, n, &res) {
			c.stopped = true
			return
		}
	}
	if c.tail != nil {
		pr := problemOf(consentd.Errorf(consentd.EMALFORMED, "reading line %d: %v", c.tailLine, c.tail))
		b, _ := json.Marshal(decisionError{Error: &pr})
		c.out = append(append(c.out, b...), '\n')
	}
}

// answerLine appends the answer to line number n, if any, to c.out. It
// returns false on an internal error, which ends the stream.
func (st *decisionStream) answerLine(c *streamChunk, p *index.Prepared, head *answerHead, line string, n int, res *consentd.DecisionResult) bool {
	if len(line) == 0 || line[0] != '{' && len(strings.TrimSpace(line)) == 0 {
		return true // a blank line
	}
	var item any
	if cp, ok := fastContactPoint(line); ok && p != nil {
		*res = consentd.DecisionResult{}
		// Time one line in 16: the histogram stays faithful, and two
		// clock reads and an observation per line cost a tenth of the
		// stream's CPU.
		timed := n&15 == 0
		var start time.Time
		if timed {
			start = time.Now()
		}
		idRest, err := p.DecideNoID(cp, res)
		if err != nil {
			if consentd.ErrorCode(err) == consentd.EINTERNAL {
				st.s.Log.Error("decision stream", "err", err)
				return false
			}
			pr := problemOf(err)
			item = decisionError{ContactPoint: cp, Error: &pr}
		} else {
			c.count(res.Allowed, res.Reason)
			if timed {
				observeDecision(start, res.Allowed)
			}
			if res.Allowed || !st.onlyAllowed {
				c.out = head.appendDecision(c.out, res, idRest)
			}
		}
	} else {
		req := st.defaults
		if err := decodeBytes([]byte(line), &req); err != nil {
			pr := problemOf(consentd.Errorf(consentd.EMALFORMED, "line %d is not a JSON decision request: %s", n, consentd.ErrorMessage(err)))
			item = decisionError{Error: &pr}
		} else if d, err := st.s.decide(st.r, st.wsID, &req); err != nil {
			if consentd.ErrorCode(err) == consentd.EINTERNAL {
				st.s.Log.Error("decision stream", "err", err)
				return false // the status is sent; the stream ends short
			}
			pr := problemOf(err)
			item = decisionError{ContactPoint: req.ContactPoint, Error: &pr}
		} else if d.Allowed || !st.onlyAllowed {
			c.out = appendDecision(c.out, d)
		}
	}
	if item != nil && !st.onlyAllowed {
		b, _ := json.Marshal(item)
		c.out = append(append(c.out, b...), '\n')
	}
	return true
}

func (c *streamChunk) count(allowed bool, reason consentd.Reason) {
	for i := range c.tally {
		if k := &c.tally[i]; k.allowed == allowed && k.reason == reason {
			k.n++
			return
		}
	}
	c.tally = append(c.tally, streamCount{allowed: allowed, reason: reason, n: 1})
}

// maxFastContactPoint is DecisionRequest.ContactPoint's max tag: a longer
// one takes the slow path, which refuses it.
const maxFastContactPoint = 1024

// fastContactPoint returns X when line is exactly {"contact_point":"X"}
// (JSON whitespace allowed around the tokens) and X is what decoding the
// line would give and accept as is: no escapes, no control characters,
// valid UTF-8, at most maxFastContactPoint bytes. Any other line takes the
// slow path, which decodes it (and says what is wrong with it).
func fastContactPoint(line string) (string, bool) {
	const key = `"contact_point"`
	i := skipJSONSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return "", false
	}
	i = skipJSONSpace(line, i+1)
	if !strings.HasPrefix(line[i:], key) {
		return "", false
	}
	i = skipJSONSpace(line, i+len(key))
	if i >= len(line) || line[i] != ':' {
		return "", false
	}
	i = skipJSONSpace(line, i+1)
	if i >= len(line) || line[i] != '"' {
		return "", false
	}
	start := i + 1
	ascii := true
	// The value's plain ASCII at once, then byte by byte from the first
	// byte that is not (the closing quote, most often).
	for i = start + plainRun(line[start:]); i < len(line); i++ {
		c := line[i]
		if c == '"' {
			break
		}
		if c < 0x20 || c == '\\' {
			return "", false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	if i >= len(line) {
		return "", false
	}
	v := line[start:i]
	i = skipJSONSpace(line, i+1)
	if i >= len(line) || line[i] != '}' || skipJSONSpace(line, i+1) != len(line) {
		return "", false
	}
	if len(v) > maxFastContactPoint || !ascii && !utf8.ValidString(v) {
		return "", false
	}
	return v, true
}

// skipJSONSpace returns the index of the first byte of s at or after i
// that is not JSON whitespace.
func skipJSONSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
		i++
	}
	return i
}

// appendDecision appends d as one JSON line, the same fields encoding/json
// writes for consentd.DecisionResult.
func appendDecision(b []byte, d *consentd.DecisionResult) []byte {
	return appendDecisionTail(appendDecisionHead(b, d), d)
}

// appendDecisionHead appends an answer line's fields before the contact
// point: the decision, which many lines of a stream share.
func appendDecisionHead(b []byte, d *consentd.DecisionResult) []byte {
	b = append(b, `{"allowed":`...)
	b = strconv.AppendBool(b, d.Allowed)
	b = append(b, `,"reason":`...)
	b = appendString(b, string(d.Reason))
	if d.Enforcement != "" {
		b = append(b, `,"enforcement":`...)
		b = appendString(b, string(d.Enforcement))
	}
	if d.Status != "" {
		b = append(b, `,"status":`...)
		b = appendString(b, string(d.Status))
	}
	return b
}

// appendDecisionTail appends the rest: the contact point, the consent id
// (which starts with the contact point, whose escaped text is copied) and
// the seq.
func appendDecisionTail(b []byte, d *consentd.DecisionResult) []byte {
	if rest, ok := strings.CutPrefix(d.ConsentID, d.ContactPoint); ok && (rest == "" || rest[0] < utf8.RuneSelf) {
		return appendDecisionTailParts(b, d.ContactPoint, d.Seq, rest)
	}
	b = append(b, `,"contact_point":"`...)
	b = appendStringText(b, d.ContactPoint)
	b = append(b, `","consent_id":"`...)
	b = appendStringText(b, d.ConsentID)
	b = append(b, `","seq":`...)
	b = strconv.AppendInt(b, d.Seq, 10)
	return append(b, "}\n"...)
}

// appendDecisionTailParts is appendDecisionTail for a consent id that is
// the contact point followed by the pieces of idRest, the first of which
// starts with an ASCII byte (or is empty): the same bytes as for the whole
// id, whose escaped contact point is copied rather than escaped twice.
func appendDecisionTailParts(b []byte, contactPoint string, seq int64, idRest ...string) []byte {
	b = append(b, `,"contact_point":"`...)
	start := len(b)
	b = appendStringText(b, contactPoint)
	end := len(b)
	b = append(b, `","consent_id":"`...)
	b = append(b, b[start:end]...)
	for _, r := range idRest {
		b = appendStringText(b, r)
	}
	b = append(b, `","seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	return append(b, "}\n"...)
}

// answerHead keeps the head of the last answer a worker wrote: the next
// line most often has the same decision.
type answerHead struct {
	valid       bool
	allowed     bool
	reason      consentd.Reason
	enforcement consentd.Enforcement
	status      consentd.Status
	head        []byte
}

// appendDecision is appendDecision for a d whose consent id is its
// contact point followed by idRest (index.Prepared.DecideNoID; idRest
// starts with "#"), the head copied when it is the last one's.
func (h *answerHead) appendDecision(b []byte, d *consentd.DecisionResult, idRest string) []byte {
	if !h.valid || h.allowed != d.Allowed || h.reason != d.Reason || h.enforcement != d.Enforcement || h.status != d.Status {
		h.valid, h.allowed, h.reason, h.enforcement, h.status = true, d.Allowed, d.Reason, d.Enforcement, d.Status
		h.head = appendDecisionHead(h.head[:0], d)
	}
	return appendDecisionTailParts(append(b, h.head...), d.ContactPoint, d.Seq, idRest)
}

// jsonPlain marks the bytes a JSON string holds as they are.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// plainRun returns the length of the run of plain ASCII (jsonPlain) that
// s starts with, testing eight bytes at a time.
func plainRun(s string) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		q := x ^ ('"' * ones)  // a zero byte where s has '"'
		b := x ^ ('\\' * ones) // a zero byte where s has '\\'
		// The high bit of a byte is set where it is below 0x20, '"' or
		// '\\' (a zero byte after the XOR), or not ASCII.
		if ((x-0x20*ones)|(q-ones)|(b-ones)|x)&highs != 0 {
			break
		}
	}
	for i < len(s) && jsonPlain[s[i]] {
		i++
	}
	return i
}

// appendString appends s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced, everything else as is.
func appendString(b []byte, s string) []byte {
	return append(appendStringText(append(b, '"'), s), '"')
}

// appendStringText appends the text of s as a JSON string, without the
// quotes.
func appendStringText(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		// Copy the run of plain ASCII at once.
		j := i + plainRun(s[i:])
		b = append(b, s[i:j]...)
		if i = j; i >= len(s) {
			break
		}
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
			i++
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
		}
	}
	return b
}
