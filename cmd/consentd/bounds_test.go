package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestServeBounds runs the consentd binary and checks that every request is
// bounded in time and memory (README "Limits"): silent connections are cut
// and do not starve the server of file descriptors, big batch uploads are
// refused without being held in memory, and an import declaring more than
// its limit is refused before its body is sent.
func TestServeBounds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the consentd binary")
	}
	bin := buildConsentd(t)
	t.Run("silent connections", func(t *testing.T) { testSilentConnections(t, bin) })
	t.Run("big batches", func(t *testing.T) {
		t.Run("sqlite", func(t *testing.T) { testBigBatches(t, bin) })
		t.Run("postgres", func(t *testing.T) { testBigBatches(t, bin, "--database", testPostgres(t)) })
	})
	t.Run("import over the limit", func(t *testing.T) { testImportDeclaredTooLarge(t, bin) })
}

// startBoundedServer starts `consentd serve` with args, with at most fds
// open files when fds > 0 (soft and hard limit: the runtime cannot raise
// it), and waits (bounded) for its address.
func startBoundedServer(t *testing.T, bin string, fds int, args ...string) *crashServer {
	t.Helper()
	s := &crashServer{stderr: &listenWatcher{addr: make(chan string, 1)}, exited: make(chan struct{})}
	args = append([]string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--checkpoint-interval", "1s"}, args...)
	if fds > 0 {
		s.cmd = exec.Command("/bin/sh", append([]string{"-c", `ulimit -n "$0" && exec "$@"`, strconv.Itoa(fds), bin}, args...)...)
	} else {
		s.cmd = exec.Command(bin, args...)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CONSENTD_") {
			env = append(env, kv)
		}
	}
	s.cmd.Env = append(env, "CONSENTD_ADMIN_KEY="+ledgerTestAdminKey)
	s.cmd.Stdout = &lockedBuffer{}
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting consentd: %v", err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			s.cmd.Process.Kill()
			<-s.exited
		}
	})
	select {
	case s.base = <-s.stderr.addr:
	case <-s.exited:
		t.Fatalf("consentd serve exited (%v) before listening; stderr:\n%s", s.err, s.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("consentd serve did not listen within 30s; stderr:\n%s", s.stderr.String())
	}
	return s
}

// needFiles raises this process's soft limit of open files to at least n,
// up to the hard limit, and skips the test when that is too low.
func needFiles(t *testing.T, n uint64) {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatalf("getrlimit: %v", err)
	}
	if rl.Cur >= n {
		return
	}
	if rl.Max < n {
		t.Skipf("this test holds %d open connections; the hard limit of open files is %d", n, rl.Max)
	}
	rl.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Skipf("this test holds %d open connections; raising the open files limit to %d: %v", n, n, err)
	}
}

// testSilentConnections is the slow-body attack, without a key: 1,100
// connections send a request's headers declaring a 1000-byte body and never
// send it, to a server with 1,024 file descriptors. The server must cut
// them once the body timeout passes, and answer /healthz meanwhile or soon
// after; a steady NDJSON stream slower than the timeout's worth of bytes
// but never silent that long is not cut.
func testSilentConnections(t *testing.T, bin string) {
	const (
		silent      = 1100
		bodyTimeout = 2 * time.Second
	)
	needFiles(t, silent+200)
	srv := startBoundedServer(t, bin, 1024, "--body-timeout", bodyTimeout.String(), "--read-header-timeout", bodyTimeout.String())
	addr := strings.TrimPrefix(srv.base, "http://")
	ctx := context.Background()
	if st, raw, err := apiRequest(ctx, ledgerTestClient, srv.base, "POST", "/v1/purposes", newsletterPurpose); err != nil || st != 201 {
		t.Fatalf("POST /v1/purposes = %d %s, %v; want 201", st, raw, err)
	}

	// The silent requests: the API without a key, and a public page.
	paths := []string{"/v1/consents:batch", "/u/not-a-token", "/v1/decisions"}
	start := time.Now()
	conns := make([]net.Conn, 0, silent)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range silent {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n", paths[i%len(paths)], addr)
	}
	t.Logf("%d silent connections opened in %v", silent, time.Since(start).Round(time.Millisecond))

	// /healthz answers: at once when the server has room, or once the
	// silent connections time out. The bound only catches a server that
	// never answers.
	hc := &http.Client{Timeout: bodyTimeout + 20*time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	hstart := time.Now()
	res, err := hc.Get(srv.base + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz with %d silent connections open: %v", silent, err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET /healthz with %d silent connections open = %d; want 200", silent, res.StatusCode)
	}
	t.Logf("GET /healthz answered %v after it was sent (%v after the first silent connection)", time.Since(hstart).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	// The server closes every silent connection.
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := 0
	var last time.Duration
	deadline := start.Add(bodyTimeout*4 + 30*time.Second)
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(deadline)
			_, err := io.Copy(io.Discard, c)
			mu.Lock()
			defer mu.Unlock()
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				open++
				return
			}
			last = max(last, time.Since(start))
		}()
	}
	wg.Wait()
	if open > 0 {
		t.Fatalf("%d of %d silent connections were still open %v after they were made; want each closed by the server after its body timeout (%v)", open, silent, deadline.Sub(start).Round(time.Second), bodyTimeout)
	}
	t.Logf("the server closed all %d silent connections, the last %v after the first was made", silent, last.Round(time.Millisecond))

	// A stream that keeps sending, each line within the body timeout,
	// runs past it; one that goes silent is cut.
	lines, cut := ndjsonStream(t, srv.base, 8, bodyTimeout/4)
	if lines != 8 || cut {
		t.Errorf("NDJSON stream of 8 lines, one each %v: %d answers, cut %v; want 8 answers and the stream's own end", bodyTimeout/4, lines, cut)
	}
	lines, cut = ndjsonStream(t, srv.base, 1, 0)
	if lines != 1 || !cut {
		t.Errorf("NDJSON stream that goes silent after its first line: %d answers, cut %v; want 1 answer, then cut after %v", lines, cut, bodyTimeout)
	}

	// Background work went on: no "too many open files" in the log.
	if strings.Contains(srv.stderr.String(), "too many open files") {
		t.Errorf("the server ran out of file descriptors:\n%s", srv.stderr.String())
	}
}

// ndjsonStream sends n decision lines to /v1/decisions:batch, one each
// pause, and then, when pause is 0, nothing more (the body stays open);
// otherwise it ends the body. It returns the answers read and whether the
// server ended the answer before the body ended.
func ndjsonStream(t *testing.T, base string, n int, pause time.Duration) (answers int, cut bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	ended := make(chan struct{})
	go func() {
		for i := range n {
			if i > 0 {
				time.Sleep(pause)
			}
			fmt.Fprintf(pw, `{"contact_point":"s%d@example.com"}`+"\n", i)
		}
		if pause > 0 {
			close(ended)
			pw.Close()
			return
		}
		<-ctx.Done()
		pw.CloseWithError(ctx.Err())
	}()
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/decisions:batch?purpose=newsletter&channel=email", pr)
	req.Header.Set("Authorization", "Bearer "+ledgerTestAdminKey)
	req.Header.Set("Content-Type", "application/x-ndjson")
	res, err := (&http.Client{}).Do(req)
	if err != nil {
		t.Fatalf("NDJSON stream: %v", err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"allowed"`) {
			answers++
		}
	}
	select {
	case <-ended:
	default:
		cut = ctx.Err() == nil
	}
	return answers, cut
}

// testBigBatches sends four 20 MB batch uploads at once, twice: declaring
// their length, then chunked (no declared length, so the server reads until
// a limit). Each is answered 413 quickly, and the server's peak resident
// memory stays under 200 MB.
func testBigBatches(t *testing.T, bin string, args ...string) {
	const size = 20 << 20
	srv := startBoundedServer(t, bin, 0, args...)
	pid := srv.cmd.Process.Pid
	t.Logf("server peak RSS at start: %d MB", peakRSS(t, pid)>>20)
	at := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	pad := strings.Repeat("x", 1500) // a consent of about 1.7 KB
	consents := batchBody(`{"consents":[`, size, func(i int) string {
		return fmt.Sprintf(`{"contact_point":"u%d@example.com","channel":"email","purpose":"newsletter","status":"opted_in","captured_at":%q,"source":{"type":"api","details":{"pad":%q}}}`, i, at, pad)
	})
	decisions := batchBody(`{"purpose":"newsletter","channel":"email","contact_points":[`, size, func(i int) string {
		return fmt.Sprintf(`"someone.with.a.long.address.%d@example.com"`, i)
	})
	for _, chunked := range []bool{false, true} {
		var wg sync.WaitGroup
		for i, path := range []string{"/v1/consents:batch", "/v1/decisions:batch", "/v1/consents:batch", "/v1/decisions:batch"} {
			body := consents
			if strings.HasPrefix(path, "/v1/decisions") {
				body = decisions
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				status, raw, err := upload(srv.base, path, body, chunked)
				took := time.Since(start)
				if err != nil {
					t.Errorf("upload %d, POST %s %d MB (chunked %v): %v; want 413", i, path, len(body)>>20, chunked, err)
					return
				}
				if status != 413 || !bytes.Contains(raw, []byte(`"too_large"`)) {
					t.Errorf("upload %d, POST %s %d MB (chunked %v) = %d %s; want 413 too_large", i, path, len(body)>>20, chunked, status, raw)
				}
				if took > 30*time.Second {
					t.Errorf("upload %d, POST %s (chunked %v) answered after %v; want it refused quickly", i, path, chunked, took)
				}
				t.Logf("upload %d, POST %s %d MB (chunked %v): %d in %v: %s", i, path, len(body)>>20, chunked, status, took.Round(time.Millisecond), bytes.TrimSpace(raw))
			}()
		}
		wg.Wait()
		t.Logf("server peak RSS after the four uploads (chunked %v): %d MB", chunked, peakRSS(t, pid)>>20)
	}
	if peak := peakRSS(t, pid); peak >= 200<<20 {
		t.Errorf("server peak RSS %d MB after four parallel 20 MB uploads, twice; want under 200 MB", peak>>20)
	}
}

// upload POSTs body with the admin key, declaring its length or chunked,
// and reads the answer while the body is still being sent: a server that
// refuses a body early answers before it has all of it, and closes the
// connection, which fails the rest of the sending (that error is not the
// answer).
func upload(base, path string, body []byte, chunked bool) (int, []byte, error) {
	addr := strings.TrimPrefix(base, "http://")
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, nil, err
	}
	defer conn.Close()
	go func() {
		w := bufio.NewWriterSize(conn, 64<<10)
		fmt.Fprintf(w, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n", path, addr, ledgerTestAdminKey)
		if chunked {
			w.WriteString("Transfer-Encoding: chunked\r\n\r\n")
			cw := httputil.NewChunkedWriter(w)
			for b := body; len(b) > 0; {
				n := min(len(b), 64<<10)
				if _, err := cw.Write(b[:n]); err != nil {
					return
				}
				b = b[n:]
			}
			cw.Close()
			w.WriteString("\r\n")
		} else {
			fmt.Fprintf(w, "Content-Length: %d\r\n\r\n", len(body))
			w.Write(body)
		}
		w.Flush()
	}()
	conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return res.StatusCode, raw, err
}

// batchBody builds a batch of items up to about size bytes.
func batchBody(head string, size int, item func(i int) string) []byte {
	b := bytes.NewBufferString(head)
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(item(i))
	}
	b.WriteString("]}")
	return b.Bytes()
}

// peakRSS is a process's peak resident memory (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc/PID/status to read the peak RSS: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Skipf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// testImportDeclaredTooLarge sends only the headers of an import declaring
// one byte more than the limit: the answer, 413, comes without the body.
func testImportDeclaredTooLarge(t *testing.T, bin string) {
	const limit = 1 << 20
	srv := startBoundedServer(t, bin, 0, "--import-max-body", strconv.Itoa(limit))
	addr := strings.TrimPrefix(srv.base, "http://")
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/imports?format=native HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: text/csv\r\nContent-Length: %d\r\n\r\n", addr, ledgerTestAdminKey, limit+1)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("POST /v1/imports declaring %d bytes (limit %d), no body sent: no answer within 10s: %v", limit+1, limit, err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 413 || !bytes.Contains(raw, []byte(`"too_large"`)) {
		t.Errorf("POST /v1/imports declaring %d bytes (limit %d) = %d %s; want 413 too_large", limit+1, limit, res.StatusCode, raw)
	}
}
