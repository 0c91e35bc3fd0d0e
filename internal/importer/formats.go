package importer

import (
	"io"

	"github.com/consentd/consentd/internal/importfmt"
)

// OpenFormat opens one of internal/importfmt's readers (native, dynamics,
// salesforce, listmonk, mailchimp) or the records reader: the engine's
// default OpenFunc.
func OpenFormat(format string, r io.Reader, opt Options) (Reader, error) {
	if format == Records {
		return openRecords(r, opt.Mapping)
	}
	rd, err := importfmt.NewReader(format, r, importfmt.Options{Purpose: opt.Purpose, Channel: opt.Channel, Topic: opt.Topic,
		SourceName: opt.SourceName, Catalog: opt.Catalog, DefaultRegion: opt.DefaultRegion})
	if err != nil {
		return nil, err
	}
	return fmtReader{rd}, nil
}

type fmtReader struct{ r *importfmt.Reader }

func (f fmtReader) Next() (Row, error) {
	row, err := f.r.Next()
	return Row(row), err
}

// Formats lists the formats OpenFormat reads.
func Formats() []string { return append(importfmt.Formats(), Records) }
