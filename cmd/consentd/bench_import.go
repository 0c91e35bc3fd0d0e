package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/importer"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/postgres"
	"github.com/consentd/consentd/internal/sqlite"
	"github.com/jackc/pgx/v5"
)

// benchImport imports --rows generated native rows with `consentd import`
// run as a child process (its peak RSS from rusage) into SQLite and, when
// PostgreSQL answers, into PostgreSQL, against the raw insert rate of the
// same backend in the same run: the same rows stored in the consents table
// (same columns and indexes) with SQLite's one transaction of plain
// INSERTs, and with PostgreSQL's COPY.
func benchImport(ctx context.Context, e *benchEnv) (*benchResult, error) {
	n := e.rows
	file := filepath.Join(e.dir, "import.csv")
	if err := benchImportFile(file, n); err != nil {
		return nil, err
	}
	bin, err := os.Executable()
	if err != nil {
		return nil, err
	}
	r := &benchResult{Scenario: "import", Notes: map[string]any{"rows": n, "batch_size": importer.DefaultBatchSize}}
	// The reference is the rows in file order, as a plain bulk insert
	// stores them; the same in key order (consentd's import sorts) is shown
	// beside it.
	add := func(backend string, ours, raw, sorted float64, rss int64, refName string) {
		mb := float64(rss) / 1024
		r.Figures = append(r.Figures,
			benchFigure{Name: backend + " import", Unit: "rows/s", Value: ours, Reference: raw, RefName: refName, Ratio: ours / raw, Goal: ">= 0.6 of raw", Met: met(ours/raw >= 0.6)},
			benchFigure{Name: backend + " import vs key order", Unit: "rows/s", Value: ours, Reference: sorted, RefName: "the same raw insert, rows in key order", Ratio: ours / sorted},
			benchFigure{Name: backend + " import peak RSS", Unit: "MB", Value: mb, Goal: "<= 150 MB", Met: met(mb <= 150)})
	}

	// SQLite.
	dir := filepath.Join(e.dir, "import-sqlite")
	if err := benchImportSetup(ctx, dir, ""); err != nil {
		return nil, err
	}
	ours, rss, err := benchImportRun(ctx, bin, n, "import", "--data", dir, "--workspace", "bench", "--format", "native", file)
	if err != nil {
		return nil, err
	}
	raw, err := rawSQLiteBulk(ctx, filepath.Join(e.dir, "import-raw.db"), newRawRows(n, false))
	if err != nil {
		return nil, err
	}
	sorted, err := rawSQLiteBulk(ctx, filepath.Join(e.dir, "import-raw-sorted.db"), newRawRows(n, true))
	if err != nil {
		return nil, err
	}
	add("sqlite", ours, raw, sorted, rss, "plain INSERTs in one transaction into the consents table")

	// PostgreSQL, when it answers.
	url, drop, err := freshPostgres(ctx, e.pgURL, "consentd_bench_import_")
	if err != nil {
		r.Notes["postgres"] = "skipped: " + err.Error()
		return r, nil
	}
	defer drop()
	dir = filepath.Join(e.dir, "import-pg")
	if err := benchImportSetup(ctx, dir, url); err != nil {
		return nil, err
	}
	ours, rss, err = benchImportRun(ctx, bin, n, "import", "--data", dir, "--database", url, "--workspace", "bench", "--format", "native", file)
	if err != nil {
		return nil, err
	}
	raw, err = rawPostgresCopy(ctx, url, "raw_import", newRawRows(n, false))
	if err != nil {
		return nil, err
	}
	sorted, err = rawPostgresCopy(ctx, url, "raw_import_sorted", newRawRows(n, true))
	if err != nil {
		return nil, err
	}
	add("postgres", ours, raw, sorted, rss, "COPY into a table like the consents table")
	return r, nil
}

// benchImportFile writes n native rows, one contact point each.
func benchImportFile(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(strings.Join(importer.NativeColumns, ",") + "\n")
	at := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		status := "opted_in"
		if i%3 == 0 {
			status = "opted_out"
		}
		fmt.Fprintf(w, "%s,email,news,,%s,%s,import,old-crm,,,,\n", benchAddr(i), status, at.Add(time.Duration(i)*time.Second).Format(time.RFC3339))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// benchImportSetup makes workspace bench with purpose news on email in the
// data folder, or in the PostgreSQL database url.
func benchImportSetup(ctx context.Context, dir, url string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if _, err := ledger.LoadOrCreateKey(filepath.Join(dir, "checkpoint.key"), "consentd"); err != nil {
		return err
	}
	var db interface {
		CreateWorkspace(ctx context.Context, name string) (*consentd.Workspace, error)
		PutPurpose(ctx context.Context, wsID string, p *consentd.Purpose, create bool, actor string) error
		Close() error
	}
	var err error
	if url != "" {
		db, err = postgres.Open(ctx, url)
	} else {
		db, err = sqlite.Open(filepath.Join(dir, "consentd.db"))
	}
	if err != nil {
		return err
	}
	defer db.Close()
	ws, err := db.CreateWorkspace(ctx, "bench")
	if err != nil {
		return err
	}
	return db.PutPurpose(ctx, ws.ID, &consentd.Purpose{ID: "news", Name: "News", Type: consentd.Commercial,
		Channels: map[string]consentd.ChannelSetting{"email": {}}}, true, "bench")
}

// benchImportRun runs the import as a child process and returns its rows/s
// and peak RSS (KiB).
func benchImportRun(ctx context.Context, bin string, n int, args ...string) (float64, int64, error) {
	out, d, rss, err := runChild(ctx, bin, args...)
	if err != nil {
		return 0, 0, fmt.Errorf("consentd import: %w", err)
	}
	if !strings.Contains(out, fmt.Sprintf(": succeeded: %d rows", n)) {
		return 0, 0, fmt.Errorf("consentd import did not import %d rows:\n%s", n, out)
	}
	return float64(n) / d.Seconds(), rss, nil
}

// runChild runs bin with args as a child process and returns its output
// (stdout and stderr), how long it ran and its peak RSS (KiB).
//
// The peak is the child's VmHWM, read from /proc while it runs. Its rusage
// maxrss is not the child's own: Go starts a child with a vfork-like clone
// that shares this process's memory until exec, and Linux carries the
// high-water mark of that memory into the child's maxrss, so that a child
// started after this process grew (the raw SQLite reference runs in it)
// reported this process's peak (161 MB at 1M rows, for an import whose
// own peak was 65 MB). rusage is the fallback where there is no /proc.
func runChild(ctx context.Context, bin string, args ...string) (string, time.Duration, int64, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return "", 0, 0, err
	}
	var hwm atomic.Int64
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if kb := vmHWM(cmd.Process.Pid); kb > hwm.Load() {
				hwm.Store(kb)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	err := cmd.Wait()
	d := time.Since(start)
	close(stop)
	<-polled
	if err != nil {
		return out.String(), d, 0, fmt.Errorf("%w\n%s", err, out.String())
	}
	rss := hwm.Load()
	if rss == 0 {
		rss = maxRSS(cmd.ProcessState)
	}
	return out.String(), d, rss, nil
}

// The raw references store the rows an import of the bench file stores in
// the consents table, with the table's columns and indexes: what the
// backend does with the same rows and no consentd in between.
const rawSource = `{"type":"import","name":"old-crm"}`

// rawRows are the bench file's rows as the consents table keys them, in
// file order or, sorted, in key order; computed before the clock starts.
type rawRows struct {
	hash   [][32]byte
	status []string
}

func newRawRows(n int, sorted bool) *rawRows {
	r := &rawRows{hash: make([][32]byte, n), status: make([]string, n)}
	for i := range n {
		r.hash[i] = consentd.ContactPointHash(benchSecret, consentd.KindEmail, benchAddr(i))
		r.status[i] = "opted_in"
		if i%3 == 0 {
			r.status[i] = "opted_out"
		}
	}
	if sorted {
		sort.Sort(r)
	}
	return r
}

func (r *rawRows) Len() int           { return len(r.hash) }
func (r *rawRows) Less(i, j int) bool { return bytes.Compare(r.hash[i][:], r.hash[j][:]) < 0 }
func (r *rawRows) Swap(i, j int) {
	r.hash[i], r.hash[j] = r.hash[j], r.hash[i]
	r.status[i], r.status[j] = r.status[j], r.status[i]
}

// vmHWM returns the peak resident set size (KiB) of process pid so far, 0
// when /proc does not say (the process has exited, or there is no /proc).
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

// rawSQLiteBulk is the SQLite reference: one transaction of n plain
// INSERTs (one prepared statement) into consentd's consents table (same
// columns and indexes, no triggers) in a new database, with consentd's
// durability and writer page cache.
func rawSQLiteBulk(ctx context.Context, path string, rows *rawRows) (float64, error) {
	schema, err := sqlite.Open(path) // creates consentd's tables
	if err != nil {
		return 0, err
	}
	schema.Close()
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=cache_size(-24576)&_txlock=immediate")
	if err != nil {
		return 0, err
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	// Without the triggers that keep consent_counts: the reference is the
	// bare table, as before it had them (and as PostgreSQL's LIKE copy
	// is), so that the product's ratio includes what keeping the counts
	// costs.
	for _, trg := range []string{"consent_counts_insert", "consent_counts_update", "consent_counts_delete"} {
		if _, err := raw.ExecContext(ctx, `DROP TRIGGER `+trg); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	tx, err := raw.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT INTO consents (workspace_id, cp_hash, channel_type, purpose_id, topic_id, channel, status,
		captured_at, recorded_at, version, source, reason, party_id, jurisdiction, proof, origin, seq)
		VALUES ('ws_bench', ?, 'news:email', 'news', '', 'email', ?, ?, ?, 1, ?, '', '', '', NULL, '', ?)`)
	if err != nil {
		return 0, err
	}
	now := time.Now().UnixNano()
	for i := range rows.Len() {
		if _, err := st.ExecContext(ctx, rows.hash[i][:], rows.status[i], int64(i)*1e9, now, rawSource, int64(i+1)); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return float64(rows.Len()) / time.Since(start).Seconds(), nil
}

// rawPostgresCopy is the PostgreSQL reference: COPY of n rows into a table
// made LIKE consentd's consents table, INCLUDING ALL (columns, key and
// indexes).
func rawPostgresCopy(ctx context.Context, url, table string, rows *rawRows) (float64, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE `+table+` (LIKE consents INCLUDING ALL)`); err != nil {
		return 0, err
	}
	start := time.Now()
	now := time.Now().UnixNano()
	i := 0
	_, err = conn.CopyFrom(ctx, pgx.Identifier{table}, []string{"workspace_id", "cp_hash", "channel_type", "purpose_id", "topic_id", "channel",
		"status", "captured_at", "recorded_at", "version", "source", "reason", "party_id", "jurisdiction", "origin", "seq"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == rows.Len() {
				return nil, nil
			}
			i++
			return []any{"ws_bench", rows.hash[i-1][:], "news:email", "news", "", "email", rows.status[i-1], int64(i) * 1e9, now, int64(1), rawSource,
				"", "", "", "", int64(i)}, nil
		}))
	if err != nil {
		return 0, err
	}
	return float64(rows.Len()) / time.Since(start).Seconds(), nil
}
