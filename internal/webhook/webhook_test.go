package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/api"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/sqlite"
	"github.com/consentd/consentd/internal/webhook"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// ---- environment: real SQLite, the real API on loopback, a receiver ----

type env struct {
	t     *testing.T
	db    *sqlite.DB
	api   *httptest.Server
	admin string
	ws    string
	t0    time.Time
}

// newEnv opens a database in t.TempDir(), serves the API (webhook targets
// on loopback allowed, as the receivers are there) and makes workspace
// "alpha" with an admin key and a newsletter purpose on email.
func newEnv(t *testing.T, allowPrivate bool) *env {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(filepath.Join(dir, "consentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	signer, err := ledger.LoadOrCreateKey(filepath.Join(dir, "checkpoint.key"), "consentd")
	if err != nil {
		t.Fatal(err)
	}
	s := api.New(db, signer, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.WebhookAllowPrivate = allowPrivate
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	ws, err := db.CreateWorkspace(t.Context(), "alpha")
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := db.CreateKey(t.Context(), ws.ID, consentd.RoleAdmin, "admin", "")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, api: srv, admin: key, ws: ws.ID, t0: time.Now().Add(-time.Hour).UTC()}
	e.do("POST", "/v1/purposes", `{"id":"newsletter","name":"Newsletter","type":"commercial","channels":{"email":{}}}`, 201, nil)
	return e
}

// do calls the API as admin, checks the status and decodes the answer
// into out (when not nil).
func (e *env) do(method, path, body string, want int, out any) []byte {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.api.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.admin)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		e.t.Fatalf("%s %s = %d %s; want %d", method, path, res.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return b
}

// write writes opted_in (or opted_out) consents for the addresses, with
// origin, one write each.
func (e *env) write(origin string, cps ...string) {
	e.t.Helper()
	for i, cp := range cps {
		w := consentd.ConsentWrite{ContactPoint: cp, Channel: "email", Purpose: "newsletter", Status: consentd.OptedIn,
			CapturedAt: e.t0.Add(time.Duration(i) * time.Millisecond), Source: consentd.Source{Type: consentd.SourceForm, Name: "signup"}, Origin: origin}
		res, err := e.db.WriteConsents(e.t.Context(), e.ws, []consentd.ConsentWrite{w}, "test")
		if err != nil || res[0].Err != nil {
			e.t.Fatalf("WriteConsents(%s) = %v, %v", cp, err, res[0].Err)
		}
	}
}

// createWebhook creates a webhook through the API and returns it with the
// secret the answer showed once.
func (e *env) createWebhook(body string) consentd.Webhook {
	e.t.Helper()
	var w consentd.Webhook
	e.do("POST", "/v1/webhooks", body, 201, &w)
	if !strings.HasPrefix(w.Secret, "whsec_") {
		e.t.Fatalf("POST /v1/webhooks: secret %q; want a generated whsec_ secret shown once", w.Secret)
	}
	return w
}

// deliverer returns a deliverer with a schedule in milliseconds.
func (e *env) deliverer(allowPrivate bool, backoff ...time.Duration) *webhook.Deliverer {
	d := webhook.New(e.db, allowPrivate, slog.New(slog.NewTextHandler(io.Discard, nil)))
	d.Poll = 5 * time.Millisecond
	d.Backoff = backoff
	if backoff == nil {
		d.Backoff = []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond, 8 * time.Millisecond, 16 * time.Millisecond}
	}
	return d
}

// start runs d until the returned stop is called (and the test's end).
func start(t *testing.T, d *webhook.Deliverer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	stop = sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	return stop
}

// request is what a receiver got.
type request struct {
	header http.Header
	body   []byte
	event  consentd.CloudEvent
	status int
}

// receiver is a webhook endpoint in the test: it answers status(n) to its
// nth request (from 1).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []request
	status func(n int) int
}

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	r := &receiver{status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		var ev consentd.CloudEvent
		json.Unmarshal(b, &ev)
		r.mu.Lock()
		st := r.status(len(r.got) + 1)
		r.got = append(r.got, request{header: req.Header.Clone(), body: b, event: ev, status: st})
		r.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.got...)
}

// accepted returns the events the receiver accepted (2xx), in order.
func (r *receiver) accepted() []request {
	var out []request
	for _, q := range r.requests() {
		if q.status < 300 {
			out = append(out, q)
		}
	}
	return out
}

// waitFor polls cond until it holds; it fails the test after a minute
// (a hang, not a timing threshold: the deliveries take milliseconds).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// contactPoints returns the plaintext contact points of requests' events.
func contactPoints(rs []request) []string {
	var out []string
	for _, q := range rs {
		if q.event.Data != nil && q.event.Data.Consent != nil {
			out = append(out, q.event.Data.Consent.ContactPoint)
		}
	}
	return out
}

func addrs(prefix string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("%s%d@example.com", prefix, i))
	}
	return out
}

// ---- 1 and 2: down, then up; a restart in between ----

func TestDeliveryRetriesRestartAndSignatures(t *testing.T) {
	e := newEnv(t, true)
	const down = 3
	attemptsTotal := webhook.Collectors()[0].(*prometheus.CounterVec)
	failedBefore, deliveredBefore := testutil.ToFloat64(attemptsTotal.WithLabelValues("failed")), testutil.ToFloat64(attemptsTotal.WithLabelValues("delivered"))
	t.Cleanup(func() {
		// Every attempt is counted: the down ones as failed.
		if n := testutil.ToFloat64(attemptsTotal.WithLabelValues("failed")) - failedBefore; n < down {
			t.Errorf("consentd_webhook_attempts_total{result=failed} grew by %v; want >= %d", n, down)
		}
		if n := testutil.ToFloat64(attemptsTotal.WithLabelValues("delivered")) - deliveredBefore; n < 5 {
			t.Errorf("consentd_webhook_attempts_total{result=delivered} grew by %v; want >= 5", n)
		}
	})
	rcv := newReceiver(t, func(n int) int {
		if n <= down {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	e.write("", "before@example.com") // before the webhook: not sent
	wh := e.createWebhook(fmt.Sprintf(`{"id":"crm","url":%q,"events":["consent.changed"]}`, rcv.srv.URL+"/hook"))
	first := addrs("a", 1, 5)
	e.write("", first...)

	stop := start(t, e.deliverer(true))
	waitFor(t, "the first 5 events", func() bool { return len(rcv.accepted()) >= len(first) })
	stop()

	// The receiver was down for the first attempts: they were all of the
	// first event, with one id.
	reqs := rcv.requests()
	for i := 0; i <= down; i++ {
		if id := reqs[i].header.Get("webhook-id"); id != reqs[0].header.Get("webhook-id") {
			t.Errorf("attempt %d has webhook-id %q; the first had %q (ids must be stable across retries)", i+1, id, reqs[0].header.Get("webhook-id"))
		}
	}

	// Restart: writes while the deliverer is stopped arrive once it is back.
	second := addrs("b", 1, 4)
	e.write("", second...)
	start(t, e.deliverer(true))
	waitFor(t, "every event after the restart", func() bool { return len(rcv.accepted()) >= len(first)+len(second) })

	verifier, err := standardwebhooks.NewWebhook(wh.Secret)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	want = append(want, first...)
	want = append(want, second...)
	// At least once: an event accepted just as the deliverer stopped may
	// come again after the restart, with the same id (dropped here).
	var acc []request
	seen := map[string]bool{}
	for _, q := range rcv.accepted() {
		if id := q.header.Get("webhook-id"); !seen[id] {
			seen[id] = true
			acc = append(acc, q)
		}
	}
	if got := contactPoints(acc); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("accepted contact points %v; want %v, in order", got, want)
	}
	var lastSeq int64
	for _, q := range rcv.requests() {
		if err := verifier.Verify(q.body, q.header); err != nil {
			t.Errorf("request for %s: signature does not verify: %v", q.header.Get("webhook-id"), err)
		}
		ev := q.event
		if ev.SpecVersion != "1.0" || ev.ID != consentd.EventID(e.ws, ev.Data.Seq) || ev.ID != q.header.Get("webhook-id") || ev.Source != "/workspaces/alpha" ||
			ev.Type != consentd.LogConsentChanged || ev.DataContentType != "application/json" || ev.Time.IsZero() {
			t.Errorf("event %s: %+v; want a CloudEvent with id <workspace>-<seq> = webhook-id, source /workspaces/alpha", ev.ID, ev)
		}
		if ct := q.header.Get("Content-Type"); ct != webhook.ContentType {
			t.Errorf("Content-Type %q; want %s", ct, webhook.ContentType)
		}
		if c := ev.Data.Consent; c == nil || c.ID != c.ContactPoint+"#newsletter:email" || c.Status != consentd.OptedIn || c.Purpose != "newsletter" || c.Channel != "email" {
			t.Errorf("event %s: consent %+v; want the plaintext consent", ev.ID, c)
		}
		if q.status < 300 {
			if ev.Data.Seq < lastSeq {
				t.Errorf("accepted seq %d after %d: out of order or twice", ev.Data.Seq, lastSeq)
			}
			lastSeq = ev.Data.Seq
		}
	}

	// The delivery log shows the failures, then the successes (once the
	// last success is recorded: the receiver sees it first).
	var got consentd.Webhook
	waitFor(t, "the last delivery recorded", func() bool {
		got = consentd.Webhook{}
		e.do("GET", "/v1/webhooks/crm", "", 200, &got)
		return got.Position == lastSeq
	})
	var dl struct {
		Deliveries []consentd.WebhookDelivery `json:"deliveries"`
	}
	e.do("GET", "/v1/webhooks/crm/deliveries?limit=1000", "", 200, &dl)
	if n := len(rcv.requests()); len(dl.Deliveries) != n && len(dl.Deliveries) != n-1 {
		t.Fatalf("%d delivery rows; the receiver saw %d requests (one may be cut off by the stop)", len(dl.Deliveries), n)
	}
	oldest := dl.Deliveries[len(dl.Deliveries)-down:] // newest first
	for i, d := range oldest {
		attempt := down - i
		if d.StatusCode != 503 || d.Attempt != attempt || d.NextAttemptAt.IsZero() || d.EventID != reqs[0].header.Get("webhook-id") {
			t.Errorf("delivery row of attempt %d: %+v; want 503 with a next attempt time", attempt, d)
		}
	}
	if d := dl.Deliveries[0]; d.StatusCode != 204 || d.Attempt != 1 || !d.NextAttemptAt.IsZero() {
		t.Errorf("newest delivery row %+v; want a first-attempt 204", d)
	}
	if got.Secret != "" || got.Position != lastSeq || got.Failures != 0 {
		t.Errorf("GET /v1/webhooks/crm = %+v; want no secret, position %d, no failures", got, lastSeq)
	}
}

// ---- 3: 410 disables, PATCH re-enables and resumes; schedule exhausted ----

func TestGoneDisablesAndPatchResumes(t *testing.T) {
	e := newEnv(t, true)
	var mu sync.Mutex
	status := http.StatusGone
	rcv := newReceiver(t, func(int) int { mu.Lock(); defer mu.Unlock(); return status })
	e.createWebhook(fmt.Sprintf(`{"id":"crm","url":%q}`, rcv.srv.URL))
	e.write("", addrs("a", 1, 3)...)
	start(t, e.deliverer(true))
	var w consentd.Webhook
	waitFor(t, "the webhook disabled", func() bool {
		w = consentd.Webhook{}
		e.do("GET", "/v1/webhooks/crm", "", 200, &w)
		return w.Disabled
	})
	if n := len(rcv.requests()); n != 1 || !strings.Contains(w.DisabledReason, "410") {
		t.Fatalf("after 410: %d requests, reason %q; want 1 request and a reason naming 410", n, w.DisabledReason)
	}
	e.write("", "later@example.com")
	mu.Lock()
	status = http.StatusOK
	mu.Unlock()
	var re consentd.Webhook
	e.do("PATCH", "/v1/webhooks/crm", `{"disabled":false}`, 200, &re)
	if re.Disabled || re.DisabledReason != "" || re.Position != w.Position {
		t.Errorf("PATCH disabled:false = %+v; want enabled at position %d", re, w.Position)
	}
	waitFor(t, "every event after re-enabling", func() bool { return len(rcv.accepted()) >= 4 })
	want := append(addrs("a", 1, 3), "later@example.com")
	if got := contactPoints(rcv.accepted()); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("after re-enabling: %v; want %v (resumed from the stored position)", got, want)
	}
	if id0, id1 := rcv.requests()[0].header.Get("webhook-id"), rcv.requests()[1].header.Get("webhook-id"); id0 != id1 {
		t.Errorf("the event refused with 410 had id %s, resent as %s", id0, id1)
	}
}

func TestScheduleExhaustedDisables(t *testing.T) {
	e := newEnv(t, true)
	rcv := newReceiver(t, func(int) int { return http.StatusInternalServerError })
	e.createWebhook(fmt.Sprintf(`{"id":"crm","url":%q}`, rcv.srv.URL))
	e.write("", "a@example.com", "b@example.com")
	start(t, e.deliverer(true, time.Millisecond, time.Millisecond, time.Millisecond))
	var w consentd.Webhook
	waitFor(t, "the webhook disabled", func() bool {
		w = consentd.Webhook{}
		e.do("GET", "/v1/webhooks/crm", "", 200, &w)
		return w.Disabled
	})
	reqs := rcv.requests()
	if len(reqs) != 4 || w.Failures != 4 {
		t.Errorf("%d attempts, failures %d; want 4 (1 + 3 retries) of the first event", len(reqs), w.Failures)
	}
	for _, q := range reqs {
		if q.event.Data.Consent.ContactPoint != "a@example.com" {
			t.Errorf("attempt at %s; the first event failing holds back the later ones", q.event.Data.Consent.ContactPoint)
		}
	}
}

// ---- 3: private targets ----

func TestPrivateTargets(t *testing.T) {
	e := newEnv(t, false)
	for _, url := range []string{"http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://10.1.2.3/", "http://[::1]/", "http://169.254.169.254/latest",
		"http://192.168.0.1/", "http://[fd00::1]/", "http://0.0.0.0/", "http://224.0.0.1/"} {
		req, _ := http.NewRequest("POST", e.api.URL+"/v1/webhooks", strings.NewReader(fmt.Sprintf(`{"url":%q}`, url)))
		req.Header.Set("Authorization", "Bearer "+e.admin)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var p api.Problem
		json.NewDecoder(res.Body).Decode(&p)
		res.Body.Close()
		if res.StatusCode != 422 || p.Code != consentd.EWEBHOOKTARGET {
			t.Errorf("POST /v1/webhooks url %s = %d %s; want 422 %s", url, res.StatusCode, p.Code, consentd.EWEBHOOKTARGET)
		}
	}
	var l struct{ Webhooks []consentd.Webhook }
	e.do("GET", "/v1/webhooks", "", 200, &l)
	if len(l.Webhooks) != 0 {
		t.Errorf("refused webhooks were stored: %v", l.Webhooks)
	}
	// A public literal is fine at creation.
	e.do("POST", "/v1/webhooks", `{"id":"pub","url":"https://93.184.215.14/hook"}`, 201, nil)
}

// IPv6 literals that carry a loopback, private or link-local IPv4 address
// are refused at creation; with allow-private (as tests run receivers on
// loopback) they are let in; a 6to4 address of a public IPv4 address is
// fine. Nothing connects: no deliverer runs.
func TestEmbeddedIPv4Targets(t *testing.T) {
	post := func(e *env, url string) (int, string) {
		req, _ := http.NewRequest("POST", e.api.URL+"/v1/webhooks", strings.NewReader(fmt.Sprintf(`{"url":%q}`, url)))
		req.Header.Set("Authorization", "Bearer "+e.admin)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var p api.Problem
		json.NewDecoder(res.Body).Decode(&p)
		return res.StatusCode, p.Code
	}
	var urls []string
	for _, h := range []string{
		"::127.0.0.1", "::10.0.0.1", "::192.168.1.1", "::169.254.169.254", // IPv4-compatible
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:192.168.1.1", "::ffff:169.254.169.254", // IPv4-mapped
		"::ffff:0:127.0.0.1", "::ffff:0:10.0.0.1", // IPv4-translated
		"2002:7f00:1::1", "2002:a00:1::1", "2002:c0a8:101::1", "2002:a9fe:a9fe::1", // 6to4
		"2001:0:7f00:1::f7f7:fbfb", "2001:0:a00:1::f7f7:fbfb", "2001:0:c0a8:101::f7f7:fbfb", "2001:0:a9fe:a9fe::f7f7:fbfb", // Teredo server
		"2001:0:808:808::80ff:fffe", "2001:0:808:808::f5ff:fffe", "2001:0:808:808::3f57:fefe", "2001:0:808:808::5601:5601", // Teredo client
		"2001:0:7f00:1::",                                                                             // Teredo server 127.0.0.1, as a URL would have it
		"64:ff9b::127.0.0.1", "64:ff9b::10.0.0.1", "64:ff9b::192.168.1.1", "64:ff9b::169.254.169.254", // NAT64
		"64:ff9b:1::7f00:1", "64:ff9b:1:a00:1::", "64:ff9b:1::c0a8:101", "64:ff9b:1::a9fe:a9fe", // NAT64, local-use
		"fe80::1", "fc00::1", "fd00::1", "::", "ff02::1",
	} {
		urls = append(urls, "http://["+h+"]:8080/hook")
	}
	e := newEnv(t, false)
	for _, u := range urls {
		if st, code := post(e, u); st != 422 || code != consentd.EWEBHOOKTARGET {
			t.Errorf("POST /v1/webhooks url %s = %d %s; want 422 %s", u, st, code, consentd.EWEBHOOKTARGET)
		}
	}
	var l struct{ Webhooks []consentd.Webhook }
	e.do("GET", "/v1/webhooks", "", 200, &l)
	if len(l.Webhooks) != 0 {
		t.Errorf("refused webhooks were stored: %v", l.Webhooks)
	}
	// 6to4 and Teredo of public addresses (8.8.8.8, 8.8.4.4) are allowed.
	for _, u := range []string{"http://[2002:808:808::1]/hook", "http://[2001:0:808:808::f7f7:fbfb]/hook"} {
		if st, code := post(e, u); st != 201 {
			t.Errorf("POST /v1/webhooks url %s = %d %s; want 201", u, st, code)
		}
	}
	// With allow-private the loopback forms are let in.
	ep := newEnv(t, true)
	for _, u := range []string{"http://[::127.0.0.1]/", "http://[2002:7f00:1::1]/", "http://[2001:0:7f00:1::]/", "http://[::ffff:127.0.0.1]/"} {
		if st, code := post(ep, u); st != 201 {
			t.Errorf("allow-private: POST /v1/webhooks url %s = %d %s; want 201", u, st, code)
		}
	}
}

// A name that resolves to loopback at delivery time is refused when it
// connects (the check at creation is not enough: DNS may change).
func TestConnectTimeCheck(t *testing.T) {
	e := newEnv(t, true) // the API lets it in ...
	rcv := newReceiver(t, func(int) int { return 200 })
	port := rcv.srv.URL[strings.LastIndexByte(rcv.srv.URL, ':'):]
	e.createWebhook(fmt.Sprintf(`{"id":"crm","url":"http://localhost%s/hook"}`, port))
	e.write("", "a@example.com")
	start(t, e.deliverer(false)) // ... the deliverer does not.
	var dl struct {
		Deliveries []consentd.WebhookDelivery `json:"deliveries"`
	}
	waitFor(t, "a failed delivery", func() bool {
		e.do("GET", "/v1/webhooks/crm/deliveries", "", 200, &dl)
		return len(dl.Deliveries) > 0
	})
	if d := dl.Deliveries[len(dl.Deliveries)-1]; d.StatusCode != 0 || !strings.Contains(d.Error, consentd.EWEBHOOKTARGET) {
		t.Errorf("delivery to localhost: %+v; want refused with %s", d, consentd.EWEBHOOKTARGET)
	}
	if n := len(rcv.requests()); n != 0 {
		t.Errorf("the receiver on loopback got %d requests; want none", n)
	}
}

// ---- 4: loop prevention by origin ----

func TestOriginFilter(t *testing.T) {
	e := newEnv(t, true)
	crm := newReceiver(t, func(int) int { return 200 })
	other := newReceiver(t, func(int) int { return 200 })
	e.createWebhook(fmt.Sprintf(`{"id":"crm","url":%q,"origin":"crm"}`, crm.srv.URL))
	e.createWebhook(fmt.Sprintf(`{"id":"other","url":%q}`, other.srv.URL))
	e.write("crm", "fromcrm@example.com")
	e.write("", "fromform@example.com")
	e.write("crm", "fromcrm2@example.com")
	start(t, e.deliverer(true))
	waitFor(t, "every event at the other webhook", func() bool { return len(other.accepted()) >= 3 })
	var w consentd.Webhook
	waitFor(t, "the crm webhook caught up", func() bool {
		e.do("GET", "/v1/webhooks/crm", "", 200, &w)
		return w.Position == other.accepted()[2].event.Data.Seq
	})
	if got := contactPoints(crm.accepted()); strings.Join(got, ",") != "fromform@example.com" {
		t.Errorf("the crm webhook got %v; want only the write that did not come from crm", got)
	}
	if got := contactPoints(other.accepted()); len(got) != 3 {
		t.Errorf("the other webhook got %v; want all 3", got)
	}
}

// The signature is the spec's: checked against the library on a fixed
// message too.
func TestSign(t *testing.T) {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	key, err := consentd.WebhookKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"test": 2432232314}`)
	ts := time.Now().Unix()
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", fmt.Sprint(ts))
	h.Set("webhook-signature", webhook.Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", ts, body))
	v, _ := standardwebhooks.NewWebhook(secret)
	if err := v.Verify(body, h); err != nil {
		t.Errorf("Verify = %v", err)
	}
	if err := v.Verify(bytes.Replace(body, []byte("2"), []byte("3"), 1), h); err == nil {
		t.Error("Verify(changed body) = nil; want an error")
	}
}
