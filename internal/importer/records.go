package importer

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/rules"
	"sigs.k8s.io/yaml"
)

// Records is the format that derives consent from party fields in bulk
// (the Dynamics "load consent" job): a CSV file of records, one per row
// (the header names the fields), and a mapping, a rule in the shape of
// consentd.Rule (contact_point, party, jurisdiction, captured_at and
// consents[{channel_type, status}] as CEL expressions over `record`),
// evaluated for each row with internal/rules. Field values "true" and
// "false" (any case) are booleans, empty fields are absent, the others
// strings. For example, Dynamics' donotemail / donotbulkemail:
//
//	contact_point: record.emailaddress1
//	party: record.contactid
//	captured_at: record.modifiedon
//	consents:
//	- channel_type: newsletter:email
//	  status: 'record.donotbulkemail ? "opted_out" : "opted_in"'
const Records = "records"

// ParseMapping reads a mapping file (YAML or JSON, the JSON field names of
// consentd.Rule) and returns it as compact JSON, for ImportSpec.Mapping,
// after checking that it compiles. It must say captured_at: an import keeps
// the source's times.
func ParseMapping(data []byte) (string, error) {
	var r consentd.Rule
	if err := yaml.UnmarshalStrict(data, &r); err != nil {
		return "", consentd.FieldErrorf(consentd.EINVALID, "mapping", "the mapping is not a rule: %s", consentd.JSONErrorMessage(err, "the mapping"))
	}
	if _, err := compileMapping(&r); err != nil {
		return "", err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func compileMapping(r *consentd.Rule) (*rules.Program, error) {
	if r.ID == "" {
		r.ID = "mapping"
	}
	if r.On.Record == "" {
		r.On.Record = "record"
	}
	if r.Source.Type == "" {
		r.Source.Type = consentd.SourceImport
	}
	if strings.TrimSpace(r.CapturedAt) == "" {
		return nil, consentd.FieldErrorf(consentd.EINVALID, "captured_at", "the mapping must say captured_at: an import keeps the source's times")
	}
	return rules.Compile(r)
}

// recordsReader reads a records file through a compiled mapping.
type recordsReader struct {
	cr     *csv.Reader
	header []string
	prg    *rules.Program
}

func openRecords(r io.Reader, mapping string) (Reader, error) {
	if mapping == "" {
		return nil, consentd.FieldErrorf(consentd.EINVALID, "mapping", "the records format needs a mapping (--mapping FILE)")
	}
	var rule consentd.Rule
	if err := json.Unmarshal([]byte(mapping), &rule); err != nil {
		return nil, consentd.FieldErrorf(consentd.EINVALID, "mapping", "the mapping is not a rule: %s", consentd.JSONErrorMessage(err, "the mapping"))
	}
	prg, err := compileMapping(&rule)
	if err != nil {
		return nil, err
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		return nil, consentd.Errorf(consentd.EMALFORMED, "the file has no header line")
	}
	for i, h := range header {
		header[i] = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
	}
	return &recordsReader{cr: cr, header: header, prg: prg}, nil
}

func (rr *recordsReader) Next() (Row, error) {
	rec, err := rr.cr.Read()
	line, _ := rr.cr.FieldPos(0)
	row := Row{Line: int64(line), Raw: rec}
	if errors.Is(err, io.EOF) {
		return row, io.EOF
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		row.Line = int64(pe.StartLine)
		row.Reject = &consentd.Error{Code: consentd.EMALFORMED, Message: pe.Error()}
		return row, nil
	}
	if err != nil {
		return row, err
	}
	fields := make(map[string]any, len(rr.header))
	for i, v := range rec {
		if i >= len(rr.header) || v == "" {
			continue
		}
		switch strings.ToLower(v) {
		case "true":
			fields[rr.header[i]] = true
		case "false":
			fields[rr.header[i]] = false
		default:
			fields[rr.header[i]] = v
		}
	}
	writes, err := rr.prg.Writes(fields, "", time.Time{})
	if err != nil {
		var e *consentd.Error
		if !errors.As(err, &e) {
			e = &consentd.Error{Code: consentd.EINVALID, Message: err.Error()}
		}
		row.Reject = e
		return row, nil
	}
	if len(writes) == 0 {
		row.Skip = "the mapping writes no consent for this record"
	}
	row.Writes = writes
	return row, nil
}
