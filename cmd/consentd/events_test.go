package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/natspub"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// testNATS is the NATS server of these tests: CONSENTD_TEST_NATS (as .ci/run
// sets it), by default the local one.
var testNATS = cmp.Or(os.Getenv("CONSENTD_TEST_NATS"), "nats://127.0.0.1:4222")

// needNATS skips the test when NATS is not reachable, except in CI
// (CI=true), where it fails: CI runs NATS with JetStream.
func needNATS(t *testing.T) {
	t.Helper()
	u, err := url.Parse(testNATS)
	if err == nil {
		var c net.Conn
		if c, err = net.DialTimeout("tcp", u.Host, 2*time.Second); err == nil {
			c.Close()
			return
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("NATS with JetStream is not reachable at %s (CI=true): %v", testNATS, err)
	}
	t.Skipf("NATS with JetStream is not reachable at %s (%v): start nats-server -js, or set CONSENTD_TEST_NATS", testNATS, err)
}

// serveWith runs `consentd serve` on dir with extra flags, in this process.
func serveWith(t *testing.T, dir string, extra ...string) *inProcessServer {
	t.Helper()
	return startInProcessServer(t, dir, extra...)
}

// call sends a request with key and decodes the answer into out.
func call(t *testing.T, base, key, method, path string, body any, want int, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := ledgerTestClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s = %d %s; want %d", method, path, res.StatusCode, raw, want)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNATSAcrossRestarts publishes a workspace's events to JetStream:
// written while the publisher runs, while consentd runs without
// --nats-url, and after a restart with it. A consumer of
// consentd.<workspace>.> receives every entry of the log, one message id
// per seq, each a CloudEvent with the stable id.
func TestNATSAcrossRestarts(t *testing.T) {
	needNATS(t)
	dir := t.TempDir()
	name := fmt.Sprintf("nats-test-%d", time.Now().UnixNano())
	var out bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: io.Discard, Getenv: ledgerTestEnv(nil)}
	if code := m.Run(context.Background(), []string{"workspace", "create", name, "--data", dir}); code != 0 {
		t.Fatalf("workspace create = %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	key := lines[len(lines)-1]

	at := time.Now().Add(-time.Hour).UTC()
	writes := func(base string, from, to int) {
		for i := from; i <= to; i++ {
			call(t, base, key, "POST", "/v1/consents", consentWriteBody(fmt.Sprintf("n%d@example.com", i), "opted_in", at.Add(time.Duration(i)*time.Second)), 201, nil)
		}
	}
	s := serveWith(t, dir, "--nats-url", testNATS)
	call(t, s.base, key, "POST", "/v1/purposes", newsletterPurpose, 201, nil)
	writes(s.base, 1, 5)
	s.stop()
	s = serveWith(t, dir) // no publisher: these wait in the log
	writes(s.base, 6, 9)
	s.stop()
	s = serveWith(t, dir, "--nats-url", testNATS)
	writes(s.base, 10, 11)
	var ws consentd.Workspace
	call(t, s.base, key, "GET", "/v1/workspace", nil, 200, &ws)
	var page struct {
		Entries []consentd.LogRecord `json:"entries"`
	}
	call(t, s.base, key, "GET", "/v1/log?limit=1000", nil, 200, &page)
	size := int64(len(page.Entries))

	nc, err := nats.Connect(testNATS)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var cons jetstream.Consumer
	for cons == nil {
		cons, err = js.OrderedConsumer(ctx, natspub.DefaultStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"consentd." + name + ".>"}})
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("no stream %s: %v", natspub.DefaultStream, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	bySeq := map[int64]string{}
	for int64(len(bySeq)) < size {
		msgs, err := cons.Fetch(100, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for msg := range msgs.Messages() {
			var ev consentd.CloudEvent
			if err := json.Unmarshal(msg.Data(), &ev); err != nil {
				t.Fatalf("message on %s: %v", msg.Subject(), err)
			}
			id := msg.Headers().Get(jetstream.MsgIDHeader)
			if id != ev.ID || ev.ID != consentd.EventID(ws.ID, ev.Data.Seq) || msg.Subject() != "consentd."+name+"."+ev.Type || ev.Source != "/workspaces/"+name {
				t.Errorf("message on %s: Nats-Msg-Id %q, event %s seq %d source %s; want the stable id, subject consentd.<workspace>.<type>", msg.Subject(), id, ev.ID, ev.Data.Seq, ev.Source)
			}
			if prev, dup := bySeq[ev.Data.Seq]; dup {
				t.Errorf("seq %d twice (ids %s, %s)", ev.Data.Seq, prev, id)
			}
			bySeq[ev.Data.Seq] = id
			if ev.Type == consentd.LogConsentChanged && (ev.Data.Consent == nil || !strings.HasSuffix(ev.Data.Consent.ContactPoint, "@example.com")) {
				t.Errorf("seq %d: consent %+v; want the plaintext consent", ev.Data.Seq, ev.Data.Consent)
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("received %d of %d entries; stderr:\n%s", len(bySeq), size, s.stderr)
		}
	}
	for seq := int64(1); seq <= size; seq++ {
		if _, ok := bySeq[seq]; !ok {
			t.Errorf("seq %d never published", seq)
		}
	}
	if int64(len(bySeq)) != size {
		t.Errorf("%d messages for a log of %d entries", len(bySeq), size)
	}
}
