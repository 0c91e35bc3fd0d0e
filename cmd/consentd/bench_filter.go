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
	"syscall"
	"time"
)

// benchFilter runs consentd filter, offline, on a CSV file of --filter-rows
// rows (3M) on local disk against a data folder with an opt-out for every
// 30th row (100k consents), writing the kept rows to a file; the reference
// copies the same file to a file with the same buffer size: what reading
// and writing it costs with no work.
func benchFilter(ctx context.Context, e *benchEnv) (*benchResult, error) {
	n := e.filterRows
	r, _, err := benchServer(ctx, e, "offline-filter", n/3) // every 10th of the first third
	if err != nil {
		return nil, err
	}
	r.close() // filter reads the data folder; it also works while serve runs
	in := filepath.Join(e.dir, "recipients.csv")
	if err := writeBenchRecipients(in, n); err != nil {
		return nil, err
	}
	fi, err := os.Stat(in)
	if err != nil {
		return nil, err
	}
	out := filepath.Join(e.dir, "kept.csv")
	run := func() (time.Duration, string, error) {
		f, err := os.Create(out)
		if err != nil {
			return 0, "", err
		}
		defer f.Close()
		var errb bytes.Buffer
		m := &Main{Stdin: strings.NewReader(""), Stdout: f, Stderr: &errb, Getenv: func(string) string { return "" }}
		start := time.Now()
		if code := m.Run(ctx, []string{"filter", "--data", filepath.Join(e.dir, "offline-filter"), "--purpose", "news", "--channel", "email", in}); code != 0 {
			return 0, "", fmt.Errorf("consentd filter = %d: %s", code, errb.String())
		}
		return time.Since(start), strings.TrimSpace(errb.String()), nil
	}
	if _, _, err := run(); err != nil { // warm the page cache and the code
		return nil, err
	}
	cpu0 := cpuTime()
	d, counts, err := run()
	if err != nil {
		return nil, err
	}
	cpu := cpuTime() - cpu0
	// The reference: the file copied through buffers of the size filter reads.
	start := time.Now()
	if err := benchCopyFile(in, out); err != nil {
		return nil, err
	}
	ref := time.Since(start)
	ours, refRate := float64(n)/d.Seconds(), float64(n)/ref.Seconds()
	// CPU time per row says what a row costs whatever else the machine runs.
	return &benchResult{Scenario: "filter", Notes: map[string]any{"rows": n, "bytes": fi.Size(), "consents": (n/3 + 9) / 10, "counts": counts,
		"cpu_ns_per_row": int(cpu.Nanoseconds() / int64(n)), "cores": runtime.GOMAXPROCS(0)},
		Figures: []benchFigure{{Name: "rows filtered from a local CSV", Unit: "/s", Value: ours, Reference: refRate,
			RefName: "copying the file to a file", Ratio: ours / refRate, Goal: ">= 3M/s", Met: met(ours >= 3e6)}}}, nil
}

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
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
