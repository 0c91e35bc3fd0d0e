package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeTestCert writes a self-signed certificate for 127.0.0.1 and its key
// as PEM files and returns the certificate.
func writeTestCert(t *testing.T, certPath, keyPath string, serial int64) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: "consentd test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		BasicConstraintsValid: true,
		IsCA:                  true, // self-signed: the client trusts it as its own root
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestServeTLS serves HTTPS with a certificate the test made: a client that
// trusts it gets answers over TLS, one that does not is refused, plain HTTP
// gets no answer, healthcheck finds the server with --tls-cert, a renewed
// certificate is served without a restart, and one of the two flags alone
// is a usage error.
func TestServeTLS(t *testing.T) {
	certRecheck = 0 // look at the files at every handshake: the renewal below
	t.Cleanup(func() { certRecheck = 5 * time.Second })
	files := t.TempDir()
	certPath, keyPath := filepath.Join(files, "cert.pem"), filepath.Join(files, "key.pem")
	first := writeTestCert(t, certPath, keyPath, 1)

	if code, _, stderr := runMain(t, "serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--tls-cert", certPath); code != 2 || !strings.Contains(stderr, "--tls-key") {
		t.Errorf("serve --tls-cert without --tls-key = %d, %q; want 2", code, stderr)
	}
	if code, _, stderr := runMain(t, "serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--tls-cert", certPath, "--tls-key", certPath); code != 2 {
		t.Errorf("serve with a certificate as its own key = %d, %q; want 2", code, stderr)
	}

	srv := startInProcessServer(t, t.TempDir(), "--tls-cert", certPath, "--tls-key", keyPath)
	if !strings.Contains(srv.stderr.String(), "addr=https://127.0.0.1:") {
		t.Errorf("serve does not log an https address:\n%s", srv.stderr)
	}
	addr := strings.TrimPrefix(srv.base, "http://")
	base := "https://" + addr
	pool := x509.NewCertPool()
	pool.AddCert(first)
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
	defer client.CloseIdleConnections()

	st, raw, err := apiRequest(context.Background(), client, base, "POST", "/v1/purposes", newsletterPurpose)
	if err != nil || st != 201 {
		t.Fatalf("POST /v1/purposes over HTTPS = %d %s, %v; want 201", st, raw, err)
	}
	res, err := client.Get(base + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz over HTTPS: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.TLS == nil || res.TLS.PeerCertificates[0].SerialNumber.Int64() != 1 {
		t.Fatalf("GET /readyz over HTTPS = %d, TLS %v; want 200 with the test's certificate", res.StatusCode, res.TLS != nil)
	}

	if _, err := ledgerTestClient.Get(base + "/readyz"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client that does not trust the certificate: %v; want a certificate error", err)
	}
	if res, err := ledgerTestClient.Get("http://" + addr + "/readyz"); err == nil {
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Errorf("plain HTTP to the HTTPS port answered 200")
		}
	}

	// healthcheck derives https from --tls-cert; an explicit https URL is
	// checked against the system's roots, which do not hold the test's.
	if code, stdout, stderr := runMain(t, "healthcheck", "--addr", addr, "--tls-cert", certPath); code != 0 {
		t.Errorf("healthcheck --tls-cert = %d, %q, %q; want 0", code, stdout, stderr)
	}
	if code, _, stderr := runMain(t, "healthcheck", "--url", base+"/readyz"); code != 1 {
		t.Errorf("healthcheck --url %s/readyz (untrusted certificate) = %d, %q; want 1", base, code, stderr)
	}

	// A renewed certificate (new files) is served on the next connection.
	time.Sleep(20 * time.Millisecond) // a later modification time
	second := writeTestCert(t, certPath, keyPath, 2)
	pool.AddCert(second)
	res, err = client.Get(base + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz after the renewal: %v", err)
	}
	res.Body.Close()
	if got := res.TLS.PeerCertificates[0].SerialNumber.Int64(); got != 2 {
		t.Errorf("after the renewal the server presents certificate %d; want 2", got)
	}
	if code := srv.stop(); code != 0 {
		t.Errorf("serve exited %d; stderr:\n%s", code, srv.stderr)
	}
}

// decisionStream is a POST /v1/decisions:batch NDJSON stream whose request
// body the test writes in two parts, reading the answers as they come.
type decisionStream struct {
	body  *io.PipeWriter
	res   *http.Response
	lines chan int   // the number of answer lines, once the answer ends
	errc  chan error // reading the answer
	first string     // the first answer line
}

func startDecisionStream(t *testing.T, base string, lines int) *decisionStream {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", base+"/v1/decisions:batch?purpose=newsletter&channel=email", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+ledgerTestAdminKey)
	req.Header.Set("Content-Type", "application/x-ndjson")
	ds := &decisionStream{body: pw, lines: make(chan int, 1), errc: make(chan error, 1)}
	go ds.write(0, lines)
	// The server flushes its answers every 32 KiB: the response arrives
	// while the request body is still being written.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	ds.res, err = client.Do(req)
	if err != nil {
		t.Fatalf("POST /v1/decisions:batch (NDJSON): %v", err)
	}
	if ds.res.StatusCode != 200 {
		b, _ := io.ReadAll(ds.res.Body)
		t.Fatalf("POST /v1/decisions:batch (NDJSON) = %d %s", ds.res.StatusCode, b)
	}
	sc := bufio.NewScanner(ds.res.Body)
	if !sc.Scan() {
		t.Fatalf("no first answer line: %v", sc.Err())
	}
	ds.first = sc.Text()
	go func() {
		n := 1
		for sc.Scan() {
			n++
		}
		ds.errc <- sc.Err()
		ds.lines <- n
	}()
	return ds
}

// write sends the lines of contact points from to to-1.
func (ds *decisionStream) write(from, to int) error {
	w := bufio.NewWriterSize(ds.body, 64<<10)
	for i := from; i < to; i++ {
		fmt.Fprintf(w, "{\"contact_point\":\"s%d@example.com\"}\n", i)
	}
	return w.Flush()
}

// waitRefused waits (bounded) until a new connection to addr is refused.
func waitRefused(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("%s still accepts connections 10s after the stop began", addr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestShutdownFinishesInFlight stops a server while an NDJSON decision
// stream is in flight, its request body half sent: new connections are
// refused at once, the stream then gets the rest of its body and every
// answer line with its 200, and serve exits 0 after it.
func TestShutdownFinishesInFlight(t *testing.T) {
	srv := startInProcessServer(t, t.TempDir(), "--shutdown-grace", "30s")
	if st, raw := apiCall(t, srv.base, "POST", "/v1/purposes", newsletterPurpose, nil); st != 201 {
		t.Fatalf("POST /v1/purposes = %d %s", st, raw)
	}
	const firstPart, total = 2000, 50000
	ds := startDecisionStream(t, srv.base, firstPart)
	var first struct {
		ContactPoint string `json:"contact_point"`
	}
	if err := json.Unmarshal([]byte(ds.first), &first); err != nil || first.ContactPoint != "s0@example.com" {
		t.Fatalf("first answer line %q (%v); want the decision of s0@example.com", ds.first, err)
	}

	srv.cancel() // SIGTERM
	waitRefused(t, strings.TrimPrefix(srv.base, "http://"))
	select {
	case code := <-srv.done:
		t.Fatalf("serve exited with %d while a request was in flight", code)
	default:
	}

	if err := ds.write(firstPart, total); err != nil {
		t.Fatalf("writing the rest of the request body after the stop began: %v", err)
	}
	ds.body.Close()
	select {
	case n := <-ds.lines:
		if err := <-ds.errc; err != nil {
			t.Errorf("reading the answer: %v", err)
		}
		if n != total {
			t.Errorf("the stream answered %d lines; want %d, one per line sent", n, total)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the stream did not end within 60s")
	}
	ds.res.Body.Close()
	if code := srv.stop(); code != 0 {
		t.Errorf("serve exited %d; want 0; stderr:\n%s", code, srv.stderr)
	}
	if !strings.Contains(srv.stderr.String(), "finishing requests in flight") {
		t.Errorf("serve did not say it finishes requests in flight:\n%s", srv.stderr)
	}
}

// TestShutdownGraceEnds stops a server whose in-flight stream never ends:
// after --shutdown-grace its connection is closed and serve exits 0.
func TestShutdownGraceEnds(t *testing.T) {
	srv := startInProcessServer(t, t.TempDir(), "--shutdown-grace", "300ms")
	if st, raw := apiCall(t, srv.base, "POST", "/v1/purposes", newsletterPurpose, nil); st != 201 {
		t.Fatalf("POST /v1/purposes = %d %s", st, raw)
	}
	ds := startDecisionStream(t, srv.base, 2000)
	defer ds.body.Close()
	start := time.Now()
	if code := srv.stop(); code != 0 {
		t.Errorf("serve exited %d; want 0; stderr:\n%s", code, srv.stderr)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 20*time.Second {
		t.Errorf("serve stopped %s after the cancel; want after the 300ms grace, and soon after", d)
	}
	if !strings.Contains(srv.stderr.String(), "shutdown grace over") {
		t.Errorf("serve did not say the grace was over:\n%s", srv.stderr)
	}
	select {
	case <-ds.lines:
		if err := <-ds.errc; err == nil {
			t.Errorf("the cut stream's answer ended without an error")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the cut stream's answer did not end within 20s")
	}
}
