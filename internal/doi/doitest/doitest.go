// Package doitest is the conformance suite of the double opt-in store
// methods (doi.go in internal/sqlite and internal/postgres): issuing
// confirmations, confirming them once and only while their consent is
// unchanged, and the job that sends each. Each backend's tests run it
// against a real database, as they run internal/storetest.
package doitest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/doi"
	"github.com/consentd/consentd/internal/storetest"
)

// Store is what the suite needs of a backend.
type Store interface {
	storetest.Store
	doi.Store
	Jobs(ctx context.Context, wsID string, f consentd.JobFilter) ([]*consentd.Job, string, error)
}

// Run runs every subtest against a new, empty store from open, which must
// return a store nothing else uses (or skip t). Run closes it.
func Run(t *testing.T, open func(t *testing.T) Store) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *env)
	}{
		{"Issue", testIssue},
		{"Confirm", testConfirm},
		{"ConfirmOnce", testConfirmOnce},
		{"ConfirmConcurrently", testConfirmConcurrently},
		{"StaleAfterOptOut", testStaleAfterOptOut},
		{"StaleAfterResubmission", testStaleAfterResubmission},
		{"Expired", testExpired},
		{"Isolation", testIsolation},
		{"MailJob", testMailJob},
		{"SMSConfirm", testSMSConfirm},
		{"SMSReplyLanguage", testSMSReplyLanguage},
		{"ConfirmLiftsHardBounce", testConfirmLiftsHardBounce},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close() = %v", err)
				}
			})
			tc.fn(t, newEnv(t, s, "alpha"))
		})
	}
}

// env is a store with a workspace whose purpose "news" (commercial, email
// restrictive) needs double opt-in in DE, with topic "weekly".
type env struct {
	t   *testing.T
	s   Store
	ctx context.Context
	ws  string
	t0  time.Time
}

func newEnv(t *testing.T, s Store, name string) *env {
	t.Helper()
	e := &env{t: t, s: s, ctx: t.Context(), t0: time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)}
	ws, err := s.CreateWorkspace(e.ctx, name)
	if err != nil {
		t.Fatalf("CreateWorkspace(%q) = %v", name, err)
	}
	e.ws = ws.ID
	p := &consentd.Purpose{ID: "news", Name: "News", Type: consentd.Commercial,
		Channels: map[string]consentd.ChannelSetting{"email": {}, "sms": {}}, DoubleOptIn: consentd.DoubleOptIn{"DE"}}
	if err := s.PutPurpose(e.ctx, e.ws, p, true, "test"); err != nil {
		t.Fatalf("PutPurpose() = %v", err)
	}
	if err := s.PutTopic(e.ctx, e.ws, &consentd.Topic{ID: "weekly", Purpose: "news", Name: "Weekly"}, true, "test"); err != nil {
		t.Fatalf("PutTopic() = %v", err)
	}
	return e
}

// requestProof is the proof of the signup requests the suite confirms.
func requestProof() *consentd.Proof {
	return &consentd.Proof{IP: "203.0.113.7", UserAgent: "Signup/1.0", FormVersion: "signup-v3", TextVersion: "terms-2026"}
}

// pending stores a pending consent of cp on news:email captured at, as the
// API does for an opt-in that needs confirmation, and returns it.
func (e *env) pending(cp string, at time.Time) *consentd.Consent {
	e.t.Helper()
	return e.write(consentd.ConsentWrite{ContactPoint: cp, Channel: "email", Purpose: "news", Status: consentd.Pending, CapturedAt: at,
		Source: consentd.Source{Type: consentd.SourceForm, Name: "signup"}, Jurisdiction: "DE", PartyID: "p-1", Proof: requestProof()})
}

func (e *env) write(w consentd.ConsentWrite) *consentd.Consent {
	e.t.Helper()
	res, err := e.s.WriteConsents(e.ctx, e.ws, []consentd.ConsentWrite{w}, "test")
	if err != nil || res[0].Err != nil {
		e.t.Fatalf("WriteConsents(%s %s) = %v, %v", w.ContactPoint, w.Status, err, res[0].Err)
	}
	return res[0].Consent
}

// issue records one confirmation for c and returns it.
func (e *env) issue(c *consentd.Consent, nonce string, expires time.Time) *consentd.Confirmation {
	e.t.Helper()
	fs, err := e.s.CreateConfirmations(e.ctx, e.ws, []consentd.ConfirmationInput{{ContactPoint: c.ContactPoint, ChannelType: c.ChannelType,
		ConsentVersion: c.Version, Proof: requestProof(), Nonce: nonce, ExpiresAt: expires}})
	if err != nil || len(fs) != 1 || fs[0] == nil {
		e.t.Fatalf("CreateConfirmations(%s v%d) = %v, %v", c.ID, c.Version, fs, err)
	}
	return fs[0]
}

func (e *env) consent(id string) *consentd.Consent {
	e.t.Helper()
	c, err := e.s.Consent(e.ctx, e.ws, id, time.Time{})
	if err != nil {
		e.t.Fatalf("Consent(%q) = %v", id, err)
	}
	return c
}

func (e *env) confirm(nonce string) *consentd.ConfirmResult {
	e.t.Helper()
	res, err := e.s.ConfirmConsent(e.ctx, e.ws, nonce, consentd.ConfirmRequest{IP: "198.51.100.9", UserAgent: "Phone/2.0"}, doi.Actor)
	if err != nil {
		e.t.Fatalf("ConfirmConsent(%q) = %v", nonce, err)
	}
	return res
}

func (e *env) logSize() int64 {
	e.t.Helper()
	n, err := e.s.LogSize(e.ctx, e.ws)
	if err != nil {
		e.t.Fatalf("LogSize() = %v", err)
	}
	return n
}

func (e *env) decide(cp string) consentd.Reason {
	e.t.Helper()
	d, err := e.s.Decide(e.ctx, e.ws, &consentd.DecisionRequest{ContactPoint: cp, Channel: "email", Purpose: "news"})
	if err != nil {
		e.t.Fatalf("Decide(%q) = %v", cp, err)
	}
	return d.Reason
}

func testIssue(t *testing.T, e *env) {
	c := e.pending(" Jane@Example.com", e.t0)
	f := e.issue(c, "nonce-1", time.Time{})
	before := time.Now()
	switch {
	case f.WorkspaceID != e.ws, f.Nonce != "nonce-1", f.ChannelType != "news:email", f.CPKind != consentd.KindEmail,
		f.ContactPoint != "jane@example.com", f.ConsentVersion != c.Version, f.ConsentSeq != c.Seq:
		t.Errorf("CreateConfirmations() = %+v; consent %+v", f, c)
	case f.UsedAt != nil, f.SentAt != nil, f.NextSendAt != nil:
		t.Errorf("a new confirmation: used %v, sent %v, next send %v; want unused, unsent, no schedule of its own (its job has it)", f.UsedAt, f.SentAt, f.NextSendAt)
	case f.Proof == nil || *f.Proof != *requestProof():
		t.Errorf("proof %+v; want %+v", f.Proof, requestProof())
	}
	if ttl := f.ExpiresAt.Sub(f.IssuedAt); ttl != consentd.ConfirmationTTL {
		t.Errorf("ExpiresAt - IssuedAt = %v; want %v", ttl, consentd.ConfirmationTTL)
	}
	if f.IssuedAt.After(before) || before.Sub(f.IssuedAt) > time.Minute {
		t.Errorf("IssuedAt = %v; want about now (%v)", f.IssuedAt, before)
	}
	got, err := e.s.Confirmation(e.ctx, e.ws, "nonce-1")
	if err != nil || got.CPHash != f.CPHash || got.ContactPoint != "jane@example.com" || !got.ExpiresAt.Equal(f.ExpiresAt) {
		t.Errorf("Confirmation() = %+v, %v; want %+v", got, err, f)
	}

	// Asking again for the same consent version is the same confirmation.
	again := e.issue(c, "nonce-2", time.Time{})
	if again.Nonce != "nonce-1" || !again.IssuedAt.Equal(f.IssuedAt) {
		t.Errorf("CreateConfirmations() again = nonce %q issued %v; want the first, %q %v", again.Nonce, again.IssuedAt, "nonce-1", f.IssuedAt)
	}
	if _, err := e.s.Confirmation(e.ctx, e.ws, "nonce-2"); consentd.ErrorCode(err) != consentd.ENOTFOUND {
		t.Errorf("Confirmation(the second nonce) = %v; want not_found", err)
	}

	// A version that is not the pending one gets none; several at once.
	other := e.pending("joe@example.com", e.t0)
	fs, err := e.s.CreateConfirmations(e.ctx, e.ws, []consentd.ConfirmationInput{
		{ContactPoint: c.ContactPoint, ChannelType: c.ChannelType, ConsentVersion: c.Version + 1, Nonce: "nonce-3"},
		{ContactPoint: other.ContactPoint, ChannelType: "0eBUNKNOWN", ConsentVersion: other.Version, Nonce: "nonce-4"},
	})
	if consentd.ErrorCode(err) != consentd.EUNKNOWNCHANNELTYPE {
		t.Errorf("CreateConfirmations(unknown channel type) = %v, %v; want unknown_channel_type", fs, err)
	}
	fs, err = e.s.CreateConfirmations(e.ctx, e.ws, []consentd.ConfirmationInput{
		{ContactPoint: c.ContactPoint, ChannelType: c.ChannelType, ConsentVersion: c.Version + 1, Nonce: "nonce-3"},
		{ContactPoint: "JOE@example.com", ChannelType: other.ChannelType, ConsentVersion: other.Version, Nonce: "nonce-4"},
	})
	if err != nil || len(fs) != 2 || fs[0] != nil || fs[1] == nil || fs[1].Nonce != "nonce-4" {
		t.Errorf("CreateConfirmations(wrong version, good) = %v, %v; want nil and nonce-4", fs, err)
	}
	if _, err := e.s.Confirmation(e.ctx, e.ws, "nonce-3"); consentd.ErrorCode(err) != consentd.ENOTFOUND {
		t.Errorf("a confirmation was recorded for a version that is not pending: %v", err)
	}

	// An opted-in consent gets none.
	in := e.write(consentd.ConsentWrite{ContactPoint: "ann@example.com", Channel: "email", Purpose: "news", Status: consentd.OptedIn,
		CapturedAt: e.t0, Source: consentd.Source{Type: consentd.SourceImport}})
	fs, err = e.s.CreateConfirmations(e.ctx, e.ws, []consentd.ConfirmationInput{{ContactPoint: in.ContactPoint, ChannelType: in.ChannelType, ConsentVersion: in.Version, Nonce: "nonce-5"}})
	if err != nil || fs[0] != nil {
		t.Errorf("CreateConfirmations(opted-in consent) = %v, %v; want nil", fs, err)
	}
	if _, err := e.s.Confirmation(e.ctx, e.ws, "nope"); consentd.ErrorCode(err) != consentd.ENOTFOUND {
		t.Errorf("Confirmation(unknown) = %v; want not_found", err)
	}
	if _, err := e.s.CreateConfirmations(e.ctx, "ws_nope", []consentd.ConfirmationInput{{ContactPoint: "x@example.com", ChannelType: "news:email", ConsentVersion: 1, Nonce: "n"}}); consentd.ErrorCode(err) != consentd.ENOTFOUND {
		t.Errorf("CreateConfirmations(unknown workspace) = %v; want not_found", err)
	}
}

func testConfirm(t *testing.T, e *env) {
	c := e.pending("jane@example.com", e.t0)
	f := e.issue(c, "n1", time.Time{})
	if r := e.decide("jane@example.com"); r != consentd.ReasonPendingConfirmation {
		t.Fatalf("decision before confirming: %s; want pending_confirmation", r)
	}
	size := e.logSize()
	before := time.Now().UTC()
	res := e.confirm("n1")
	if res.Outcome != consentd.ConfirmConfirmed || res.Consent == nil {
		t.Fatalf("ConfirmConsent() = %+v; want confirmed", res)
	}
	if r := e.decide("jane@example.com"); r != consentd.ReasonOptedIn {
		t.Errorf("decision after confirming: %s; want opted_in", r)
	}
	got, rp := e.consent(c.ID), requestProof()
	switch {
	case got.Status != consentd.OptedIn, got.Version != c.Version+1, got.Source.Type != consentd.SourceDoubleOptIn:
		t.Errorf("consent after confirming: %s v%d source %s; want opted_in v%d double_opt_in", got.Status, got.Version, got.Source.Type, c.Version+1)
	case got.CapturedAt.Before(before.Add(-time.Minute)) || !got.CapturedAt.After(c.CapturedAt):
		t.Errorf("captured_at %v; want now (%v), after the request's %v", got.CapturedAt, before, c.CapturedAt)
	case got.PartyID != "p-1", got.Jurisdiction != "DE":
		t.Errorf("party %q jurisdiction %q; want the request's p-1 DE", got.PartyID, got.Jurisdiction)
	case got.Proof == nil || got.Proof.IP != rp.IP || got.Proof.UserAgent != rp.UserAgent ||
		got.Proof.FormVersion != rp.FormVersion || got.Proof.TextVersion != rp.TextVersion || got.Proof.ConfirmedAt == nil:
		t.Errorf("proof %+v; want the request's with confirmed_at", got.Proof)
	case got.Seq != res.Consent.Seq || got.Seq != size+1:
		t.Errorf("seq %d (result %d); want the next log entry %d", got.Seq, res.Consent.Seq, size+1)
	}
	var details map[string]any
	if err := json.Unmarshal(got.Source.Details, &details); err != nil || details["confirm_ip"] != "198.51.100.9" ||
		details["confirm_user_agent"] != "Phone/2.0" || details["confirmation"] != "n1" || details["request_seq"] != float64(c.Seq) {
		t.Errorf("source details %s (%v); want the confirmation's ip, user agent, nonce and the request's seq", got.Source.Details, err)
	}
	hist, err := e.s.ConsentHistory(e.ctx, e.ws, c.ID)
	if err != nil || len(hist) != 2 {
		t.Fatalf("ConsentHistory() = %d entries, %v; want pending then opted_in", len(hist), err)
	}
	var last struct {
		Type  string                  `json:"type"`
		Actor string                  `json:"actor"`
		After *consentd.LoggedConsent `json:"after"`
	}
	json.Unmarshal(hist[1].Entry, &last)
	if last.Type != consentd.LogConsentChanged || last.Actor != doi.Actor || last.After == nil || last.After.Status != consentd.OptedIn {
		t.Errorf("log entry of the confirmation: %s", hist[1].Entry)
	}
	used, err := e.s.Confirmation(e.ctx, e.ws, "n1")
	if err != nil || used.UsedAt == nil || used.ConfirmIP != "198.51.100.9" || used.ConfirmUserAgent != "Phone/2.0" || used.ConfirmedSeq != got.Seq || used.NextSendAt != nil {
		t.Errorf("confirmation after use: %+v, %v; want used, with the confirmation's ip, user agent and seq, nothing to send", used, err)
	}
	if res.Confirmation == nil || res.Confirmation.UsedAt == nil || res.Confirmation.Nonce != f.Nonce {
		t.Errorf("ConfirmConsent().Confirmation = %+v; want the used confirmation", res.Confirmation)
	}
}

func testConfirmOnce(t *testing.T, e *env) {
	c := e.pending("jane@example.com", e.t0)
	e.issue(c, "n1", time.Time{})
	if res := e.confirm("n1"); res.Outcome != consentd.ConfirmConfirmed {
		t.Fatalf("ConfirmConsent() = %s; want confirmed", res.Outcome)
	}
	size, version := e.logSize(), e.consent(c.ID).Version
	for range 2 {
		if res := e.confirm("n1"); res.Outcome != consentd.ConfirmUsed || res.Consent != nil {
			t.Errorf("ConfirmConsent() again = %+v; want already_confirmed", res)
		}
	}
	if e.logSize() != size || e.consent(c.ID).Version != version {
		t.Errorf("a replayed confirmation changed something: log %d -> %d, version %d -> %d", size, e.logSize(), version, e.consent(c.ID).Version)
	}
	if res := e.confirm("unknown"); res.Outcome != consentd.ConfirmNotFound || res.Confirmation != nil {
		t.Errorf("ConfirmConsent(unknown) = %+v; want not_found", res)
	}
}

func testConfirmConcurrently(t *testing.T, e *env) {
	c := e.pending("jane@example.com", e.t0)
	e.issue(c, "n1", time.Time{})
	size := e.logSize()
	outcomes := make([]consentd.ConfirmOutcome, 8)
	var wg sync.WaitGroup
	for i := range outcomes {
		wg.Go(func() {
			res, err := e.s.ConfirmConsent(e.ctx, e.ws, "n1", consentd.ConfirmRequest{IP: fmt.Sprint("198.51.100.", i)}, doi.Actor)
			if err != nil {
				t.Errorf("ConfirmConsent() = %v", err)
				return
			}
			outcomes[i] = res.Outcome
		})
	}
	wg.Wait()
	n := 0
	for _, o := range outcomes {
		switch o {
		case consentd.ConfirmConfirmed:
			n++
		case consentd.ConfirmUsed:
		default:
			t.Errorf("concurrent ConfirmConsent() = %s", o)
		}
	}
	if n != 1 || e.logSize() != size+1 {
		t.Errorf("%d of %d concurrent confirmations confirmed, %d log entries written; want 1 and 1", n, len(outcomes), e.logSize()-size)
	}
}

func testStaleAfterOptOut(t *testing.T, e *env) {
	c := e.pending("jane@example.com", e.t0)
	e.issue(c, "n1", time.Time{})
	e.write(consentd.ConsentWrite{ContactPoint: "jane@example.com", ChannelType: "news:email", Status: consentd.OptedOut,
		CapturedAt: e.t0.Add(time.Minute), Source: consentd.Source{Type: consentd.SourceUnsubscribeLink}})
	size := e.logSize()
	if res := e.confirm("n1"); res.Outcome != consentd.ConfirmStale || res.Consent != nil {
		t.Errorf("ConfirmConsent() after an opt-out = %+v; want stale", res)
	}
	if got := e.consent(c.ID); got.Status != consentd.OptedOut || e.logSize() != size {
		t.Errorf("after a stale confirmation: %s, log %d -> %d; want opted_out and nothing logged", got.Status, size, e.logSize())
	}
	if r := e.decide("jane@example.com"); r != consentd.ReasonOptedOut {
		t.Errorf("decision: %s; want opted_out", r)
	}
	if f, _ := e.s.Confirmation(e.ctx, e.ws, "n1"); f == nil || f.UsedAt != nil {
		t.Errorf("a stale confirmation was marked used: %+v", f)
	}
}

func testStaleAfterResubmission(t *testing.T, e *env) {
	c := e.pending("jane@example.com", e.t0)
	e.issue(c, "n1", time.Time{})
	c2 := e.pending("jane@example.com", e.t0.Add(time.Minute)) // the form sent again: a new version
	if c2.Version != c.Version+1 {
		t.Fatalf("resubmission: version %d; want %d", c2.Version, c.Version+1)
	}
	e.issue(c2, "n2", time.Time{})
	if res := e.confirm("n1"); res.Outcome != consentd.ConfirmStale {
		t.Errorf("ConfirmConsent(the first link) = %s; want stale", res.Outcome)
	}
	if res := e.confirm("n2"); res.Outcome != consentd.ConfirmConfirmed {
		t.Errorf("ConfirmConsent(the second link) = %s; want confirmed", res.Outcome)
	}
	if res := e.confirm("n1"); res.Outcome != consentd.ConfirmStale {
		t.Errorf("ConfirmConsent(the first link, after the second) = %s; want stale", res.Outcome)
	}
}

func testExpired(t *testing.T, e *env) {
	c := e.pending("jane@example.com", e.t0)
	e.issue(c, "n1", time.Now().Add(-time.Second))
	size := e.logSize()
	if res := e.confirm("n1"); res.Outcome != consentd.ConfirmExpired {
		t.Errorf("ConfirmConsent(expired) = %s; want expired", res.Outcome)
	}
	if got := e.consent(c.ID); got.Status != consentd.Pending || e.logSize() != size {
		t.Errorf("after an expired confirmation: %s, log %d -> %d; want pending, nothing logged", got.Status, size, e.logSize())
	}
	if f, err := e.s.Confirmation(e.ctx, e.ws, "n1"); err != nil || f.UsedAt != nil {
		t.Errorf("the expired confirmation: %+v, %v; want kept, unused", f, err)
	}
}

func testIsolation(t *testing.T, e *env) {
	b := newEnv(t, e.s, "beta")
	c := e.pending("jane@example.com", e.t0)
	f := e.issue(c, "n1", time.Time{})
	cb := b.pending("jane@example.com", b.t0)
	fb := b.issue(cb, "n1", time.Time{}) // the same nonce in another workspace is another confirmation
	if fb.CPHash == f.CPHash {
		t.Errorf("two workspaces hash one address alike")
	}
	if res := b.confirm("n1"); res.Outcome != consentd.ConfirmConfirmed {
		t.Fatalf("ConfirmConsent(beta) = %s", res.Outcome)
	}
	if got := e.consent(c.ID); got.Status != consentd.Pending {
		t.Errorf("confirming in beta changed alpha: %s", got.Status)
	}
	if res := e.confirm("n1"); res.Outcome != consentd.ConfirmConfirmed {
		t.Errorf("ConfirmConsent(alpha) = %s; want confirmed", res.Outcome)
	}
	if _, err := e.s.Confirmation(e.ctx, b.ws, "only-alpha"); consentd.ErrorCode(err) != consentd.ENOTFOUND {
		t.Errorf("Confirmation(other workspace) = %v", err)
	}
}

// jobs returns the jobs of e's workspace that send confirmations, by ref.
func (e *env) jobs() map[string]*consentd.Job {
	e.t.Helper()
	js, _, err := e.s.Jobs(e.ctx, e.ws, consentd.JobFilter{Limit: 1000})
	if err != nil {
		e.t.Fatalf("Jobs() = %v", err)
	}
	out := map[string]*consentd.Job{}
	for _, j := range js {
		if j.Kind == consentd.JobKindConfirmationMail || j.Kind == consentd.JobKindConfirmationSMS {
			if out[j.Ref] != nil {
				e.t.Errorf("two jobs send confirmation %s", j.Ref)
			}
			out[j.Ref] = j
		}
	}
	return out
}

// testMailJob: recording a confirmation queues, in its transaction, one
// confirmation_mail job naming it, due at once; asking again for the same
// consent version queues nothing more. ConfirmationMailed records the
// attempts with the confirmation.
func testMailJob(t *testing.T, e *env) {
	c := e.pending("Jane@Example.com", e.t0)
	e.issue(c, "n1", time.Time{})
	got := e.jobs()
	j := got["n1"]
	if len(got) != 1 || j == nil || j.Kind != consentd.JobKindConfirmationMail || j.State != consentd.JobQueued ||
		j.MaxAttempts != consentd.ConfirmationJobMaxAttempts || j.Input != nil || j.RuleID != "" || j.RunAt.After(time.Now().Add(time.Second)) {
		t.Fatalf("jobs after issuing n1 = %+v; want one confirmation_mail job on n1, queued, due now", got)
	}
	if f := e.issue(c, "n1-again", time.Time{}); f == nil || f.Nonce != "n1" {
		t.Fatalf("issuing again = %+v; want n1", f)
	}
	if got := e.jobs(); len(got) != 1 || got["n1"] == nil || got["n1"].ID != j.ID {
		t.Errorf("jobs after issuing again = %+v; want only n1's", got)
	}
	if err := e.s.ConfirmationMailed(e.ctx, e.ws, "n1", "451 try later", 0); err != nil {
		t.Fatalf("ConfirmationMailed(failed) = %v", err)
	}
	if err := e.s.ConfirmationMailed(e.ctx, e.ws, "n1", "", 0); err != nil {
		t.Fatalf("ConfirmationMailed(sent) = %v", err)
	}
	sent, err := e.s.Confirmation(e.ctx, e.ws, "n1")
	if err != nil || sent.SentAt == nil || sent.SendAttempts != 2 || sent.SendError != "" || sent.NextSendAt != nil {
		t.Errorf("after sending: %+v, %v; want sent, 2 attempts, no error, nothing next", sent, err)
	}
	if err := e.s.ConfirmationMailed(e.ctx, e.ws, "nope", "", 0); consentd.ErrorCode(err) != consentd.ENOTFOUND {
		t.Errorf("ConfirmationMailed(unknown) = %v; want not_found", err)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
