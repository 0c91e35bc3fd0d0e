package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
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
	c := &http.Client{Timeout: time.Minute}
	if err := httpJSON(ctx, c, "POST", base+"/v1/purposes", map[string]any{"id": "news", "name": "News", "type": "commercial",
		"channels": map[string]any{"email": map[string]any{"enforcement": "non_restrictive"}}}, nil); err != nil {
		r.close()
		return nil, "", err
	}
	at := time.Now().Add(-time.Hour).Format(time.RFC3339)
	for start := 0; start < optOuts; start += 10 * 5000 {
		var batch []map[string]any
		for i := start; i < min(start+10*5000, optOuts); i += 10 {
			batch = append(batch, map[string]any{"contact_point": benchAddr(i), "channel": "email", "purpose": "news",
				"status": "opted_out", "captured_at": at, "source": map[string]any{"type": "import"}})
		}
		if err := httpJSON(ctx, c, "POST", base+"/v1/consents:batch", map[string]any{"consents": batch}, nil); err != nil {
			r.close()
			return nil, "", err
		}
	}
	return r, base, nil
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

func benchHTTPDecide(ctx context.Context, e *benchEnv) (*benchResult, error) {
	r, base, err := benchServer(ctx, e, "decide", 10_000)
	if err != nil {
		return nil, err
	}
	defer r.close()
	answer, _ := json.Marshal(consentd.DecisionResult{Decision: consentd.Decision{Allowed: true, Reason: consentd.ReasonNotOptedOut,
		Enforcement: consentd.NonRestrictive}, ContactPoint: "user000000@example.com", ConsentID: "user000000@example.com#news:email", Seq: 1001})
	bare, stop, err := bareServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req consentd.DecisionRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	}))
	if err != nil {
		return nil, err
	}
	defer stop()
	d := time.Duration(e.seconds * float64(time.Second))
	const conc = 32
	ourPeak, err := closedLoop(ctx, base+"/v1/decisions", conc, d)
	if err != nil {
		return nil, err
	}
	refPeak, err := closedLoop(ctx, bare+"/", conc, d)
	if err != nil {
		return nil, err
	}
	half := refPeak / 2
	ourP99, err := openLoop(ctx, base+"/v1/decisions", half, d)
	if err != nil {
		return nil, err
	}
	refP99, err := openLoop(ctx, bare+"/", half, d)
	if err != nil {
		return nil, err
	}
	ms := func(t time.Duration) float64 { return float64(t.Microseconds()) / 1000 }
	return &benchResult{Scenario: "http-decide", Notes: map[string]any{"concurrency": conc, "open_loop_rate": int(half)},
		Figures: []benchFigure{
			{Name: "peak decisions", Unit: "/s", Value: ourPeak, Reference: refPeak, RefName: "bare net/http handler, same JSON, same client", Ratio: ourPeak / refPeak, Goal: ">= 0.80 of the reference", Met: met(ourPeak >= 0.8*refPeak)},
			{Name: "p99 at half the reference's peak", Unit: "ms", Value: ms(ourP99), Reference: ms(refP99), RefName: "bare handler at the same rate", Ratio: ms(refP99) / max(ms(ourP99), 0.001), Goal: "<= 1.5 x the reference's p99", Met: met(ourP99 <= refP99*3/2)},
		}}, nil
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
// latency, from a pool of workers fed by a pacer, and returns the p99
// latency measured from each request's scheduled start (so queueing counts).
func openLoop(ctx context.Context, url string, perSecond float64, d time.Duration) (time.Duration, error) {
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
		return 0, err
	}
	return percentile(lat, 99), nil
}
