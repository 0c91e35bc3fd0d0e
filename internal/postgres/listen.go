package postgres

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/jackc/pgx/v5"
)

// Channel is the NOTIFY channel every commit that appends to a log
// notifies, with the payload "<workspace id>:<last seq>".
const Channel = "consentd_log"

// Listen follows the commits of every replica on the database at url: it
// sends the id of each workspace whose log grew, and "" (meaning: catch up
// on everything) whenever it (re)connects, since notifications sent while
// it was away are lost. It reconnects with capped backoff until ctx is
// done, then closes the channel. Sends never block: a slow reader misses
// wake-ups, not entries, because the reader catches up by seq.
func Listen(ctx context.Context, url string, log *slog.Logger) <-chan string {
	wake := make(chan string, 256)
	send := func(ws string) {
		select {
		case wake <- ws:
		default:
		}
	}
	go func() {
		defer close(wake)
		backoff := 100 * time.Millisecond
		for ctx.Err() == nil {
			err := listenOnce(ctx, url, send)
			if ctx.Err() != nil {
				return
			}
			log.Warn("postgres listener lost its connection; reconnecting", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
		}
	}()
	return wake
}

func listenOnce(ctx context.Context, url string, send func(string)) error {
	return listenOn(ctx, url, Channel, send)
}

// ListenJobs wakes a job runner: it sends on the channel whenever a
// transaction that enqueued or retried a job commits, in any process on
// the database at url (consentd.JobNotifyChannel), and once whenever it
// (re)connects, since notifications sent while it was away are lost. It
// holds a connection of its own, reconnects with capped backoff until ctx
// is done, then closes the channel. Sends never block: the runner polls as
// well, so a missed wake-up only delays a job until the next poll.
func ListenJobs(ctx context.Context, url string, log *slog.Logger) <-chan struct{} {
	wake := make(chan struct{}, 1)
	send := func(string) {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	go func() {
		defer close(wake)
		backoff := 100 * time.Millisecond
		for ctx.Err() == nil {
			err := listenOn(ctx, url, consentd.JobNotifyChannel, send)
			if ctx.Err() != nil {
				return
			}
			log.Warn("postgres job listener lost its connection; reconnecting", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
		}
	}()
	return wake
}

// listenOn LISTENs on channel on a connection of its own and calls send
// with each notification's payload, and with "" once listening.
func listenOn(ctx context.Context, url, channel string, send func(string)) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	send("") // catch up on whatever happened before we listened
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		ws, _, _ := strings.Cut(n.Payload, ":")
		send(ws)
	}
}
