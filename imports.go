package consentd

import "time"

// ImportState is where a bulk import is.
type ImportState string

// Import states.
const (
	ImportQueued    ImportState = "queued"
	ImportRunning   ImportState = "running"
	ImportSucceeded ImportState = "succeeded"
	ImportFailed    ImportState = "failed"
)

// ImportCounts are the counts of an import's data rows and of the consent
// writes they carried: Rows data records read; Created, Changed,
// Unchanged, Superseded the outcomes of the writes; Skipped rows that do
// not apply (see Import.SkipReasons); Rejected bad rows (see the rejects).
type ImportCounts struct {
	Rows       int64 `json:"rows" doc:"data records read (committed)"`
	Created    int64 `json:"created"`
	Changed    int64 `json:"changed"`
	Unchanged  int64 `json:"unchanged"`
	Superseded int64 `json:"superseded"`
	Skipped    int64 `json:"skipped" doc:"rows that do not apply; skip_reasons counts them by reason"`
	Rejected   int64 `json:"rejected" doc:"bad rows; GET /v1/imports/{id}/rejects lists them"`
}

// Add adds o to c.
func (c *ImportCounts) Add(o ImportCounts) {
	c.Rows += o.Rows
	c.Created += o.Created
	c.Changed += o.Changed
	c.Unchanged += o.Unchanged
	c.Superseded += o.Superseded
	c.Skipped += o.Skipped
	c.Rejected += o.Rejected
}

// ImportSpec identifies an import: the same workspace, format, options and
// file content (SHA256) are the same import, which a second run resumes or
// finds finished.
type ImportSpec struct {
	Format  string `json:"format"`
	Purpose string `json:"purpose,omitempty"`
	Channel string `json:"channel,omitempty"`
	Topic   string `json:"topic,omitempty"`
	SHA256  string `json:"sha256" doc:"hex SHA-256 of the file"`
	Size    int64  `json:"size" doc:"bytes"`
	Name    string `json:"name,omitempty" doc:"the file's name, as source name of the writes"`
	Mapping string `json:"mapping,omitempty" doc:"records format: the mapping, a rule as JSON"`
}

// Import is a bulk import job.
type Import struct {
	ID    string      `json:"id"`
	State ImportState `json:"state" enum:"queued,running,succeeded,failed"`
	ImportSpec
	ImportCounts
	SkipReasons map[string]int64 `json:"skip_reasons,omitempty" doc:"skipped rows by reason"`
	Committed   int64            `json:"committed" doc:"entries (consent writes, skipped and rejected rows) committed so far, in the import's order (by contact point): a resumed import starts after them; rows counts the file's rows done"`
	CreatedAt   time.Time        `json:"created_at"`
	StartedAt   *time.Time       `json:"started_at,omitempty"`
	FinishedAt  *time.Time       `json:"finished_at,omitempty"`
	Error       string           `json:"error,omitempty"`
}

// ImportFilter pages a workspace's imports, newest first.
type ImportFilter struct {
	Limit     int // 1 to 1000; default 100
	PageToken string
}

// ImportReject is one rejected row of an import: its line, the error code
// and the reason. Raw is the row's fields as read (the customer's data,
// kept with the import in the database; never logged).
type ImportReject struct {
	Line   int64    `json:"line"`
	Code   string   `json:"code"`
	Reason string   `json:"reason"`
	Raw    []string `json:"raw,omitempty"`
}

// ImportProgress is what one batch of an import adds: the counts of the
// reader's verdicts (Rows read, Skipped and Rejected by the reader; the
// store adds the outcomes of the writes and the writes it refuses or
// skips), the skip reasons, and Committed, the entries of the import's
// order consumed up to the end of the batch.
type ImportProgress struct {
	Counts      ImportCounts
	SkipReasons map[string]int64
	Committed   int64
}

// SkipErased is the skip reason of a write to a contact point whose
// plaintext was erased: an import never resurrects it.
const SkipErased = "erased"

// ImportRef names an import in a workspace.
type ImportRef struct {
	WorkspaceID string
	ID          string
}

// Validate checks the spec's options as a client gives them: the name
// (source name of the writes) and purpose, channel and topic bounded,
// storable text. The format reader checks what the format needs.
func (s *ImportSpec) Validate() error {
	return checkTexts(
		textField{"format", s.Format, MaxIDLen},
		textField{"name", s.Name, MaxNameLen},
		textField{"purpose", s.Purpose, MaxIDLen},
		textField{"channel", s.Channel, MaxIDLen},
		textField{"topic", s.Topic, MaxIDLen},
	)
}
