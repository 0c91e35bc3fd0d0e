package importer

import (
	"bufio"
	"encoding/json"
	"io"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/safecsv"
)

// NativeColumns are the columns of the native format (docs/architecture.md (imports and exports)),
// which the export writes and the native reader reads.
var NativeColumns = []string{"contact_point", "channel", "purpose", "topic", "status", "captured_at", "source_type", "source_name",
	"source_details", "party_id", "jurisdiction", "reason"}

// ExportRecord is one line of an ndjson export: the native columns.
type ExportRecord struct {
	ContactPoint  string          `json:"contact_point"`
	Channel       string          `json:"channel"`
	Purpose       string          `json:"purpose"`
	Topic         string          `json:"topic,omitempty"`
	Status        consentd.Status `json:"status"`
	CapturedAt    time.Time       `json:"captured_at"`
	SourceType    string          `json:"source_type"`
	SourceName    string          `json:"source_name,omitempty"`
	SourceDetails json.RawMessage `json:"source_details,omitempty"`
	PartyID       string          `json:"party_id,omitempty"`
	Jurisdiction  string          `json:"jurisdiction,omitempty"`
	Reason        string          `json:"reason,omitempty"`
}

// ExportWriter writes consents in the native format, as CSV (with a header
// line) or ndjson, buffered: call Flush at the end. CSV cells that a
// spreadsheet would run as formulas are neutralized (internal/safecsv);
// the native import reads them back unchanged.
type ExportWriter struct {
	bw   *bufio.Writer
	csv  *safecsv.Writer
	json *json.Encoder
	rec  []string
}

// ExportFormats are the formats of an export.
var ExportFormats = []string{"csv", "ndjson"}

// NewExportWriter returns a writer of format csv or ndjson; EINVALID for
// another format.
func NewExportWriter(w io.Writer, format string) (*ExportWriter, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	switch format {
	case "", "csv":
		cw := safecsv.NewWriter(bw)
		if err := cw.Write(NativeColumns); err != nil {
			return nil, err
		}
		return &ExportWriter{bw: bw, csv: cw, rec: make([]string, len(NativeColumns))}, nil
	case "ndjson":
		return &ExportWriter{bw: bw, json: json.NewEncoder(bw)}, nil
	}
	return nil, consentd.FieldErrorf(consentd.EINVALID, "format", "format must be csv or ndjson")
}

// Write writes one consent.
func (e *ExportWriter) Write(c *consentd.Consent) error {
	if e.json != nil {
		return e.json.Encode(ExportRecord{ContactPoint: c.ContactPoint, Channel: c.Channel, Purpose: c.Purpose, Topic: c.Topic, Status: c.Status,
			CapturedAt: c.CapturedAt.UTC(), SourceType: c.Source.Type, SourceName: c.Source.Name, SourceDetails: c.Source.Details,
			PartyID: c.PartyID, Jurisdiction: c.Jurisdiction, Reason: c.Reason})
	}
	r := e.rec
	r[0], r[1], r[2], r[3], r[4] = c.ContactPoint, c.Channel, c.Purpose, c.Topic, string(c.Status)
	r[5], r[6], r[7], r[8] = c.CapturedAt.UTC().Format(time.RFC3339Nano), c.Source.Type, c.Source.Name, string(c.Source.Details)
	r[9], r[10], r[11] = c.PartyID, c.Jurisdiction, c.Reason
	return e.csv.Write(r)
}

// Flush writes what is buffered.
func (e *ExportWriter) Flush() error {
	if e.csv != nil {
		e.csv.Flush()
		if err := e.csv.Error(); err != nil {
			return err
		}
	}
	return e.bw.Flush()
}
