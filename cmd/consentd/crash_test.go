package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestKill9LosesNoAcknowledgedWrite runs the real binary, kills it with
// SIGKILL while concurrent writers are in flight, restarts it on the same
// data folder and checks that every write it acknowledged is there and that
// the log verifies (docs/architecture.md (reliability and security): "kill -9 at any moment loses no
// acknowledged write and leaves the log verifiable"). It does so twice, the
// second round also changing consents written before the first kill.
func TestKill9LosesNoAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the consentd binary")
	}
	bin := buildConsentd(t)
	dir := t.TempDir()

	const (
		rounds      = 2
		writers     = 8
		killAfter   = 300 // acknowledged consents per round before the kill
		maxOpsRound = 400 // per writer and round: the writers never loop unbounded
	)
	tr := &crashTracker{keys: map[string]*crashKey{}, base: time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)}

	for round := 1; round <= rounds; round++ {
		srv := startCrashServer(t, bin, dir)
		if round == 1 {
			if st, raw, err := apiRequest(context.Background(), ledgerTestClient, srv.base, "POST", "/v1/purposes", newsletterPurpose); err != nil || st != 201 {
				t.Fatalf("POST /v1/purposes = %d %s, %v; want 201", st, raw, err)
			}
		} else {
			tr.check(t, srv.base, fmt.Sprintf("restart after kill %d", round-1))
		}

		// Each writer owns its new contact points and, from round 2, a
		// share of the earlier ones, so that writes to one contact point
		// are sequential and the expected state is known.
		var earlier [][]*crashKey
		for w := 0; w < writers; w++ {
			earlier = append(earlier, nil)
		}
		for i, k := range tr.sorted() {
			earlier[i%writers] = append(earlier[i%writers], k)
		}

		ctx, stopWriters := context.WithCancel(context.Background())
		run := &crashRound{tr: tr, base: srv.base, killAt: killAfter, kill: make(chan struct{}),
			client: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: writers}}}
		var wg sync.WaitGroup
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				run.writer(ctx, round, w, maxOpsRound, earlier[w])
			}()
		}
		allDone := make(chan struct{})
		go func() { wg.Wait(); close(allDone) }()

		select {
		case <-run.kill:
		case <-allDone:
		case <-time.After(60 * time.Second):
			t.Logf("round %d: %d writes acknowledged after 60s; killing anyway", round, run.acked.Load())
		}
		run.killed.Store(true)
		srv.kill(t) // the writers are still sending
		stopWriters()
		select {
		case <-allDone:
		case <-time.After(60 * time.Second):
			t.Fatalf("round %d: the writers did not stop within 60s of the kill", round)
		}
		run.client.CloseIdleConnections()
		for _, e := range run.errors() {
			t.Error(e)
		}
		if t.Failed() {
			t.FailNow()
		}
		acked := run.acked.Load()
		if acked == 0 {
			t.Fatalf("round %d: no write was acknowledged", round)
		}
		t.Logf("round %d: %d consent writes acknowledged, %d unanswered when the server was killed", round, acked, run.unanswered.Load())

		// The crashed folder verifies as it is, before any restart.
		if code, stdout, stderr := runLogVerify(t, "--data", dir); code != 0 || !strings.Contains(stdout, "workspace default: ok") {
			t.Fatalf("round %d: log verify after kill -9 = %d, %q; want 0 (stderr %q)", round, code, stdout, stderr)
		}
	}

	// A last restart: everything acknowledged in either round is there,
	// the API's own verification agrees, and a clean stop leaves a log
	// that verifies with a checkpoint covering every write.
	srv := startCrashServer(t, bin, dir)
	tr.check(t, srv.base, fmt.Sprintf("restart after kill %d", rounds))
	var rep struct {
		OK      bool   `json:"ok"`
		Entries int64  `json:"entries"`
		Problem string `json:"problem"`
	}
	st, raw, err := apiRequest(context.Background(), ledgerTestClient, srv.base, "GET", "/v1/log/verify", nil)
	if err != nil || st != 200 || json.Unmarshal(raw, &rep) != nil || !rep.OK {
		t.Fatalf("GET /v1/log/verify = %d %s, %v; want 200 with ok", st, raw, err)
	}
	if n := int64(tr.count()); rep.Entries < n+1 {
		t.Errorf("GET /v1/log/verify: %d entries; want at least %d (the purpose and one per consent)", rep.Entries, n+1)
	}
	if code := srv.terminate(t); code != 0 {
		t.Errorf("consentd serve exited with %d after SIGTERM; want 0; stderr:\n%s", code, srv.stderr)
	}
	code, stdout, stderr := runLogVerify(t, "--data", dir)
	if code != 0 || !strings.Contains(stdout, "workspace default: ok") {
		t.Fatalf("log verify after a clean stop = %d, %q; want 0 (stderr %q)", code, stdout, stderr)
	}
	if m := regexp.MustCompile(`ok, (\d+) entries`).FindStringSubmatch(stdout); m == nil || m[1] != fmt.Sprint(rep.Entries) {
		t.Errorf("log verify = %d, %q; want %d entries, as the server reported", code, stdout, rep.Entries)
	}
}

// buildConsentd builds this package's binary into a temporary folder.
func buildConsentd(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build consentd: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "consentd")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// crashServer is a `consentd serve` process.
type crashServer struct {
	cmd    *exec.Cmd
	base   string
	stderr *listenWatcher
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
}

// listenWatcher collects the server's stderr and reports the address of
// its "consentd listening" line.
type listenWatcher struct {
	lockedBuffer
	mu      sync.Mutex
	partial []byte
	addr    chan string
	found   bool
}

var listenRE = regexp.MustCompile(`msg="consentd listening" addr=(http://\S+)`)

func (w *listenWatcher) Write(p []byte) (int, error) {
	w.lockedBuffer.Write(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.found {
		return len(p), nil
	}
	w.partial = append(w.partial, p...)
	for {
		i := strings.IndexByte(string(w.partial), '\n')
		if i < 0 {
			break
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		if m := listenRE.FindStringSubmatch(line); m != nil {
			w.found = true
			w.partial = nil
			w.addr <- m[1]
			break
		}
	}
	return len(p), nil
}

// startCrashServer starts the binary on dir and waits (bounded) for its
// address. The process is killed in t.Cleanup if it still runs.
func startCrashServer(t *testing.T, bin, dir string) *crashServer {
	t.Helper()
	s := &crashServer{stderr: &listenWatcher{addr: make(chan string, 1)}, exited: make(chan struct{})}
	s.cmd = exec.Command(bin, "serve", "--data", dir, "--addr", "127.0.0.1:0", "--checkpoint-interval", "50ms")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CONSENTD_") {
			env = append(env, kv)
		}
	}
	// No rate limits: the writers go as fast as the server takes them.
	s.cmd.Env = append(env, "CONSENTD_ADMIN_KEY="+ledgerTestAdminKey, "CONSENTD_API_KEY_RATE=0", "CONSENTD_API_IP_RATE=0")
	s.cmd.Stdout = &lockedBuffer{}
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting consentd: %v", err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			s.cmd.Process.Kill()
			select {
			case <-s.exited:
			case <-time.After(30 * time.Second):
				t.Errorf("consentd pid %d did not exit within 30s of SIGKILL", s.cmd.Process.Pid)
			}
		}
	})
	select {
	case s.base = <-s.stderr.addr:
	case <-s.exited:
		t.Fatalf("consentd serve exited (%v) before listening; stderr:\n%s", s.err, s.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("consentd serve did not listen within 30s; stderr:\n%s", s.stderr.String())
	}
	return s
}

// kill sends SIGKILL and waits (bounded) for the process to be gone.
func (s *crashServer) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill -9 consentd: %v", err)
	}
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("consentd did not exit within 30s of SIGKILL")
	}
}

// terminate sends SIGTERM and returns the exit code (bounded wait).
func (s *crashServer) terminate(t *testing.T) int {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM consentd: %v", err)
	}
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("consentd did not exit within 30s of SIGTERM")
	}
	return s.cmd.ProcessState.ExitCode()
}

// crashKey is what the test knows about one consent: the state of its
// newest acknowledged write, and the writes sent after it whose answer never
// came (each may or may not have been committed).
type crashKey struct {
	contactPoint string
	status       string    // of the newest acknowledged write; "" if none
	at           time.Time // its captured_at
	unanswered   []crashAttempt
}

type crashAttempt struct {
	status string
	at     time.Time
}

// crashTracker holds every consent the test wrote. Each key is written by
// one writer at a time; mu guards the map and the keys.
type crashTracker struct {
	mu   sync.Mutex
	keys map[string]*crashKey
	base time.Time    // captured_at of the first write; all are in the past
	tick atomic.Int64 // captured_at = base + tick ms, strictly increasing
}

func (tr *crashTracker) nextAt() time.Time {
	return tr.base.Add(time.Duration(tr.tick.Add(1)) * time.Millisecond)
}

func (tr *crashTracker) key(cp string) *crashKey {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	k := tr.keys[cp]
	if k == nil {
		k = &crashKey{contactPoint: cp}
		tr.keys[cp] = k
	}
	return k
}

// sent records a write before it is sent.
func (tr *crashTracker) sent(k *crashKey, status string, at time.Time) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	k.unanswered = append(k.unanswered, crashAttempt{status, at})
}

// acked records the acknowledgment of the write (status, at).
func (tr *crashTracker) acked(k *crashKey, status string, at time.Time) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	k.status, k.at = status, at
	k.unanswered = slicesDeleteAttempt(k.unanswered, at)
}

func slicesDeleteAttempt(as []crashAttempt, at time.Time) []crashAttempt {
	out := as[:0]
	for _, a := range as {
		if !a.at.Equal(at) {
			out = append(out, a)
		}
	}
	return out
}

// current returns the status the next flip starts from.
func (tr *crashTracker) current(k *crashKey) string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return k.status
}

// sorted returns the keys with an acknowledged state, in a stable order.
func (tr *crashTracker) sorted() []*crashKey {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []*crashKey
	for _, k := range tr.keys {
		if k.status != "" {
			out = append(out, k)
		}
	}
	sortCrashKeys(out)
	return out
}

func sortCrashKeys(ks []*crashKey) {
	slices.SortFunc(ks, func(a, b *crashKey) int { return strings.Compare(a.contactPoint, b.contactPoint) })
}

func (tr *crashTracker) count() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.keys)
}

// check reads every consent back from a restarted server. An acknowledged
// write must be there: the stored state is the acknowledged one, or one of
// the later writes that were in flight when the server was killed. A consent
// never acknowledged may be missing, or hold one of its unanswered writes.
// Afterwards the tracker holds the state found, which is now durable.
func (tr *crashTracker) check(t *testing.T, base, when string) {
	t.Helper()
	tr.mu.Lock()
	keys := make([]*crashKey, 0, len(tr.keys))
	for _, k := range tr.keys {
		keys = append(keys, k)
	}
	tr.mu.Unlock()
	sortCrashKeys(keys)

	var (
		mu   sync.Mutex
		errs []string
		next atomic.Int64
		wg   sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, when+": "+fmt.Sprintf(format, args...))
	}
	var inFlight atomic.Int64 // unanswered writes found committed
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(keys)) {
					return
				}
				k := keys[i]
				st, raw, err := apiRequest(context.Background(), ledgerTestClient, base, "GET", consentPath(k.contactPoint), nil)
				if err != nil {
					fail("GET consent %s: %v", k.contactPoint, err)
					continue
				}
				if st == 404 {
					if k.status != "" {
						fail("acknowledged write lost: consent %s (%s at %s) is not there after kill -9",
							k.contactPoint, k.status, k.at.Format(time.RFC3339Nano))
					}
					continue
				}
				var c struct {
					ID         string    `json:"id"`
					Status     string    `json:"status"`
					CapturedAt time.Time `json:"captured_at"`
				}
				if st != 200 || json.Unmarshal(raw, &c) != nil {
					fail("GET consent %s = %d %s; want 200", k.contactPoint, st, raw)
					continue
				}
				if want := k.contactPoint + "#newsletter:email"; c.ID != want {
					fail("GET consent %s: id %q; want %q", k.contactPoint, c.ID, want)
				}
				switch {
				case k.status != "" && c.CapturedAt.Equal(k.at):
					if c.Status != k.status {
						fail("consent %s: status %s; want %s, as acknowledged", k.contactPoint, c.Status, k.status)
					}
				case k.status != "" && c.CapturedAt.Before(k.at):
					fail("acknowledged write lost: consent %s is %s captured at %s; the write of %s captured at %s was acknowledged",
						k.contactPoint, c.Status, c.CapturedAt.Format(time.RFC3339Nano), k.status, k.at.Format(time.RFC3339Nano))
				default:
					// A write in flight at the kill was committed.
					found := false
					for _, a := range k.unanswered {
						if a.at.Equal(c.CapturedAt) && a.status == c.Status {
							found = true
						}
					}
					if !found {
						fail("consent %s is %s captured at %s, which no write sent (acknowledged: %q at %s)",
							k.contactPoint, c.Status, c.CapturedAt.Format(time.RFC3339Nano), k.status, k.at.Format(time.RFC3339Nano))
						continue
					}
					inFlight.Add(1)
					tr.mu.Lock()
					k.status, k.at = c.Status, c.CapturedAt
					tr.mu.Unlock()
				}
				tr.mu.Lock()
				k.unanswered = nil
				tr.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	const show = 20
	for i, e := range errs {
		if i == show {
			t.Errorf("... and %d more", len(errs)-show)
			break
		}
		t.Error(e)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	t.Logf("%s: %d consents as acknowledged; %d writes unanswered at the kill were committed", when, len(keys), inFlight.Load())
	// Keys whose only write was never answered and never committed are
	// forgotten: the next round does not flip them.
	tr.mu.Lock()
	for cp, k := range tr.keys {
		if k.status == "" {
			delete(tr.keys, cp)
		}
	}
	tr.mu.Unlock()
}

// crashRound is one round of writes before a kill.
type crashRound struct {
	tr     *crashTracker
	base   string
	client *http.Client

	acked      atomic.Int64 // consents acknowledged
	unanswered atomic.Int64 // requests without an answer (the kill)
	killAt     int64
	kill       chan struct{} // closed when acked reaches killAt
	killOnce   sync.Once
	killed     atomic.Bool // set just before the SIGKILL

	mu   sync.Mutex
	errs []string
}

func (r *crashRound) fail(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) < 20 {
		r.errs = append(r.errs, fmt.Sprintf(format, args...))
	}
}

func (r *crashRound) errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.errs
}

func (r *crashRound) ack(n int) {
	if r.acked.Add(int64(n)) >= r.killAt {
		r.killOnce.Do(func() { close(r.kill) })
	}
}

// crashWrite is one consent write of a request and its key.
type crashWrite struct {
	k      *crashKey
	status string
	at     time.Time
}

// writerAnswer is the part of a write answer the test checks.
type writerAnswer struct {
	ID         string    `json:"id"`
	Status     string    `json:"status"`
	CapturedAt time.Time `json:"captured_at"`
	Applied    bool      `json:"applied"`
	Outcome    string    `json:"outcome"`
}

// writer sends up to maxOps requests: mostly single writes of new contact
// points, every fourth a batch of five, every fifth a flip of one of its
// contact points already acknowledged. It stops at the first request
// without an answer (the kill) or when ctx is done.
func (r *crashRound) writer(ctx context.Context, round, w, maxOps int, owned []*crashKey) {
	n := 0
	newKey := func() *crashKey {
		n++
		return r.tr.key(fmt.Sprintf("r%d-w%d-%d@example.com", round, w, n))
	}
	flip := 0
	for op := 0; op < maxOps && ctx.Err() == nil; op++ {
		var batch []crashWrite
		switch {
		case op%5 == 4 && len(owned) > 0:
			k := owned[flip%len(owned)]
			flip++
			status := "opted_out"
			if r.tr.current(k) == "opted_out" {
				status = "opted_in"
			}
			batch = []crashWrite{{k, status, r.tr.nextAt()}}
		case op%4 == 3:
			for range 5 {
				batch = append(batch, crashWrite{newKey(), "opted_in", r.tr.nextAt()})
			}
		default:
			batch = []crashWrite{{newKey(), "opted_in", r.tr.nextAt()}}
		}
		for _, b := range batch {
			r.tr.sent(b.k, b.status, b.at)
		}
		answers, ok := r.send(ctx, batch)
		if !ok {
			return
		}
		good := 0
		for i, b := range batch {
			a := answers[i]
			if a == nil {
				continue
			}
			wantOutcome := "created"
			if r.tr.current(b.k) != "" {
				wantOutcome = "changed"
			}
			if a.ID != b.k.contactPoint+"#newsletter:email" || a.Status != b.status || !a.CapturedAt.Equal(b.at) || !a.Applied || a.Outcome != wantOutcome {
				r.fail("write %s %s at %s answered %+v; want it applied, outcome %s", b.k.contactPoint, b.status, b.at.Format(time.RFC3339Nano), *a, wantOutcome)
				continue
			}
			r.tr.acked(b.k, b.status, b.at)
			good++
			if len(owned) < 1000 && op%5 != 4 {
				owned = append(owned, b.k)
			}
		}
		r.ack(good)
	}
}

// send posts the writes, one alone or several as a batch. It returns the
// answers (nil for an item that failed) and false when no answer came.
func (r *crashRound) send(ctx context.Context, batch []crashWrite) ([]*writerAnswer, bool) {
	bodies := make([]map[string]any, len(batch))
	for i, b := range batch {
		bodies[i] = consentWriteBody(b.k.contactPoint, b.status, b.at)
	}
	var (
		st  int
		raw []byte
		err error
	)
	if len(batch) == 1 {
		st, raw, err = apiRequest(ctx, r.client, r.base, "POST", "/v1/consents", bodies[0])
	} else {
		st, raw, err = apiRequest(ctx, r.client, r.base, "POST", "/v1/consents:batch", map[string]any{"consents": bodies})
	}
	if err != nil {
		r.unanswered.Add(1)
		if !r.killed.Load() && !errors.Is(err, context.Canceled) {
			r.fail("write before the kill got no answer: %v", err)
		}
		return nil, false
	}
	if st/100 != 2 {
		r.fail("write answered %d %s", st, raw)
		return make([]*writerAnswer, len(batch)), true
	}
	out := make([]*writerAnswer, len(batch))
	if len(batch) == 1 {
		var a writerAnswer
		if err := json.Unmarshal(raw, &a); err != nil {
			r.fail("write answer %q: %v", raw, err)
			return out, true
		}
		out[0] = &a
		return out, true
	}
	var res struct {
		Results []struct {
			writerAnswer
			Error json.RawMessage `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal(raw, &res); err != nil || len(res.Results) != len(batch) {
		r.fail("batch answer %q: %v; want %d results", raw, err, len(batch))
		return out, true
	}
	for i, it := range res.Results {
		if len(it.Error) > 0 {
			r.fail("batch item %s: error %s", batch[i].k.contactPoint, it.Error)
			continue
		}
		a := it.writerAnswer
		out[i] = &a
	}
	return out, true
}
