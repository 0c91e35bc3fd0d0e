package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/consentd/consentd"
	"github.com/jackc/pgx/v5"
)

// replica is a `consentd serve` running in this process.
type replica struct {
	addr string
	stop context.CancelFunc
	done chan error
}

const benchAdminKey = "cdk_bench_admin_key_0123456789abcdef"

// startReplica runs serve with args in this process and waits until it
// listens.
func startReplica(ctx context.Context, env map[string]string, stderr io.Writer, args ...string) (*replica, error) {
	ctx, cancel := context.WithCancel(ctx)
	ready := make(chan string, 1)
	m := &Main{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: stderr,
		Getenv: func(k string) string { return env[k] }, Ready: func(a string) { ready <- a }}
	r := &replica{stop: cancel, done: make(chan error, 1)}
	go func() {
		if code := m.Run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--api-key-rate", "0", "--api-ip-rate", "0"}, args...)); code != 0 {
			r.done <- fmt.Errorf("serve exited %d", code)
			return
		}
		r.done <- nil
	}()
	select {
	case r.addr = <-ready:
		return r, nil
	case err := <-r.done:
		cancel()
		return nil, err
	case <-time.After(30 * time.Second):
		cancel()
		return nil, fmt.Errorf("serve did not start in 30s")
	}
}

func (r *replica) close() error {
	r.stop()
	return <-r.done
}

// freshPostgres creates a new database next to the one adminURL names and
// returns its URL and a function that drops it.
func freshPostgres(ctx context.Context, adminURL, prefix string) (string, func(), error) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("PostgreSQL at %s: %w", redactURL(adminURL), err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := prefix + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		conn.Close(ctx)
		return "", nil, err
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		conn.Close(ctx)
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		conn.Close(context.Background())
	}
	return u.String(), drop, nil
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// httpJSON posts body to a replica and decodes the answer into out.
func httpJSON(ctx context.Context, c *http.Client, method, url string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+benchAdminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s %s = %d %s", method, url, resp.StatusCode, msg)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func benchReplicas(ctx context.Context, e *benchEnv) (*benchResult, error) {
	dbURL, drop, err := freshPostgres(ctx, e.pgURL, "consentd_bench_")
	if err != nil {
		return nil, err
	}
	defer drop()
	env := map[string]string{"CONSENTD_ADMIN_KEY": benchAdminKey, "CONSENTD_LOG_KEY": filepath.Join(e.dir, "replicas.key")}
	var replicas []*replica
	defer func() {
		for _, r := range replicas {
			r.close()
		}
	}()
	for i := 0; i < 2; i++ {
		r, err := startReplica(ctx, env, io.Discard, "--database", dbURL, "--data", filepath.Join(e.dir, fmt.Sprintf("replica%d", i)))
		if err != nil {
			return nil, err
		}
		replicas = append(replicas, r)
	}
	a, b := "http://"+replicas[0].addr, "http://"+replicas[1].addr
	c := &http.Client{Timeout: 10 * time.Second}
	if err := httpJSON(ctx, c, "POST", a+"/v1/purposes", map[string]any{"id": "news", "name": "News", "type": "commercial",
		"channels": map[string]any{"email": map[string]any{"enforcement": "non_restrictive"}}}, nil); err != nil {
		return nil, err
	}

	// Staleness: write on A; ask B until its answer changes.
	const samples = 300
	var stale []time.Duration
	at := time.Now().Add(-time.Hour)
	for i := 0; i < samples; i++ {
		cp := fmt.Sprintf("stale%d@example.com", i)
		w := map[string]any{"contact_point": cp, "channel": "email", "purpose": "news", "status": "opted_out",
			"captured_at": at.Format(time.RFC3339Nano), "source": map[string]any{"type": "api"}}
		if err := httpJSON(ctx, c, "POST", a+"/v1/consents", w, nil); err != nil {
			return nil, err
		}
		acked := time.Now()
		for {
			var d consentd.DecisionResult
			if err := httpJSON(ctx, c, "POST", b+"/v1/decisions", map[string]any{"contact_point": cp, "channel": "email", "purpose": "news"}, &d); err != nil {
				return nil, err
			}
			if !d.Allowed {
				stale = append(stale, time.Since(acked))
				break
			}
			if time.Since(acked) > 10*time.Second {
				return nil, fmt.Errorf("replica B still allowed %s 10s after A acknowledged its opt-out", cp)
			}
		}
	}
	// The reference: one HTTP decision round trip to B, which bounds how
	// finely the loop above can see a change.
	var rtts []time.Duration
	for i := 0; i < 200; i++ {
		start := time.Now()
		if err := httpJSON(ctx, c, "POST", b+"/v1/decisions", map[string]any{"contact_point": "x@example.com", "channel": "email", "purpose": "news"}, nil); err != nil {
			return nil, err
		}
		rtts = append(rtts, time.Since(start))
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	p99 := percentile(stale, 99)

	// Throughput over HTTP on PostgreSQL (both replicas) and on SQLite (one
	// server), same client concurrency.
	d := time.Duration(e.seconds * float64(time.Second))
	pgWrites, err := httpWriteRate(ctx, c, []string{a, b}, d, "pg")
	if err != nil {
		return nil, err
	}
	lite, err := startReplica(ctx, env, io.Discard, "--data", filepath.Join(e.dir, "sqlite"))
	if err != nil {
		return nil, err
	}
	replicas = append(replicas, lite)
	l := "http://" + lite.addr
	if err := httpJSON(ctx, c, "POST", l+"/v1/purposes", map[string]any{"id": "news", "name": "News", "type": "commercial",
		"channels": map[string]any{"email": map[string]any{"enforcement": "non_restrictive"}}}, nil); err != nil {
		return nil, err
	}
	liteWrites, err := httpWriteRate(ctx, c, []string{l}, d, "lite")
	if err != nil {
		return nil, err
	}
	pgDecisions, err := httpDecisionRate(ctx, c, []string{a, b}, d)
	if err != nil {
		return nil, err
	}
	liteDecisions, err := httpDecisionRate(ctx, c, []string{l}, d)
	if err != nil {
		return nil, err
	}
	return &benchResult{Scenario: "replicas", Notes: map[string]any{"samples": samples, "replicas": 2, "client_concurrency": 16},
		Figures: []benchFigure{
			{Name: "staleness p50", Unit: "ms", Value: ms(percentile(stale, 50)), Reference: ms(percentile(rtts, 50)), RefName: "decision round trip p50", Ratio: ms(percentile(rtts, 50)) / max(ms(percentile(stale, 50)), 0.001)},
			{Name: "staleness p99", Unit: "ms", Value: ms(p99), Reference: ms(percentile(rtts, 99)), RefName: "decision round trip p99", Ratio: ms(percentile(rtts, 99)) / max(ms(p99), 0.001), Goal: "<= 100 ms", Met: met(p99 <= 100*time.Millisecond)},
			{Name: "writes over HTTP, PostgreSQL, 2 replicas", Unit: "/s", Value: pgWrites, Reference: liteWrites, RefName: "SQLite, 1 server", Ratio: pgWrites / liteWrites},
			{Name: "decisions over HTTP, PostgreSQL, 2 replicas", Unit: "/s", Value: pgDecisions, Reference: liteDecisions, RefName: "SQLite, 1 server", Ratio: pgDecisions / liteDecisions},
		}}, nil
}

func httpWriteRate(ctx context.Context, c *http.Client, targets []string, d time.Duration, tag string) (float64, error) {
	var n atomic.Int64
	var failed atomic.Value
	at := time.Now().Add(-time.Hour).Format(time.RFC3339Nano)
	r := rate(16, d, func() error {
		i := n.Add(1)
		w := map[string]any{"contact_point": fmt.Sprintf("w%s%d@example.com", tag, i), "channel": "email", "purpose": "news",
			"status": "opted_in", "captured_at": at, "source": map[string]any{"type": "api"}}
		if err := httpJSON(ctx, c, "POST", targets[int(i)%len(targets)]+"/v1/consents", w, nil); err != nil {
			failed.Store(err)
		}
		return nil
	})
	if err, _ := failed.Load().(error); err != nil {
		return 0, err
	}
	return r, nil
}

func httpDecisionRate(ctx context.Context, c *http.Client, targets []string, d time.Duration) (float64, error) {
	var n atomic.Int64
	var failed atomic.Value
	r := rate(16, d, func() error {
		i := n.Add(1)
		q := map[string]any{"contact_point": fmt.Sprintf("d%d@example.com", i%1000), "channel": "email", "purpose": "news"}
		if err := httpJSON(ctx, c, "POST", targets[int(i)%len(targets)]+"/v1/decisions", q, nil); err != nil {
			failed.Store(err)
		}
		return nil
	})
	if err, _ := failed.Load().(error); err != nil {
		return 0, err
	}
	return r, nil
}
