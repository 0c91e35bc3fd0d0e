package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/importer"
	"github.com/consentd/consentd/internal/openapi"
	"github.com/consentd/consentd/internal/safecsv"
)

// ImportStore is what bulk imports and exports need of a backend.
// Backends: imports.go.
type ImportStore interface {
	// CreateImport returns the import of spec: the existing one (created
	// false) when the workspace imported the same format, options and file
	// before, otherwise a new queued one.
	CreateImport(ctx context.Context, wsID string, spec consentd.ImportSpec) (*consentd.Import, bool, error)
	Import(ctx context.Context, wsID, id string) (*consentd.Import, error)
	// Imports returns a page of the workspace's imports, newest first.
	Imports(ctx context.Context, wsID string, f consentd.ImportFilter) ([]*consentd.Import, string, error)
	// ImportBatch writes one batch of an import in one transaction: the
	// writes (lines[i] the line of writes[i]) through the consent write
	// path, skipping those to erased contact points; the reader's rejects
	// and those of the refused writes; the counts and committed records.
	ImportBatch(ctx context.Context, wsID, importID string, writes []consentd.ConsentWrite, lines []int64,
		rejects []consentd.ImportReject, progress consentd.ImportProgress, actor string) ([]consentd.WriteResult, error)
	// StartImport marks a queued import running, while its file is read
	// and sorted.
	StartImport(ctx context.Context, wsID, id string) error
	FinishImport(ctx context.Context, wsID, id string, state consentd.ImportState, msg string) error
	// WorkspaceSecret is the key of the contact point hashes, which give
	// an import its order.
	WorkspaceSecret(ctx context.Context, id string) ([]byte, error)
	ImportRejects(ctx context.Context, wsID, id string, fn func(*consentd.ImportReject) error) error
	UnfinishedImports(ctx context.Context) ([]consentd.ImportRef, error)
	// ExportConsents calls fn with each consent, now or in effect at the
	// times at (as_of, known_at), streaming; consents of erased contact
	// points are left out.
	ExportConsents(ctx context.Context, wsID string, at consentd.Times, fn func(*consentd.Consent) error) error
}

// DefaultMaxImportBody is the default size limit of an import's body.
const DefaultMaxImportBody = 2 << 30

// importsConfig is where posted imports go.
type importsConfig struct {
	dir     string // spool folder: <dir>/<id>.csv
	maxBody int64
	wake    chan struct{} // a new import to run
}

// EnableImports lets POST /v1/imports spool bodies of up to maxBody bytes
// (DefaultMaxImportBody when 0) into dir, as dir/<import id>.csv, for
// RunImports; without it the route answers 404. Call it before serving.
func (s *Server) EnableImports(dir string, maxBody int64) {
	if maxBody <= 0 {
		maxBody = DefaultMaxImportBody
	}
	s.imports = importsConfig{dir: dir, maxBody: maxBody, wake: make(chan struct{}, 1)}
}

// RunImports runs posted imports until ctx is done: at once when one is
// posted, and every interval (imports a restart interrupted, or queued by
// another process on the same database).
func (s *Server) RunImports(ctx context.Context, interval time.Duration) {
	for {
		if _, err := s.ProcessImports(ctx); err != nil && ctx.Err() == nil {
			s.Log.Error("imports", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.imports.wake:
		case <-time.After(interval):
		}
	}
}

// ProcessImports runs, one after the other, every unfinished import whose
// spool file is in this server's folder (with PostgreSQL another replica
// may hold the file of an import), and returns how many it ran. A
// finished import's file is removed; a failed one keeps it, to run again
// when the same file is posted again.
func (s *Server) ProcessImports(ctx context.Context) (int, error) {
	if s.imports.dir == "" {
		return 0, nil
	}
	refs, err := s.DB.UnfinishedImports(ctx)
	if err != nil {
		return 0, err
	}
	// The sort's runs go next to the spool files, not to a /tmp that may
	// be in memory.
	e := &importer.Engine{Store: s.DB, TempDir: s.imports.dir}
	n := 0
	for _, ref := range refs {
		path := ImportFile(s.imports.dir, ref.ID)
		if _, err := os.Stat(path); err != nil {
			continue
		}
		im, err := s.DB.Import(ctx, ref.WorkspaceID, ref.ID)
		if err != nil {
			return n, err
		}
		n++
		im, err = e.Run(ctx, ref.WorkspaceID, im, path)
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		if err != nil {
			// The reason is in the import; no row data here (PII).
			s.Log.Warn("import failed", "import", ref.ID, "code", consentd.ErrorCode(err))
			continue
		}
		s.Log.Info("import done", "import", im.ID, "rows", im.Rows, "created", im.Created, "rejected", im.Rejected)
		os.Remove(path)
	}
	return n, nil
}

// ImportFile is the spool file of an import.
func ImportFile(dir, id string) string { return filepath.Join(dir, id+".csv") }

// importRoutes are bulk imports and the export.
func (s *Server) importRoutes() []route {
	id := []openapi.Param{{Name: "id", In: "path", Description: "the import id"}}
	return []route{
		{openapi.Operation{Method: "POST", Path: "/v1/imports", Tags: []string{"imports"},
			Summary:      "Start a bulk import of the CSV body (text/csv), run in the background; the same file, format and options again answer the existing import (200) and write nothing. The body is spooled to disk, up to the server's --import-max-body (default 2 GiB); a declared Content-Length over it is answered 413 before any is read",
			RequestTypes: []string{"text/csv"}, Response: consentd.Import{}, Status: http.StatusAccepted, OtherStatuses: []int{http.StatusOK},
			Query: []openapi.Param{{Name: "format", Required: true, Enum: importer.Formats()}, {Name: "purpose", Description: "listmonk, mailchimp (required): the purpose of the subscribers; refused (422) for native, dynamics and salesforce, whose rows name it"},
				{Name: "channel", Description: "listmonk, mailchimp: default email; dynamics: the channel of custom contact points; refused (422) for native and salesforce"},
				{Name: "topic", Description: "listmonk, mailchimp: the topic of the subscribers; refused (422) for the other formats"},
				{Name: "name", Description: "the file's name, as source name (at most 200 bytes); default the format"}},
			Errors: []int{413, 415, 422}}, writers, s.postImport},
		{openapi.Operation{Method: "GET", Path: "/v1/imports", Summary: "The workspace's imports, newest first: state, progress and counts", Tags: []string{"imports"},
			Response: importList{}, Query: []openapi.Param{limitParam, {Name: "page_token"}}}, readers, s.listImports},
		{openapi.Operation{Method: "GET", Path: "/v1/imports/{id}", Summary: "An import: state, progress and counts", Tags: []string{"imports"},
			Response: consentd.Import{}, Query: id}, readers, s.getImport},
		{openapi.Operation{Method: "GET", Path: "/v1/imports/{id}/rejects", Summary: "The rejected rows of an import as CSV: line, code, reason", Tags: []string{"imports"},
			ResponseTypes: []string{"text/csv"}, Query: id}, readers, s.getImportRejects},
		{openapi.Operation{Method: "GET", Path: "/v1/consents:export", Tags: []string{"consents"},
			Summary:       "Every consent of the workspace in the native import format, streamed: now, or each consent in effect at a time (as_of, known_at; then in log subject order)",
			ResponseTypes: []string{"text/csv", "application/x-ndjson"}, ResponseItem: importer.ExportRecord{},
			Query: append([]openapi.Param{{Name: "format", Enum: importer.ExportFormats, Description: "default csv"}}, timesQuery()...)},
			readers, s.exportConsents},
	}
}

func (s *Server) postImport(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	cfg := s.imports
	if cfg.dir == "" {
		return consentd.Errorf(consentd.ENOTFOUND, "this server does not take imports")
	}
	if r.ContentLength > cfg.maxBody {
		// Refused on the declared length, before a byte is spooled; the
		// connection closes after the answer rather than read the rest.
		w.Header().Set("Connection", "close")
		return consentd.Errorf(consentd.ETOOLARGE, "an import body holds at most %d bytes", cfg.maxBody)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || (mt != "text/csv" && mt != "application/csv" && mt != "text/plain") {
		return consentd.Errorf(consentd.EUNSUPPORTEDMEDIATYPE, "the body must be a CSV file (Content-Type: text/csv)")
	}
	q := r.URL.Query()
	spec := consentd.ImportSpec{Format: q.Get("format"), Purpose: q.Get("purpose"), Channel: q.Get("channel"), Topic: q.Get("topic"), Name: q.Get("name")}
	if spec.Format == "" {
		return consentd.FieldErrorf(consentd.EINVALID, "format", "format is required")
	}
	if spec.Format == importer.Records {
		return consentd.FieldErrorf(consentd.EINVALID, "format", "the records format runs offline: consentd import --format records --mapping FILE")
	}
	if err := os.MkdirAll(cfg.dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(cfg.dir, "upload-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), http.MaxBytesReader(w, r.Body, cfg.maxBody))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return consentd.Errorf(consentd.ETOOLARGE, "an import body holds at most %d bytes", cfg.maxBody)
		}
		return consentd.Errorf(consentd.EMALFORMED, "reading the body: %v", err)
	}
	spec.SHA256, spec.Size = hex.EncodeToString(h.Sum(nil)), n
	e := &importer.Engine{Store: s.DB}
	if err := e.Check(r.Context(), k.WorkspaceID, spec, tmp.Name()); err != nil {
		return err
	}
	im, created, err := s.DB.CreateImport(r.Context(), k.WorkspaceID, spec)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if im.State == consentd.ImportFailed { // the same file again: try again
		if err := s.DB.FinishImport(r.Context(), k.WorkspaceID, im.ID, consentd.ImportQueued, ""); err != nil {
			return err
		}
		im.State, im.Error, im.FinishedAt = consentd.ImportQueued, "", nil
	}
	if im.State != consentd.ImportSucceeded {
		if _, err := os.Stat(ImportFile(cfg.dir, im.ID)); err != nil {
			if err := os.Rename(tmp.Name(), ImportFile(cfg.dir, im.ID)); err != nil {
				return err
			}
		}
		select {
		case cfg.wake <- struct{}{}:
		default:
		}
	}
	if created {
		status = http.StatusAccepted
	}
	w.Header().Set("Location", "/v1/imports/"+im.ID)
	writeJSON(w, status, im)
	return nil
}

// importList is a page of imports.
type importList struct {
	Imports       []*consentd.Import `json:"imports"`
	NextPageToken string             `json:"next_page_token,omitempty"`
}

func (s *Server) listImports(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	ims, next, err := s.DB.Imports(r.Context(), k.WorkspaceID, consentd.ImportFilter{Limit: limit, PageToken: r.URL.Query().Get("page_token")})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, importList{Imports: ims, NextPageToken: next})
	return nil
}

func (s *Server) getImport(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	im, err := s.DB.Import(r.Context(), k.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, im)
	return nil
}

func (s *Server) getImportRejects(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	return s.WriteImportRejects(r.Context(), w, k.WorkspaceID, r.PathValue("id"))
}

// WriteImportRejects answers the rejected rows of import id as CSV (line,
// code, reason), as GET /v1/imports/{id}/rejects does: ENOTFOUND, with
// nothing written, when the workspace has no such import. Cells that
// would start a formula are neutralized, since a reason quotes the row's
// values. A store error once the header is out is logged and ends the body.
func (s *Server) WriteImportRejects(ctx context.Context, w http.ResponseWriter, wsID, id string) error {
	if _, err := s.DB.Import(ctx, wsID, id); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	cw := safecsv.NewWriter(w)
	cw.Write([]string{"line", "code", "reason"})
	err := s.DB.ImportRejects(ctx, wsID, id, func(rj *consentd.ImportReject) error {
		return cw.Write([]string{strconv.FormatInt(rj.Line, 10), rj.Code, rj.Reason})
	})
	cw.Flush()
	if err != nil {
		s.Log.Error("import rejects", "import", id, "err", err) // the header is out: the body just ends
	}
	return nil
}

func (s *Server) exportConsents(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	q := r.URL.Query()
	at, err := queryTimes(q)
	if err != nil {
		return err
	}
	format := q.Get("format")
	ctype := "text/csv; charset=utf-8"
	if format == "ndjson" {
		ctype = "application/x-ndjson"
	}
	sent := &countingWriter{w: w}
	ew, err := importer.NewExportWriter(sent, format)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", ctype)
	if err := s.DB.ExportConsents(r.Context(), k.WorkspaceID, at, ew.Write); err != nil {
		if sent.n == 0 {
			return err // nothing sent yet: a problem instead
		}
		// A short file that looks whole would be worse than none: break
		// the transfer (no final chunk), so that the client sees an error.
		s.Log.Error("export cut short", "code", consentd.ErrorCode(err), "err", err)
		panic(http.ErrAbortHandler)
	}
	return ew.Flush()
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
