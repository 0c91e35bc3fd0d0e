// Package index answers send-time decisions from memory. It keeps, per
// workspace, every consent's status and every suppression, keyed by the
// contact point hash, and the catalog; it is warmed from a snapshot of the
// store and then kept current from the consent log only: the store hands it
// the entries each commit appended before the writes are acknowledged
// (Apply), and a follower reads the entries other processes appended
// (CatchUp). Entries are applied strictly in seq order, so a workspace's
// state is always exactly the log up to its applied seq.
package index

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consentd/consentd"
)

// Source is what the index reads from a store.
type Source interface {
	Workspace(ctx context.Context, id string) (*consentd.Workspace, error)
	WorkspaceSecret(ctx context.Context, id string) ([]byte, error)
	Catalog(ctx context.Context, wsID string) (*consentd.Catalog, error)
	IndexState(ctx context.Context, wsID string, consent func(hash []byte, channelType string, status consentd.Status) error,
		suppression func(hash []byte, s *consentd.Suppression) error) (int64, error)
	Log(ctx context.Context, wsID string, after int64, limit int) ([]consentd.LogRecord, error)
	Invalidate(wsID string)
}

// Index is the decision index of one process.
type Index struct {
	src Source
	log *slog.Logger

	// ws maps workspace ids to workspaces. Readers load it without a lock;
	// writers (a workspace loaded or dropped: rare) copy it under mu.
	mu sync.Mutex
	ws atomic.Pointer[map[string]*workspace]
}

// New returns an empty index over src; workspaces are loaded on first use.
func New(src Source, log *slog.Logger) *Index {
	x := &Index{src: src, log: log}
	x.ws.Store(&map[string]*workspace{})
	return x
}

// get returns a workspace of the map, nil when not there.
func (x *Index) get(wsID string) *workspace { return (*x.ws.Load())[wsID] }

// set puts (w non-nil) or removes a workspace, copying the map. x.mu is held.
func (x *Index) set(wsID string, w *workspace) {
	old := *x.ws.Load()
	m := make(map[string]*workspace, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	if w == nil {
		delete(m, wsID)
	} else {
		m[wsID] = w
	}
	x.ws.Store(&m)
}

// hashKey is the part of a contact point hash the index keys on: 128 bits
// are plenty to tell a workspace's contact points apart and halve the key.
type hashKey [16]byte

// status is a consent's status in one byte (a consentd.Status is a
// 16-byte string header).
type status uint8

const (
	none status = iota
	optedIn
	optedOut
	pending
)

func statusOf(s consentd.Status) status {
	switch s {
	case consentd.OptedIn:
		return optedIn
	case consentd.OptedOut:
		return optedOut
	case consentd.Pending:
		return pending
	}
	return none
}

func (s status) Status() consentd.Status {
	switch s {
	case optedIn:
		return consentd.OptedIn
	case optedOut:
		return consentd.OptedOut
	case pending:
		return consentd.Pending
	}
	return ""
}

type suppression struct {
	id      string
	channel string
	reason  consentd.SuppressionReason
}

type workspace struct {
	id string

	mu       sync.RWMutex
	seq      int64 // the log is applied up to here
	region   string
	catalog  *consentd.Catalog
	cts      map[string]uint32 // channel type id -> interned id
	consents table
	sups     map[hashKey][]suppression

	hashers sync.Pool // of *hasher, keyed with the workspace secret
}

type hasher struct {
	mac hash.Hash
	buf [sha256.Size]byte
	msg []byte // kind ":" contact point
}

// workspace returns the loaded workspace, loading it on first use.
func (x *Index) workspace(ctx context.Context, wsID string) (*workspace, error) {
	if w := x.get(wsID); w != nil {
		return w, nil
	}
	x.mu.Lock()
	if w := x.get(wsID); w != nil {
		x.mu.Unlock()
		return w, nil
	}
	w := &workspace{id: wsID}
	w.mu.Lock() // held until loaded; others wait on it
	x.set(wsID, w)
	x.mu.Unlock()
	err := x.load(ctx, w)
	w.mu.Unlock()
	if err != nil {
		x.drop(wsID)
		return nil, err
	}
	return w, nil
}

// load warms w from a snapshot of the store. w.mu is held.
func (x *Index) load(ctx context.Context, w *workspace) error {
	start := time.Now()
	ws, err := x.src.Workspace(ctx, w.id)
	if err != nil {
		return err
	}
	secret, err := x.src.WorkspaceSecret(ctx, w.id)
	if err != nil {
		return err
	}
	cat, err := x.src.Catalog(ctx, w.id)
	if err != nil {
		return err
	}
	w.init(ws, secret, cat)
	n, err := x.src.IndexState(ctx, w.id, func(h []byte, ct string, st consentd.Status) error {
		w.consents.put(key(h), w.intern(ct), statusOf(st))
		return nil
	}, func(h []byte, s *consentd.Suppression) error {
		k := key(h)
		w.sups[k] = append(w.sups[k], suppression{s.ID, s.Channel, s.Reason})
		return nil
	})
	if err != nil {
		return fmt.Errorf("warm index: %w", err)
	}
	w.seq = n
	// Catch up on what was appended between the snapshot and now, so that
	// the catalog read above is never behind the consents.
	if err := x.catchUp(ctx, w); err != nil {
		return err
	}
	if x.log != nil {
		d := time.Since(start)
		x.log.Info("decision index warmed", "workspace", w.id, "consents", w.consents.len(), "seq", w.seq,
			"duration", d, "consents_per_second", int(float64(w.consents.len())/max(d.Seconds(), 1e-9)))
	}
	return nil
}

func (w *workspace) init(ws *consentd.Workspace, secret []byte, cat *consentd.Catalog) {
	w.region, w.catalog = ws.DefaultRegion, cat
	w.cts, w.consents, w.sups = map[string]uint32{}, table{}, map[hashKey][]suppression{}
	w.hashers.New = func() any { return &hasher{mac: hmac.New(sha256.New, secret)} }
}

// Load puts a workspace into the index from a snapshot the caller already
// has (its settings, contact point secret, catalog, the log size the
// snapshot reflects, and its consents given through fill), replacing what
// the index had of it. The follower reads on from seq.
func (x *Index) Load(wsID string, ws *consentd.Workspace, secret []byte, cat *consentd.Catalog, seq int64,
	fill func(put func(hash [32]byte, channelType string, status consentd.Status))) {
	w := &workspace{id: wsID}
	w.init(ws, secret, cat)
	w.seq = seq
	fill(func(h [32]byte, ct string, st consentd.Status) {
		w.consents.put(key(h[:]), w.intern(ct), statusOf(st))
	})
	x.mu.Lock()
	x.set(wsID, w)
	x.mu.Unlock()
}

func key(h []byte) hashKey {
	var k hashKey
	copy(k[:], h)
	return k
}

// intern returns the small id of a channel type id. w.mu is held for writing.
// Ids fit the table's 30 bits (maxCT): a channel type is a purpose or topic
// and a channel that some consent has, never a billion of them.
func (w *workspace) intern(ct string) uint32 {
	id, ok := w.cts[ct]
	if !ok {
		id = uint32(len(w.cts))
		w.cts[ct] = id
	}
	return id
}

// Apply applies the log entries a commit appended (in seq order per
// workspace). Entries already applied are skipped; a gap (entries appended
// by another process in between) is read from the store first.
func (x *Index) Apply(ctx context.Context, entries map[string][]consentd.LogRecord) {
	for wsID, recs := range entries {
		w := x.get(wsID)
		if w == nil {
			continue // not loaded: it will be warmed from the store, which has these
		}
		w.mu.Lock()
		for _, r := range recs {
			if r.Seq <= w.seq {
				continue
			}
			if r.Seq > w.seq+1 {
				if err := x.catchUp(ctx, w); err != nil {
					x.log.Error("index catch up", "workspace", wsID, "err", err)
					x.drop(wsID) // reload from the store on next use
					break
				}
				if r.Seq <= w.seq {
					continue
				}
			}
			x.apply(w, r)
		}
		w.mu.Unlock()
	}
}

// CatchUp reads and applies every entry appended after what the index has
// applied, for each loaded workspace (or only wsID when not empty).
func (x *Index) CatchUp(ctx context.Context, wsID string) error {
	var wss []*workspace
	for id, w := range *x.ws.Load() {
		if wsID == "" || id == wsID {
			wss = append(wss, w)
		}
	}
	for _, w := range wss {
		w.mu.Lock()
		err := x.catchUp(ctx, w)
		w.mu.Unlock()
		if err != nil {
			x.drop(w.id)
			return err
		}
	}
	return nil
}

// Follow catches up every loaded workspace whenever wake names it ("" for
// all) and at least every interval, until ctx is done.
func (x *Index) Follow(ctx context.Context, wake <-chan string, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		var wsID string
		select {
		case <-ctx.Done():
			return
		case wsID = <-wake:
		case <-t.C:
		}
		if err := x.CatchUp(ctx, wsID); err != nil && ctx.Err() == nil {
			x.log.Error("index follow", "err", err)
		}
	}
}

func (x *Index) drop(wsID string) {
	x.mu.Lock()
	x.set(wsID, nil)
	x.mu.Unlock()
}

// catchUp applies the store's entries after w.seq. w.mu is held.
func (x *Index) catchUp(ctx context.Context, w *workspace) error {
	for {
		recs, err := x.src.Log(ctx, w.id, w.seq, 1000)
		if err != nil {
			return fmt.Errorf("read log after %d: %w", w.seq, err)
		}
		for _, r := range recs {
			if r.Seq != w.seq+1 {
				return fmt.Errorf("log entry %d follows %d", r.Seq, w.seq)
			}
			x.apply(w, r)
		}
		if len(recs) < 1000 {
			return nil
		}
	}
}

// entry is the part of a log entry the index reads.
type entry struct {
	Type    string          `json:"type"`
	Subject string          `json:"subject"`
	Before  json.RawMessage `json:"before"`
	After   json.RawMessage `json:"after"`
}

// apply applies one entry, the next in seq order. w.mu is held.
func (x *Index) apply(w *workspace, r consentd.LogRecord) {
	w.seq = r.Seq
	var e entry
	if err := json.Unmarshal(r.Entry, &e); err != nil {
		x.log.Error("index: unreadable log entry", "workspace", w.id, "seq", r.Seq, "err", err)
		return
	}
	switch e.Type {
	case consentd.LogConsentChanged:
		h, ct, ok := splitSubject(e.Subject)
		var after struct {
			Status consentd.Status `json:"status"`
		}
		if ok && json.Unmarshal(e.After, &after) == nil {
			w.consents.put(h, w.intern(ct), statusOf(after.Status))
		}
	case consentd.LogSuppressionAdded:
		var s consentd.Suppression
		if h, _, ok := splitSubject(e.Subject); ok && json.Unmarshal(e.After, &s) == nil {
			w.sups[h] = append(w.sups[h], suppression{s.ID, s.Channel, s.Reason})
		}
	case consentd.LogSuppressionLifted:
		var s consentd.Suppression
		if h, _, ok := splitSubject(e.Subject); ok && json.Unmarshal(e.Before, &s) == nil {
			list := w.sups[h][:0:0]
			for _, old := range w.sups[h] {
				if old.id != s.ID {
					list = append(list, old)
				}
			}
			if len(list) == 0 {
				delete(w.sups, h)
			} else {
				w.sups[h] = list
			}
		}
	case consentd.LogPurposeChanged, consentd.LogPurposeDeleted, consentd.LogTopicChanged, consentd.LogTopicDeleted:
		w.catalog = applyCatalog(w.catalog, &e)
		x.src.Invalidate(w.id)
	case consentd.LogWorkspaceChanged:
		var ws consentd.Workspace
		if json.Unmarshal(e.After, &ws) == nil {
			w.region = ws.DefaultRegion
		}
		x.src.Invalidate(w.id)
	}
}

// applyCatalog returns a new catalog with a purpose or topic change applied:
// catalogs are shared by readers, never changed in place.
func applyCatalog(cat *consentd.Catalog, e *entry) *consentd.Catalog {
	purposes := make(map[string]*consentd.Purpose, len(cat.Purposes))
	for id, p := range cat.Purposes {
		purposes[id] = p
	}
	topics := make(map[string]*consentd.Topic, len(cat.Topics))
	for id, t := range cat.Topics {
		topics[id] = t
	}
	switch e.Type {
	case consentd.LogPurposeChanged:
		p := &consentd.Purpose{}
		if json.Unmarshal(e.After, p) == nil {
			purposes[p.ID] = p
		}
	case consentd.LogPurposeDeleted:
		delete(purposes, e.Subject)
	case consentd.LogTopicChanged:
		t := &consentd.Topic{}
		if json.Unmarshal(e.After, t) == nil {
			topics[t.ID] = t
		}
	case consentd.LogTopicDeleted:
		delete(topics, e.Subject)
	}
	ps := make([]*consentd.Purpose, 0, len(purposes))
	for _, p := range purposes {
		ps = append(ps, p)
	}
	ts := make([]*consentd.Topic, 0, len(topics))
	for _, t := range topics {
		ts = append(ts, t)
	}
	return consentd.NewCatalog(ps, ts)
}

// splitSubject parses "<base64url hash>#<channel type or *>".
func splitSubject(s string) (hashKey, string, bool) {
	var k hashKey
	i := strings.LastIndexByte(s, '#')
	if i < 0 {
		return k, "", false
	}
	var full [32]byte
	n, err := base64.RawURLEncoding.Decode(full[:], []byte(s[:i]))
	if err != nil || n != 32 {
		return k, "", false
	}
	copy(k[:], full[:16])
	return k, s[i+1:], true
}
