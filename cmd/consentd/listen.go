package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// scheme is the URL scheme serve answers on: https with a certificate.
func (c *config) scheme() string {
	if c.TLSCert != "" {
		return "https"
	}
	return "http"
}

// tlsConfig checks the TLS flags (both or neither) and returns the
// server's TLS configuration, nil without TLS. The certificate is loaded
// now, so that a wrong file stops serve before it listens, and loaded
// again when either file changes, so that a renewed certificate is served
// without a restart.
func (c *config) tlsConfig() (*tls.Config, error) {
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return nil, usageError{"--tls-cert and --tls-key go together: give both (HTTPS) or neither (HTTP)"}
	}
	if c.TLSCert == "" {
		return nil, nil
	}
	kp := &keyPair{cert: c.TLSCert, key: c.TLSKey}
	if _, err := kp.load(); err != nil {
		return nil, usageError{err.Error()} // the files named cannot serve: nothing has started yet
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: kp.get}, nil
}

// certRecheck is how often the certificate files' modification times are
// looked at, at most: once per handshake would be a stat per connection.
var certRecheck = 5 * time.Second

// keyPair is a certificate and key read from files, read again when a
// file's modification time changes (checked at most every few seconds).
type keyPair struct {
	cert, key string

	mu      sync.Mutex
	current *tls.Certificate
	mtimes  [2]time.Time
	checked time.Time
}

// load reads the files when they changed since the last read.
func (p *keyPair) load() (*tls.Certificate, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var mtimes [2]time.Time
	for i, f := range []string{p.cert, p.key} {
		st, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		mtimes[i] = st.ModTime()
	}
	p.checked = time.Now()
	if p.current != nil && mtimes == p.mtimes {
		return p.current, nil
	}
	c, err := tls.LoadX509KeyPair(p.cert, p.key)
	if err != nil {
		return nil, fmt.Errorf("tls: %s and %s: %w", p.cert, p.key, err)
	}
	p.current, p.mtimes = &c, mtimes
	return p.current, nil
}

// get is tls.Config.GetCertificate. When the files cannot be read again
// (a renewal half written), the certificate read last keeps serving.
func (p *keyPair) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	p.mu.Lock()
	cur, fresh := p.current, time.Since(p.checked) < certRecheck
	p.mu.Unlock()
	if fresh {
		return cur, nil
	}
	if c, err := p.load(); err == nil {
		return c, nil
	}
	return cur, nil
}

// serveUntil serves srv on ln (HTTPS when tlsc is set) until serving fails
// or ctx is done. Then it stops gracefully: the listener closes at once
// (new connections are refused), idle connections close, and requests in
// flight have up to grace to finish; what is still running after that has
// its connection closed, and serveUntil waits a little more for those
// handlers to return, since the database closes after it.
func serveUntil(ctx context.Context, srv *http.Server, ln net.Listener, tlsc *tls.Config, grace time.Duration, log *slog.Logger) error {
	if srv.ErrorLog == nil {
		// The server's own complaints (TLS handshakes, panics in a
		// handler) go to the same log as the rest, not to stderr bare.
		srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	}
	// Handlers running: a counter, not a WaitGroup, since a request read
	// just before the close may still start one while the stop waits.
	var inflight atomic.Int64
	h := srv.Handler
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inflight.Add(1)
		defer inflight.Add(-1)
		h.ServeHTTP(w, r)
	})
	errc := make(chan error, 1)
	if tlsc != nil {
		srv.TLSConfig = tlsc
		go func() { errc <- srv.ServeTLS(ln, "", "") }() // ServeTLS adds HTTP/2 to the config
	} else {
		go func() { errc <- srv.Serve(ln) }()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight", "grace", grace)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err == nil {
		return nil
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	// The grace is over: close what is left. Handlers see their
	// connection gone and return; a stop asked for is not a failure.
	log.Warn("shutdown grace over: closing the connections of requests still running", "grace", grace)
	srv.Close()
	for deadline := time.Now().Add(10 * time.Second); inflight.Load() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			log.Error("shutdown: requests still running 10s after their connections were closed", "requests", inflight.Load())
			break
		}
	}
	return nil
}
