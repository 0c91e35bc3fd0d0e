package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/client"
	"github.com/consentd/consentd/internal/importer"
	"github.com/consentd/consentd/internal/safecsv"
	"golang.org/x/term"
)

// importFile is `consentd import --format F FILE`: offline on the data
// folder or --database, or through --server URL --key K.
func (m *Main) importFile(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	var c config
	m.flags(fs, &c, false)
	format := fs.String("format", "", "file format: "+strings.Join(importer.Formats(), ", "))
	purpose := fs.String("purpose", "", "listmonk, mailchimp: the purpose the subscribers consent to")
	channel := fs.String("channel", "", "listmonk, mailchimp: the channel (default email)")
	topic := fs.String("topic", "", "listmonk, mailchimp: a topic of the purpose")
	batch := fs.Int("batch-size", importer.DefaultBatchSize, "consent writes per transaction")
	server := fs.String("server", "", "import through this consentd server (URL) instead of the data folder")
	key := fs.String("key", "", "with --server: an API key with the write role")
	mapping := fs.String("mapping", "", "records format: the mapping file (YAML, a rule: contact_point, party, captured_at, consents[{channel_type, status}] as CEL over record)")
	rejects := fs.String("rejects", "", "write the rejected rows (line,code,reason) to this CSV file")
	fs.StringVar(&c.Workspace, "workspace", consentd.DefaultWorkspace, "workspace name (offline)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *format == "" {
		return usageError{"usage: consentd import --format F [--purpose P --channel C --topic T] [--mapping FILE] FILE"}
	}
	path := fs.Arg(0)
	spec := consentd.ImportSpec{Format: *format, Purpose: *purpose, Channel: *channel, Topic: *topic, Name: filepath.Base(path)}
	if *format == importer.Records {
		if *mapping == "" || *server != "" {
			return usageError{"--format records needs --mapping FILE and runs offline (not with --server)"}
		}
		data, err := os.ReadFile(*mapping)
		if err != nil {
			return err
		}
		if spec.Mapping, err = importer.ParseMapping(data); err != nil {
			return fmt.Errorf("mapping: %s", consentd.ErrorMessage(err))
		}
	}
	lines, err := hashFile(path, &spec)
	if err != nil {
		return err
	}
	p := m.newProgress(lines)
	var im *consentd.Import
	var done bool
	if *server != "" {
		im, done, err = m.importRemote(ctx, *server, *key, spec, path, p)
	} else {
		im, done, err = m.importLocal(ctx, &c, spec, path, *batch, p)
	}
	p.finish()
	if im == nil {
		return err
	}
	if done {
		fmt.Fprintf(m.Stdout, "import %s: already imported (%s), nothing written\n", im.ID, im.State)
	}
	fmt.Fprintf(m.Stdout, "import %s: %s: %d rows, %d created, %d changed, %d unchanged, %d superseded, %d skipped, %d rejected\n",
		im.ID, im.State, im.Rows, im.Created, im.Changed, im.Unchanged, im.Superseded, im.Skipped, im.Rejected)
	for _, r := range sortedKeys(im.SkipReasons) {
		fmt.Fprintf(m.Stdout, "  skipped %d: %s\n", im.SkipReasons[r], r)
	}
	if err != nil {
		return err
	}
	if *rejects != "" {
		if err := m.writeRejects(ctx, &c, *server, *key, im.ID, *rejects); err != nil {
			return fmt.Errorf("rejects: %w", err)
		}
	}
	if im.State == consentd.ImportFailed {
		return fmt.Errorf("import failed: %s", im.Error)
	}
	return nil
}

func sortedKeys(m map[string]int64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// hashFile sets spec's SHA256 and Size and returns the file's line count
// less the header: about its number of records, for the progress.
func hashFile(path string, spec *consentd.ImportSpec) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 256<<10)
	var lines int64
	for {
		n, err := f.Read(buf)
		h.Write(buf[:n])
		lines += int64(bytes.Count(buf[:n], []byte{'\n'}))
		spec.Size += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	spec.SHA256 = hex.EncodeToString(h.Sum(nil))
	return max(lines-1, 1), nil
}

func (m *Main) importLocal(ctx context.Context, c *config, spec consentd.ImportSpec, path string, batch int, p *progress) (*consentd.Import, bool, error) {
	db, ws, err := m.openWorkspace(ctx, c)
	if err != nil {
		return nil, false, err
	}
	defer db.Close()
	// The import streams: its working set is a batch. A soft memory limit
	// (unless GOMEMLIMIT set one) makes the GC keep the heap near it rather
	// than doubling it (docs/architecture.md (figures): peak memory <= 150 MB).
	if prev := debug.SetMemoryLimit(-1); prev == math.MaxInt64 {
		debug.SetMemoryLimit(importMemoryLimit)
		defer debug.SetMemoryLimit(prev)
	}
	// The sort's runs (about 1.5 times the file) go to the data folder,
	// not to a /tmp that may be in memory.
	tmp := c.Data
	if fi, err := os.Stat(tmp); err != nil || !fi.IsDir() {
		tmp = "" // PostgreSQL without a data folder
	}
	e := &importer.Engine{Store: db, BatchSize: batch, Progress: p.update, Reading: p.reading, TempDir: tmp}
	im, done, err := e.Import(ctx, ws.ID, spec, path)
	if err != nil && im == nil {
		return nil, false, fmt.Errorf("import: %s", consentd.ErrorMessage(err))
	}
	return im, done, err
}

// importMemoryLimit is the Go heap's soft limit during an offline import.
const importMemoryLimit = 96 << 20

// importRemote posts the file to the server and polls the import until it
// ends.
func (m *Main) importRemote(ctx context.Context, server, key string, spec consentd.ImportSpec, path string, p *progress) (*consentd.Import, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	c := newClient(server, key)
	opts := client.ImportOptions{Format: spec.Format, Purpose: spec.Purpose, Channel: spec.Channel, Topic: spec.Topic, Name: spec.Name}
	im, created, err := c.CreateImport(ctx, opts, f, spec.Size)
	if err != nil {
		return nil, false, err
	}
	// The same file imported before: the server answers that import.
	done := !created && im.State == consentd.ImportSucceeded
	p.update(im)
	if im.State != consentd.ImportQueued && im.State != consentd.ImportRunning {
		return im, done, nil
	}
	last, err := c.WaitImport(ctx, im.ID, 500*time.Millisecond, p.update)
	if last != nil {
		im = last
	}
	if err != nil {
		return im, false, err
	}
	return im, done, nil
}

// newClient is the API client of the --server modes.
func newClient(server, key string) *client.Client {
	return client.New(server, key, client.WithUserAgent("consentd-cli"))
}

// writeRejects writes an import's rejects to a CSV file.
func (m *Main) writeRejects(ctx context.Context, c *config, server, key, id, path string) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	defer out.Close()
	if server != "" {
		body, err := newClient(server, key).ImportRejects(ctx, id)
		if err != nil {
			return err
		}
		defer body.Close()
		if _, err := io.Copy(out, body); err != nil {
			return err
		}
		return out.Close()
	}
	db, ws, err := m.openWorkspace(ctx, c)
	if err != nil {
		return err
	}
	defer db.Close()
	cw := safecsv.NewWriter(out) // a reason quotes the row's values: no formulas
	cw.Write([]string{"line", "code", "reason"})
	if err := db.ImportRejects(ctx, ws.ID, id, func(r *consentd.ImportReject) error {
		return cw.Write([]string{strconv.FormatInt(r.Line, 10), r.Code, r.Reason})
	}); err != nil {
		return err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return out.Close()
}

// progress shows an import's progress on stderr: a bar with rate and ETA
// on a terminal, a plain line at most every second otherwise.
type progress struct {
	w       io.Writer
	tty     bool
	total   int64     // about the records in the file
	start   time.Time // of the writes, once the file is read and sorted
	last    time.Time
	printed bool
	writing bool // the writes began: their first progress shows at once
}

func (m *Main) newProgress(total int64) *progress {
	p := &progress{w: m.Stderr, total: total, start: time.Now()}
	if f, ok := m.Stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

// reading shows the first phase of a local import: the file read and
// sorted, nothing written yet; done is called once it ends.
func (p *progress) reading(rows int64, done bool) {
	now := time.Now()
	if done {
		p.start = now
		// The sort's arena is garbage now: give it back before the
		// writes take their share (peak memory, docs/architecture.md (figures)).
		debug.FreeOSMemory()
	}
	if !done && now.Sub(p.last) < time.Second && p.printed {
		return
	}
	p.last, p.printed = now, true
	if p.tty {
		fmt.Fprintf(p.w, "\rreading and sorting: %d/%d rows ", rows, p.total)
		return
	}
	fmt.Fprintf(p.w, "import: reading and sorting %d/%d rows\n", rows, p.total)
}

func (p *progress) update(im *consentd.Import) {
	now := time.Now()
	final := im.State == consentd.ImportSucceeded || im.State == consentd.ImportFailed
	if !final && now.Sub(p.last) < time.Second && p.printed && p.writing {
		return
	}
	p.last, p.printed, p.writing = now, true, true
	elapsed := now.Sub(p.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(im.Rows) / elapsed
	}
	frac := min(float64(im.Rows)/float64(p.total), 1)
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(p.total-im.Rows)/rate) * time.Second).Truncate(time.Second).String()
		if im.Rows >= p.total {
			eta = "0s"
		}
	}
	if p.tty {
		const width = 30
		n := int(frac * width)
		fmt.Fprintf(p.w, "\r[%s%s] %3.0f%% %d/%d rows %.0f rows/s ETA %s ", strings.Repeat("=", n), strings.Repeat(" ", width-n), frac*100,
			im.Rows, p.total, rate, eta)
		return
	}
	fmt.Fprintf(p.w, "import %s: %s %d/%d rows (%.0f%%) %.0f rows/s ETA %s\n", im.ID, im.State, im.Rows, p.total, frac*100, rate, eta)
}

func (p *progress) finish() {
	if p.tty && p.printed {
		fmt.Fprintln(p.w)
	}
}

// export is `consentd export [--format csv|ndjson] [--as-of T] [--known-at K] [-o FILE]`,
// offline on the data folder or --database, or through --server URL --key K.
func (m *Main) export(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	var c config
	m.flags(fs, &c, false)
	format := fs.String("format", "csv", "csv or ndjson")
	asOf := fs.String("as-of", "", "export each consent in effect at this RFC 3339 time by captured_at, as the log says")
	knownAt := fs.String("known-at", "", "export what the log had recorded by this RFC 3339 time (with --as-of: what was believed then)")
	out := fs.String("o", "", "write to this file instead of standard output")
	server := fs.String("server", "", "export through this consentd server (URL) instead of the data folder")
	key := fs.String("key", "", "with --server: an API key that may read")
	fs.StringVar(&c.Workspace, "workspace", consentd.DefaultWorkspace, "workspace name")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError{"usage: consentd export [--format csv|ndjson] [--as-of T] [--known-at K] [--workspace NAME | --server URL --key K] [-o FILE]"}
	}
	var at consentd.Times
	for _, f := range []struct {
		flag, v string
		dst     *time.Time
	}{{"as-of", *asOf, &at.AsOf}, {"known-at", *knownAt, &at.KnownAt}} {
		if f.v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, f.v)
		if err != nil {
			return usageError{"--" + f.flag + " must be an RFC 3339 time such as 2026-03-14T12:00:00Z"}
		}
		*f.dst = t
	}
	if *server != "" {
		if *format != "csv" && *format != "ndjson" {
			return usageError{"--format must be csv or ndjson"}
		}
		return m.writeOutput(*out, func(w io.Writer) error {
			body, err := newClient(*server, *key).ExportConsents(ctx, client.ExportOptions{Format: *format, AsOf: at.AsOf, KnownAt: at.KnownAt})
			if err != nil {
				return err
			}
			defer body.Close()
			// A transfer the server broke off is a read error here: no
			// short file that looks whole.
			_, err = io.Copy(w, body)
			return err
		})
	}
	db, ws, err := m.openWorkspace(ctx, &c)
	if err != nil {
		return err
	}
	defer db.Close()
	return m.writeOutput(*out, func(w io.Writer) error {
		ew, err := importer.NewExportWriter(w, *format)
		if err != nil {
			return usageError{"--format must be csv or ndjson"}
		}
		if err := db.ExportConsents(ctx, ws.ID, at, ew.Write); err != nil {
			return err
		}
		return ew.Flush()
	})
}

// writeOutput runs write on standard output, or with -o FILE on a
// temporary file renamed to FILE when write succeeded: -o FILE is never a
// short file that looks complete.
func (m *Main) writeOutput(out string, write func(io.Writer) error) error {
	if out == "" {
		return write(m.Stdout)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name()) // gone already when renamed
	}()
	if err := write(tmp); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

// startImports starts the runner of imports posted to the API:
// it runs queued imports one at a time, and resumes those a restart
// interrupted, from their spool files in DATA/imports.
func (m *Main) startImports(r *running) error {
	r.api.EnableImports(filepath.Join(r.cfg.Data, "imports"), r.cfg.ImportMaxBody)
	r.work.Add(1)
	go func() {
		defer r.work.Done()
		r.api.RunImports(r.ctx, time.Minute)
	}()
	return nil
}
