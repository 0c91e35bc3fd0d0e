package feeds

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/consentd/consentd"
)

// rfc822 takes raw report messages from any mail system: the POST body is
// one message (Content-Type: message/rfc822), a multipart/report that is
// either an ARF complaint (RFC 5965, report-type=feedback-report) or a
// delivery status notification (RFC 3464, report-type=delivery-status),
// with the original message or its headers as its third part. Nothing is
// signed: the poster authenticates with HTTP Basic credentials that
// consentd chooses, as Postmark does.
//
// A DSN names its recipients (Final-Recipient, else Original-Recipient).
// An ARF report's recipient is usually redacted, so it comes from the
// message reference alone: the original message's X-Consentd-Ref header,
// else the token of its List-Unsubscribe link (/u/{token}). A VERP return
// path cannot carry it: a token is longer than the 64 characters a local
// part may have.
type rfc822 struct{}

func init() { register(rfc822{}) }

// RefHeader is the message header that carries the message reference in
// the raw messages consentd reads (rfc822 reports, SES's original headers).
const RefHeader = "X-Consentd-Ref"

func (rfc822) Name() consentd.FeedProvider { return consentd.ProviderRFC822 }

func (rfc822) Configure(f *consentd.Feed) (string, error) { return configureBasic(f) }

func (rfc822) Verify(f *consentd.Feed, r *Request) (string, error) {
	if err := verifyBasic(f, r); err != nil {
		return "", err
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "message/rfc822" {
		return "", fmt.Errorf("%w: want Content-Type message/rfc822", ErrMalformed)
	}
	return "", nil
}

// report is a multipart/report message's parts the ledger reads.
type report struct {
	header   mail.Header // the report's own
	kind     string      // the second part's type: message/feedback-report or message/delivery-status
	fields   []byte      // the second part
	original mail.Header // the third part's headers; nil when it has none
}

func (rfc822) Parse(body []byte) ([]Event, error) {
	r, err := readReport(body)
	if err != nil {
		return nil, err
	}
	ref, origID := "", ""
	if r.original != nil {
		ref = headerRef(r.original.Get(RefHeader), r.original.Get("List-Unsubscribe"))
		origID = r.original.Get("Message-Id")
	}
	reportID := r.header.Get("Message-Id")
	if reportID == "" {
		reportID = contentID(body)
	}
	// The id is a hash of both message ids (and the recipient's place in a
	// DSN): the same report posted again acts once, and another report
	// about the same message is another event.
	id := func(i int) string {
		h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%d", strings.TrimSpace(origID), strings.TrimSpace(reportID), i)))
		return "rfc822:" + base64.RawURLEncoding.EncodeToString(h[:])
	}
	date, _ := r.header.Date()
	if !date.IsZero() {
		date = date.UTC()
	}
	switch r.kind {
	case "message/feedback-report":
		f, err := readFields(r.fields)
		if err != nil {
			return nil, fmt.Errorf("%w: the feedback report: %v", ErrMalformed, err)
		}
		typ := strings.ToLower(strings.TrimSpace(f.Get("Feedback-Type")))
		kind := consentd.FeedIgnored
		// abuse: the recipient marked it as spam; fraud: as phishing.
		// not-spam, virus, auth-failure and other are no act of theirs
		// against the mail.
		if typ == "abuse" || typ == "fraud" {
			kind = consentd.FeedComplaint
		}
		return []Event{{Kind: kind, ID: id(0), At: date, Ref: ref, Type: "arf/" + typ}}, nil
	default:
		return parseDSN(r.fields, date, ref, id)
	}
}

// readReport reads a multipart/report message: its own header, its
// machine-readable part and the original message's headers.
func readReport(body []byte) (*report, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: not a message: %v", ErrMalformed, err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["boundary"] == "" {
		return nil, fmt.Errorf("%w: want a multipart/report message", ErrMalformed)
	}
	want := map[string]string{"feedback-report": "message/feedback-report", "delivery-status": "message/delivery-status"}[strings.ToLower(params["report-type"])]
	if want == "" {
		return nil, fmt.Errorf("%w: want report-type feedback-report or delivery-status", ErrMalformed)
	}
	r := &report{header: msg.Header}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable itself
		if err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%w: the report's parts: %v", ErrMalformed, err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, fmt.Errorf("%w: the report's parts: %v", ErrMalformed, err)
		}
		if strings.EqualFold(strings.TrimSpace(p.Header.Get("Content-Transfer-Encoding")), "base64") {
			if b, err = io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(stripSpace(b)))); err != nil {
				return nil, fmt.Errorf("%w: a base64 part: %v", ErrMalformed, err)
			}
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch ct {
		case want:
			if r.fields == nil {
				r.kind, r.fields = ct, b
			}
		case "message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers":
			if r.original == nil {
				// Headers alone have no blank line after them; a whole
				// message keeps its body, which is not read.
				if m, err := mail.ReadMessage(bytes.NewReader(append(b, "\r\n\r\n"...))); err == nil {
					r.original = m.Header
				}
			}
		}
	}
	if r.fields == nil {
		return nil, fmt.Errorf("%w: the report has no %s part", ErrMalformed, want)
	}
	return r, nil
}

// parseDSN turns a delivery-status part's per-recipient fields into
// events: failed with a 5.x.x status is a hard bounce, with 4.x.x a soft
// one; delayed, delivered, relayed and expanded change nothing.
func parseDSN(b []byte, date time.Time, ref string, id func(int) string) ([]Event, error) {
	var out []Event
	for _, blk := range fieldBlocks(b) {
		f, err := readFields([]byte(blk))
		if err != nil {
			return nil, fmt.Errorf("%w: the delivery status: %v", ErrMalformed, err)
		}
		if f.Get("Action") == "" {
			continue // the per-message fields
		}
		rcpt := dsnAddress(f.Get("Final-Recipient"))
		if rcpt == "" {
			rcpt = dsnAddress(f.Get("Original-Recipient"))
		}
		action := strings.ToLower(firstWord(f.Get("Action")))
		status := firstWord(f.Get("Status"))
		e := Event{Kind: consentd.FeedIgnored, ID: id(len(out)), Recipient: rcpt, At: date, Ref: ref, Type: "dsn/" + action + "/" + status}
		if action == "failed" {
			switch {
			case strings.HasPrefix(status, "5."):
				e.Kind = consentd.FeedHardBounce
			case strings.HasPrefix(status, "4."):
				e.Kind = consentd.FeedSoftBounce
			}
		}
		if e.Kind != consentd.FeedIgnored && rcpt == "" {
			return nil, fmt.Errorf("%w: a failed recipient without Final-Recipient", ErrMalformed)
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: the delivery status has no recipient", ErrMalformed)
	}
	return out, nil
}

// fieldBlocks splits a delivery-status part into its blocks of fields,
// which lines that are empty or blank separate.
func fieldBlocks(b []byte) []string {
	var blocks []string
	var cur strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			if cur.Len() > 0 {
				blocks = append(blocks, cur.String())
				cur.Reset()
			}
			continue
		}
		cur.WriteString(line + "\r\n")
	}
	if cur.Len() > 0 {
		blocks = append(blocks, cur.String())
	}
	return blocks
}

// readFields reads one block of header-like fields (a feedback report, a
// DSN's per-recipient fields), folded lines and all.
func readFields(b []byte) (textproto.MIMEHeader, error) {
	b = append(bytes.TrimSpace(b), "\r\n\r\n"...)
	return textproto.NewReader(bufio.NewReader(bytes.NewReader(b))).ReadMIMEHeader()
}

// dsnAddress returns the address of a DSN recipient field, "rfc822;
// jane@example.com" (or utf-8; RFC 6533), or "".
func dsnAddress(v string) string {
	typ, addr, ok := strings.Cut(v, ";")
	typ = strings.ToLower(strings.TrimSpace(typ))
	if !ok || (typ != "rfc822" && typ != "utf-8") {
		return ""
	}
	return strings.Trim(strings.TrimSpace(addr), "<>")
}

// firstWord returns a field's value without a trailing comment, as in
// "5.1.1 (user unknown)".
func firstWord(v string) string {
	if f := strings.Fields(v); len(f) > 0 {
		return f[0]
	}
	return ""
}

// headerRef returns a message reference from an original message's
// headers: the X-Consentd-Ref value, else the token of the first http(s)
// List-Unsubscribe link whose path has /u/{token} (consentd's
// unsubscribe links, behind any path prefix), else "".
func headerRef(xref, listUnsubscribe string) string {
	if v := strings.TrimSpace(xref); v != "" {
		return v
	}
	for _, part := range strings.Split(listUnsubscribe, ",") {
		part = strings.Trim(strings.TrimSpace(part), "<>")
		u, err := url.Parse(part)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
			continue
		}
		i := strings.LastIndex(u.Path, "/u/")
		if i < 0 {
			continue
		}
		if tok, _, _ := strings.Cut(u.Path[i+len("/u/"):], "/"); tok != "" {
			return tok
		}
	}
	return ""
}

// stripSpace removes the line breaks and spaces of a base64 body.
func stripSpace(b []byte) []byte {
	return bytes.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, b)
}
