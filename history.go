package consentd

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// This file answers the two times of docs/decisions.md from a consent's
// log entries: which write was in effect at a valid time (captured_at), as
// the entries recorded up to a transaction time (the entry's at) say. The
// backends read the entries; the rule is here, once.

// Times selects a consent's state by its two times. The zero Times selects
// the current state.
type Times struct {
	// AsOf is the valid time: the write in effect at AsOf by captured_at.
	// Zero: the latest captured, however late.
	AsOf time.Time
	// KnownAt is the transaction time: only log entries recorded at or
	// before KnownAt count. Zero: every entry recorded so far.
	KnownAt time.Time
}

// IsZero reports whether t selects the current state.
func (t Times) IsZero() bool { return t.AsOf.IsZero() && t.KnownAt.IsZero() }

// KnownBefore returns the bound on a log entry's time (Unix nanoseconds,
// as the backends store it) that KnownAt sets: KnownAt, or no bound.
func (t Times) KnownBefore() int64 {
	if t.KnownAt.IsZero() {
		return math.MaxInt64
	}
	return t.KnownAt.UnixNano()
}

// String describes t for messages.
func (t Times) String() string {
	var parts []string
	if !t.AsOf.IsZero() {
		parts = append(parts, "captured at or before "+t.AsOf.UTC().Format(time.RFC3339Nano))
	}
	if !t.KnownAt.IsZero() {
		parts = append(parts, "recorded at or before "+t.KnownAt.UTC().Format(time.RFC3339Nano))
	}
	return strings.Join(parts, " and ")
}

// LogRef names the log entry that proves an answer.
type LogRef struct {
	Seq  int64     `json:"seq"`
	Type string    `json:"type" enum:"consent.changed,consent.superseded,consent.unchanged"`
	At   time.Time `json:"at" doc:"when the entry was recorded"`
}

// LoggedWrite is one write of a consent as its log records it: the state a
// consent.changed entry set (its after), or the write that a
// consent.superseded or consent.unchanged entry did not apply (its write).
type LoggedWrite struct {
	Seq   int64
	At    time.Time // when the entry was recorded
	Type  string
	State *LoggedConsent
}

// ErrNoState is ParseLoggedWrite's error for a consent entry whose view
// holds no state: a version 1 leaf whose bytes were erased with its
// address, or a leaf that does not decode (altered, which verifying the
// tree names). Readers of a consent's history skip such an entry.
var ErrNoState = errors.New("the log entry holds no readable state")

// ParseLoggedWrite reads the write that an entry view (the JSON of
// EntryView) records. ok is false for an entry of another type; the error
// is ErrNoState for a consent entry without a readable state.
func ParseLoggedWrite(view []byte) (w LoggedWrite, ok bool, err error) {
	var e struct {
		Seq      int64          `json:"seq"`
		At       time.Time      `json:"at"`
		Type     string         `json:"type"`
		After    *LoggedConsent `json:"after"`
		Write    *LoggedConsent `json:"write"`
		Evidence string         `json:"evidence"`
	}
	if err := json.Unmarshal(view, &e); err != nil {
		return w, false, fmt.Errorf("log entry: %w", err)
	}
	w = LoggedWrite{Seq: e.Seq, At: e.At, Type: e.Type}
	switch e.Type {
	case LogConsentChanged:
		w.State = e.After
	case LogConsentSuperseded, LogConsentUnchanged:
		w.State = e.Write
	default:
		return w, false, nil
	}
	switch {
	case w.State == nil && (e.Evidence == EvidenceErased || e.Evidence == EvidenceUnreadable):
		return w, false, fmt.Errorf("log entry %d (%s, %s): %w", e.Seq, e.Type, e.Evidence, ErrNoState)
	case w.State == nil:
		return w, false, fmt.Errorf("log entry %d (%s) records no consent state", e.Seq, e.Type)
	}
	return w, true, nil
}

// Consent returns the state w records as the consent of contactPoint and
// ct: what a read as of a time answers. Its Seq and ProvedBy name w's
// entry and its RecordedAt is the entry's time. A superseded or unchanged
// write never was the stored state, so it has no version (0).
func (w LoggedWrite) Consent(contactPoint string, ct ChannelType) *Consent {
	s := w.State
	return &Consent{ID: ConsentID(contactPoint, ct.ID), ContactPoint: contactPoint, ChannelType: ct.ID, Purpose: ct.Purpose, Topic: ct.Topic,
		Channel: ct.Channel, Status: s.Status, CapturedAt: s.CapturedAt, RecordedAt: w.At, Version: s.Version, Source: s.Source,
		Reason: s.Reason, PartyID: s.PartyID, Jurisdiction: s.Jurisdiction, Proof: s.Proof, Origin: s.Origin, Seq: w.Seq,
		ProvedBy: &LogRef{Seq: w.Seq, Type: w.Type, At: w.At}}
}

// InEffect folds the writes of one consent into the write in effect at
// Times: of the writes recorded at or before KnownAt and captured at or
// before AsOf, the one that wins under CompareWrites, and of equal ones the
// earliest recorded, which is the one Apply kept. Writes may come in any
// order. Fed every write of a consent with the zero Times, it ends at the
// state the write path stored.
type InEffect struct {
	Times Times

	best  LoggedWrite
	found bool // best is set
	seen  bool // a write was added, in effect or not
}

// AddView feeds the write an entry view records (ParseLoggedWrite); an
// entry of another type, or one whose state was erased, adds nothing.
func (f *InEffect) AddView(view []byte) error {
	w, ok, err := ParseLoggedWrite(view)
	if err != nil && !errors.Is(err, ErrNoState) {
		return err
	}
	if ok {
		f.Add(w)
	}
	return nil
}

// Add feeds one write of the consent.
func (f *InEffect) Add(w LoggedWrite) {
	f.seen = true
	if !f.Times.KnownAt.IsZero() && w.At.After(f.Times.KnownAt) {
		return
	}
	if !f.Times.AsOf.IsZero() && w.State.CapturedAt.After(f.Times.AsOf) {
		return
	}
	if f.found {
		c := CompareWrites(w.State.CapturedAt, w.State.Status, f.best.State.CapturedAt, f.best.State.Status)
		if c < 0 || c == 0 && w.Seq > f.best.Seq {
			return
		}
	}
	f.best, f.found = w, true
}

// Result returns the write in effect, and false when none is.
func (f *InEffect) Result() (LoggedWrite, bool) { return f.best, f.found }

// Reset forgets the writes fed so far, for the next consent.
func (f *InEffect) Reset() { f.best, f.found, f.seen = LoggedWrite{}, false, false }

// Consent returns the consent in effect as contactPoint and ct's (see
// LoggedWrite.Consent). It returns ENOTFOUND when no write of the consent
// was added at all, and ENOTINEFFECT when none is in effect at the times.
func (f *InEffect) Consent(contactPoint string, ct ChannelType) (*Consent, error) {
	switch {
	case !f.seen:
		return nil, Errorf(ENOTFOUND, "no record of this consent")
	case !f.found:
		return nil, Errorf(ENOTINEFFECT, "no write of this consent %s is in the log", f.Times)
	}
	return f.best.Consent(contactPoint, ct), nil
}

// SubjectFold folds consent log entries that come ordered by subject, then
// seq (the log's subject index), one subject at a time, so that memory
// stays flat however long the log: when the subject changes, Emit is
// called with the finished subject's write in effect at Times, if any.
type SubjectFold struct {
	Times Times
	Emit  func(subject string, w LoggedWrite) error

	subject string
	fold    InEffect
}

// Add feeds the next entry view of subject; entries of other types than
// the consent ones, and those without a state (ErrNoState), are skipped.
func (s *SubjectFold) Add(subject string, view []byte) error {
	w, ok, err := ParseLoggedWrite(view)
	if errors.Is(err, ErrNoState) {
		return nil
	}
	if err != nil || !ok {
		return err
	}
	if subject != s.subject {
		if err := s.emit(); err != nil {
			return err
		}
		s.subject = subject
	}
	s.fold.Times = s.Times
	s.fold.Add(w)
	return nil
}

// Close emits the last subject.
func (s *SubjectFold) Close() error { return s.emit() }

func (s *SubjectFold) emit() error {
	w, ok := s.fold.Result()
	s.fold.Reset()
	if !ok {
		return nil
	}
	return s.Emit(s.subject, w)
}

// ParseHashedConsentID splits a consent id in hashed form (HashedConsentID)
// into the contact point hash and the channel type id. ok is false for a
// subject of another shape, such as a suppression's (channel type "*").
func ParseHashedConsentID(subject string) (hash [32]byte, channelType string, ok bool) {
	h, ct, found := strings.Cut(subject, "#")
	if !found || ct == "" || ct == "*" || base64.RawURLEncoding.DecodedLen(len(h)) != len(hash) {
		return hash, "", false
	}
	if _, err := base64.RawURLEncoding.Decode(hash[:], []byte(h)); err != nil {
		return hash, "", false
	}
	return hash, ct, true
}
