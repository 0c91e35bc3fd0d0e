package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/url"

	"github.com/consentd/consentd"
)

// StreamOptions are the query of an NDJSON batch decision: the purpose,
// channel and topic of the lines that do not name them, and OnlyAllowed
// to answer only the allowed contact points.
type StreamOptions struct {
	Purpose     string
	Channel     string
	Topic       string
	OnlyAllowed bool
}

func (o StreamOptions) values() url.Values {
	q := url.Values{}
	set(q, "purpose", o.Purpose)
	set(q, "channel", o.Channel)
	set(q, "topic", o.Topic)
	if o.OnlyAllowed {
		q.Set("only", "allowed")
	}
	return q
}

// maxLine bounds one answer line of a stream.
const maxLine = 1 << 20

// DecisionStream reads the answers of an NDJSON batch decision as the
// server writes them, one per request line and in order (without
// OnlyAllowed: a request the server could not decide is answered with an
// item whose Error is set). Use it as a bufio.Scanner:
//
//	for s.Next() { it := s.Item(); ... }
//	if err := s.Err(); err != nil { ... }
//
// and Close it when done.
type DecisionStream struct {
	method, path string
	body         io.ReadCloser
	sc           *bufio.Scanner
	item         DecisionItem
	err          error
	sendErr      chan error // the request body's writer: its error, or nil
}

// DecideStream decides each request reqs yields, streamed both ways as
// NDJSON (POST /v1/decisions:batch, Content-Type application/x-ndjson):
// the requests are sent while the answers are read, so memory stays flat
// whatever the number of requests. A request's empty fields take opts'
// purpose, channel and topic; requests that give only a contact point, with
// opts naming purpose and channel, take the server's fast path.
//
// reqs is run on a goroutine of its own, while the caller reads the
// answers. DecideStream returns once the server has answered the request's
// headers: an *Error when the stream as a whole was refused (an unknown
// purpose with opts naming it, a key that may not decide).
func (c *Client) DecideStream(ctx context.Context, opts StreamOptions, reqs iter.Seq[consentd.DecisionRequest]) (*DecisionStream, error) {
	pr, pw := io.Pipe()
	sendErr := make(chan error, 1)
	go func() {
		bw := bufio.NewWriterSize(pw, 64<<10)
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false) // the fast path reads lines without escapes
		var err error
		for r := range reqs {
			// Only the fields given: an empty "purpose" would override
			// the query's default.
			line := struct {
				ContactPoint string `json:"contact_point"`
				Channel      string `json:"channel,omitempty"`
				Purpose      string `json:"purpose,omitempty"`
				Topic        string `json:"topic,omitempty"`
			}{r.ContactPoint, r.Channel, r.Purpose, r.Topic}
			if err = enc.Encode(line); err != nil {
				break
			}
		}
		if err == nil {
			err = bw.Flush()
		}
		// The error first: the server sees the body's end only after it,
		// so Next finds it when the answers end.
		sendErr <- err
		pw.CloseWithError(err)
	}()
	s, err := c.decideStream(ctx, opts, pr)
	if err != nil {
		pr.CloseWithError(err) // stops the writer
		return nil, err
	}
	s.sendErr = sendErr
	return s, nil
}

// DecideNDJSON is DecideStream for a body that is NDJSON already: one
// JSON decision request per line.
func (c *Client) DecideNDJSON(ctx context.Context, opts StreamOptions, body io.Reader) (*DecisionStream, error) {
	return c.decideStream(ctx, opts, body)
}

func (c *Client) decideStream(ctx context.Context, opts StreamOptions, body io.Reader) (*DecisionStream, error) {
	r := &request{method: "POST", path: "/v1/decisions:batch", query: opts.values(), body: body,
		ctype: "application/x-ndjson", accept: "application/x-ndjson"}
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	return &DecisionStream{method: r.method, path: r.path, body: resp.Body, sc: sc}, nil
}

// Next reads the next answer; false at the end of the stream or on an
// error (see Err).
func (s *DecisionStream) Next() bool {
	if s.err != nil {
		return false
	}
	for s.sc.Scan() {
		b := s.sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		s.item = DecisionItem{}
		if err := json.Unmarshal(b, &s.item); err != nil {
			s.err = fmt.Errorf("%s %s: an answer line is not JSON: %w", s.method, s.path, err)
			return false
		}
		return true
	}
	if err := s.sc.Err(); err != nil {
		s.err = fmt.Errorf("%s %s: reading the answers: %w", s.method, s.path, err)
	} else if s.sendErr != nil {
		// The server answers the last line after it read the body's end,
		// which comes after the writer's result.
		select {
		case err := <-s.sendErr:
			if err != nil {
				s.err = fmt.Errorf("%s %s: sending the requests: %w", s.method, s.path, err)
			}
		default:
			s.err = fmt.Errorf("%s %s: the answers ended before every request was sent", s.method, s.path)
			s.body.Close() // stops the writer
		}
		s.sendErr = nil
	}
	return false
}

// Item returns the answer Next read; it is valid until the next call of
// Next.
func (s *DecisionStream) Item() *DecisionItem { return &s.item }

// Err returns the error that ended the stream, nil at its normal end.
func (s *DecisionStream) Err() error { return s.err }

// Close ends the stream; unread answers are dropped.
func (s *DecisionStream) Close() error { return s.body.Close() }

// ExportConsents streams every consent of the workspace in the native
// import format (GET /v1/consents:export): CSV with a header line, or
// NDJSON with opts.Format "ndjson" (see ExportRecords). The caller closes
// it. A transfer the server broke off ends in a read error, never in a
// short file that looks whole.
func (c *Client) ExportConsents(ctx context.Context, opts ExportOptions) (io.ReadCloser, error) {
	q := url.Values{}
	set(q, "format", opts.Format)
	setTime(q, "as_of", opts.AsOf)
	setTime(q, "known_at", opts.KnownAt)
	accept := "text/csv"
	if opts.Format == "ndjson" {
		accept = "application/x-ndjson"
	}
	resp, err := c.send(ctx, &request{method: "GET", path: "/v1/consents:export", query: q, accept: accept})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ExportRecords streams the NDJSON export as records, at the times in at
// (zero: now); iteration stops at the first error, which it yields.
func (c *Client) ExportRecords(ctx context.Context, at consentd.Times) iter.Seq2[*ExportRecord, error] {
	return func(yield func(*ExportRecord, error) bool) {
		body, err := c.ExportConsents(ctx, ExportOptions{Format: "ndjson", AsOf: at.AsOf, KnownAt: at.KnownAt})
		if err != nil {
			yield(nil, err)
			return
		}
		defer body.Close()
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 64<<10), maxLine)
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			var r ExportRecord
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				yield(nil, fmt.Errorf("GET /v1/consents:export: a line is not JSON: %w", err))
				return
			}
			if !yield(&r, nil) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			yield(nil, fmt.Errorf("GET /v1/consents:export: reading the export: %w", err))
		}
	}
}
