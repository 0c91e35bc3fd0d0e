package natspub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/natspub"
	"github.com/consentd/consentd/internal/sqlite"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsServer is a nats-server with JetStream that this test starts and
// stops, on its own port and store folder.
type natsServer struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func (s *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

func (s *natsServer) start() {
	s.t.Helper()
	s.cmd = exec.Command("nats-server", "-a", "127.0.0.1", "-p", fmt.Sprint(s.port), "-js", "-sd", s.dir)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		nc, err := nats.Connect(s.url())
		if err == nil {
			js, _ := jetstream.New(nc)
			_, err = js.AccountInfo(s.t.Context())
			nc.Close()
			if err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("nats-server on %d not ready: %v", s.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *natsServer) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.cmd = nil
	}
}

// TestOutage publishes through a NATS server that goes away while the
// publisher runs and comes back: every event of the log arrives, each
// seq with one message id.
func TestOutage(t *testing.T) {
	if _, err := exec.LookPath("nats-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("nats-server is not installed (CI=true): %v", err)
		}
		t.Skip("nats-server is not installed: this test starts and stops its own")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := &natsServer{t: t, port: port, dir: t.TempDir()}
	srv.start()
	t.Cleanup(srv.stop)

	db, err := sqlite.Open(filepath.Join(t.TempDir(), "consentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	ws, err := db.CreateWorkspace(ctx, "outage")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PutPurpose(ctx, ws.ID, &consentd.Purpose{ID: "n", Name: "N", Type: consentd.Commercial,
		Channels: map[string]consentd.ChannelSetting{"email": {}}}, true, "t"); err != nil {
		t.Fatal(err)
	}
	write := func(from, to int) {
		for i := from; i <= to; i++ {
			w := consentd.ConsentWrite{ContactPoint: fmt.Sprintf("u%d@example.com", i), Channel: "email", Purpose: "n", Status: consentd.OptedIn,
				CapturedAt: time.Now().Add(-time.Hour), Source: consentd.Source{Type: consentd.SourceForm}}
			if res, err := db.WriteConsents(ctx, ws.ID, []consentd.ConsentWrite{w}, "t"); err != nil || res[0].Err != nil {
				t.Fatal(err, res[0].Err)
			}
		}
	}
	cursor := func() int64 {
		n, err := db.EventCursor(ctx, ws.ID, natspub.Cursor)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitCursor := func(what string) {
		size, _ := db.LogSize(ctx, ws.ID)
		deadline := time.Now().Add(time.Minute)
		for cursor() < size {
			if time.Now().After(deadline) {
				t.Fatalf("%s: cursor %d of %d", what, cursor(), size)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	p, err := natspub.Connect(srv.url(), db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p.Poll, p.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(runCtx) }()
	defer func() { stop(); <-done; p.JS.Conn().Close() }()

	write(1, 5)
	waitCursor("before the outage")
	srv.stop()
	write(6, 10)                       // NATS is down
	time.Sleep(100 * time.Millisecond) // the publisher tries meanwhile
	if size, _ := db.LogSize(ctx, ws.ID); cursor() >= size {
		t.Errorf("the cursor reached %d while NATS was down", cursor())
	}
	srv.start()
	waitCursor("after the outage")
	write(11, 12)
	waitCursor("after more writes")

	nc, err := nats.Connect(srv.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	cons, err := js.OrderedConsumer(ctx, natspub.DefaultStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"consentd.outage.>"}})
	if err != nil {
		t.Fatal(err)
	}
	size, _ := db.LogSize(ctx, ws.ID)
	seen := map[int64]int{}
	msgs, err := cons.Fetch(int(size)+10, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range msgs.Messages() {
		var ev consentd.CloudEvent
		if err := json.Unmarshal(m.Data(), &ev); err != nil {
			t.Fatal(err)
		}
		if m.Headers().Get(jetstream.MsgIDHeader) != consentd.EventID(ws.ID, ev.Data.Seq) {
			t.Errorf("seq %d: Nats-Msg-Id %q", ev.Data.Seq, m.Headers().Get(jetstream.MsgIDHeader))
		}
		seen[ev.Data.Seq]++
	}
	for seq := int64(1); seq <= size; seq++ {
		if seen[seq] != 1 {
			t.Errorf("seq %d published %d times; want once", seq, seen[seq])
		}
	}
}
