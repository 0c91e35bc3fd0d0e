package postgres

import (
	"context"

	"github.com/consentd/consentd"
)

// TestTx is what a test's request sees of its group's transaction.
type TestTx struct {
	tx   *Tx
	wsID string
}

// Append appends an entry of type "test" about subject to the log.
func (t TestTx) Append(subject string) (int64, error) {
	return t.tx.appendLog(t.wsID, &consentd.LogEntry{Type: "test", Subject: subject, Actor: "test"})
}

// Queue queues a statement, sent with the request's next round trip.
func (t TestTx) Queue(query string) { t.tx.queue(query) }

// WriteLogForTest runs fn as one request of the workspace's group commit,
// as the log-appending writes do.
func WriteLogForTest(ctx context.Context, db *DB, wsID string, fn func(TestTx) error) error {
	return db.writeLog(ctx, wsID, 1, func(tx *Tx) error { return fn(TestTx{tx, wsID}) })
}

// QueuedForTest returns how many requests wait for the workspace's writer.
func QueuedForTest(db *DB, wsID string) int {
	w := db.writer(wsID)
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue)
}

// Exec runs a statement, with what is queued before it.
func (t TestTx) Exec(query string, args ...any) error {
	_, err := t.tx.Exec(t.tx.ctx, query, args...)
	return err
}

// QueryForTest runs a query of one int column and calls fn with each value.
func QueryForTest(ctx context.Context, db *DB, query string, fn func(int)) error {
	rows, err := db.pool.Query(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return err
		}
		fn(v)
	}
	return rows.Err()
}
