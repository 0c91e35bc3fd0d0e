package consentd

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// This file is the log's leaf format, version 2: what is hashed into the
// Merkle tree for every log entry. docs/log-format.md specifies it for
// readers who decode and re-hash leaves without this code.
//
// A leaf holds no personal data and nothing free-form: the subject in
// hashed form, types, statuses, times, and a salted commitment to the
// entry's evidence (everything that may be personal or free text: proof,
// source names and details, reasons, notes, party ids, and the payload of
// catalog, party and request entries). The evidence and the opening of the
// commitment are stored beside the leaf, in columns that erasure clears;
// the leaf and its hash stay, so the tree and every proof stay whole.

// LeafVersion is the first byte of a version 2 leaf. A version 1 leaf is
// the JSON encoding of a LogEntry and starts with '{'.
const LeafVersion = 0x02

// Leaf part flags: which states follow the header, and whether a
// commitment ends the leaf.
const (
	leafBefore     = 1 << 0
	leafAfter      = 1 << 1
	leafWrite      = 1 << 2
	leafCommitment = 1 << 3
)

// State kinds in a leaf.
const (
	stateConsent     = 1
	stateSuppression = 2
)

// evidenceDomain separates evidence commitments from every other SHA-256
// use: commitment = SHA-256(evidenceDomain || opening || evidence).
const evidenceDomain = "consentd/evidence/v1\x00"

// OpeningSize is the size of a commitment's random opening.
const OpeningSize = 32

// EvidenceErased is the value of a log entry's "evidence" field when its
// evidence was erased: the leaf still proves what happened, without the
// personal details.
const EvidenceErased = "erased"

// EvidenceUnreadable is the value of a log entry's "evidence" field when
// its leaf does not decode (it was altered: the log does not verify).
const EvidenceUnreadable = "unreadable"

// EvidenceCommitment returns SHA-256(domain || opening || evidence), the
// commitment a leaf carries.
func EvidenceCommitment(opening, evidence []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(evidenceDomain))
	h.Write(opening)
	h.Write(evidence)
	var c [32]byte
	h.Sum(c[:0])
	return c
}

// CheckEvidence reports whether evidence and opening are what the leaf
// commits to. A leaf without a commitment matches only empty evidence; a
// version 1 leaf has no evidence beside it.
func CheckEvidence(leaf, evidence, opening []byte) error {
	l, err := DecodeLeaf(leaf)
	if err != nil {
		return err
	}
	if l.Commitment == nil {
		if len(evidence) > 0 || len(opening) > 0 {
			return errors.New("the leaf commits to no evidence")
		}
		return nil
	}
	if len(opening) != OpeningSize {
		return fmt.Errorf("the opening is %d bytes, want %d", len(opening), OpeningSize)
	}
	if EvidenceCommitment(opening, evidence) != *l.Commitment {
		return errors.New("the evidence does not match the leaf's commitment")
	}
	return nil
}

// LeafState is a consent's or a suppression's state as a leaf holds it:
// the fields without personal data.
type LeafState struct {
	Kind byte // stateConsent or stateSuppression

	// Consent state.
	Status       Status
	CapturedAt   time.Time
	Version      int64
	SourceType   string
	SourceName   string
	Jurisdiction string
	Origin       string

	// Suppression state.
	ID        string
	CPKind    ContactPointKind
	Channel   string
	Reason    SuppressionReason
	CreatedAt time.Time
}

// Leaf is a decoded version 2 leaf.
type Leaf struct {
	Seq                  int64
	At                   time.Time
	Type, Subject, Actor string
	Before, After, Write *LeafState
	Commitment           *[32]byte
}

// consentEvidence is the part of a logged consent that is evidence.
type consentEvidence struct {
	SourceDetails json.RawMessage `json:"source_details,omitempty"`
	Reason        string          `json:"reason,omitempty"`
	PartyID       string          `json:"party_id,omitempty"`
	Proof         *Proof          `json:"proof,omitempty"`
}

func (e *consentEvidence) empty() bool {
	return len(e.SourceDetails) == 0 && e.Reason == "" && e.PartyID == "" && e.Proof == nil
}

// suppressionEvidence is the part of a logged suppression that is evidence.
type suppressionEvidence struct {
	Note string `json:"note,omitempty"`
}

// evidence is an entry's evidence, as stored beside its leaf: per state,
// its evidence part, or for other entries the whole value.
type entryEvidence struct {
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
	Write  json.RawMessage `json:"write,omitempty"`
}

// EncodedEntry is a log entry as stored: the leaf that is hashed, and its
// evidence and opening (nil when the entry has no evidence).
type EncodedEntry struct {
	Leaf     []byte
	Evidence []byte
	Opening  []byte
}

// EncodeEntry encodes e, whose Seq and At are set, as a version 2 leaf and
// its evidence, committed with a fresh random opening.
func EncodeEntry(e *LogEntry) (EncodedEntry, error) {
	var out EncodedEntry
	var ev entryEvidence
	var flags byte
	states := [3]*LeafState{}
	for i, v := range []any{e.Before, e.After, e.Write} {
		if isNil(v) {
			continue
		}
		st, raw, err := splitState(v)
		if err != nil {
			return out, fmt.Errorf("log entry %d: %w", e.Seq, err)
		}
		states[i] = st
		if st != nil {
			flags |= 1 << i
		}
		switch i {
		case 0:
			ev.Before = raw
		case 1:
			ev.After = raw
		case 2:
			ev.Write = raw
		}
	}
	if len(ev.Before)+len(ev.After)+len(ev.Write) > 0 {
		b, err := json.Marshal(&ev)
		if err != nil {
			return out, fmt.Errorf("log entry %d evidence: %w", e.Seq, err)
		}
		out.Evidence = b
		out.Opening = newOpening()
		flags |= leafCommitment
	}
	b := make([]byte, 0, 160)
	b = append(b, LeafVersion)
	b = binary.AppendUvarint(b, uint64(e.Seq))
	b = binary.BigEndian.AppendUint64(b, uint64(e.At.UnixNano()))
	b = appendString(b, e.Type)
	b = appendString(b, e.Subject)
	b = appendString(b, e.Actor)
	b = append(b, flags)
	for _, st := range states {
		if st != nil {
			b = appendState(b, st)
		}
	}
	if flags&leafCommitment != 0 {
		c := EvidenceCommitment(out.Opening, out.Evidence)
		b = append(b, c[:]...)
	}
	out.Leaf = b
	return out, nil
}

func isNil(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case *LoggedConsent:
		return v == nil
	case *Suppression:
		return v == nil
	case json.RawMessage:
		return len(v) == 0
	}
	return false
}

// splitState splits a state of a log entry into what the leaf holds and
// its evidence: consents and suppressions keep their structured fields in
// the leaf; any other value is evidence as a whole.
func splitState(v any) (*LeafState, json.RawMessage, error) {
	switch s := v.(type) {
	case *LoggedConsent:
		return consentState(s)
	case LoggedConsent:
		return consentState(&s)
	case *Suppression:
		return suppressionState(s)
	case Suppression:
		return suppressionState(&s)
	}
	raw, err := json.Marshal(v)
	return nil, raw, err
}

func consentState(c *LoggedConsent) (*LeafState, json.RawMessage, error) {
	st := &LeafState{Kind: stateConsent, Status: c.Status, CapturedAt: c.CapturedAt, Version: c.Version,
		SourceType: c.Source.Type, SourceName: c.Source.Name, Jurisdiction: c.Jurisdiction, Origin: c.Origin}
	ev := consentEvidence{SourceDetails: c.Source.Details, Reason: c.Reason, PartyID: c.PartyID, Proof: c.Proof}
	if ev.empty() {
		return st, nil, nil
	}
	raw, err := json.Marshal(&ev)
	return st, raw, err
}

func suppressionState(s *Suppression) (*LeafState, json.RawMessage, error) {
	st := &LeafState{Kind: stateSuppression, ID: s.ID, CPKind: s.Kind, Channel: s.Channel, Reason: s.Reason, CreatedAt: s.CreatedAt}
	if s.Note == "" {
		return st, nil, nil
	}
	raw, err := json.Marshal(&suppressionEvidence{Note: s.Note})
	return st, raw, err
}

var statusCodes = map[Status]byte{OptedIn: 1, OptedOut: 2, Pending: 3}
var codeStatuses = [...]Status{1: OptedIn, 2: OptedOut, 3: Pending}

func appendState(b []byte, s *LeafState) []byte {
	b = append(b, s.Kind)
	switch s.Kind {
	case stateConsent:
		b = append(b, statusCodes[s.Status])
		b = appendTime(b, s.CapturedAt)
		b = binary.AppendUvarint(b, uint64(s.Version))
		b = appendString(b, s.SourceType)
		b = appendString(b, s.SourceName)
		b = appendString(b, s.Jurisdiction)
		b = appendString(b, s.Origin)
	case stateSuppression:
		b = appendString(b, s.ID)
		b = appendString(b, string(s.CPKind))
		b = appendString(b, s.Channel)
		b = appendString(b, string(s.Reason))
		b = appendTime(b, s.CreatedAt)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendTime appends t as Unix nanoseconds, 8 bytes big-endian (two's
// complement); the zero time is 0.
func appendTime(b []byte, t time.Time) []byte {
	var n int64
	if !t.IsZero() {
		n = t.UnixNano()
	}
	return binary.BigEndian.AppendUint64(b, uint64(n))
}

// openings hands out random openings from a buffer filled 4 KiB at a
// time: one system call per 128 commitments.
var openings struct {
	sync.Mutex
	buf []byte
}

func newOpening() []byte {
	openings.Lock()
	defer openings.Unlock()
	if len(openings.buf) < OpeningSize {
		openings.buf = make([]byte, 4096)
		rand.Read(openings.buf)
	}
	o := openings.buf[:OpeningSize:OpeningSize]
	openings.buf = openings.buf[OpeningSize:]
	return o
}

// leafReader decodes a leaf, remembering the first error.
type leafReader struct {
	b   []byte
	err error
}

func (r *leafReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("leaf: bad %s", what)
	}
	r.b = nil
}

func (r *leafReader) byte(what string) byte {
	if len(r.b) < 1 {
		r.fail(what)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *leafReader) uvarint(what string) uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *leafReader) time(what string) time.Time {
	if len(r.b) < 8 {
		r.fail(what)
		return time.Time{}
	}
	n := int64(binary.BigEndian.Uint64(r.b))
	r.b = r.b[8:]
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func (r *leafReader) string(what string) string {
	n := r.uvarint(what)
	if n > uint64(len(r.b)) {
		r.fail(what)
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *leafReader) state() *LeafState {
	s := &LeafState{Kind: r.byte("state kind")}
	switch s.Kind {
	case stateConsent:
		c := r.byte("status")
		if int(c) >= len(codeStatuses) || codeStatuses[c] == "" {
			r.fail("status")
			return nil
		}
		s.Status = codeStatuses[c]
		s.CapturedAt = r.time("captured_at")
		s.Version = int64(r.uvarint("version"))
		s.SourceType = r.string("source type")
		s.SourceName = r.string("source name")
		s.Jurisdiction = r.string("jurisdiction")
		s.Origin = r.string("origin")
	case stateSuppression:
		s.ID = r.string("suppression id")
		s.CPKind = ContactPointKind(r.string("contact point kind"))
		s.Channel = r.string("channel")
		s.Reason = SuppressionReason(r.string("reason"))
		s.CreatedAt = r.time("created_at")
	default:
		r.fail("state kind")
		return nil
	}
	return s
}

// DecodeLeaf decodes a version 2 leaf. It refuses trailing bytes, so that
// one leaf has one decoding.
func DecodeLeaf(leaf []byte) (*Leaf, error) {
	if len(leaf) == 0 || leaf[0] != LeafVersion {
		return nil, errors.New("leaf: not a version 2 leaf")
	}
	r := &leafReader{b: leaf[1:]}
	l := &Leaf{}
	l.Seq = int64(r.uvarint("seq"))
	l.At = r.time("time")
	l.Type = r.string("type")
	l.Subject = r.string("subject")
	l.Actor = r.string("actor")
	flags := r.byte("flags")
	if flags&^(leafBefore|leafAfter|leafWrite|leafCommitment) != 0 {
		r.fail("flags")
	}
	for i, dst := range []**LeafState{&l.Before, &l.After, &l.Write} {
		if flags&(1<<i) != 0 && r.err == nil {
			*dst = r.state()
		}
	}
	if flags&leafCommitment != 0 && r.err == nil {
		if len(r.b) < 32 {
			r.fail("commitment")
		} else {
			c := [32]byte(r.b[:32])
			l.Commitment = &c
			r.b = r.b[32:]
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, errors.New("leaf: trailing bytes")
	}
	return l, nil
}

// LeafSeq returns the seq a leaf of either version carries, and false when
// it names none.
func LeafSeq(leaf []byte) (int64, bool) {
	if len(leaf) > 0 && leaf[0] == LeafVersion {
		v, n := binary.Uvarint(leaf[1:])
		return int64(v), n > 0
	}
	const prefix = `{"seq":`
	if !bytes.HasPrefix(leaf, []byte(prefix)) {
		return 0, false
	}
	var n int64
	i := len(prefix)
	for ; i < len(leaf) && leaf[i] >= '0' && leaf[i] <= '9' && i < len(prefix)+19; i++ {
		n = n*10 + int64(leaf[i]-'0')
	}
	if i == len(prefix) || i == len(leaf) || (leaf[i] != ',' && leaf[i] != '}') {
		return 0, false
	}
	return n, true
}

// EntryView returns a stored entry as the JSON that the API, events and
// the decision index read: the LogEntry encoding, with the evidence put
// back in its places. A version 1 leaf is its own view. When a leaf's
// evidence is gone (erased), the view holds what the leaf holds and
// "evidence": "erased".
func EntryView(leaf, evidence []byte) (json.RawMessage, error) {
	if len(leaf) == 0 {
		return json.RawMessage(`{"evidence":"erased"}`), nil
	}
	if leaf[0] != LeafVersion {
		return leaf, nil
	}
	l, err := DecodeLeaf(leaf)
	if err != nil {
		return nil, err
	}
	var ev entryEvidence
	erased := l.Commitment != nil && evidence == nil
	if len(evidence) > 0 {
		if err := json.Unmarshal(evidence, &ev); err != nil {
			return nil, fmt.Errorf("log entry %d evidence: %w", l.Seq, err)
		}
	}
	e := &LogEntry{Seq: l.Seq, At: l.At, Type: l.Type, Subject: l.Subject, Actor: l.Actor}
	if erased {
		e.Evidence = EvidenceErased
	}
	for _, p := range []struct {
		st  *LeafState
		raw json.RawMessage
		dst *any
	}{{l.Before, ev.Before, &e.Before}, {l.After, ev.After, &e.After}, {l.Write, ev.Write, &e.Write}} {
		v, err := viewState(p.st, p.raw)
		if err != nil {
			return nil, fmt.Errorf("log entry %d evidence: %w", l.Seq, err)
		}
		*p.dst = v
	}
	return json.Marshal(e)
}

// viewState joins a leaf state and its evidence into the logged value.
func viewState(st *LeafState, raw json.RawMessage) (any, error) {
	switch {
	case st == nil && len(raw) == 0:
		return nil, nil
	case st == nil:
		return raw, nil
	case st.Kind == stateConsent:
		c := &LoggedConsent{Status: st.Status, CapturedAt: st.CapturedAt, Version: st.Version, Source: Source{Type: st.SourceType, Name: st.SourceName},
			Jurisdiction: st.Jurisdiction, Origin: st.Origin}
		if len(raw) > 0 {
			var ev consentEvidence
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, err
			}
			c.Source.Details, c.Reason, c.PartyID, c.Proof = ev.SourceDetails, ev.Reason, ev.PartyID, ev.Proof
		}
		return c, nil
	default:
		s := Suppression{ID: st.ID, Kind: st.CPKind, Channel: st.Channel, Reason: st.Reason, CreatedAt: st.CreatedAt}
		if len(raw) > 0 {
			var ev suppressionEvidence
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, err
			}
			s.Note = ev.Note
		}
		return s, nil
	}
}
