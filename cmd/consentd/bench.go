package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/index"
	"github.com/consentd/consentd/internal/sqlite"
)

// benchResult is one scenario's figures: each next to the reference measured
// in the same run, and the ratio the product is held to (docs/architecture.md, figures).
type benchResult struct {
	Scenario string         `json:"scenario"`
	Figures  []benchFigure  `json:"figures"`
	Notes    map[string]any `json:"notes,omitempty"`
}

type benchFigure struct {
	Name      string  `json:"name"`
	Unit      string  `json:"unit"`
	Value     float64 `json:"value"`
	Reference float64 `json:"reference,omitempty"`
	RefName   string  `json:"reference_name,omitempty"`
	Ratio     float64 `json:"ratio,omitempty" doc:"value/reference for rates, reference/value for costs: above 1 is better than the reference"`
	Goal      string  `json:"goal,omitempty"`
	Met       *bool   `json:"met,omitempty"`
}

type benchEnv struct {
	m          *Main
	dir        string
	size       int
	seconds    float64
	pgURL      string
	rows       int // import scenario
	filterRows int // filter scenario
	batches    int // batch-write: requests of benchBatchSize consents
	entries    int // log-size and log-verify: log entries in the big store

	consoleSize int // console: consents (and log entries) of the big workspace

	logStores map[string]*logStore // made by log-size, reused by log-verify
	cleanups  []func()             // run when the bench ends (drop databases)
}

// close runs the cleanups, newest first.
func (e *benchEnv) close() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
}

type scenario struct {
	name string
	run  func(ctx context.Context, e *benchEnv) (*benchResult, error)
	doc  string
}

// scenarios is a function, not a table variable: the replicas scenario runs
// Main.Run, which reaches bench, which reads the table.
func scenarios() []scenario {
	return []scenario{
		{"decide-inproc", benchDecideInProc, "one in-process decision at --size consents (normalize, hash, look up, rules) and the index lookup alone"},
		{"index-memory", benchIndexMemory, "bytes per consent of the decision index at 1M and 10M consents"},
		{"warm-up", benchWarmup, "warming the decision index from 200k consents in SQLite against a raw scan of the same rows"},
		{"http-decide", benchHTTPDecide, "single decisions over HTTP against a bare net/http handler returning the same JSON: peak rate (closed loop, 32 clients) and p99 at half the reference's peak (open loop)"},
		{"batch-filter", benchBatchFilter, "1M contact points streamed through POST /v1/decisions:batch (NDJSON, only=allowed) against a bare NDJSON echo"},
		{"filter", benchFilter, "consentd filter, offline, on a CSV of --filter-rows rows on local disk (3M: against 100k consents) on SQLite and PostgreSQL, writing the kept rows to a file, against copying the file"},
		{"write", benchWrite, "acknowledged single-consent upserts/s on SQLite (durable), 16 writers, against raw durable single-row INSERT transactions"},
		{"import", benchImport, "consentd import of --rows generated native rows (a child process: rows/s and peak RSS) into SQLite and PostgreSQL, against plain INSERTs in one transaction (SQLite) and COPY (PostgreSQL)"},
		{"batch-write", benchBatchWrite, "--batches POST /v1/consents:batch of 10,000 new consents over HTTP to serve on SQLite and PostgreSQL, against the import scenario's raw insert of the same rows"},
		{"log-size", benchLogSize, "bytes on disk per log entry (leaf table and its indexes, tiles, checkpoints) after importing --entries rows, SQLite and PostgreSQL"},
		{"log-verify", benchLogVerify, "consentd log verify (a child process: entries/s and peak RSS) on the log-size store of --entries and on one of a quarter of them"},
		{"feeds", benchFeeds, "SendGrid batches of 128 events (hard bounces, unsubscribes with a message reference) on distinct addresses to a feed, against POST /v1/consents:batch of as many opt-outs, on loopback"},
		{"console", benchConsole, "p95 of the reports API and the console's report screens for a workspace of --console-size consents (and log entries) against the same pages of one a hundredth of its size, same server, SQLite and PostgreSQL"},
		{"replicas", benchReplicas, "PostgreSQL: staleness from a write acknowledged by replica A to the changed decision on replica B; writes and decisions/s on PostgreSQL next to SQLite"},
	}
}

func (m *Main) bench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	asJSON := fs.Bool("json", false, "print one JSON object per scenario")
	size := fs.Int("size", 10_000_000, "consents in the index for decide-inproc")
	seconds := fs.Float64("seconds", 3, "how long each timed loop runs")
	rows := fs.Int("rows", 1_000_000, "rows in the generated file of the import scenario")
	filterRows := fs.Int("filter-rows", 3_000_000, "rows in the recipient list of the filter scenario (with a consent for every 30th)")
	batches := fs.Int("batches", 100, "requests of 10,000 consents in the batch-write scenario")
	entries := fs.Int("entries", 1_000_000, "log entries written for the log-size and log-verify scenarios")
	consoleSize := fs.Int("console-size", 1_000_000, "consents (one log entry each) of the console scenario's big workspace; the reference workspace has a hundredth")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (server and load client share the process) to this file")
	pg := fs.String("database", m.Getenv("CONSENTD_BENCH_POSTGRES"), "PostgreSQL admin URL for the scenarios that measure PostgreSQL; each makes a fresh database next to it and drops it (CONSENTD_BENCH_POSTGRES)")
	fs.Usage = func() {
		fmt.Fprintf(m.Stderr, "Usage: consentd bench [flags] [SCENARIO...]\n\nScenarios (default: all):\n")
		for _, s := range scenarios() {
			fmt.Fprintf(m.Stderr, "  %-14s %s\n", s.name, s.doc)
		}
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if *batches < 1 || *entries < 4 || *consoleSize < 100 || *filterRows < 30 {
		return usageError{"--batches must be at least 1, --entries at least 4, --console-size at least 100 and --filter-rows at least 30"}
	}
	want := map[string]bool{}
	for _, a := range fs.Args() {
		want[a] = true
	}
	for a := range want {
		if !knownScenario(a) {
			return usageError{fmt.Sprintf("unknown scenario %q", a)}
		}
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	dir, err := os.MkdirTemp("", "consentd-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if *pg == "" {
		*pg = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	e := &benchEnv{m: m, dir: dir, size: *size, seconds: *seconds, pgURL: *pg, rows: *rows, filterRows: *filterRows, batches: *batches, entries: *entries, consoleSize: *consoleSize}
	defer e.close()
	var results []*benchResult
	for _, s := range scenarios() {
		if len(want) > 0 && !want[s.name] {
			continue
		}
		fmt.Fprintf(m.Stderr, "bench %s ...\n", s.name)
		loadBefore := loadAverage()
		r, err := s.run(ctx, e)
		if err != nil {
			return fmt.Errorf("bench %s: %w", s.name, err)
		}
		// The machine's load around the scenario: other work on the cores
		// weighs on the figures (the references share it, the ratios less).
		if loadBefore >= 0 {
			if r.Notes == nil {
				r.Notes = map[string]any{}
			}
			r.Notes["load_1m_before"] = loadBefore
			r.Notes["load_1m_after"] = loadAverage()
		}
		results = append(results, r)
		if *asJSON {
			json.NewEncoder(m.Stdout).Encode(r)
		}
	}
	if !*asJSON {
		printBench(m.Stdout, results)
	}
	return nil
}

// loadAverage is the machine's 1-minute load average (/proc/loadavg), -1
// where it cannot be read.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

func knownScenario(name string) bool {
	for _, s := range scenarios() {
		if s.name == name {
			return true
		}
	}
	return false
}

func printBench(w io.Writer, results []*benchResult) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tfigure\tvalue\treference\tratio\tgoal\tmet")
	for _, r := range results {
		for _, f := range r.Figures {
			ref, ratio, met := "", "", ""
			if f.RefName != "" {
				ref = fmt.Sprintf("%s %s (%s)", num(f.Reference), f.Unit, f.RefName)
				ratio = fmt.Sprintf("%.2f", f.Ratio)
			}
			if f.Met != nil {
				met = map[bool]string{true: "yes", false: "NO"}[*f.Met]
			}
			fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\t%s\t%s\t%s\n", r.Scenario, f.Name, num(f.Value), f.Unit, ref, ratio, f.Goal, met)
		}
	}
	tw.Flush()
}

func num(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

func met(ok bool) *bool { return &ok }

// timing is the average cost of one call of a timed loop: the wall time,
// and the CPU time of the thread that ran it (-1 where that is not read).
// With other work on the cores the wall time also counts the time the
// thread waited for a core; the CPU time counts only the time it ran,
// with whatever the other work did to the caches and the memory.
type timing struct{ wall, cpu time.Duration }

func (t timing) cpuOrWall() time.Duration {
	if t.cpu >= 0 {
		return t.cpu
	}
	return t.wall
}

// timedCPU runs f in a loop on one goroutine, locked to one OS thread, for
// about d and returns the average cost of one call.
func timedCPU(d time.Duration, f func(i int)) timing {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for i := 0; i < 1000; i++ { // warm up
		f(i)
	}
	start, cpu0 := time.Now(), threadCPU()
	n := 0
	for time.Since(start) < d {
		for j := 0; j < 1000; j++ {
			f(n)
			n++
		}
	}
	t := timing{wall: time.Since(start) / time.Duration(n), cpu: -1}
	if cpu1 := threadCPU(); cpu0 >= 0 && cpu1 >= 0 {
		t.cpu = (cpu1 - cpu0) / time.Duration(n)
	}
	return t
}

// timedRounds times each of fs for about d in all, in six rounds taken in
// turn (the order alternating), and returns each one's median round, of
// the CPU and of the wall time separately: a burst of other work on the
// machine then moves a round or two, not the figure.
func timedRounds(d time.Duration, fs ...func(i int)) []timing {
	const rounds = 6
	per := make([][]timing, len(fs))
	for r := 0; r < rounds; r++ {
		for j := range fs {
			if r%2 == 1 {
				j = len(fs) - 1 - j
			}
			per[j] = append(per[j], timedCPU(d/rounds, fs[j]))
		}
	}
	out := make([]timing, len(fs))
	for j, ts := range per {
		var wall, cpu []float64
		for _, t := range ts {
			wall, cpu = append(wall, float64(t.wall)), append(cpu, float64(t.cpu))
		}
		out[j] = timing{wall: time.Duration(median(wall)), cpu: time.Duration(median(cpu))}
		if ts[0].cpu < 0 {
			out[j].cpu = -1
		}
	}
	return out
}

var benchSecret = []byte("consentd-bench-secret-0123456789")

// syntheticIndex loads n consents into an index without a store.
func syntheticIndex(n int) *index.Index {
	cat := consentd.NewCatalog([]*consentd.Purpose{{ID: "news", Name: "News", Type: consentd.Commercial,
		Channels: map[string]consentd.ChannelSetting{"email": {Enforcement: consentd.Restrictive}}}}, nil)
	idx := index.New(nil, slog.New(slog.DiscardHandler))
	idx.Load("bench", &consentd.Workspace{ID: "bench"}, benchSecret, cat, int64(n), func(put func([32]byte, string, consentd.Status)) {
		for i := 0; i < n; i++ {
			st := consentd.OptedIn
			if i%3 == 0 {
				st = consentd.OptedOut
			}
			put(consentd.ContactPointHash(benchSecret, consentd.KindEmail, benchAddr(i)), "news:email", st)
		}
	})
	return idx
}

func benchAddr(i int) string { return fmt.Sprintf("user%d@example.com", i) }

func heapBytes() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func benchDecideInProc(ctx context.Context, e *benchEnv) (*benchResult, error) {
	n := e.size
	d := time.Duration(e.seconds * float64(time.Second))
	// Distinct addresses spread over the whole index, a million of them,
	// as a send pipeline asks: most lookups miss the CPU caches, which is
	// what a lookup costs at 10M consents (a few thousand addresses asked
	// over and over would stay in the caches and measure far less; the
	// same as go test -bench 'Lookup|DecideInProc' ./internal/index).
	addrs := make([]string, 1<<20)
	hashes := make([][32]byte, len(addrs))
	for i := range addrs {
		addrs[i] = benchAddr(int(uint64(i)*2654435761) % n)
		hashes[i] = consentd.ContactPointHash(benchSecret, consentd.KindEmail, addrs[i])
	}
	// Ours first, then the reference, one in memory at a time.
	idx := syntheticIndex(n)
	runtime.GC() // a collection of the build's garbage is not the decisions' cost (nor, below, the reference's)
	prep, err := idx.Prepare(ctx, "bench", "news", "", "email")
	if err != nil {
		return nil, err
	}
	// A decision as POST /v1/decisions asks the index for it: into a
	// result, the consent id left in parts for the answer to write.
	req := consentd.DecisionRequest{Channel: "email", Purpose: "news"}
	var res consentd.DecisionResult
	decide := func(i int) {
		req.ContactPoint = addrs[i&(len(addrs)-1)]
		if _, err := idx.DecideParts(ctx, "bench", &req, &res); err != nil {
			panic(err)
		}
	}
	// Index.Decide also builds the consent id's string (notes only).
	decideWithID := func(i int) {
		req.ContactPoint = addrs[i&(len(addrs)-1)]
		if _, err := idx.Decide(ctx, "bench", &req); err != nil {
			panic(err)
		}
	}
	// The lookup as a stream and consentd filter do it: the workspace and
	// the channel type resolved once (Prepared), a hash in, a status out.
	lookup := func(i int) { prep.Lookup(hashes[i&(len(hashes)-1)]) }
	// Quiet: nothing of the bench's runs meanwhile.
	quietDecide, quietLookup := timedCPU(d, decide), timedCPU(d, lookup)
	withID := timedCPU(d/3, decideWithID)
	// Index.Lookup also finds the workspace and the channel type by name,
	// two map lookups a call (notes only).
	byName := timedCPU(d/3, func(i int) { idx.Lookup("bench", hashes[i&(len(hashes)-1)], "news:email") })
	// The first 16,384 addresses only, asked over and over: their slots
	// stay in the caches (notes only, for comparison).
	const hot = 1 << 14
	hotLookup := timedCPU(d/3, func(i int) { prep.Lookup(hashes[i&(hot-1)]) })
	// With the bench's load running: http-decide's load client against
	// the bare reference handler, on the same two cores.
	stop, err := benchLoad(ctx)
	if err != nil {
		return nil, err
	}
	rs := timedRounds(d, decide, lookup)
	loadDecide, loadLookup := rs[0], rs[1]
	load, err := stop()
	if err != nil {
		return nil, err
	}
	idx, prep = nil, nil
	runtime.GC()
	ref := make(map[string]bool, n) // the reference: a plain map from address to allowed
	for i := 0; i < n; i++ {
		ref[benchAddr(i)] = i%3 != 0
	}
	runtime.GC()
	var sink bool
	plainOnce := func(i int) { sink = ref[addrs[i&(len(addrs)-1)]] }
	plainQuiet := timedCPU(d, plainOnce)
	stop, err = benchLoad(ctx)
	if err != nil {
		return nil, err
	}
	plain := timedRounds(d, plainOnce)[0]
	refLoad, err := stop()
	if err != nil {
		return nil, err
	}
	_ = sink
	ns := func(t time.Duration) float64 { return float64(t.Nanoseconds()) }
	cpu := func(t timing) float64 { return ns(t.cpuOrWall()) }
	const measured = "CPU time of the deciding thread per call, with the bench's load running: the median of six rounds"
	notes := map[string]any{"consents": n, "distinct_addresses": len(addrs), "measured": measured, "load": benchLoadName,
		"load_requests_per_s": int(load), "reference_load_requests_per_s": int(refLoad), "load_1m_during": loadAverage(),
		"decision_wall_ns_with_load": ns(loadDecide.wall), "lookup_wall_ns_with_load": ns(loadLookup.wall),
		"decision_ns_quiet": cpu(quietDecide), "decision_wall_ns_quiet": ns(quietDecide.wall),
		"lookup_ns_quiet": cpu(quietLookup), "lookup_wall_ns_quiet": ns(quietLookup.wall),
		"lookup_by_name_ns_quiet": cpu(byName), "decision_building_the_consent_id_ns_quiet": cpu(withID), "lookup_ns_cache_resident": cpu(hotLookup), "cache_resident_addresses": hot,
		"reference_ns_quiet": cpu(plainQuiet)}
	if loadDecide.cpu < 0 {
		notes["measured"] = "wall time per call, with the bench's load running: the median of six rounds (no thread CPU clock here)"
	}
	refName := "plain map[string]bool lookup, with the load running"
	return &benchResult{Scenario: "decide-inproc", Notes: notes,
		Figures: []benchFigure{
			{Name: "decision", Unit: "ns", Value: cpu(loadDecide), Reference: cpu(plain), RefName: refName, Ratio: cpu(plain) / cpu(loadDecide), Goal: "<= 1000 ns", Met: met(cpu(loadDecide) <= 1000)},
			{Name: "index lookup", Unit: "ns", Value: cpu(loadLookup), Reference: cpu(plain), RefName: refName, Ratio: cpu(plain) / cpu(loadLookup), Goal: "<= 150 ns, 0 allocs (go test -bench Lookup ./internal/index)", Met: met(cpu(loadLookup) <= 150)},
		}}, nil
}

const benchLoadName = "http-decide's load client (32 connections, closed loop) against the bare reference handler in a child process"

// benchLoad runs the bench's load client, http-decide's (32 connections
// in a closed loop), against the bare reference handler in a child
// process, until stop is called; stop returns the requests per second it
// sent.
func benchLoad(ctx context.Context) (stop func() (float64, error), err error) {
	bin, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ref, err := startChildServer(ctx, bin, map[string]string{benchReferenceEnv: "http-decide"})
	if err != nil {
		return nil, fmt.Errorf("load reference: %w", err)
	}
	lctx, cancel := context.WithCancel(ctx)
	var sent atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	url := "http://" + ref.addr + "/"
	start := time.Now()
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lctx.Err() == nil {
				if err := postOnce(lctx, url, decideBody(sent.Add(1))); err != nil && lctx.Err() == nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	return func() (float64, error) {
		cancel()
		wg.Wait()
		r := float64(sent.Load()) / time.Since(start).Seconds()
		ref.close()
		if err, _ := failed.Load().(error); err != nil {
			return 0, fmt.Errorf("load client: %w", err)
		}
		return r, nil
	}, nil
}

func benchIndexMemory(ctx context.Context, e *benchEnv) (*benchResult, error) {
	r := &benchResult{Scenario: "index-memory"}
	for _, n := range []int{1_000_000, 10_000_000} {
		before, mappedBefore := heapBytes(), index.MappedBytes()
		idx := syntheticIndex(n)
		// The heap and the consent table mapped outside it.
		ours := (float64(heapBytes()) - float64(before) + float64(index.MappedBytes()-mappedBefore)) / float64(n)
		runtime.KeepAlive(idx)
		idx = nil
		before = heapBytes()
		ref := make(map[string]bool, 0)
		for i := 0; i < n; i++ {
			ref[benchAddr(i)] = i%3 != 0
		}
		plain := float64(heapBytes()-before) / float64(n)
		runtime.KeepAlive(ref)
		r.Figures = append(r.Figures, benchFigure{Name: fmt.Sprintf("bytes per consent at %dM", n/1_000_000), Unit: "B", Value: ours,
			Reference: plain, RefName: "map[string]bool of plaintext addresses", Ratio: plain / ours, Goal: "<= 100 B", Met: met(ours <= 100)})
	}
	return r, nil
}

func benchWrite(ctx context.Context, e *benchEnv) (*benchResult, error) {
	const writers = 16
	d := time.Duration(e.seconds * float64(time.Second))
	db, err := sqlite.Open(filepath.Join(e.dir, "write.db"))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	ws, err := db.CreateWorkspace(ctx, "bench")
	if err != nil {
		return nil, err
	}
	if err := db.PutPurpose(ctx, ws.ID, &consentd.Purpose{ID: "news", Name: "News", Type: consentd.Commercial,
		Channels: map[string]consentd.ChannelSetting{"email": {}}}, true, "bench"); err != nil {
		return nil, err
	}
	at := time.Now().Add(-time.Hour)
	var seq atomic.Int64
	ours := rate(writers, d, func() error {
		i := seq.Add(1)
		_, err := db.WriteConsents(ctx, ws.ID, []consentd.ConsentWrite{{ContactPoint: benchAddr(int(i)), Channel: "email", Purpose: "news",
			Status: consentd.OptedIn, CapturedAt: at, Source: consentd.Source{Type: "api"}}}, "bench")
		return err
	})
	raw, err := rawSQLiteInserts(ctx, filepath.Join(e.dir, "raw.db"), writers, d)
	if err != nil {
		return nil, err
	}
	return &benchResult{Scenario: "write", Notes: map[string]any{"writers": writers, "backend": "sqlite synchronous=FULL"},
		Figures: []benchFigure{{Name: "acknowledged upserts", Unit: "/s", Value: ours, Reference: raw,
			RefName: "raw durable single-row INSERT transactions, same concurrency", Ratio: ours / raw}}}, nil
}

// rate runs f from n goroutines for d and returns calls per second.
func rate(n int, d time.Duration, f func() error) float64 {
	var count atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	start := time.Now()
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if err := f(); err != nil {
					panic(err)
				}
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(count.Load()) / time.Since(start).Seconds()
}

// rawSQLiteInserts is the write reference: the same durable SQLite settings,
// one single-row INSERT per transaction into a table with the consents
// table's key, from the same number of goroutines.
func rawSQLiteInserts(ctx context.Context, path string, writers int, d time.Duration) (float64, error) {
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		return 0, err
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	if _, err := raw.ExecContext(ctx, `CREATE TABLE t (ws TEXT, h BLOB, ct TEXT, status TEXT, PRIMARY KEY (ws, h, ct)) WITHOUT ROWID`); err != nil {
		return 0, err
	}
	var seq atomic.Int64
	return rate(writers, d, func() error {
		i := seq.Add(1)
		h := consentd.ContactPointHash(benchSecret, consentd.KindEmail, benchAddr(int(i)))
		_, err := raw.ExecContext(ctx, `INSERT INTO t VALUES ('w', ?, 'news:email', 'opted_in')`, h[:])
		return err
	}), nil
}

// percentile returns the p-th percentile (0..100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}
