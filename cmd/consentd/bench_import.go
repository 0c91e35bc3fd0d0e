package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
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
// same backend in the same run: SQLite one transaction of plain INSERTs
// into a table with the consents table's key, PostgreSQL COPY into one.
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
	add := func(backend string, ours, raw float64, rss int64, refName string) {
		mb := float64(rss) / 1024
		r.Figures = append(r.Figures,
			benchFigure{Name: backend + " import", Unit: "rows/s", Value: ours, Reference: raw, RefName: refName, Ratio: ours / raw, Goal: ">= 0.6 of raw", Met: met(ours/raw >= 0.6)},
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
	raw, err := rawSQLiteBulk(ctx, filepath.Join(e.dir, "import-raw.db"), n)
	if err != nil {
		return nil, err
	}
	add("sqlite", ours, raw, rss, "plain INSERTs in one transaction, same key")

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
	raw, err = rawPostgresCopy(ctx, url, n)
	if err != nil {
		return nil, err
	}
	add("postgres", ours, raw, rss, "COPY into a table with the same key")
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
//
// The peak is the child's VmHWM, read from /proc while it runs. Its rusage
// maxrss is not the child's own: Go starts a child with a vfork-like clone
// that shares this process's memory until exec, and Linux carries the
// high-water mark of that memory into the child's maxrss, so that a child
// started after this process grew (the raw SQLite reference runs in it)
// reported this process's peak (161 MB at 1M rows, for an import whose
// own peak was 65 MB). rusage is the fallback where there is no /proc.
func benchImportRun(ctx context.Context, bin string, n int, args ...string) (float64, int64, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, fmt.Errorf("consentd import: %w", err)
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
	close(stop)
	<-polled
	if err != nil {
		return 0, 0, fmt.Errorf("consentd import: %w\n%s", err, out.String())
	}
	d := time.Since(start)
	if !strings.Contains(out.String(), fmt.Sprintf(": succeeded: %d rows", n)) {
		return 0, 0, fmt.Errorf("consentd import did not import %d rows:\n%s", n, out.String())
	}
	rss := hwm.Load()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && rss == 0 {
		rss = ru.Maxrss // KiB on Linux
	}
	return float64(n) / d.Seconds(), rss, nil
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
// INSERTs (one prepared statement) into a table with the consents table's
// key, durable settings as consentd's.
func rawSQLiteBulk(ctx context.Context, path string, n int) (float64, error) {
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=cache_size(-65536)&_txlock=immediate")
	if err != nil {
		return 0, err
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	if _, err := raw.ExecContext(ctx, `CREATE TABLE t (workspace_id TEXT NOT NULL, cp_hash BLOB NOT NULL, channel_type TEXT NOT NULL,
		status TEXT NOT NULL, captured_at INTEGER NOT NULL, PRIMARY KEY (workspace_id, cp_hash, channel_type)) WITHOUT ROWID`); err != nil {
		return 0, err
	}
	start := time.Now()
	tx, err := raw.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT INTO t VALUES ('w', ?, 'news:email', 'opted_in', ?)`)
	if err != nil {
		return 0, err
	}
	for i := range n {
		h := consentd.ContactPointHash(benchSecret, consentd.KindEmail, benchAddr(i))
		if _, err := st.ExecContext(ctx, h[:], int64(i)); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// rawPostgresCopy is the PostgreSQL reference: COPY of n rows into a table
// with the consents table's key.
func rawPostgresCopy(ctx context.Context, url string, n int) (float64, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE raw_import (workspace_id TEXT COLLATE "C" NOT NULL, cp_hash BYTEA NOT NULL, channel_type TEXT COLLATE "C" NOT NULL,
		status TEXT NOT NULL, captured_at BIGINT NOT NULL, PRIMARY KEY (workspace_id, cp_hash, channel_type))`); err != nil {
		return 0, err
	}
	start := time.Now()
	i := 0
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"raw_import"}, []string{"workspace_id", "cp_hash", "channel_type", "status", "captured_at"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			h := consentd.ContactPointHash(benchSecret, consentd.KindEmail, benchAddr(i))
			i++
			return []any{"w", h[:], "news:email", "opted_in", int64(i)}, nil
		}))
	if err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
