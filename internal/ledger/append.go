package ledger

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/consentd/consentd"
	"golang.org/x/mod/sumdb/tlog"
)

// Row is one log entry as a backend stores it: the columns of log_entries.
type Row struct {
	Seq      int64
	At       time.Time
	Type     string
	Subject  string
	Leaf     []byte    // the exact bytes hashed into the tree
	LeafHash tlog.Hash // RFC 6962 leaf hash of Leaf
	Evidence []byte    // nil when the entry has none
	Opening  []byte

	entry *consentd.LogEntry // as appended, for Appended
}

// Record returns the row as the log's readers see it, with view, the
// entry's JSON.
func (r *Row) Record(view json.RawMessage) consentd.LogRecord {
	return consentd.LogRecord{Seq: r.Seq, LeafHash: r.LeafHash[:], Entry: view, Leaf: r.Leaf, Evidence: r.Evidence, Opening: r.Opening}
}

// Appender appends entries to one workspace's log inside one transaction:
// it numbers them, encodes their leaves and evidence, and folds their
// hashes into the tree's edge. The backend stores the rows and the tiles
// it returns; nothing else of the tree is stored. This is the one log
// write path of every backend.
type Appender struct {
	edge *Edge
}

// NewAppender returns an appender that goes on from edge, which it owns.
func NewAppender(edge *Edge) *Appender { return &Appender{edge: edge} }

// Size returns the log's size with what was appended.
func (a *Appender) Size() int64 { return a.edge.size }

// Edge returns the edge, to keep once the transaction commits.
func (a *Appender) Edge() *Edge { return a.edge }

// Mark is how far an appender had got.
type Mark struct{ edge *Edge }

// Mark returns the appender's state, to go back to with Reset when a
// request of the transaction is rolled back. It is cheap (no hashes are
// copied): a write transaction takes one per request.
func (a *Appender) Mark() Mark { return Mark{a.edge.shallow()} }

// Reset goes back to m, taken from this appender; appends after a Reset
// may overwrite what appends after the Mark wrote, never what it saw.
func (a *Appender) Reset(m Mark) { a.edge = m.edge.shallow() }

// Append numbers e (Seq; At = now when unset), encodes it and folds it
// into the tree. It returns the row to store and the tiles the entry
// completed. e must not change afterwards: Appended reads it.
func (a *Appender) Append(e *consentd.LogEntry, now time.Time) (Row, []Tile, error) {
	e.Seq = a.edge.size + 1
	if e.At.IsZero() {
		e.At = now
	}
	enc, err := consentd.EncodeEntry(e)
	if err != nil {
		return Row{}, nil, err
	}
	r := Row{Seq: e.Seq, At: e.At, Type: e.Type, Subject: e.Subject, Leaf: enc.Leaf, LeafHash: tlog.RecordHash(enc.Leaf),
		Evidence: enc.Evidence, Opening: enc.Opening, entry: e}
	tiles := a.edge.Append(r.LeafHash)
	return r, tiles, nil
}

// Appended returns a row that Append made as the log's readers in this
// process see it once committed. The entry's JSON is made here, not in
// Append, so that writes nobody in the process follows (a command-line
// import) do not pay for it.
func (r *Row) Appended() consentd.LogRecord {
	view, err := json.Marshal(r.entry)
	if err != nil { // not for a LogEntry of plain values: read what the leaf holds
		rec, _ := r.Read()
		return rec
	}
	return r.Record(view)
}

// EdgeCache keeps each workspace's committed edge between transactions,
// so that appending needs no reads of the tree. An edge is good only for
// the size it was kept at: another process may have appended since.
type EdgeCache struct {
	mu    sync.Mutex
	edges map[string]*Edge
}

// Get returns a copy of the workspace's edge at size n, or nil when the
// cache has none at that size.
func (c *EdgeCache) Get(wsID string, n int64) *Edge {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.edges[wsID]; e != nil && e.size == n {
		return e.Clone()
	}
	return nil
}

// Put keeps e (which the caller no longer changes) as the workspace's
// committed edge.
func (c *EdgeCache) Put(wsID string, e *Edge) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.edges == nil {
		c.edges = map[string]*Edge{}
	}
	c.edges[wsID] = e
}

// Forget drops every kept edge (after a failed commit).
func (c *EdgeCache) Forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.edges = nil
}

// Read returns a row read back from storage as a record: its JSON view is
// rebuilt from the leaf and the evidence still held. An old (version 1)
// leaf whose bytes were erased keeps only its hash; its view says so.
func (r *Row) Read() (consentd.LogRecord, error) {
	if len(r.Leaf) == 0 {
		view, err := json.Marshal(&consentd.LogEntry{Seq: r.Seq, At: r.At, Type: r.Type, Subject: r.Subject, Evidence: consentd.EvidenceErased})
		return r.Record(view), err
	}
	view, err := consentd.EntryView(r.Leaf, r.Evidence)
	if err != nil {
		// A leaf that does not decode was altered: the verifier names it.
		// Readers get what the row's columns say.
		view, err = json.Marshal(&consentd.LogEntry{Seq: r.Seq, At: r.At, Type: r.Type, Subject: r.Subject, Evidence: consentd.EvidenceUnreadable})
	}
	return r.Record(view), err
}
