package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// benchFilter runs consentd filter, offline, on a CSV file of --filter-rows
// rows (3M) on local disk against a store with an opt-out for every 30th
// row (100k consents), on SQLite and, when it answers, PostgreSQL, writing
// the kept rows to a file; the reference copies the same file to a file
// with the same buffer size: what reading and writing it costs with no
// work. The filter's time includes warming the index from the store.
func benchFilter(ctx context.Context, e *benchEnv) (*benchResult, error) {
	n := e.filterRows
	in := filepath.Join(e.dir, "recipients.csv")
	if err := writeBenchRecipients(in, n); err != nil {
		return nil, err
	}
	defer os.Remove(in)
	fi, err := os.Stat(in)
	if err != nil {
		return nil, err
	}
	out := filepath.Join(e.dir, "kept.csv")
	defer os.Remove(out)
	res := &benchResult{Scenario: "filter", Notes: map[string]any{"rows": n, "bytes": fi.Size(), "consents": (n/3 + 9) / 10, "cores": runtime.GOMAXPROCS(0)}}
	// The reference: the file copied through buffers of the size filter
	// reads; like the filter, the median of three runs after one that warms
	// the page cache.
	benchCopyFile(in, out)
	var refRuns []float64
	for range filterRuns {
		start := time.Now()
		if err := benchCopyFile(in, out); err != nil {
			return nil, err
		}
		refRuns = append(refRuns, time.Since(start).Seconds())
	}
	refRate := float64(n) / median(refRuns)
	for _, backend := range e.logBackends(ctx, res) {
		store := []string{"--data", filepath.Join(e.dir, "offline-filter-"+backend)}
		if backend == "postgres" {
			url, drop, err := freshPostgres(ctx, e.pgURL, "consentd_bench_filter_")
			if err != nil {
				return nil, err
			}
			e.cleanups = append(e.cleanups, drop)
			store = append(store, "--database", url)
		}
		r, _, err := benchServer(ctx, e, "offline-filter-"+backend, n/3, store[2:]...) // every 10th of the first third
		if err != nil {
			return nil, err
		}
		r.close() // filter reads the store; it also works while serve runs
		run := func() (time.Duration, string, error) {
			f, err := os.Create(out)
			if err != nil {
				return 0, "", err
			}
			defer f.Close()
			var errb bytes.Buffer
			m := &Main{Stdin: strings.NewReader(""), Stdout: f, Stderr: &errb, Getenv: func(string) string { return "" }}
			start := time.Now()
			args := append(append([]string{"filter"}, store...), "--purpose", "news", "--channel", "email", in)
			if code := m.Run(ctx, args); code != 0 {
				return 0, "", fmt.Errorf("consentd filter = %d: %s", code, errb.String())
			}
			return time.Since(start), strings.TrimSpace(errb.String()), nil
		}
		if _, _, err := run(); err != nil { // warm the page cache and the code
			return nil, err
		}
		// The median of three runs: a burst of other work on the machine
		// moves one run, not the figure.
		cpu0 := cpuTime()
		var runs []float64
		var counts string
		for range filterRuns {
			d, c, err := run()
			if err != nil {
				return nil, err
			}
			runs, counts = append(runs, d.Seconds()), c
		}
		// CPU time per row says what a row costs whatever else the machine runs.
		cpu := (cpuTime() - cpu0) / filterRuns
		name, suffix := "rows filtered from a local CSV", ""
		if backend == "postgres" {
			name, suffix = name+" (PostgreSQL)", "_postgres"
		}
		res.Notes["counts"+suffix] = counts
		res.Notes["cpu_ns_per_row"+suffix] = int(cpu.Nanoseconds() / int64(n))
		res.Notes["runs_s"+suffix] = runs
		ours := float64(n) / median(runs)
		res.Figures = append(res.Figures, benchFigure{Name: name, Unit: "/s", Value: ours, Reference: refRate,
			RefName: "copying the file to a file", Ratio: ours / refRate, Goal: ">= 3M/s", Met: met(ours >= 3e6)})
	}
	return res, nil
}

// filterRuns is how many timed runs the filter scenario takes the median of.
const filterRuns = 3

// writeBenchRecipients writes a CSV recipient list of n rows: a header,
// then an address (every 7th in mixed case) and three more columns.
func writeBenchRecipients(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "email,first_name,last_name,city")
	for i := 0; i < n; i++ {
		addr := benchAddr(i)
		if i%7 == 3 {
			addr = fmt.Sprintf("User%d@Example.com", i)
		}
		fmt.Fprintf(w, "%s,First%d,Last%d,Springfield\n", addr, i%1000, i%5000)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func benchCopyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	buf := make([]byte, filterReadSize)
	if _, err := io.CopyBuffer(struct{ io.Writer }{out}, struct{ io.Reader }{in}, buf); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// cpuTime is the user and system CPU time the process has used.
func cpuTime() time.Duration { return time.Duration(processCPU()) }
