package httpbound

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestMaxConnsFor(t *testing.T) {
	for _, c := range []struct {
		fds  uint64
		want int
	}{
		{1024, 768}, {20000, 15000}, {512, 256}, {256, 128}, {1, 1}, {1 << 63, 786432},
	} {
		if got := maxConnsFor(c.fds); got != c.want {
			t.Errorf("maxConnsFor(%d) = %d; want %d", c.fds, got, c.want)
		}
	}
}

// serve runs h within l on loopback and returns its address.
func serve(t *testing.T, l Limits, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := Server(l, h)
	go srv.Serve(Listener(ln, l.MaxConns))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestBodyProgress: a body that keeps coming, slower in total than the
// timeout but never silent that long, is read whole; one that stops is cut;
// a handler that has read its body and then works longer than the timeout
// keeps its request context.
func TestBodyProgress(t *testing.T) {
	const timeout = 300 * time.Millisecond
	type result struct {
		n      int64
		err    error
		ctxErr error
	}
	results := make(chan result, 1)
	addr := serve(t, Limits{BodyTimeout: timeout, MaxConns: -1}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err == nil {
			time.Sleep(3 * timeout) // work after the body: not cut
		}
		results <- result{n, err, r.Context().Err()}
		fmt.Fprint(w, "done")
	}))

	send := func(chunks int, pause time.Duration, end bool) (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
		for range chunks {
			fmt.Fprintf(c, "1\r\nx\r\n")
			time.Sleep(pause)
		}
		if end {
			fmt.Fprintf(c, "0\r\n\r\n")
		}
		return c, bufio.NewReader(c)
	}

	// Steady: 10 bytes over 10 × timeout/3.
	c, br := send(10, timeout/3, true)
	defer c.Close()
	r := <-results
	if r.err != nil || r.n != 10 || r.ctxErr != nil {
		t.Errorf("steady body: read %d bytes, %v, context %v; want all 10, no error, and the context alive after the body", r.n, r.err, r.ctxErr)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if res, err := http.ReadResponse(br, nil); err != nil || res.StatusCode != 200 {
		t.Errorf("steady body: answer %v, %v; want 200", res, err)
	}

	// Silent after one byte: cut after about the timeout.
	start := time.Now()
	c2, _ := send(1, 0, false)
	defer c2.Close()
	select {
	case r := <-results:
		if r.err == nil {
			t.Errorf("silent body: read %d bytes and no error; want a timeout", r.n)
		}
		t.Logf("silent body cut after %v (timeout %v): %v", time.Since(start).Round(time.Millisecond), timeout, r.err)
	case <-time.After(10 * time.Second):
		t.Fatalf("silent body not cut 10s after its last byte (timeout %v)", timeout)
	}
}

// TestWriteProgress: an answer to a client that does not read is cut after
// about the write timeout; a handler that works longer than the timeout
// before it writes is not.
func TestWriteProgress(t *testing.T) {
	const timeout = 300 * time.Millisecond
	errs := make(chan error, 1)
	addr := serve(t, Limits{WriteTimeout: timeout, MaxConns: -1}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(3 * timeout)
			fmt.Fprint(w, "late")
			return
		}
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 1 << 14 { // 1 GiB: more than any socket buffer
			if _, err := w.Write(chunk); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}))

	res, err := http.Get("http://" + addr + "/slow")
	if err != nil {
		t.Fatalf("GET /slow: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "late" {
		t.Errorf("GET /slow = %q; want the late answer", b)
	}

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n") // and never read
	select {
	case err := <-errs:
		if err == nil {
			t.Errorf("1 GiB written to a client that does not read; want the write cut")
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("a write to a client that does not read still blocks after 30s (timeout %v)", timeout)
	}
}
