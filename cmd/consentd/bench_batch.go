package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consentd/consentd/internal/api"
)

// benchBatchSize is the consents of one batch-write request: the most one
// batch may hold (docs/api.md: consents:batch of 10,000).
const benchBatchSize = api.MaxBatch

// benchBatchClients is how many batch requests are in flight at once: two,
// so that one request's JSON decoding in the server overlaps the other's
// commit, as a bulk loader with a little concurrency does.
const benchBatchClients = 2

// benchBatchWrite posts --batches requests of benchBatchSize new consents
// to POST /v1/consents:batch of a real `consentd serve` on loopback, on
// SQLite and, when PostgreSQL answers, on PostgreSQL, against the import
// scenario's raw insert rate of the same backend for the same rows, measured
// in the same run (rawSQLiteBulk, rawPostgresCopy).
func benchBatchWrite(ctx context.Context, e *benchEnv) (*benchResult, error) {
	n := e.batches * benchBatchSize
	r := &benchResult{Scenario: "batch-write", Notes: map[string]any{"batches": e.batches, "batch_size": benchBatchSize,
		"consents": n, "clients": benchBatchClients, "server": "consentd serve in this process, HTTP on loopback"}}
	add := func(backend string, ours, raw float64, refName string) {
		r.Figures = append(r.Figures, benchFigure{Name: backend + " batch writes", Unit: "consents/s", Value: ours,
			Reference: raw, RefName: refName, Ratio: ours / raw, Goal: ">= 0.6 of raw", Met: met(ours/raw >= 0.6)})
	}

	// SQLite.
	ours, err := benchBatchServe(ctx, e, n, "--data", filepath.Join(e.dir, "batch-sqlite"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	raw, err := rawSQLiteBulk(ctx, filepath.Join(e.dir, "batch-raw.db"), newRawRows(n, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite reference: %w", err)
	}
	add("sqlite", ours, raw, "plain INSERTs in one transaction into the consents table")

	// PostgreSQL, when it answers.
	url, drop, err := freshPostgres(ctx, e.pgURL, "consentd_bench_batch_")
	if err != nil {
		r.Notes["postgres"] = "skipped: " + err.Error()
		return r, nil
	}
	defer drop()
	ours, err = benchBatchServe(ctx, e, n, "--database", url, "--data", filepath.Join(e.dir, "batch-pg"))
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	raw, err = rawPostgresCopy(ctx, url, "raw_batch", newRawRows(n, false))
	if err != nil {
		return nil, fmt.Errorf("postgres reference: %w", err)
	}
	add("postgres", ours, raw, "COPY into a table like the consents table")
	return r, nil
}

// benchBatchServe starts serve with args, makes the purpose news (email),
// writes n consents in batches from benchBatchClients clients, stops the
// server and returns the consents/s. Every consent must be created: the
// rows are new, and an item the server refused fails the bench.
func benchBatchServe(ctx context.Context, e *benchEnv, n int, args ...string) (float64, error) {
	srv, err := startReplica(ctx, map[string]string{"CONSENTD_ADMIN_KEY": benchAdminKey}, io.Discard, args...)
	if err != nil {
		return 0, err
	}
	defer srv.close()
	base := "http://" + srv.addr
	c := &http.Client{Timeout: 5 * time.Minute}
	if err := httpJSON(ctx, c, "POST", base+"/v1/purposes", map[string]any{"id": "news", "name": "News", "type": "commercial",
		"channels": map[string]any{"email": map[string]any{}}}, nil); err != nil {
		return 0, err
	}
	batches := (n + benchBatchSize - 1) / benchBatchSize
	var next atomic.Int64
	var failed error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range benchBatchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body []byte
			for {
				b := int(next.Add(1)) - 1
				if b >= batches {
					return
				}
				from := b * benchBatchSize
				size := min(benchBatchSize, n-from)
				body = appendBatchBody(body[:0], from, size)
				if err := postBatch(ctx, c, base, body, size); err != nil {
					once.Do(func() { failed = fmt.Errorf("batch %d: %w", b+1, err) })
					next.Store(int64(batches)) // stop the other clients
					return
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	if failed != nil {
		return 0, failed
	}
	return float64(n) / d.Seconds(), nil
}

// appendBatchBody appends the JSON body of a batch of the import scenario's
// rows from..from+n-1 (benchImportFile): the same contact points, statuses,
// captured_at and source, so that the raw reference stores the same rows.
// It appends by hand because encoding/json on 10,000 maps would cost the
// client, which shares the cores with the server, more than it needs.
func appendBatchBody(b []byte, from, n int) []byte {
	at := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	b = append(b, `{"consents":[`...)
	for i := from; i < from+n; i++ {
		if i > from {
			b = append(b, ',')
		}
		status := "opted_in"
		if i%3 == 0 {
			status = "opted_out"
		}
		b = append(b, `{"contact_point":"user`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `@example.com","channel":"email","purpose":"news","status":"`...)
		b = append(b, status...)
		b = append(b, `","captured_at":"`...)
		b = at.Add(time.Duration(i)*time.Second).AppendFormat(b, time.RFC3339)
		b = append(b, `","source":`...)
		b = append(b, rawSource...)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// postBatch posts one batch and checks that the answer holds n results,
// each created. It counts the outcomes in the raw answer rather than
// decoding it, for the same reason appendBatchBody appends by hand.
func postBatch(ctx context.Context, c *http.Client, base string, body []byte, n int) error {
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/v1/consents:batch", bytes.NewReader(body))
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
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("POST /v1/consents:batch of %d consents (%d bytes) = %d %.500s", n, len(body), resp.StatusCode, answer)
	}
	if got := bytes.Count(answer, []byte(`"outcome":"created"`)); got != n {
		return fmt.Errorf("POST /v1/consents:batch of %d new consents created %d: %.500s", n, got, answer)
	}
	return nil
}
