package importer

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/consentd/consentd"
)

// This file puts an import's entries in the order they are written: by
// contact point hash, the key order of the stored consents, contact points
// and log subjects, so that each batch touches a narrow range of every
// index instead of pages all over it (docs/architecture.md (figures): a bulk load in
// key order is what keeps an import near the backend's raw insert rate once
// the tables outgrow the cache). The entries of one contact point keep
// their file order, so the write path sees each consent's writes as the
// API would; entries with no contact point to hash (rejects, skips,
// addresses that do not normalize) come first, in file order.
//
// A resumed import skips the entries committed before, by position in this
// order, so the order must not depend on what may change between a run
// and its resume: it depends on the file, the workspace's secret and
// default region (phone numbers), and not on the catalog (but for a write
// named only by a channel type whose kind the address's shape guesses
// wrong). A row rejected for an unknown purpose keeps its place after the
// purpose is created.

// entry is one unit of an import: a consent write, a reject or a skip.
type entry struct {
	kind     byte // entryWrite, entryReject, entrySkip
	line     int64
	rowFirst bool // the first entry of its data record: counts the row
	write    consentd.ConsentWrite
	reject   consentd.ImportReject
	skip     string
}

const (
	entryWrite  = 'w'
	entryReject = 'r'
	entrySkip   = 's'
)

// keyer computes entries' sort keys.
type keyer struct {
	opt    Options
	secret []byte
	buf    []byte
}

// key returns the sort key of the seq-th entry: 1, the contact point
// hash, seq for a write whose contact point normalizes; 0, seq otherwise.
// The kind comes from the write's channel, else from its channel type
// when the catalog resolves it, else from the address's shape.
func (k *keyer) key(e *entry, seq uint64) []byte {
	b := k.buf[:0]
	if e.kind == entryWrite {
		w := &e.write
		kind := consentd.GuessKind(w.Channel, w.ContactPoint)
		if w.Channel == "" && w.ChannelType != "" {
			if ct, err := k.opt.Catalog.ResolveID(w.ChannelType); err == nil {
				kind = consentd.KindOf(ct.Channel)
			}
		}
		if cp, err := consentd.Normalize(kind, w.ContactPoint, k.opt.DefaultRegion); err == nil {
			h := consentd.ContactPointHash(k.secret, kind, cp)
			b = append(b, 1)
			b = append(b, h[:]...)
		}
	}
	if len(b) == 0 {
		b = append(b, 0)
	}
	b = binary.BigEndian.AppendUint64(b, seq)
	k.buf = b
	return b
}

// encode appends the entry to b.
func (e *entry) encode(b []byte) []byte {
	b = append(b, e.kind)
	b = binary.AppendVarint(b, e.line)
	b = appendBool(b, e.rowFirst)
	switch e.kind {
	case entrySkip:
		b = appendString(b, e.skip)
	case entryReject:
		b = appendString(b, e.reject.Code)
		b = appendString(b, e.reject.Reason)
		b = binary.AppendUvarint(b, uint64(len(e.reject.Raw)))
		for _, s := range e.reject.Raw {
			b = appendString(b, s)
		}
	case entryWrite:
		w := &e.write
		for _, s := range []string{w.ContactPoint, w.Channel, w.Purpose, w.Topic, w.ChannelType, string(w.Status), w.Source.Type, w.Source.Name,
			string(w.Source.Details), w.Reason, w.PartyID, w.Jurisdiction, w.Origin} {
			b = appendString(b, s)
		}
		b = appendTime(b, w.CapturedAt)
		b = appendBool(b, w.Source.Details != nil)
		b = appendBool(b, w.Proof != nil)
		if p := w.Proof; p != nil {
			for _, s := range []string{p.IP, p.UserAgent, p.FormVersion, p.TextVersion} {
				b = appendString(b, s)
			}
			b = appendBool(b, p.ConfirmedAt != nil)
			if p.ConfirmedAt != nil {
				b = appendTime(b, *p.ConfirmedAt)
			}
		}
	}
	return b
}

var errCorrupt = errors.New("import: corrupt sorted entry")

// decode reads an entry that encode wrote.
func (e *entry) decode(b []byte) error {
	d := decoder{b: b}
	*e = entry{kind: d.byte(), line: d.varint(), rowFirst: d.bool()}
	switch e.kind {
	case entrySkip:
		e.skip = d.string()
	case entryReject:
		e.reject = consentd.ImportReject{Line: e.line, Code: d.string(), Reason: d.string()}
		if n := d.uvarint(); n > 0 && n <= uint64(len(d.b)) {
			e.reject.Raw = make([]string, n)
			for i := range e.reject.Raw {
				e.reject.Raw[i] = d.string()
			}
		}
	case entryWrite:
		w := &e.write
		w.ContactPoint, w.Channel, w.Purpose, w.Topic, w.ChannelType = d.string(), d.string(), d.string(), d.string(), d.string()
		w.Status, w.Source.Type, w.Source.Name = consentd.Status(d.string()), d.string(), d.string()
		details := d.string()
		w.Reason, w.PartyID, w.Jurisdiction, w.Origin = d.string(), d.string(), d.string(), d.string()
		w.CapturedAt = d.time()
		if d.bool() {
			w.Source.Details = []byte(details)
		}
		if d.bool() {
			p := &consentd.Proof{IP: d.string(), UserAgent: d.string(), FormVersion: d.string(), TextVersion: d.string()}
			if d.bool() {
				t := d.time()
				p.ConfirmedAt = &t
			}
			w.Proof = p
		}
	default:
		return errCorrupt
	}
	if d.err != nil || len(d.b) != 0 {
		return errCorrupt
	}
	return nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendTime keeps the instant and the zone offset, as time.Time's binary
// form does: the log shows a captured_at as the file gave it.
func appendTime(b []byte, t time.Time) []byte {
	tb, err := t.MarshalBinary()
	if err != nil { // a zone offset out of range: keep the instant
		tb, _ = t.UTC().MarshalBinary()
	}
	return appendString(b, string(tb))
}

// decoder reads what the append functions wrote; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err, d.b = errCorrupt, nil }

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bool() bool { return d.byte() == 1 }

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) time() time.Time {
	var t time.Time
	if err := t.UnmarshalBinary([]byte(d.string())); err != nil {
		d.fail()
	}
	return t
}
