package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// testFeeds: feeds are stored per workspace with their stored secret.
func testFeeds(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	f := &consentd.Feed{ID: "pm", Name: "Postmark", Provider: consentd.ProviderPostmark, Username: "u", StoredSecret: "sha256:00",
		SecretEnv: "PM_PASSWORD", Settings: map[string]string{"topic_arn": "arn:aws:sns:eu-west-1:123:bounces"}, SoftBounce: consentd.SoftBouncePolicy{Limit: 2, Window: "24h"}}
	if err := s.PutFeed(e.ctx, e.ws, f, true); err != nil {
		t.Fatalf("PutFeed() = %v", err)
	}
	if f.CreatedAt.IsZero() || f.URL != "/feeds/"+e.ws+"/postmark/pm" {
		t.Errorf("PutFeed() set %+v; want times and URL", f)
	}
	wantCode(t, "PutFeed(again, create)", s.PutFeed(e.ctx, e.ws, &consentd.Feed{ID: "pm", Provider: consentd.ProviderMailgun}, true), consentd.ECONFLICT)
	got, err := s.Feed(e.ctx, e.ws, "pm")
	if err != nil || got.StoredSecret != "sha256:00" || got.Username != "u" || got.SecretEnv != "PM_PASSWORD" || got.SoftBounce.Limit != 2 || got.SoftBounce.Window != "24h" ||
		got.Settings["topic_arn"] != "arn:aws:sns:eu-west-1:123:bounces" {
		t.Errorf("Feed() = %+v, %v", got, err)
	}
	f.Name = "renamed"
	if err := s.PutFeed(e.ctx, e.ws, f, false); err != nil {
		t.Fatalf("PutFeed(replace) = %v", err)
	}
	other := newEnv(t, s, "other")
	if _, err := s.Feed(e.ctx, other.ws, "pm"); consentd.ErrorCode(err) != consentd.ENOTFOUND {
		t.Errorf("Feed(other workspace) = %v; want not_found", err)
	}
	l, err := s.Feeds(e.ctx, e.ws)
	if err != nil || len(l) != 1 || l[0].Name != "renamed" {
		t.Errorf("Feeds() = %v, %v", l, err)
	}
	if err := s.DeleteFeed(e.ctx, e.ws, "pm"); err != nil {
		t.Fatalf("DeleteFeed() = %v", err)
	}
	wantCode(t, "DeleteFeed(again)", s.DeleteFeed(e.ctx, e.ws, "pm"), consentd.ENOTFOUND)
}

// feedAct is an act for address cp as package feeds prepares it.
func (e *env) feedAct(id string, kind consentd.FeedEventKind, cp string, at time.Time) consentd.FeedAct {
	secret, err := e.s.WorkspaceSecret(e.ctx, e.ws)
	if err != nil {
		e.t.Fatal(err)
	}
	a := consentd.FeedAct{EventID: id, Kind: kind, OccurredAt: at, ContactPoint: cp, Hash: consentd.ContactPointHash(secret, consentd.KindEmail, cp)}
	src := consentd.Source{Type: consentd.SourceProviderFeed, Name: "sendgrid", Details: json.RawMessage(`{"feed_id":"sg","event_id":"` + id + `"}`)}
	sup := func(r consentd.SuppressionReason) consentd.SuppressionInput {
		return consentd.SuppressionInput{ContactPoint: cp, Kind: consentd.KindEmail, Channel: "email", Reason: r, Note: "sendgrid " + id, OnlyIfNone: true}
	}
	switch kind {
	case consentd.FeedHardBounce:
		a.Suppressions = []consentd.SuppressionInput{sup(consentd.SuppressHardBounce)}
	case consentd.FeedSoftBounce:
		s := sup(consentd.SuppressHardBounce)
		a.Escalate = &s
	case consentd.FeedComplaint:
		a.Suppressions = []consentd.SuppressionInput{sup(consentd.SuppressComplaint)}
		fallthrough
	case consentd.FeedUnsubscribe:
		a.Writes = []consentd.ConsentWrite{{ContactPoint: cp, ChannelType: "newsletter:email", Status: consentd.OptedOut, CapturedAt: at, Source: src, OnlyOnChange: true}}
	}
	return a
}

func (e *env) applyFeed(in consentd.FeedApply) *consentd.FeedOutcome {
	e.t.Helper()
	out, err := e.s.ApplyFeedEvents(e.ctx, e.ws, in, "feed:sg")
	if err != nil {
		e.t.Fatalf("ApplyFeedEvents() = %v", err)
	}
	return out
}

// testFeedEvents: provider events act once per event id, in one
// transaction with their record; soft bounces escalate within the window.
func testFeedEvents(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	e.mustWrite(cw("c@example.com", "newsletter", "opted_in", e.t0))
	at := time.Now().Add(-time.Minute).UTC()
	policy := consentd.SoftBouncePolicy{Limit: 3, Window: "1h"}
	batch := consentd.FeedApply{FeedID: "sg", SoftBounce: policy, Acts: []consentd.FeedAct{
		e.feedAct("ev-hb", consentd.FeedHardBounce, "hb@example.com", at),
		e.feedAct("ev-c", consentd.FeedComplaint, "c@example.com", at),
		e.feedAct("ev-hb2", consentd.FeedHardBounce, "hb@example.com", at), // a second bounce of one address: one suppression
		{EventID: "ev-delivered", Kind: consentd.FeedIgnored, OccurredAt: at},
	}}
	size := e.logSize()
	out := e.applyFeed(batch)
	if out.Events != 4 || out.Duplicates != 0 || out.Suppressions != 2 || out.Consents != 1 {
		t.Errorf("ApplyFeedEvents() = %+v; want 4 events, 2 suppressions, 1 consent", out)
	}
	if n := e.logSize(); n != size+3 {
		t.Errorf("log grew by %d; want 3 (two suppressions, one opt-out)", n-size)
	}
	if d := e.decide("hb@example.com", "email", "orders", ""); d.Allowed || d.Reason != consentd.ReasonSuppressed {
		t.Errorf("Decide(hard bounced, transactional) = %+v; want suppressed", d)
	}
	if d := e.decide("c@example.com", "email", "orders", ""); !d.Allowed {
		t.Errorf("Decide(complained, transactional) = %+v; want allowed", d)
	}
	if c := e.consent("c@example.com#newsletter:email"); c.Status != consentd.OptedOut || c.Source.Type != consentd.SourceProviderFeed {
		t.Errorf("consent after complaint = %+v; want opted_out from provider_feed", c)
	}
	// The same batch again: every event is a duplicate, nothing changes.
	size = e.logSize()
	out = e.applyFeed(batch)
	if out.Duplicates != 4 || out.Suppressions != 0 || out.Consents != 0 || e.logSize() != size {
		t.Errorf("ApplyFeedEvents(replay) = %+v, log +%d; want 4 duplicates and nothing written", out, e.logSize()-size)
	}
	// Another feed's ids are its own.
	other := batch
	other.FeedID, other.Acts = "sg2", batch.Acts[3:]
	if out := e.applyFeed(other); out.Duplicates != 0 {
		t.Errorf("ApplyFeedEvents(other feed) = %+v; want no duplicates", out)
	}

	// Soft bounces: the third within the window escalates; one outside
	// it does not count.
	soft := func(id string, at time.Time) consentd.FeedApply {
		return consentd.FeedApply{FeedID: "sg", SoftBounce: policy, Acts: []consentd.FeedAct{e.feedAct(id, consentd.FeedSoftBounce, "soft@example.com", at)}}
	}
	now := time.Now().UTC()
	for i, at := range []time.Time{now.Add(-3 * time.Hour), now.Add(-30 * time.Minute), now.Add(-20 * time.Minute)} {
		if out := e.applyFeed(soft("s"+string(rune('0'+i)), at)); out.Escalations != 0 {
			t.Errorf("soft bounce %d = %+v; want no escalation", i, out)
		}
	}
	e.applyFeed(soft("s1", now.Add(-10*time.Minute))) // a replay of a counted one does not count again
	if d := e.decide("soft@example.com", "email", "orders", ""); !d.Allowed {
		t.Errorf("Decide(two soft bounces in the window) = %+v; want allowed", d)
	}
	if out := e.applyFeed(soft("s3", now.Add(-10*time.Minute))); out.Escalations != 1 || out.Suppressions != 1 {
		t.Errorf("third soft bounce in the window = %+v; want one escalation", out)
	}
	if d := e.decide("soft@example.com", "email", "orders", ""); d.Allowed || d.Reason != consentd.ReasonSuppressed {
		t.Errorf("Decide(after three soft bounces) = %+v; want suppressed", d)
	}

	// An erased address stays erased: its events store no plaintext and
	// act on nothing, and are recorded as processed.
	if _, err := s.AddSuppression(e.ctx, e.ws, consentd.SuppressionInput{ContactPoint: "gone@example.com", Reason: consentd.SuppressErased}, "test"); err != nil {
		t.Fatal(err)
	}
	size = e.logSize()
	erasedAct := e.feedAct("ev-erased", consentd.FeedComplaint, "gone@example.com", at)
	if out := e.applyFeed(consentd.FeedApply{FeedID: "sg", SoftBounce: policy, Acts: []consentd.FeedAct{erasedAct}}); out.Erased != 1 || out.Suppressions != 0 || e.logSize() != size {
		t.Errorf("ApplyFeedEvents(erased address) = %+v, log +%d; want erased 1 and nothing written", out, e.logSize()-size)
	}
	if _, _, err := s.ContactPointByHash(e.ctx, e.ws, erasedAct.Hash); consentd.ErrorCode(err) != consentd.ENOTFOUND {
		t.Errorf("ContactPointByHash(erased, after a feed event) = %v; want not_found", err)
	}

	// A replay key is accepted once; its second use changes nothing.
	keyed := consentd.FeedApply{FeedID: "mg", ReplayKey: "tok", SoftBounce: policy, Acts: []consentd.FeedAct{e.feedAct("m1", consentd.FeedHardBounce, "k@example.com", at)}}
	e.applyFeed(keyed)
	keyed.Acts = []consentd.FeedAct{e.feedAct("m2", consentd.FeedHardBounce, "k2@example.com", at)}
	size = e.logSize()
	_, err := s.ApplyFeedEvents(e.ctx, e.ws, keyed, "feed:mg")
	wantCode(t, "ApplyFeedEvents(replayed key)", err, consentd.ECONFLICT)
	if e.logSize() != size {
		t.Errorf("a replayed key wrote to the log")
	}
	if d := e.decide("k2@example.com", "email", "orders", ""); !d.Allowed {
		t.Errorf("Decide(address of a refused replay) = %+v; want allowed", d)
	}
}
