package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// healthcheck asks a server whether it is ready (GET /readyz) and exits 0
// when it answers 200, 1 otherwise. It is for container health checks:
// a distroless or scratch image has no curl or wget, so the binary checks
// itself.
func (m *Main) healthcheck(ctx context.Context, args []string) error {
	fl := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	var c config
	m.flags(fl, &c, true) // --addr and --tls-cert (and their variables) say where serve listens
	target := fl.String("url", "", "the URL to GET; default /readyz on --addr (CONSENTD_ADDR), https when --tls-cert (CONSENTD_TLS_CERT) is set, an unspecified address asked on loopback")
	timeout := fl.Duration("timeout", 5*time.Second, "give up after this long")
	if err := parse(fl, args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return usageError{fmt.Sprintf("healthcheck: unexpected argument %q", fl.Arg(0))}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	u := *target
	if u == "" {
		host, port, err := net.SplitHostPort(c.Addr)
		if err != nil {
			return usageError{fmt.Sprintf("healthcheck: --addr %q: %v", c.Addr, err)}
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = "127.0.0.1" // listening on every address: ask on loopback
		}
		u = c.scheme() + "://" + net.JoinHostPort(host, port) + "/readyz"
		// The certificate names the public host, not the address asked
		// here; the check sends nothing secret and reads only a status.
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return usageError{fmt.Sprintf("healthcheck: %v", err)}
	}
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		fmt.Fprintf(m.Stderr, "consentd: healthcheck: %v\n", err)
		return exitError{exitFailed}
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode != http.StatusOK {
		fmt.Fprintf(m.Stderr, "consentd: healthcheck: %s answered %s: %s\n", u, res.Status, body)
		return exitError{exitFailed}
	}
	fmt.Fprintf(m.Stdout, "%s: %s\n", u, res.Status)
	return nil
}
