// Package natspub publishes the consent log's events to NATS JetStream:
// the same CloudEvents JSON as webhooks get, on subject
// consentd.<workspace name>.<type>, with the event id as Nats-Msg-Id so
// that JetStream drops resends within its duplicate window. Each
// workspace's position is stored (cursor "nats") and advanced only after
// the PubAck, so that a crash or a NATS outage loses nothing.
package natspub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cursor is the name of the publisher's stored position in each log.
const Cursor = "nats"

// DefaultStream is the stream the publisher makes when none takes its
// subjects: consentd.>.
const DefaultStream = "CONSENTD"

// Store is what publishing needs of a backend.
type Store interface {
	events.Store
	Workspaces(ctx context.Context) ([]*consentd.Workspace, error)
	EventCursor(ctx context.Context, wsID, name string) (int64, error)
	SetEventCursor(ctx context.Context, wsID, name string, seq int64) error
}

// Publisher publishes every workspace's events from its stored position.
type Publisher struct {
	DB         Store
	JS         jetstream.JetStream
	Log        *slog.Logger
	Stream     string
	Poll       time.Duration // how often to look for new entries
	MaxBackoff time.Duration // the longest wait after a failure (doubling from Poll)
	Batch      int

	nudge chan struct{}
}

// Connect connects to NATS at url, retrying in the background while the
// server is down, and returns a publisher with the defaults: stream
// CONSENTD, poll every second, back off up to 30 s. Close the connection
// (JS.Conn()) after Run returns.
func Connect(url string, db Store, log *slog.Logger) (*Publisher, error) {
	nc, err := nats.Connect(url, nats.Name("consentd"), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second))
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Publisher{DB: db, JS: js, Log: log, Stream: DefaultStream, Poll: time.Second, MaxBackoff: 30 * time.Second, Batch: 500,
		nudge: make(chan struct{}, 1)}, nil
}

// Nudge makes the publisher look for new entries now.
func (p *Publisher) Nudge() {
	select {
	case p.nudge <- struct{}{}:
	default:
	}
}

// Subject returns the subject of an event of a workspace:
// consentd.<workspace name>.<type>, the name made a valid subject token.
func Subject(wsName, typ string) string {
	tok := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, wsName)
	if tok == "" {
		tok = "_"
	}
	return "consentd." + tok + "." + typ
}

// Run publishes until ctx is done. Failures (NATS down, no stream) are
// logged and retried with a doubling wait.
func (p *Publisher) Run(ctx context.Context) {
	wait := p.Poll
	ready := false
	for {
		err := error(nil)
		if !ready {
			err = p.ensureStream(ctx)
			ready = err == nil
		}
		if err == nil {
			err = p.PublishAll(ctx)
		}
		if err != nil && ctx.Err() == nil {
			p.Log.Warn("nats publish", "err", err, "retry_in", wait)
			wait = min(2*wait, p.MaxBackoff)
		} else {
			wait = p.Poll
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-p.nudge:
			t.Stop()
		}
	}
}

// ensureStream uses the stream when it exists, else makes it.
func (p *Publisher) ensureStream(ctx context.Context) error {
	_, err := p.JS.Stream(ctx, p.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = p.JS.CreateStream(ctx, jetstream.StreamConfig{Name: p.Stream, Subjects: []string{"consentd.>"}, Storage: jetstream.FileStorage,
			Duplicates: 10 * time.Minute})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", p.Stream, err)
	}
	return nil
}

// PublishAll publishes the events of every workspace after its stored
// position, up to the end of its log.
func (p *Publisher) PublishAll(ctx context.Context) error {
	wss, err := p.DB.Workspaces(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, ws := range wss {
		if err := p.publishWorkspace(ctx, ws.ID); err != nil {
			errs = append(errs, fmt.Errorf("workspace %s: %w", ws.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (p *Publisher) publishWorkspace(ctx context.Context, wsID string) error {
	feed, err := events.Open(ctx, p.DB, wsID)
	if err != nil {
		return err
	}
	pos, err := p.DB.EventCursor(ctx, wsID, Cursor)
	if err != nil {
		return err
	}
	for {
		evs, err := feed.Read(ctx, pos, p.Batch)
		if err != nil || len(evs) == 0 {
			return err
		}
		acked, perr := p.publishBatch(ctx, feed.WS.Name, evs)
		if acked == 0 {
			acked = pos
		}
		if acked > pos {
			// Stored also when shutdown began meanwhile: those were acked.
			if err := p.DB.SetEventCursor(context.WithoutCancel(ctx), wsID, Cursor, acked); err != nil {
				return err
			}
			pos = acked
		}
		if perr != nil {
			return perr
		}
	}
}

// publishBatch publishes evs without waiting for each PubAck in turn
// (JetStream keeps their order), then waits for the acks in order: it
// returns the seq of the last event of the acknowledged prefix (0 for
// none), and the first failure. Events after a failure are sent again on
// the next pass, with the same ids.
func (p *Publisher) publishBatch(ctx context.Context, wsName string, evs []*consentd.CloudEvent) (int64, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(evs))
	var perr error
	for _, ev := range evs {
		body, err := json.Marshal(ev)
		if err != nil {
			perr = err
			break
		}
		msg := &nats.Msg{Subject: Subject(wsName, ev.Type), Data: body, Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, ev.ID)
		msg.Header.Set("Content-Type", "application/cloudevents+json")
		f, err := p.JS.PublishMsgAsync(msg)
		if err != nil {
			perr = fmt.Errorf("publish seq %d: %w", ev.Data.Seq, err)
			break
		}
		futures = append(futures, f)
	}
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	var acked int64
	for i, f := range futures {
		select {
		case <-f.Ok():
			acked = evs[i].Data.Seq
			publishedTotal.Inc()
			continue
		case err := <-f.Err():
			return acked, fmt.Errorf("publish seq %d: %w", evs[i].Data.Seq, err)
		case <-timeout.C:
			return acked, fmt.Errorf("publish seq %d: no PubAck within 30s", evs[i].Data.Seq)
		case <-ctx.Done():
			return acked, ctx.Err()
		}
	}
	return acked, perr
}
