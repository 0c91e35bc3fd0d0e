// Package httpbound bounds the server's connections in time and number:
// the http.Server's header and idle timeouts, progress deadlines on request
// bodies and responses (a client that stops sending or stops reading for a
// while is cut, a steady stream never is), and a cap on open connections
// below the process's file descriptor limit.
package httpbound

import (
	"io"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// Limits are the time and connection bounds of a server. A zero duration
// turns that bound off; MaxConns 0 means DefaultMaxConns.
type Limits struct {
	// ReadHeaderTimeout bounds reading a request's line and headers.
	ReadHeaderTimeout time.Duration
	// BodyTimeout is the longest a request body may go without a byte:
	// each read that returns data moves the connection's read deadline
	// this far ahead. A long upload or an NDJSON stream that keeps
	// sending is never cut.
	BodyTimeout time.Duration
	// WriteTimeout is the longest one write of the response may block on
	// a client that does not read, measured the same way: from the last
	// write. A handler that computes long before it writes is not cut.
	WriteTimeout time.Duration
	// IdleTimeout bounds a keep-alive connection between requests.
	IdleTimeout time.Duration
	// MaxConns caps the open connections; over it, Accept waits (the
	// kernel's listen queue holds new connections) until one closes.
	MaxConns int
}

// Defaults: a header has 10 s; a body or a response may stall for 30 s;
// an idle keep-alive connection lives 60 s.
var Defaults = Limits{
	ReadHeaderTimeout: 10 * time.Second,
	BodyTimeout:       30 * time.Second,
	WriteTimeout:      30 * time.Second,
	IdleTimeout:       60 * time.Second,
}

// DefaultMaxConns is the connection cap when none is set: the soft
// RLIMIT_NOFILE (which the Go runtime raises to the hard limit at start)
// less a headroom for everything else the process opens: database
// connections and files (SQLite's database, WAL and shared memory), the
// checkpoint mirror, import spools and their sort runs, the mail outbox,
// webhook and NATS connections. The headroom is a quarter of the limit and
// at least 256; a limit too low for that leaves half to connections.
func DefaultMaxConns() int { return maxConnsFor(openFileLimit()) }

func maxConnsFor(fds uint64) int {
	const most = 1 << 20 // RLIM_INFINITY and the like
	n := min(fds, most)
	headroom := max(n/4, 256)
	if n <= 2*headroom {
		return int(max(n/2, 1))
	}
	return int(n - headroom)
}

// Listener caps ln at n open connections (DefaultMaxConns when n is 0;
// no cap when n < 0). Over the cap, Accept blocks until a connection
// closes: new connections wait in the kernel's listen queue rather than
// being accepted and dropped, so a health check made while the server is
// full is answered as soon as stalled connections time out.
func Listener(ln net.Listener, n int) net.Listener {
	if n == 0 {
		n = DefaultMaxConns()
	}
	if n < 0 {
		return ln
	}
	return netutil.LimitListener(ln, n)
}

// Server returns an http.Server serving h within l's timeouts. Serve it on
// Listener(ln, l.MaxConns).
func Server(l Limits, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           Progress(h, l.BodyTimeout, l.WriteTimeout),
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		IdleTimeout:       l.IdleTimeout,
	}
}

// Progress wraps h with progress deadlines: a request body may go at most
// body without a byte, a response write may block at most write. Zero turns
// either off. It must wrap the server's own ResponseWriter (the outermost
// handler), which it reaches to set the connection's deadlines.
//
// http.Server's ReadTimeout and WriteTimeout bound a whole request, which
// would cut the NDJSON decision stream that reads and writes for as long
// as the client sends; these deadlines move with each read and write.
func Progress(h http.Handler, body, write time.Duration) http.Handler {
	if body <= 0 && write <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if body > 0 && r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
			// Set before the handler runs: a handler that never reads the
			// body (an unauthenticated request) leaves the server to
			// discard it, and that read is bounded by this deadline too.
			rc.SetReadDeadline(time.Now().Add(body))
			r.Body = &progressBody{ReadCloser: r.Body, rc: rc, timeout: body}
		}
		if write > 0 {
			// A deadline left by the connection's previous request is
			// replaced; every write below moves it on.
			rc.SetWriteDeadline(time.Now().Add(write))
			w = &progressWriter{ResponseWriter: w, rc: rc, timeout: write}
		}
		h.ServeHTTP(w, r)
		if write > 0 {
			// The server writes what is buffered after the handler
			// returns: that write gets its own time.
			rc.SetWriteDeadline(time.Now().Add(write))
		}
	})
}

// progressBody moves the connection's read deadline ahead on each read
// that returns data, and clears it at the body's end: the server then
// reads the connection in the background to notice a client that goes
// away, and that read must not time out while the handler still works
// (net/http clears the deadline too when it starts that read; this does not
// depend on it).
type progressBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		b.rc.SetReadDeadline(time.Time{})
	case n > 0 && err == nil:
		b.rc.SetReadDeadline(time.Now().Add(b.timeout))
	}
	return n, err
}

// progressWriter moves the connection's write deadline ahead before each
// write and flush of the response.
type progressWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (w *progressWriter) Write(p []byte) (int, error) {
	w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	return w.ResponseWriter.Write(p)
}

// FlushError is what http.ResponseController.Flush calls.
func (w *progressWriter) FlushError() error {
	w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	return w.rc.Flush()
}

// Unwrap lets http.ResponseController reach the server's writer (full
// duplex, deadlines).
func (w *progressWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
