package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/consentd/consentd"
)

// benchServer starts serve on SQLite in the bench folder (or on the store
// extra names, such as --database URL) with a purpose "news" (email,
// non-restrictive) and opt-outs for every 10th of the first optOuts
// addresses.
func benchServer(ctx context.Context, e *benchEnv, name string, optOuts int, extra ...string) (*replica, string, error) {
	env := map[string]string{"CONSENTD_ADMIN_KEY": benchAdminKey}
	r, err := startReplica(ctx, env, io.Discard, append([]string{"--data", filepath.Join(e.dir, name)}, extra...)...)
	if err != nil {
		return nil, "", err
	}
	base := "http://" + r.addr
	if err := benchSeed(ctx, base, optOuts); err != nil {
		r.close()
		return nil, "", err
	}
	return r, base, nil
}

// benchSeed gives the server at base the purpose "news" (email,
// non-restrictive) and opt-outs for every 10th of the first optOuts
// addresses.
func benchSeed(ctx context.Context, base string, optOuts int) error {
	c := &http.Client{Timeout: time.Minute}
	if err := httpJSON(ctx, c, "POST", base+"/v1/purposes", map[string]any{"id": "news", "name": "News", "type": "commercial",
		"channels": map[string]any{"email": map[string]any{"enforcement": "non_restrictive"}}}, nil); err != nil {
		return err
	}
	at := time.Now().Add(-time.Hour).Format(time.RFC3339)
	for start := 0; start < optOuts; start += 10 * 5000 {
		var batch []map[string]any
		for i := start; i < min(start+10*5000, optOuts); i += 10 {
			batch = append(batch, map[string]any{"contact_point": benchAddr(i), "channel": "email", "purpose": "news",
				"status": "opted_out", "captured_at": at, "source": map[string]any{"type": "import"}})
		}
		if err := httpJSON(ctx, c, "POST", base+"/v1/consents:batch", map[string]any{"consents": batch}, nil); err != nil {
			return err
		}
	}
	return nil
}

// bareServer is the reference: a plain net/http handler on loopback.
func bareServer(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// benchBatchFilter streams 1M contact points through serve on SQLite, on
// PostgreSQL (when it answers), and through a second replica of that
// PostgreSQL database that wrote nothing itself (its index follows the
// other's writes), each against a bare NDJSON echo measured in the same
// run with the same client.
func benchBatchFilter(ctx context.Context, e *benchEnv) (*benchResult, error) {
	const n = 1_000_000
	const path = "/v1/decisions:batch?purpose=news&channel=email&only=allowed"
	res := &benchResult{Scenario: "batch-filter", Notes: map[string]any{"contact_points": n, "opted_out": n / 100}}
	// The reference reads the same stream and answers every line with a
	// line of the same size, doing no work: the transport's ceiling.
	bare, stop, err := bareServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.NewResponseController(w).EnableFullDuplex()
		w.Header().Set("Content-Type", "application/x-ndjson")
		sc := bufio.NewScanner(r.Body)
		bw := bufio.NewWriterSize(w, 64<<10)
		answer := []byte(`{"allowed":true,"reason":"not_opted_out","enforcement":"non_restrictive","contact_point":"user000000@example.com","consent_id":"user000000@example.com#news:email","seq":1}` + "\n")
		for sc.Scan() {
			bw.Write(answer)
		}
		bw.Flush()
	}))
	if err != nil {
		return nil, err
	}
	defer stop()
	// CPU time of the whole process (server and client) per line, next to
	// the rate: it says what a line costs even when other work on the
	// machine takes the cores.
	cpuPerLine := func(f func() error) (float64, error) {
		before := processCPU()
		err := f()
		return float64(processCPU()-before) / n, err
	}
	measure := func(backend, base string) error {
		var ours, ref float64
		var kept int
		oursCPU, err := cpuPerLine(func() (err error) { ours, kept, err = streamFilter(ctx, base+path, n); return err })
		if err != nil {
			return fmt.Errorf("%s: %w", backend, err)
		}
		if kept != n-n/100 {
			return fmt.Errorf("%s: the stream kept %d of %d contact points; want %d", backend, kept, n, n-n/100)
		}
		refCPU, err := cpuPerLine(func() (err error) { ref, _, err = streamFilter(ctx, bare+"/", n); return err })
		if err != nil {
			return err
		}
		res.Notes[backend+" cpu_ns_per_line"] = int(oursCPU)
		res.Notes[backend+" reference_cpu_ns_per_line"] = int(refCPU)
		res.Figures = append(res.Figures, benchFigure{Name: backend + " contact points streamed", Unit: "/s", Value: ours, Reference: ref,
			RefName: "bare net/http NDJSON echo, same client", Ratio: ours / ref, Goal: ">= 1M/s", Met: met(ours >= 1e6)})
		return nil
	}

	r, base, err := benchServer(ctx, e, "filter", 100_000)
	if err != nil {
		return nil, err
	}
	err = measure("sqlite", base)
	r.close()
	if err != nil {
		return nil, err
	}

	url, drop, err := freshPostgres(ctx, e.pgURL, "consentd_bench_filter_")
	if err != nil {
		res.Notes["postgres"] = "skipped: " + err.Error()
		return res, nil
	}
	defer drop()
	a, baseA, err := benchServer(ctx, e, "filter-pg-a", 100_000, "--database", url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	defer a.close()
	if err := measure("postgres", baseA); err != nil {
		return nil, err
	}
	b, err := startReplica(ctx, map[string]string{"CONSENTD_ADMIN_KEY": benchAdminKey, "CONSENTD_LOG_KEY": filepath.Join(e.dir, "filter-pg-a", "checkpoint.key")},
		io.Discard, "--data", filepath.Join(e.dir, "filter-pg-b"), "--database", url)
	if err != nil {
		return nil, fmt.Errorf("postgres replica: %w", err)
	}
	defer b.close()
	if err := measure("postgres replica", "http://"+b.addr); err != nil {
		return nil, err
	}
	return res, nil
}

// streamFilter posts n NDJSON lines and reads the answer lines, at once.
// The lines are made with append, not fmt: the client shares the cores
// with the server.
func streamFilter(ctx context.Context, url string, n int) (float64, int, error) {
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 64<<10)
		line := make([]byte, 0, 64)
		for i := 0; i < n; i++ {
			line = append(line[:0], `{"contact_point":"user`...)
			line = strconv.AppendInt(line, int64(i), 10)
			line = append(line, "@example.com\"}\n"...)
			bw.Write(line)
		}
		bw.Flush()
		pw.Close()
	}()
	req, err := http.NewRequestWithContext(ctx, "POST", url, pr)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+benchAdminKey)
	req.Header.Set("Content-Type", "application/x-ndjson")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return 0, 0, fmt.Errorf("stream = %d %s", resp.StatusCode, b)
	}
	sc := bufio.NewScanner(resp.Body)
	lines := 0
	for sc.Scan() {
		lines++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	return float64(n) / time.Since(start).Seconds(), lines, nil
}

// benchHTTPDecide measures single decisions over HTTP: serve and the bare
// reference each run as a child process of the bench (the same binary), so
// that neither shares its process with the load client, which runs here.
// The peak is measured in short closed-loop rounds, ours and the
// reference's alternating (which goes first alternates too), so that a
// change in the machine's load falls on both alike; the figure is the
// ratio of the medians of the rounds' rates, and the notes list every
// round's rate and each server's CPU seconds.
func benchHTTPDecide(ctx context.Context, e *benchEnv) (*benchResult, error) {
	bin, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ref, err := startChildServer(ctx, bin, map[string]string{benchReferenceEnv: "http-decide",
		"CONSENTD_CPUPROFILE": os.Getenv("CONSENTD_BENCH_REFERENCE_CPUPROFILE")})
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	defer ref.close()
	res := &benchResult{Scenario: "http-decide", Notes: map[string]any{
		"processes": "serve and the reference are child processes; the load client is the bench process"}}
	// SQLite, then PostgreSQL when it answers: the decisions come from the
	// index in memory either way, the store is behind the counting and
	// whatever else serve does meanwhile.
	if err := measureHTTPDecide(ctx, e, bin, ref, res, "", "--data", filepath.Join(e.dir, "decide")); err != nil {
		return nil, err
	}
	url, drop, err := freshPostgres(ctx, e.pgURL, "consentd_bench_decide_")
	if err != nil {
		res.Notes["postgres"] = "skipped: " + err.Error()
		return res, nil
	}
	defer drop()
	if err := measureHTTPDecide(ctx, e, bin, ref, res, "postgres ", "--data", filepath.Join(e.dir, "decide-pg"), "--database", url); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return res, nil
}

// measureHTTPDecide starts serve with store (its data folder and
// database flags) as a child process, seeds it, and measures it against
// ref, adding the figures and notes to res, their names after prefix.
func measureHTTPDecide(ctx context.Context, e *benchEnv, bin string, ref *childServer, res *benchResult, prefix string, store ...string) error {
	profile := ""
	if prefix == "" { // the first serve's profile
		profile = os.Getenv("CONSENTD_BENCH_SERVE_CPUPROFILE")
	}
	ours, err := startChildServer(ctx, bin, map[string]string{"CONSENTD_ADMIN_KEY": benchAdminKey, "CONSENTD_CPUPROFILE": profile},
		append([]string{"serve", "--addr", "127.0.0.1:0", "--api-key-rate", "0", "--api-ip-rate", "0"}, store...)...)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer ours.close()
	if err := benchSeed(ctx, "http://"+ours.addr, 10_000); err != nil {
		return err
	}
	base, bare := "http://"+ours.addr+"/v1/decisions", "http://"+ref.addr+"/"

	d := time.Duration(e.seconds * float64(time.Second))
	const conc = 32
	const rounds = 6
	round := max(d/rounds, 50*time.Millisecond)
	// A warm-up on each: connections opened, the index loaded, code paged in.
	for _, u := range []string{base, bare} {
		if _, err := closedLoop(ctx, u, conc, min(round, 300*time.Millisecond)); err != nil {
			return err
		}
	}
	var ourRates, refRates []float64
	var ourCPU, refCPU time.Duration
	var ourN, refN float64
	for i := 0; i < rounds; i++ {
		order := []bool{true, false} // true: ours
		if i%2 == 1 {
			order = []bool{false, true}
		}
		for _, mine := range order {
			c, u := ref, bare
			if mine {
				c, u = ours, base
			}
			cpu0 := c.cpu()
			r, err := closedLoop(ctx, u, conc, round)
			if err != nil {
				return err
			}
			cpu := c.cpu() - cpu0
			if mine {
				ourRates, ourCPU, ourN = append(ourRates, r), ourCPU+cpu, ourN+r*round.Seconds()
			} else {
				refRates, refCPU, refN = append(refRates, r), refCPU+cpu, refN+r*round.Seconds()
			}
		}
	}
	ourPeak, refPeak := median(ourRates), median(refRates)
	half := refPeak / 2
	// The open loop alternates in rounds as well; each p99 is over all of
	// its side's requests.
	var ourLat, refLat []time.Duration
	for i := 0; i < rounds; i++ {
		for j, u := range []string{base, bare} {
			if i%2 == 1 {
				u = []string{bare, base}[j]
			}
			lat, err := openLoop(ctx, u, half, round)
			if err != nil {
				return err
			}
			if u == base {
				ourLat = append(ourLat, lat...)
			} else {
				refLat = append(refLat, lat...)
			}
		}
	}
	ourP99, refP99 := percentile(ourLat, 99), percentile(refLat, 99)
	ms := func(t time.Duration) float64 { return float64(t.Microseconds()) / 1000 }
	rounded := func(rs []float64) []int {
		out := make([]int, len(rs))
		for i, r := range rs {
			out[i] = int(r)
		}
		return out
	}
	notes := map[string]any{"concurrency": conc, "open_loop_rate": int(half), "rounds": rounds, "round_seconds": round.Seconds(),
		"rounds_per_s": rounded(ourRates), "reference_rounds_per_s": rounded(refRates), "ratio_of_totals": ourN / refN}
	if ours.cpu() >= 0 && ref.cpu() >= 0 {
		notes["server_cpu_s"] = ourCPU.Seconds()
		notes["reference_cpu_s"] = refCPU.Seconds()
		notes["server_cpu_us_per_request"] = float64(ourCPU.Microseconds()) / ourN
		notes["reference_cpu_us_per_request"] = float64(refCPU.Microseconds()) / refN
	}
	for k, v := range notes {
		res.Notes[prefix+k] = v
	}
	res.Figures = append(res.Figures,
		benchFigure{Name: prefix + "peak decisions", Unit: "/s", Value: ourPeak, Reference: refPeak, RefName: "bare net/http handler in its own process, same JSON, same client (median of alternating rounds)", Ratio: ourPeak / refPeak, Goal: ">= 0.85 of the reference", Met: met(ourPeak >= 0.85*refPeak)},
		benchFigure{Name: prefix + "p99 at half the reference's peak", Unit: "ms", Value: ms(ourP99), Reference: ms(refP99), RefName: "bare handler at the same rate", Ratio: ms(refP99) / max(ms(ourP99), 0.001), Goal: "<= 1.5 x the reference's p99", Met: met(ourP99 <= refP99*3/2)})
	return nil
}

// median of rates (not empty); the mean of the middle two for an even count.
func median(rs []float64) float64 {
	s := append([]float64(nil), rs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// benchReferenceEnv, set to a scenario's name, makes consentd serve that
// scenario's bare reference handler instead of running a command (main.go):
// the bench starts it as a child process, like serve.
const benchReferenceEnv = "CONSENTD_BENCH_REFERENCE"

// benchDecideAnswer is the decision the reference answers with: the same
// fields and size as serve's answer to the bench's requests.
func benchDecideAnswer() []byte {
	b, _ := json.Marshal(consentd.DecisionResult{Decision: consentd.Decision{Allowed: true, Reason: consentd.ReasonNotOptedOut,
		Enforcement: consentd.NonRestrictive}, ContactPoint: "user000000@example.com", ConsentID: "user000000@example.com#news:email", Seq: 1001})
	return b
}

// benchReference serves the named scenario's reference on 127.0.0.1:0 until
// ctx ends, saying its address on stderr the way serve does; it returns the
// exit code.
func benchReference(ctx context.Context, name string, stderr io.Writer) int {
	if name != "http-decide" {
		fmt.Fprintf(stderr, "consentd: %s=%q: no such reference\n", benchReferenceEnv, name)
		return exitUsage
	}
	answer := benchDecideAnswer()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(stderr, "consentd: %v\n", err)
		return exitFailed
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req consentd.DecisionRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	})}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	fmt.Fprintf(stderr, "msg=\"bench reference listening\" addr=http://%s\n", ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "consentd: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// benchChildEnv, set in the environment, makes the test binary run as
// consentd (Main.Run with its arguments) instead of running tests
// (bench_test.go): the import, log-verify and http-decide bench scenarios
// run consentd as a child process, which under go test is that binary.
const benchChildEnv = "CONSENTD_BENCH_TEST_CHILD"

// childServer is a server the bench runs as a child process.
type childServer struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
	tail *tailBuffer // the end of its stderr, for errors
}

// startChildServer runs bin with args and env (over this process's
// environment without its CONSENTD_ variables, so that only what the bench
// names configures the child) and waits until the child says on stderr
// that it listens ("... addr=http://HOST:PORT").
func startChildServer(ctx context.Context, bin string, env map[string]string, args ...string) (*childServer, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CONSENTD_") || strings.HasPrefix(kv, benchChildEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		if v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &childServer{cmd: cmd, done: make(chan struct{}), tail: &tailBuffer{}}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			c.tail.add(line)
			if i := strings.Index(line, "addr=http://"); i >= 0 && strings.Contains(line, "listening") {
				a, _, _ := strings.Cut(line[i+len("addr=http://"):], " ")
				select {
				case found <- a:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
		cmd.Wait()
		close(c.done)
	}()
	select {
	case c.addr = <-found:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("%s exited before it listened: %s", args, c.tail)
	case <-time.After(30 * time.Second):
		c.close()
		return nil, fmt.Errorf("%s did not listen in 30s: %s", args, c.tail)
	}
}

// close stops the child as a signal would (so that a CPU profile it
// writes is complete), or kills it after 10s.
func (c *childServer) close() {
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		c.cmd.Process.Kill()
	}
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

// cpu is the child's user and system CPU time so far (all its threads),
// from /proc; -1 where that cannot be read.
func (c *childServer) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	// The fields after the command's name in parentheses (which may hold
	// spaces): utime and stime are the 12th and 13th, in clock ticks
	// (USER_HZ, 100 on Linux).
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(u+s) * 10 * time.Millisecond
}

// tailBuffer keeps the last lines written to it.
type tailBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (t *tailBuffer) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > 20 {
		t.lines = t.lines[1:]
	}
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}

func decideBody(i int64) []byte {
	return []byte(fmt.Sprintf(`{"contact_point":"user%d@example.com","channel":"email","purpose":"news"}`, i%100_000))
}

var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}, Timeout: 30 * time.Second}

func postOnce(ctx context.Context, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+benchAdminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := benchClient.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("POST %s = %d", url, resp.StatusCode)
	}
	return nil
}

// closedLoop sends requests from conc goroutines back to back for d.
func closedLoop(ctx context.Context, url string, conc int, d time.Duration) (float64, error) {
	var n atomic.Int64
	var failed atomic.Value
	r := rate(conc, d, func() error {
		if err := postOnce(ctx, url, decideBody(n.Add(1))); err != nil {
			failed.Store(err)
		}
		return nil
	})
	if err, _ := failed.Load().(error); err != nil {
		return 0, err
	}
	return r, nil
}

// openLoop sends requests at a fixed rate for d, whatever the answers'
// latency, from a pool of workers fed by a pacer, and returns the
// requests' latencies measured from each one's scheduled start (so
// queueing counts).
func openLoop(ctx context.Context, url string, perSecond float64, d time.Duration) ([]time.Duration, error) {
	interval := time.Duration(float64(time.Second) / perSecond)
	total := int(d / interval)
	lat := make([]time.Duration, total)
	type job struct {
		i  int
		at time.Time
	}
	jobs := make(chan job, total)
	var failed atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := postOnce(ctx, url, decideBody(int64(j.i))); err != nil {
					failed.Store(err)
				}
				lat[j.i] = time.Since(j.at)
			}
		}()
	}
	start := time.Now()
	for i := 0; i < total; {
		// Release every request whose time has come, then sleep a little.
		now := time.Now()
		for ; i < total && !start.Add(time.Duration(i)*interval).After(now); i++ {
			jobs <- job{i, start.Add(time.Duration(i) * interval)}
		}
		time.Sleep(200 * time.Microsecond)
	}
	close(jobs)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return nil, err
	}
	return lat, nil
}
