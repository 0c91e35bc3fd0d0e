package importfmt

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/safecsv"
)

// The native format is consentd's own (docs/architecture.md (imports and exports)), the shape
// `consentd export` writes:
//
//	contact_point,channel,purpose,topic,status,captured_at,source_type,source_name,source_details,party_id,jurisdiction,reason
//
// Required columns: contact_point, channel, purpose, status, captured_at;
// the others may be absent or empty. status is opted_in, opted_out or
// pending (case-insensitive). captured_at is RFC 3339 (fractional seconds
// allowed) and is the only time column: there is no fallback, a row without
// it is rejected. source_type defaults to import, source_name to
// Options.SourceName or "native"; source_details, when not empty, must be
// JSON and is kept as the source's details. The rows say where each consent
// goes: the options purpose, channel and topic are refused (noTarget).
//
// Cells are trimmed of surrounding white space, but for a cell in which
// the export neutralized a formula (internal/safecsv: a single quote
// before a leading = + - @ tab CR LF or NUL, or after a semicolon, tab or
// line break inside it, and before a single quote that one of those or
// another single quote follows): its added quotes are removed and it is
// read exactly, so that export and import round-trip byte-identical
// values, '+4915112345678 included.
var nativeFormat = format{
	required: [][]string{req("contact_point"), req("channel"), req("purpose"), req("status"), req("captured_at")},
	setup: func(r *Reader, c columns) error {
		if err := noTarget(r, "purpose", "channel", "topic"); err != nil {
			return err
		}
		r.nat = nativeCols{
			contactPoint:  c.idx("contact_point"),
			channel:       c.idx("channel"),
			purpose:       c.idx("purpose"),
			topic:         c.idx("topic"),
			status:        c.idx("status"),
			capturedAt:    c.idx("captured_at"),
			sourceType:    c.idx("source_type"),
			sourceName:    c.idx("source_name"),
			sourceDetails: c.idx("source_details"),
			partyID:       c.idx("party_id"),
			jurisdiction:  c.idx("jurisdiction"),
			reason:        c.idx("reason"),
		}
		return nil
	},
}

type nativeCols struct {
	contactPoint, channel, purpose, topic, status, capturedAt, sourceType,
	sourceName, sourceDetails, partyID, jurisdiction, reason int
}

// parseStatus reads a consentd status, case-insensitively.
func parseStatus(s string) (consentd.Status, bool) {
	st := consentd.Status(s)
	if st.Valid() {
		return st, true
	}
	st = consentd.Status(strings.ToLower(s))
	return st, st.Valid()
}

func (r *Reader) parseNative(rec []string, row *Row) {
	c := &r.nat
	w := consentd.ConsentWrite{
		ContactPoint: cell(rec, c.contactPoint),
		Channel:      cell(rec, c.channel),
		Purpose:      cell(rec, c.purpose),
		Topic:        cell(rec, c.topic),
		PartyID:      cell(rec, c.partyID),
		Jurisdiction: cell(rec, c.jurisdiction),
		Reason:       cell(rec, c.reason),
		Source:       consentd.Source{Type: cell(rec, c.sourceType), Name: cell(rec, c.sourceName)},
	}
	if w.ContactPoint == "" {
		reject(row, consentd.EINVALIDCONTACTPOINT, "contact_point", "contact_point is empty")
		return
	}
	if w.Channel == "" {
		reject(row, consentd.EINVALID, "channel", "channel is empty")
		return
	}
	if w.Purpose == "" {
		reject(row, consentd.EUNKNOWNPURPOSE, "purpose", "purpose is empty")
		return
	}
	s := cell(rec, c.status)
	st, ok := parseStatus(s)
	if !ok {
		reject(row, consentd.EINVALIDSTATUS, "status", "status %q is not opted_in, opted_out or pending", s)
		return
	}
	w.Status = st
	ts := cell(rec, c.capturedAt)
	if ts == "" {
		reject(row, consentd.EINVALIDTIME, "captured_at", "captured_at is empty")
		return
	}
	if w.CapturedAt, ok = parseTime(ts, time.UTC, time.RFC3339Nano); !ok {
		reject(row, consentd.EINVALIDTIME, "captured_at", "captured_at %q is not an RFC 3339 time", ts)
		return
	}
	if w.Source.Type == "" {
		w.Source.Type = consentd.SourceImport
	} else if !consentd.ValidSourceType(w.Source.Type) {
		reject(row, consentd.EINVALID, "source_type", "source_type %q is not a known source type", w.Source.Type)
		return
	}
	if w.Source.Name == "" {
		w.Source.Name = r.source
	}
	if d := cell(rec, c.sourceDetails); d != "" {
		b := []byte(d)
		if !json.Valid(b) {
			reject(row, consentd.EINVALID, "source_details", "source_details is not JSON")
			return
		}
		w.Source.Details = b
	}
	if w.Jurisdiction != "" && !consentd.ValidJurisdiction(w.Jurisdiction) {
		reject(row, consentd.EINVALID, "jurisdiction", "jurisdiction %q is not an ISO 3166 code such as DE or US-CA", w.Jurisdiction)
		return
	}
	row.Writes = []consentd.ConsentWrite{w}
}

// cell returns the native field i of rec: as field does (trimmed, "" when
// the column is absent), but a cell the export neutralized comes back
// exactly as the value it was written from (safecsv.Unescape), white space
// included: the quote that guards a leading tab is the export's, and the
// tab is part of the value.
func cell(rec []string, i int) string {
	if i < 0 {
		return ""
	}
	if v := safecsv.Unescape(rec[i]); v != rec[i] {
		return v
	}
	return strings.TrimSpace(rec[i])
}
