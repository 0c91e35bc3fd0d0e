package postgres

import (
	"context"
	"log/slog"
	"strings"
	"time"

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
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
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
