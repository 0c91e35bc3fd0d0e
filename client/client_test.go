package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/client"
	"github.com/consentd/consentd/internal/api"
	"github.com/consentd/consentd/internal/apitest"
	"github.com/consentd/consentd/internal/automation"
	"github.com/consentd/consentd/internal/index"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/signedlink"
	"github.com/consentd/consentd/internal/sqlite"
	"github.com/consentd/consentd/internal/storetest"
)

// checked makes a client's HTTP exchanges checked against the server's
// /openapi.json (internal/apitest).
func checked(t *testing.T) client.Option {
	return client.WithHTTPClient(&http.Client{Transport: apitest.Transport(t, nil)})
}

// server is the real API on loopback: SQLite in a temporary folder,
// decisions from the in-memory index as serve has them, signed links,
// imports, and the automation runner. It records the route patterns that
// answered 2xx.
type server struct {
	api   *api.Server
	db    *sqlite.DB
	url   string
	admin string // an admin key of workspace "alpha"
	mu    sync.Mutex
	hit   map[string]bool // "METHOD /pattern" answered 2xx
}

// statusWriter keeps the status a handler wrote; Unwrap lets the
// handler's ResponseController reach the connection (full duplex, Flush).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func newServer(t *testing.T) *server {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(filepath.Join(dir, "consentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	signer, err := ledger.LoadOrCreateKey(filepath.Join(dir, "checkpoint.key"), "consentd")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	s := api.New(db, signer, log)
	idx := index.New(db, log)
	db.OnCommit = func(m map[string][]consentd.LogRecord) { idx.Apply(context.Background(), m) }
	s.Decider = idx
	links, err := signedlink.LoadOrCreate(filepath.Join(dir, "link-keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnableLinks(links, ""); err != nil {
		t.Fatal(err)
	}
	s.EnableImports(filepath.Join(dir, "imports"), 1<<20)
	s.WebhookAllowPrivate = true // the webhook targets loopback; no deliverer runs

	// The job runner, as serve runs it (rule and request jobs), with
	// backoff in milliseconds and 3 attempts.
	r := automation.New(db, s, log)
	r.Base, r.Cap, r.Poll = time.Millisecond, 4*time.Millisecond, 10*time.Millisecond
	r.Handlers = map[string]automation.Handler{consentd.JobKindRequest: automation.HandlerFunc(s.RunRequestJob)}
	s.JobsNudge, s.JobMaxAttempts = r.Nudge, 3
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); r.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })

	srv := &server{api: s, db: db, hit: map[string]bool{}}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		s.ServeHTTP(sw, r)
		// The mux set the pattern it matched on r.
		if sw.status/100 == 2 || sw.status == 0 {
			srv.mu.Lock()
			srv.hit[r.Pattern] = true
			srv.mu.Unlock()
		}
	}))
	t.Cleanup(hs.Close)
	srv.url = hs.URL
	ws, err := db.CreateWorkspace(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	if _, srv.admin, err = db.CreateKey(ctx, ws.ID, consentd.RoleAdmin, "admin", ""); err != nil {
		t.Fatal(err)
	}
	return srv
}

// missing returns the operations no 2xx answer came from.
func (s *server) missing() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, op := range s.api.Operations() {
		p := op.Path
		// The mux registers "/x/{id}:verb" on the whole segment.
		if i := strings.LastIndex(p, "}:"); i >= 0 {
			p = p[:i+1]
		}
		if !s.hit[op.Method+" "+p] {
			out = append(out, op.Method+" "+op.Path)
		}
	}
	return out
}

func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

func ok(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantError checks that err is an *Error with the HTTP status and code.
func wantError(t *testing.T, what string, err error, status int, code string) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: error %v (%T); want *client.Error", what, err, err)
	}
	if e.StatusCode != status || e.Code != code || e.Status != status {
		t.Fatalf("%s: %d %q (problem status %d); want %d %q", what, e.StatusCode, e.Code, e.Status, status, code)
	}
	if got := consentd.ErrorCode(err); got != code {
		t.Errorf("%s: consentd.ErrorCode = %q; want %q", what, got, code)
	}
	return e
}

func collect[T any](t *testing.T, what string, seq func(func(T, error) bool)) []T {
	t.Helper()
	var out []T
	for v, err := range seq {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		out = append(out, v)
	}
	return out
}

// TestClientEndToEnd calls every method of the client against the real
// server and checks at the end that every operation of the route table
// answered one of them with 2xx.
func TestClientEndToEnd(t *testing.T) {
	srv := newServer(t)
	ctx := t.Context()
	c := client.New(srv.url+"/", srv.admin, client.WithUserAgent("client-test"), client.WithHTTPClient(&http.Client{Timeout: time.Minute, Transport: apitest.Transport(t, nil)}))
	past := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)

	// Workspace.
	ws := must[*consentd.Workspace](t, "GetWorkspace")(c.GetWorkspace(ctx))
	region := "US"
	if ws = must[*consentd.Workspace](t, "UpdateWorkspace")(c.UpdateWorkspace(ctx, consentd.WorkspaceUpdate{DefaultRegion: &region})); ws.DefaultRegion != "US" {
		t.Errorf("UpdateWorkspace = %+v", ws)
	}
	// The brand: texts, logo.
	if texts := must[*client.TextList](t, "Texts")(c.Texts(ctx)); len(texts.Texts) == 0 || texts.Languages[0] != "en" {
		t.Errorf("Texts = %+v", texts)
	}
	logo := storetest.PNG(t, 16, 16)
	if ws = must[*consentd.Workspace](t, "SetLogo")(c.SetLogo(ctx, "image/png", logo)); ws.Logo == nil || ws.Logo.Size != len(logo) {
		t.Errorf("SetLogo = %+v", ws)
	}
	if got, ctype, err := c.GetLogo(ctx, ws.Logo.URL); err != nil || !bytes.Equal(got, logo) || ctype != "image/png" {
		t.Errorf("GetLogo = %d bytes, %q, %v; want the logo", len(got), ctype, err)
	}
	_, svgErr := c.SetLogo(ctx, "image/svg+xml", []byte("<svg/>"))
	wantError(t, "SetLogo(svg)", svgErr, 415, consentd.EUNSUPPORTEDMEDIATYPE)
	if ws = must[*consentd.Workspace](t, "DeleteLogo")(c.DeleteLogo(ctx)); ws.Logo != nil {
		t.Errorf("DeleteLogo = %+v", ws)
	}

	// Catalog.
	must[*consentd.Purpose](t, "CreatePurpose")(c.CreatePurpose(ctx, client.PurposeInput{ID: "newsletter", Name: "Newsletter", Type: consentd.Commercial,
		Channels: map[string]consentd.ChannelSetting{"email": {Enforcement: consentd.NonRestrictive}, "sms": {Enforcement: consentd.Restrictive}}}))
	must[*consentd.Topic](t, "CreateTopic")(c.CreateTopic(ctx, client.TopicInput{ID: "weekly", Purpose: "newsletter", Name: "Weekly"}))
	if p := must[*consentd.Purpose](t, "UpdatePurpose")(c.UpdatePurpose(ctx, "newsletter", map[string]any{"name": "News"})); p.Name != "News" {
		t.Errorf("UpdatePurpose = %+v", p)
	}
	if p := must[*consentd.Purpose](t, "GetPurpose")(c.GetPurpose(ctx, "newsletter")); p.Name != "News" {
		t.Errorf("GetPurpose = %+v", p)
	}
	if tp := must[*consentd.Topic](t, "UpdateTopic")(c.UpdateTopic(ctx, "weekly", map[string]any{"name": "Weekly digest"})); tp.Name != "Weekly digest" {
		t.Errorf("UpdateTopic = %+v", tp)
	}
	must[*consentd.Topic](t, "GetTopic")(c.GetTopic(ctx, "weekly"))
	must[*consentd.Purpose](t, "CreatePurpose tmp")(c.CreatePurpose(ctx, client.PurposeInput{ID: "tmp", Name: "Tmp", Type: consentd.Commercial,
		Channels: map[string]consentd.ChannelSetting{"email": {}}}))
	must[*consentd.Topic](t, "CreateTopic tmp")(c.CreateTopic(ctx, client.TopicInput{ID: "tmp-topic", Purpose: "tmp", Name: "Tmp"}))
	if ps := must[[]*consentd.Purpose](t, "ListPurposes")(c.ListPurposes(ctx)); len(ps) != 2 {
		t.Errorf("ListPurposes = %d purposes; want 2", len(ps))
	}
	if ts := must[[]*consentd.Topic](t, "ListTopics")(c.ListTopics(ctx)); len(ts) != 2 {
		t.Errorf("ListTopics = %d topics; want 2", len(ts))
	}
	ok(t, "DeleteTopic", c.DeleteTopic(ctx, "tmp-topic"))
	ok(t, "DeletePurpose", c.DeletePurpose(ctx, "tmp"))
	if cts := must[[]consentd.ChannelType](t, "ListChannelTypes")(c.ListChannelTypes(ctx)); len(cts) == 0 {
		t.Error("ListChannelTypes: none")
	}

	// Consents: single, batch, list and page, search, get as_of, history,
	// receipt.
	write := func(cp, status string) consentd.ConsentWrite {
		return consentd.ConsentWrite{ContactPoint: cp, Channel: "email", Purpose: "newsletter", Status: consentd.Status(status),
			CapturedAt: past, Source: consentd.Source{Type: "api"}}
	}
	a := must[*client.WriteAnswer](t, "WriteConsent")(c.WriteConsent(ctx, write("Jane@Example.com", "opted_in")))
	const janeID = "jane@example.com#newsletter:email"
	if a.Outcome != consentd.Created || !a.Applied || a.Consent == nil || a.ID != janeID {
		t.Fatalf("WriteConsent = %+v; want created %s", a, janeID)
	}
	again := must[*client.WriteAnswer](t, "WriteConsent again")(c.WriteConsent(ctx, write("jane@example.com", "opted_in")))
	if again.Outcome != consentd.Unchanged {
		t.Errorf("WriteConsent repeated: outcome %s; want unchanged", again.Outcome)
	}
	items := must[[]client.WriteItem](t, "WriteConsents")(c.WriteConsents(ctx, []consentd.ConsentWrite{
		write("bob@example.com", "opted_out"), write("not an address", "opted_in"), write("carol@example.com", "opted_in")}))
	if len(items) != 3 || items[0].WriteAnswer == nil || items[0].Outcome != consentd.Created || items[1].Error == nil ||
		items[1].Error.Code != consentd.EINVALIDCONTACTPOINT || items[1].WriteAnswer != nil || items[2].Error != nil {
		t.Fatalf("WriteConsents = %+v; want created, invalid_contact_point, created", items)
	}
	page := must[*client.ConsentPage](t, "ListConsents")(c.ListConsents(ctx, consentd.ConsentFilter{Purpose: "newsletter", Limit: 1}))
	if len(page.Consents) != 1 || page.NextPageToken == "" {
		t.Fatalf("ListConsents limit 1 = %+v; want one and a next page", page)
	}
	all := collect(t, "AllConsents", c.AllConsents(ctx, consentd.ConsentFilter{Limit: 1}))
	if len(all) != 3 {
		t.Errorf("AllConsents = %d consents; want 3", len(all))
	}
	if sp := must[*client.ConsentPage](t, "SearchConsents")(c.SearchConsents(ctx, consentd.ConsentFilter{ContactPoint: "bob@example.com"})); len(sp.Consents) != 1 ||
		sp.Consents[0].Status != consentd.OptedOut {
		t.Errorf("SearchConsents = %+v", sp)
	}
	if got := must[*consentd.Consent](t, "GetConsent")(c.GetConsent(ctx, janeID, consentd.Times{})); got.ID != janeID || got.Status != consentd.OptedIn {
		t.Errorf("GetConsent = %+v", got)
	}
	if got := must[*consentd.Consent](t, "GetConsent as_of")(c.GetConsent(ctx, janeID, consentd.Times{AsOf: past.Add(time.Minute)})); got.ProvedBy == nil {
		t.Errorf("GetConsent as_of = %+v; want proved_by", got)
	}
	_, err := c.GetConsent(ctx, janeID, consentd.Times{AsOf: past.Add(-time.Hour)})
	wantError(t, "GetConsent before its first write", err, 404, consentd.ENOTINEFFECT)
	if h := must[[]consentd.LogRecord](t, "ConsentHistory")(c.ConsentHistory(ctx, janeID)); len(h) != 2 {
		t.Errorf("ConsentHistory = %d entries; want 2", len(h))
	}
	rc := must[*client.Receipt](t, "GetReceipt")(c.GetReceipt(ctx, janeID))
	if rc.Seq == 0 || rc.Checkpoint == "" || len(rc.Leaf) == 0 {
		t.Errorf("GetReceipt = %+v", rc)
	}
	if tp := must[[]byte](t, "GetReceiptTLogProof")(c.GetReceiptTLogProof(ctx, janeID)); !bytes.Contains(tp, []byte("tlog-proof")) {
		t.Errorf("GetReceiptTLogProof = %q", tp)
	}

	// Decisions: single, JSON batch, NDJSON streams.
	if d := must[*consentd.DecisionResult](t, "Decide")(c.Decide(ctx, consentd.DecisionRequest{ContactPoint: "jane@example.com", Channel: "email", Purpose: "newsletter"})); !d.Allowed {
		t.Errorf("Decide jane = %+v; want allowed", d)
	}
	batch := must[[]client.DecisionItem](t, "DecideBatch")(c.DecideBatch(ctx, client.DecisionBatch{Purpose: "newsletter", Channel: "email",
		ContactPoints: []string{"jane@example.com", "bob@example.com", "not an address"}}))
	if len(batch) != 3 || !batch[0].Allowed() || batch[1].Allowed() || batch[1].Error != nil || batch[2].Error == nil ||
		batch[2].Error.Code != consentd.EINVALIDCONTACTPOINT || batch[2].ContactPoint != "not an address" {
		t.Fatalf("DecideBatch = %+v", batch)
	}
	reqs := func(yield func(consentd.DecisionRequest) bool) {
		for _, cp := range []string{"jane@example.com", "bob@example.com", "not an address", "dan@example.com"} {
			if !yield(consentd.DecisionRequest{ContactPoint: cp}) {
				return
			}
		}
	}
	st := must[*client.DecisionStream](t, "DecideStream")(c.DecideStream(ctx, client.StreamOptions{Purpose: "newsletter", Channel: "email"}, reqs))
	var got []string
	for st.Next() {
		it := st.Item()
		switch {
		case it.Error != nil:
			got = append(got, "error:"+it.Error.Code)
		case it.Allowed():
			got = append(got, "allowed:"+it.ContactPoint)
		default:
			got = append(got, "denied:"+it.ContactPoint)
		}
	}
	ok(t, "DecideStream", st.Err())
	st.Close()
	if want := []string{"allowed:jane@example.com", "denied:bob@example.com", "error:invalid_contact_point", "allowed:dan@example.com"}; !slices.Equal(got, want) {
		t.Errorf("DecideStream answers %q; want %q", got, want)
	}
	nd := "{\"contact_point\":\"jane@example.com\",\"purpose\":\"newsletter\",\"channel\":\"email\"}\n{\"contact_point\":\"bob@example.com\",\"purpose\":\"newsletter\",\"channel\":\"email\"}\n"
	st = must[*client.DecisionStream](t, "DecideNDJSON")(c.DecideNDJSON(ctx, client.StreamOptions{OnlyAllowed: true}, strings.NewReader(nd)))
	got = nil
	for st.Next() {
		got = append(got, st.Item().ContactPoint)
	}
	ok(t, "DecideNDJSON", st.Err())
	st.Close()
	if !slices.Equal(got, []string{"jane@example.com"}) {
		t.Errorf("DecideNDJSON only allowed = %q; want jane", got)
	}
	_, err = c.DecideStream(ctx, client.StreamOptions{Purpose: "nope", Channel: "email"}, reqs)
	wantError(t, "DecideStream with an unknown purpose", err, 422, consentd.EUNKNOWNPURPOSE)

	// Parties.
	party := must[*consentd.Party](t, "PutParty")(c.PutParty(ctx, "crm 42#a?b", client.PartyInput{
		ContactPoints: []consentd.PartyContactPoint{{Kind: consentd.KindEmail, Value: "jane@example.com"}}}))
	if party.ID != "crm 42#a?b" {
		t.Errorf("PutParty = %+v; want the id as given", party)
	}
	must[*consentd.Party](t, "GetParty")(c.GetParty(ctx, "crm 42#a?b"))
	if cs := must[[]*consentd.Consent](t, "PartyConsents")(c.PartyConsents(ctx, "crm 42#a?b")); len(cs) != 1 {
		t.Errorf("PartyConsents = %d; want 1", len(cs))
	}

	// Data-subject request (access): filed, carried out, reported.
	req := must[*consentd.Request](t, "CreateRequest")(c.CreateRequest(ctx, consentd.RequestInput{Type: consentd.RequestAccess, PartyID: "crm 42#a?b", Regulation: consentd.RegulationGDPR}))
	if _, err := srv.api.ProcessRequests(ctx); err != nil {
		t.Fatal(err)
	}
	if r := must[*consentd.Request](t, "GetRequest")(c.GetRequest(ctx, req.ID)); r.State != consentd.RequestCompleted {
		t.Errorf("GetRequest = %+v; want completed", r)
	}
	if rep := must[*consentd.AccessReport](t, "GetAccessReport")(c.GetAccessReport(ctx, req.ID)); len(rep.Consents) != 1 {
		t.Errorf("GetAccessReport = %+v", rep)
	}
	must[*client.RequestPage](t, "ListRequests")(c.ListRequests(ctx, client.PageQuery{State: "completed"}))
	if rs := collect(t, "AllRequests", c.AllRequests(ctx, client.PageQuery{Limit: 1})); len(rs) != 1 {
		t.Errorf("AllRequests = %d; want 1", len(rs))
	}

	if oo := must[*client.OptOutAllAnswer](t, "OptOutAll")(c.OptOutAll(ctx, "crm 42#a?b", "asked the agent")); oo.PartyID != "crm 42#a?b" || len(oo.Consents) == 0 ||
		oo.Consents[0].WriteAnswer == nil || oo.Consents[0].Status != consentd.OptedOut ||
		len(oo.Suppressions) != 1 || oo.Suppressions[0].Reason != consentd.SuppressDoNotContact {
		t.Errorf("OptOutAll = %+v", oo)
	}

	// Suppressions.
	sup := must[*consentd.Suppression](t, "CreateSuppression")(c.CreateSuppression(ctx, consentd.SuppressionInput{ContactPoint: "carol@example.com", Reason: consentd.SuppressHardBounce}))
	// This one, and the do_not_contact of the agent's opt-out-all.
	if ss := must[[]*consentd.Suppression](t, "ListSuppressions")(c.ListSuppressions(ctx)); len(ss) != 2 {
		t.Errorf("ListSuppressions = %d; want 2", len(ss))
	}
	ok(t, "DeleteSuppression", c.DeleteSuppression(ctx, sup.ID))

	// Reports: consents by the day they were captured, decisions by reason.
	if r := must[*client.ConsentReport](t, "ConsentReport")(c.ConsentReport(ctx, client.ReportOptions{Interval: "month", GroupBy: "purpose"})); r.Interval != "month" || len(r.Buckets) == 0 {
		t.Errorf("ConsentReport = %+v; want monthly buckets", r)
	}
	if r := must[*client.DecisionReport](t, "DecisionReport")(c.DecisionReport(ctx, client.ReportOptions{GroupBy: "reason"})); r.Interval != "day" || r.GroupBy != "reason" {
		t.Errorf("DecisionReport = %+v; want daily buckets by reason", r)
	}

	// Keys: a new key works until it is deleted, then 401.
	k := must[*client.KeyAnswer](t, "CreateKey")(c.CreateKey(ctx, consentd.RoleRead, "reader"))
	if k.Key == "" || k.Role != consentd.RoleRead {
		t.Fatalf("CreateKey = %+v", k)
	}
	reader := client.New(srv.url, k.Key, checked(t))
	must[*consentd.Workspace](t, "GetWorkspace with the new key")(reader.GetWorkspace(ctx))
	if ks := must[[]*consentd.APIKey](t, "ListKeys")(c.ListKeys(ctx)); len(ks) != 2 {
		t.Errorf("ListKeys = %d; want 2", len(ks))
	}
	_, err = reader.CreateKey(ctx, consentd.RoleAdmin, "escalate")
	wantError(t, "CreateKey with a read key", err, 403, consentd.EFORBIDDEN)
	ok(t, "DeleteKey", c.DeleteKey(ctx, k.ID))
	_, err = reader.GetWorkspace(ctx)
	wantError(t, "GetWorkspace with a deleted key", err, 401, consentd.EUNAUTHORIZED)

	// Log, checkpoints, proofs.
	lp := must[*client.LogPage](t, "GetLog")(c.GetLog(ctx, 0, 2))
	if len(lp.Entries) != 2 || lp.Next != lp.Entries[1].Seq {
		t.Errorf("GetLog limit 2 = %d entries, next %d", len(lp.Entries), lp.Next)
	}
	entries := collect(t, "AllLog", c.AllLog(ctx, 0))
	if len(entries) < 5 {
		t.Errorf("AllLog = %d entries", len(entries))
	}
	cp1 := must[*client.Checkpoint](t, "CreateCheckpoint")(c.CreateCheckpoint(ctx))
	if latest := must[*client.Checkpoint](t, "LatestCheckpoint")(c.LatestCheckpoint(ctx)); latest.Size != cp1.Size || latest.KeyID == "" {
		t.Errorf("LatestCheckpoint = %+v; want size %d", latest, cp1.Size)
	}
	must[*client.CheckpointPage](t, "ListCheckpoints")(c.ListCheckpoints(ctx, client.CheckpointQuery{Limit: 1}))
	if cps := collect(t, "AllCheckpoints", c.AllCheckpoints(ctx, client.CheckpointQuery{Limit: 1})); len(cps) < 2 {
		t.Errorf("AllCheckpoints = %d; want the receipt's and the new one", len(cps))
	}
	if pr := must[*client.ConsistencyProof](t, "ConsistencyProof")(c.ConsistencyProof(ctx, 1, cp1.Size)); pr.NewCheckpoint == nil || pr.New != cp1.Size {
		t.Errorf("ConsistencyProof = %+v", pr)
	}
	if rep := must[*client.VerifyReport](t, "VerifyLog")(c.VerifyLog(ctx)); !rep.OK {
		t.Errorf("VerifyLog = %+v", rep)
	}

	// Links.
	if l := must[*client.Link](t, "CreateLink")(c.CreateLink(ctx, client.LinkInput{Kind: "unsubscribe", ContactPoint: "jane@example.com", ChannelType: "newsletter:email"})); !strings.Contains(l.URL, "/u/") ||
		l.ListUnsubscribePost == "" {
		t.Errorf("CreateLink = %+v", l)
	}

	// Inbound SMS: a reply for review, listed, resolved.
	in := must[*consentd.InboundResult](t, "ReceiveSMS")(c.ReceiveSMS(ctx, consentd.InboundSMS{From: "+14155550100", Text: "who is this?", MessageID: "m1"}))
	if in.Action != "review" || in.Message == nil {
		t.Fatalf("ReceiveSMS = %+v; want review", in)
	}
	if p := must[*client.InboundPage](t, "ListInboundSMS")(c.ListInboundSMS(ctx, client.PageQuery{})); len(p.Messages) != 1 {
		t.Errorf("ListInboundSMS = %+v", p)
	}
	must[*consentd.InboundResult](t, "ResolveInboundSMS")(c.ResolveInboundSMS(ctx, in.Message.ID, consentd.InboundResolution{Action: "dismiss"}))
	if ms := collect(t, "AllInboundSMS", c.AllInboundSMS(ctx, client.PageQuery{State: "all", Limit: 1})); len(ms) != 1 || ms[0].State != "resolved" {
		t.Errorf("AllInboundSMS = %+v", ms)
	}

	// Records, rules, jobs: a rule that fails at run time, fixed, retried.
	rule := consentd.Rule{ID: "signup", On: consentd.RuleTrigger{Record: "contact"}, ContactPoint: "record.Email",
		Consents: []consentd.RuleConsent{{ChannelType: "newsletter:email", Status: `"opted_in"`}}, Source: consentd.Source{Type: consentd.SourceAutomation}}
	must[*consentd.Rule](t, "PutRule")(c.PutRule(ctx, rule))
	ra := must[*client.RecordAnswer](t, "PutRecord")(c.PutRecord(ctx, consentd.Record{Type: "contact", ID: "C 1/2", Origin: "crm", Fields: map[string]any{"mail": "eve@example.com"}}))
	if ra.Change != consentd.RecordCreated || len(ra.Jobs) != 1 || ra.ID != "C 1/2" {
		t.Fatalf("PutRecord = %+v; want created, one job", ra)
	}
	job := waitJob(t, c, ra.Jobs[0].ID)
	if job.State != consentd.JobFailed {
		t.Fatalf("job = %+v; want failed", job)
	}
	if jp := must[*client.JobPage](t, "ListJobs")(c.ListJobs(ctx, client.PageQuery{})); len(jp.Jobs) != 1 {
		t.Errorf("ListJobs (failed) = %+v", jp)
	}
	rule.ContactPoint = "record.mail"
	must[*consentd.Rule](t, "PutRule fixed")(c.PutRule(ctx, rule))
	must[*consentd.Job](t, "RetryJob")(c.RetryJob(ctx, job.ID))
	if job = waitJob(t, c, job.ID); job.State != consentd.JobSucceeded {
		t.Errorf("retried job = %+v; want succeeded", job)
	}
	// The rule's job, and the access request's.
	if js := collect(t, "AllJobs", c.AllJobs(ctx, client.PageQuery{State: "all", Limit: 1})); len(js) != 2 {
		t.Errorf("AllJobs = %d; want 2", len(js))
	}
	// A mailed preference link is queued as a job (this server sends no mail).
	if id := must[string](t, "SendPreferenceLink")(c.SendPreferenceLink(ctx, "linda@example.com")); !strings.HasPrefix(id, "job_") {
		t.Errorf("SendPreferenceLink = %q; want a job id", id)
	}
	if r := must[*consentd.Rule](t, "GetRule")(c.GetRule(ctx, "signup")); r.ContactPoint != "record.mail" {
		t.Errorf("GetRule = %+v", r)
	}
	if rs := must[[]*consentd.Rule](t, "ListRules")(c.ListRules(ctx)); len(rs) != 1 {
		t.Errorf("ListRules = %d", len(rs))
	}
	ok(t, "DeleteRule", c.DeleteRule(ctx, "signup"))

	// Webhooks.
	wh := must[*consentd.Webhook](t, "CreateWebhook")(c.CreateWebhook(ctx, client.WebhookInput{URL: "http://127.0.0.1:9/hook", Events: []string{"consent.changed"}}))
	if wh.ID == "" || !strings.HasPrefix(wh.Secret, "whsec_") {
		t.Fatalf("CreateWebhook = %+v; want an id and the generated secret", wh)
	}
	disabled := true
	if u := must[*consentd.Webhook](t, "UpdateWebhook")(c.UpdateWebhook(ctx, wh.ID, consentd.WebhookUpdate{Disabled: &disabled})); !u.Disabled || u.Secret != "" {
		t.Errorf("UpdateWebhook = %+v", u)
	}
	must[*consentd.Webhook](t, "GetWebhook")(c.GetWebhook(ctx, wh.ID))
	if whs := must[[]*consentd.Webhook](t, "ListWebhooks")(c.ListWebhooks(ctx)); len(whs) != 1 {
		t.Errorf("ListWebhooks = %d", len(whs))
	}
	must[*client.DeliveryPage](t, "ListWebhookDeliveries")(c.ListWebhookDeliveries(ctx, wh.ID, client.PageQuery{Limit: 10}))
	if ds := collect(t, "AllWebhookDeliveries", c.AllWebhookDeliveries(ctx, wh.ID, client.PageQuery{})); len(ds) != 0 {
		t.Errorf("AllWebhookDeliveries = %d; want none (no deliverer runs)", len(ds))
	}
	ok(t, "DeleteWebhook", c.DeleteWebhook(ctx, wh.ID))

	// Provider feeds.
	fd := must[*consentd.Feed](t, "CreateFeed")(c.CreateFeed(ctx, client.FeedInput{Provider: consentd.ProviderPostmark}))
	if fd.ID == "" || fd.Secret == "" || fd.URL == "" {
		t.Fatalf("CreateFeed = %+v; want an id, the generated password and the URL", fd)
	}
	if g := must[*consentd.Feed](t, "GetFeed")(c.GetFeed(ctx, fd.ID)); g.Secret != "" {
		t.Errorf("GetFeed shows the secret")
	}
	if fs := must[[]*consentd.Feed](t, "ListFeeds")(c.ListFeeds(ctx)); len(fs) != 1 {
		t.Errorf("ListFeeds = %d", len(fs))
	}
	ok(t, "DeleteFeed", c.DeleteFeed(ctx, fd.ID))

	// Imports and the export.
	csv := "contact_point,channel,purpose,topic,status,captured_at,source_type,source_name,source_details,party_id,jurisdiction,reason\n" +
		"frank@example.com,email,newsletter,,opted_in,2024-03-14T09:30:00Z,form,signup,,,,\n" +
		"not an address,email,newsletter,,opted_in,2024-03-14T09:30:00Z,,,,,,\n"
	im, created, err := c.CreateImport(ctx, client.ImportOptions{Format: "native", Name: "crm.csv"}, strings.NewReader(csv), int64(len(csv)))
	ok(t, "CreateImport", err)
	if !created || im.State != consentd.ImportQueued {
		t.Fatalf("CreateImport = %+v, created %v", im, created)
	}
	if _, err := srv.api.ProcessImports(ctx); err != nil {
		t.Fatal(err)
	}
	im = must[*consentd.Import](t, "WaitImport")(c.WaitImport(ctx, im.ID, 10*time.Millisecond, nil))
	if im.State != consentd.ImportSucceeded || im.Created != 1 || im.Rejected != 1 {
		t.Errorf("import = %+v; want succeeded, 1 created, 1 rejected", im)
	}
	if g := must[*consentd.Import](t, "GetImport")(c.GetImport(ctx, im.ID)); g.ID != im.ID {
		t.Errorf("GetImport = %+v", g)
	}
	if l := must[*client.ImportPage](t, "ListImports")(c.ListImports(ctx, client.PageQuery{Limit: 10})); len(l.Imports) != 1 || l.Imports[0].ID != im.ID || l.NextPageToken != "" {
		t.Errorf("ListImports = %+v", l)
	}
	var imports []string
	for x, err := range c.AllImports(ctx, client.PageQuery{Limit: 1}) {
		ok(t, "AllImports", err)
		imports = append(imports, x.ID)
	}
	if len(imports) != 1 || imports[0] != im.ID {
		t.Errorf("AllImports = %v; want [%s]", imports, im.ID)
	}
	rj := must[io.ReadCloser](t, "ImportRejects")(c.ImportRejects(ctx, im.ID))
	b, err := io.ReadAll(rj)
	rj.Close()
	if err != nil || !strings.HasPrefix(string(b), "line,code,reason\n3,invalid_contact_point,") {
		t.Errorf("ImportRejects = %q, %v", b, err)
	}
	if _, created, err := c.CreateImport(ctx, client.ImportOptions{Format: "native", Name: "crm.csv"}, strings.NewReader(csv), 0); err != nil || created {
		t.Errorf("CreateImport again: created %v, %v; want the existing import", created, err)
	}
	ex := must[io.ReadCloser](t, "ExportConsents")(c.ExportConsents(ctx, client.ExportOptions{}))
	b, err = io.ReadAll(ex)
	ex.Close()
	if err != nil || !strings.HasPrefix(string(b), "contact_point,") || !strings.Contains(string(b), "frank@example.com") {
		t.Errorf("ExportConsents = %q, %v", b, err)
	}
	recs := collect(t, "ExportRecords", c.ExportRecords(ctx, consentd.Times{}))
	if len(recs) < 4 || recs[0].ContactPoint == "" || recs[0].CapturedAt.IsZero() {
		t.Errorf("ExportRecords = %d records, first %+v", len(recs), recs[0])
	}

	// Errors: 404, 422 with the field, 401, a transport error.
	_, err = c.GetPurpose(ctx, "nope")
	e := wantError(t, "GetPurpose nope", err, 404, consentd.ENOTFOUND)
	if e.Type != "/problems/not_found" || e.Title == "" || e.Method != "GET" || e.Path != "/v1/purposes/nope" {
		t.Errorf("404 error = %+v", e)
	}
	if !strings.Contains(e.Error(), "404") || !strings.Contains(e.Error(), "not_found") {
		t.Errorf("404 Error() = %q", e.Error())
	}
	_, err = c.WriteConsent(ctx, write("jane@example.com", "maybe"))
	e = wantError(t, "WriteConsent maybe", err, 422, consentd.EINVALIDSTATUS)
	if len(e.Fields) != 1 || e.Fields[0].Field != "status" {
		t.Errorf("422 fields = %+v; want status", e.Fields)
	}
	var ce *consentd.Error
	if !errors.As(err, &ce) || ce.Code != consentd.EINVALIDSTATUS {
		t.Errorf("errors.As *consentd.Error = %v", ce)
	}
	_, err = client.New(srv.url, "wrong", checked(t)).ListConsents(ctx, consentd.ConsentFilter{})
	wantError(t, "ListConsents with a wrong key", err, 401, consentd.EUNAUTHORIZED)

	if m := srv.missing(); len(m) > 0 {
		t.Errorf("operations no client call got a 2xx answer from:\n%s", strings.Join(m, "\n"))
	}
}

// waitJob polls a job until it succeeded or failed.
func waitJob(t *testing.T, c *client.Client, id string) *consentd.Job {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		j, err := c.GetJob(t.Context(), id)
		if err != nil {
			t.Fatalf("GetJob: %v", err)
		}
		if j.State == consentd.JobSucceeded || j.State == consentd.JobFailed {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s", id, j.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
