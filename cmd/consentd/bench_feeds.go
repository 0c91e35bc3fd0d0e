package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/consentd/consentd/internal/feeds"
)

// benchFeedBatch is the events of one SendGrid request in the feeds
// scenario, half hard bounces, half unsubscribes with a message reference.
const benchFeedBatch = 128

// benchFeedRounds is how many requests each side of the feeds scenario
// sends (after one to warm up).
const benchFeedRounds = 20

// benchFeeds posts SendGrid batches of benchFeedBatch events on distinct
// addresses (64 hard bounces: a suppression each; 64 unsubscribes: an
// opt-out each) to a feed of a real `consentd serve` on SQLite and, when
// PostgreSQL answers, on PostgreSQL, against POST /v1/consents:batch of
// benchFeedBatch opt-outs of new addresses to the same server: the same
// number of logged writes per request.
func benchFeeds(ctx context.Context, e *benchEnv) (*benchResult, error) {
	r := &benchResult{Scenario: "feeds", Notes: map[string]any{"batch": benchFeedBatch, "rounds": benchFeedRounds,
		"events": "half hard bounces, half unsubscribes with a message reference, distinct addresses",
		"server": "consentd serve in this process, HTTP on loopback"}}
	add := func(backend string, ours, ref float64) {
		r.Figures = append(r.Figures, benchFigure{Name: backend + " SendGrid feed events", Unit: "events/s", Value: ours,
			Reference: ref, RefName: "POST /v1/consents:batch of as many opt-outs", Ratio: ours / ref, Goal: ">= 0.5", Met: met(ours/ref >= 0.5)})
	}
	ours, ref, err := benchFeedsServe(ctx, "--data", filepath.Join(e.dir, "feeds-sqlite"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	add("sqlite", ours, ref)
	url, drop, err := freshPostgres(ctx, e.pgURL, "consentd_bench_feeds_")
	if err != nil {
		r.Notes["postgres"] = "skipped: " + err.Error()
		return r, nil
	}
	defer drop()
	if ours, ref, err = benchFeedsServe(ctx, "--database", url, "--data", filepath.Join(e.dir, "feeds-pg")); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	add("postgres", ours, ref)
	return r, nil
}

// benchFeedsServe starts serve with args, makes a purpose and a SendGrid
// feed, and returns the events/s through the feed and the consents/s of
// consents:batch, timed in alternating rounds.
func benchFeedsServe(ctx context.Context, args ...string) (ours, ref float64, err error) {
	srv, err := startReplica(ctx, map[string]string{"CONSENTD_ADMIN_KEY": benchAdminKey}, io.Discard, args...)
	if err != nil {
		return 0, 0, err
	}
	defer srv.close()
	base := "http://" + srv.addr
	c := &http.Client{Timeout: time.Minute}
	auth := func(method, path string, body, out any) error {
		b, _ := json.Marshal(body)
		req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(b))
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
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("%s %s = %d %.300s", method, path, resp.StatusCode, raw)
		}
		if out != nil {
			return json.Unmarshal(raw, out)
		}
		return nil
	}
	if err := auth("POST", "/v1/purposes", map[string]any{"id": "news", "name": "News", "type": "commercial",
		"channels": map[string]any{"email": map[string]any{}}}, nil); err != nil {
		return 0, 0, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return 0, 0, err
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	var feed struct {
		URL string `json:"url"`
	}
	if err := auth("POST", "/v1/feeds", map[string]any{"id": "sg", "provider": "sendgrid", "public_key": base64.StdEncoding.EncodeToString(der)}, &feed); err != nil {
		return 0, 0, err
	}

	// The bodies, with a message reference per unsubscribe, made before
	// the clock starts.
	rounds := benchFeedRounds + 1
	bodies := make([][]byte, rounds)
	at := time.Now().Add(-time.Hour).Unix()
	for r := range rounds {
		events := make([]map[string]any, 0, benchFeedBatch)
		for i := range benchFeedBatch {
			addr := fmt.Sprintf("feed%d-%d@example.com", r, i)
			ev := map[string]any{"email": addr, "timestamp": at, "sg_event_id": fmt.Sprintf("ev-%d-%d", r, i)}
			if i%2 == 0 {
				ev["event"], ev["type"] = "bounce", "bounce"
			} else {
				var link struct {
					MessageRef string `json:"message_ref"`
				}
				if err := auth("POST", "/v1/links", map[string]any{"kind": "unsubscribe", "contact_point": addr, "channel_type": "news:email"}, &link); err != nil {
					return 0, 0, err
				}
				ev["event"], ev["consentd"] = "unsubscribe", link.MessageRef
			}
			events = append(events, ev)
		}
		bodies[r], _ = json.Marshal(events)
	}
	postFeed := func(body []byte) error {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		h := sha256.Sum256(append([]byte(ts), body...))
		sig, err := ecdsa.SignASN1(rand.Reader, key, h[:])
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, "POST", feed.URL, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set(feeds.SendGridSignatureHeader, base64.StdEncoding.EncodeToString(sig))
		req.Header.Set(feeds.SendGridTimestampHeader, ts)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var out struct {
			Events, Duplicates, Suppressions, Consents int
		}
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || json.Unmarshal(raw, &out) != nil || out.Suppressions+out.Consents != benchFeedBatch {
			return fmt.Errorf("POST %s = %d %.300s; want %d writes", feed.URL, resp.StatusCode, raw, benchFeedBatch)
		}
		return nil
	}
	writeBatch := func(r int) error {
		items := make([]map[string]any, benchFeedBatch)
		for i := range items {
			items[i] = map[string]any{"contact_point": fmt.Sprintf("batch%d-%d@example.com", r, i), "channel": "email", "purpose": "news",
				"status": "opted_out", "captured_at": time.Unix(at, 0).UTC().Format(time.RFC3339), "source": map[string]any{"type": "api"}}
		}
		return auth("POST", "/v1/consents:batch", map[string]any{"consents": items}, nil)
	}

	// One of each to warm up, then the timed rounds, alternating so that
	// both sides meet the same database size and machine load.
	if err := postFeed(bodies[0]); err != nil {
		return 0, 0, err
	}
	if err := writeBatch(0); err != nil {
		return 0, 0, err
	}
	var feedTime, batchTime time.Duration
	for r := 1; r < rounds; r++ {
		start := time.Now()
		if err := postFeed(bodies[r]); err != nil {
			return 0, 0, err
		}
		feedTime += time.Since(start)
		start = time.Now()
		if err := writeBatch(r); err != nil {
			return 0, 0, err
		}
		batchTime += time.Since(start)
	}
	n := float64(benchFeedRounds * benchFeedBatch)
	return n / feedTime.Seconds(), n / batchTime.Seconds(), nil
}
