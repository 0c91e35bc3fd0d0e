// Package storetest is the conformance suite that every consentd storage
// backend passes (internal/sqlite, internal/postgres): one set of subtests,
// run by each backend's tests against a real database. A behaviour that
// the API, the ledger or the decision index relies on belongs here, not in
// one backend's tests.
package storetest

import (
	"context"
	"encoding/json"
	"github.com/consentd/consentd/internal/ledger"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/api"
	"golang.org/x/mod/sumdb/tlog"
)

// Store is what the suite needs of a backend: what the API needs, plus the
// workspace administration of the command line, the log reads that
// receipts and audits use, and Close.
type Store interface {
	api.Store
	CreateWorkspace(ctx context.Context, name string) (*consentd.Workspace, error)
	Workspaces(ctx context.Context) ([]*consentd.Workspace, error)
	WorkspaceByName(ctx context.Context, name string) (*consentd.Workspace, error)
	LogEntry(ctx context.Context, wsID string, seq int64) (*consentd.LogRecord, error)
	SubjectLog(ctx context.Context, wsID, subject string) ([]consentd.LogRecord, error)
	TreeHash(ctx context.Context, wsID string, n int64) (tlog.Hash, error)
	ProveRecord(ctx context.Context, wsID string, seq, n int64) (tlog.RecordProof, error)
	WorkspaceSecret(ctx context.Context, id string) ([]byte, error)
	LinkedContactPoints(ctx context.Context, wsID string, hash [32]byte) ([]consentd.PartyContactPoint, []*consentd.Suppression, error)
	ApplyFeedEvents(ctx context.Context, wsID string, in consentd.FeedApply, actor string) (*consentd.FeedOutcome, error)
	QueueCounts(ctx context.Context, now time.Time) (*consentd.QueueCounts, error)
	Close() error
}

// Run runs every subtest against a new, empty store from open. open must
// return a store that nothing else uses, or skip or fail t; Run closes the
// store when the subtest ends, so open must not (it may clean up after
// that, for example drop the database).
func Run(t *testing.T, open func(t *testing.T) Store) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close() = %v", err)
				}
			})
			t.Cleanup(func() { checkState(t, s) }) // before Close
			tc.fn(t, s)
		})
	}
}

var tests = []struct {
	name string
	fn   func(*testing.T, Store)
}{
	{"Workspaces", testWorkspaces},
	{"DecisionCounts", testDecisionCounts}, // reports.go
	{"ConsentReport", testConsentReport},   // reports.go
	{"UpdateWorkspace", testUpdateWorkspace},
	{"Brand", testBrand},         // brand.go: a workspace's brand and logo
	{"Languages", testLanguages}, // brand.go: party, proof and catalog languages
	{"UnknownWorkspace", testUnknownWorkspace},
	{"Keys", testKeys},
	{"Catalog", testCatalog},
	{"CatalogConflicts", testCatalogConflicts},
	{"WriteOutcomes", testWriteOutcomes},
	{"Normalization", testNormalization},
	{"OrderingPermutations", testOrderingPermutations},
	{"EqualCapturedAt", testEqualCapturedAt},
	{"FutureCapturedAt", testFutureCapturedAt},
	{"Idempotency", testIdempotency},
	{"PublicActs", testPublicActs},
	{"BatchItemErrors", testBatchItemErrors},
	{"ChannelTypeIDs", testChannelTypeIDs},
	{"Log", testLog},
	{"TreeHashesAndProofs", testTreeHashesAndProofs},
	{"Receipts", testReceipts},
	{"Checkpoints", testCheckpoints},
	{"CheckpointsBetween", testCheckpointsBetween}, // checkpoint.go: checkpoint history
	{"Times", testTimes},                           // history.go: as_of and known_at
	{"ExportTimes", testExportTimes},               // history.go
	{"StateReplay", testStateReplay},               // history.go: the log's replay matches the stored rows
	{"History", testHistory},
	{"ListConsents", testListConsents},
	{"Parties", testParties},
	{"Suppressions", testSuppressions},
	{"Decisions", testDecisions},
	{"DecisionErrors", testDecisionErrors},
	{"Isolation", testIsolation},
	{"ConcurrentWritersOneKey", testConcurrentWritersOneKey},
	{"ConcurrentWritersManyKeys", testConcurrentWritersManyKeys},
	{"Inbound", testInbound},                     // inbound.go: SMS replies, data-subject requests
	{"LinkContactPoints", testLinkContactPoints}, // links.go: what signed links need
	{"Automation", testAutomation},               // automation.go: records, rules, jobs
	{"Events", testEvents},                       // events.go: webhooks, deliveries, event cursors
	{"ErasedJobInputs", testErasedJobInputs},     // erasure.go: erasing an address purges job inputs
	{"ErasedPlaintext", testErasedPlaintext},     // erasure.go: erasing an address deletes its plaintext
	{"Imports", testImports},                     // imports.go: bulk imports
	{"StoredForms", testStoredForms},             // storedform.go: contact points stored before Normalize refused them
	{"Feeds", testFeeds},                         // feeds.go: provider feeds
	{"FeedEvents", testFeedEvents},               // feeds.go: provider events act once
	{"QueueCounts", testQueueCounts},             // queuecount.go: monitoring counts of jobs and requests
	{"Verifications", testVerifications},         // verification.go: the newest log verification
}

// env is a store with one workspace holding the standard catalog.
type env struct {
	t   *testing.T
	s   Store
	ctx context.Context
	ws  string
	t0  time.Time // an hour ago: captured_at of most writes
}

// catalogEntries is how many log entries the standard catalog makes.
const catalogEntries = 6

// newEnv creates workspace name with the standard catalog:
//
//	newsletter  commercial     email, sms, whatsapp (restrictive); email external id 0eBNEWSLETTEREMAIL
//	  weekly    topic
//	promo       commercial     email non_restrictive
//	  deals     topic
//	orders      transactional  email (non_restrictive), sms disabled
//	analytics   tracking       email (restrictive)
func newEnv(t *testing.T, s Store, name string) *env {
	t.Helper()
	e := &env{t: t, s: s, ctx: t.Context(), t0: time.Now().Add(-time.Hour).UTC()}
	ws, err := s.CreateWorkspace(e.ctx, name)
	if err != nil {
		t.Fatalf("CreateWorkspace(%q) = %v", name, err)
	}
	e.ws = ws.ID
	purposes := []*consentd.Purpose{
		{ID: "newsletter", Name: "Newsletter", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{
			"email": {ExternalID: "0eBNEWSLETTEREMAIL"}, "sms": {}, "whatsapp": {}}},
		{ID: "promo", Name: "Promotions", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{
			"email": {Enforcement: consentd.NonRestrictive}}},
		{ID: "orders", Name: "Order updates", Type: consentd.Transactional, Channels: map[string]consentd.ChannelSetting{
			"email": {}, "sms": {Enforcement: consentd.Disabled}}},
		{ID: "analytics", Name: "Analytics", Type: consentd.Tracking, Channels: map[string]consentd.ChannelSetting{"email": {}}},
	}
	for _, p := range purposes {
		if err := s.PutPurpose(e.ctx, e.ws, p, true, "test"); err != nil {
			t.Fatalf("PutPurpose(%q) = %v", p.ID, err)
		}
	}
	for _, tp := range []*consentd.Topic{{ID: "weekly", Purpose: "newsletter", Name: "Weekly"}, {ID: "deals", Purpose: "promo", Name: "Deals"}} {
		if err := s.PutTopic(e.ctx, e.ws, tp, true, "test"); err != nil {
			t.Fatalf("PutTopic(%q) = %v", tp.ID, err)
		}
	}
	return e
}

// cw returns a write of status on purpose[:topic] over email.
func cw(cp, purpose, status string, at time.Time) consentd.ConsentWrite {
	w := consentd.ConsentWrite{ContactPoint: cp, Channel: "email", Purpose: purpose, Status: consentd.Status(status), CapturedAt: at,
		Source: consentd.Source{Type: consentd.SourceForm, Name: "signup"}}
	return w
}

// topic returns w for topic t.
func topic(w consentd.ConsentWrite, t string) consentd.ConsentWrite { w.Topic = t; return w }

// on returns w on channel ch.
func on(w consentd.ConsentWrite, ch string) consentd.ConsentWrite { w.Channel = ch; return w }

// write writes and fails the test on a call error (not on item errors).
func (e *env) write(ws ...consentd.ConsentWrite) []consentd.WriteResult {
	e.t.Helper()
	res, err := e.s.WriteConsents(e.ctx, e.ws, ws, "test")
	if err != nil {
		e.t.Fatalf("WriteConsents(%d writes) = %v", len(ws), err)
	}
	if len(res) != len(ws) {
		e.t.Fatalf("WriteConsents(%d writes) = %d results", len(ws), len(res))
	}
	return res
}

// mustWrite writes and fails the test on any item error.
func (e *env) mustWrite(ws ...consentd.ConsentWrite) []consentd.WriteResult {
	e.t.Helper()
	res := e.write(ws...)
	for i, r := range res {
		if r.Err != nil {
			e.t.Fatalf("WriteConsents item %d (%s %s) = %v", i, ws[i].ContactPoint, ws[i].Status, r.Err)
		}
	}
	return res
}

func (e *env) consent(id string) *consentd.Consent {
	e.t.Helper()
	c, err := e.s.Consent(e.ctx, e.ws, id, time.Time{})
	if err != nil {
		e.t.Fatalf("Consent(%q) = %v", id, err)
	}
	return c
}

func (e *env) logSize() int64 {
	e.t.Helper()
	n, err := e.s.LogSize(e.ctx, e.ws)
	if err != nil {
		e.t.Fatalf("LogSize() = %v", err)
	}
	return n
}

// logEntry is a log entry's leaf data, decoded.
type logEntry struct {
	Seq     int64           `json:"seq"`
	At      time.Time       `json:"at"`
	Type    string          `json:"type"`
	Subject string          `json:"subject"`
	Before  json.RawMessage `json:"before"`
	After   json.RawMessage `json:"after"`
	Write   json.RawMessage `json:"write"`
	Actor   string          `json:"actor"`
}

func decode(t *testing.T, r consentd.LogRecord) logEntry {
	t.Helper()
	var e logEntry
	if err := json.Unmarshal(r.Entry, &e); err != nil {
		t.Fatalf("log entry %d: %v", r.Seq, err)
	}
	if e.Seq != r.Seq {
		t.Fatalf("log entry %d says seq %d", r.Seq, e.Seq)
	}
	return e
}

// entries returns the whole log of the env's workspace.
func (e *env) entries() []consentd.LogRecord {
	e.t.Helper()
	var out []consentd.LogRecord
	err := ledger.EachEntry(e.ctx, e.s, e.ws, func(rec consentd.LogRecord) error {
		out = append(out, rec)
		return nil
	})
	if err != nil {
		e.t.Fatalf("EachEntry() = %v", err)
	}
	return out
}

func types(t *testing.T, rs []consentd.LogRecord) []string {
	t.Helper()
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = decode(t, r).Type
	}
	return out
}

// wantCode fails the test unless err has the code want ("" = no error).
func wantCode(t *testing.T, what string, err error, want string) {
	t.Helper()
	if got := consentd.ErrorCode(err); got != want {
		t.Errorf("%s = %v (code %q); want code %q", what, err, got, want)
	}
}
