package statemetrics_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/pgtest"
	"github.com/consentd/consentd/internal/postgres"
	"github.com/consentd/consentd/internal/sqlite"
	"github.com/consentd/consentd/internal/statemetrics"
	"github.com/prometheus/client_golang/prometheus"
)

// store is a backend as these tests use it.
type store interface {
	statemetrics.Store
	ledger.Store
	CreateWorkspace(ctx context.Context, name string) (*consentd.Workspace, error)
	PutPurpose(ctx context.Context, wsID string, p *consentd.Purpose, create bool, actor string) error
	PutWebhook(ctx context.Context, wsID string, w *consentd.Webhook, create bool) error
	PutRecord(ctx context.Context, wsID string, rec consentd.Record, triggers []consentd.JobTrigger) (consentd.RecordChange, []*consentd.Job, error)
	ClaimJobs(ctx context.Context, lease time.Duration, limit int) ([]*consentd.Job, error)
	FailJob(ctx context.Context, wsID, id, msg string, retryAt time.Time) error
	CreateRequest(ctx context.Context, wsID string, in consentd.RequestInput, actor string) (*consentd.Request, error)
	SetEventCursor(ctx context.Context, wsID, name string, seq int64) error
	Close() error
}

func TestGaugesSQLite(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "consentd.db"))
	if err != nil {
		t.Fatalf("sqlite.Open() = %v", err)
	}
	testGauges(t, db)
}

func TestGaugesPostgres(t *testing.T) {
	db, err := postgres.Open(t.Context(), pgtest.FreshDB(t))
	if err != nil {
		t.Fatalf("postgres.Open() = %v", err)
	}
	testGauges(t, db)
}

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// testGauges builds a workspace with a webhook behind the log, a disabled
// one, a checkpoint, a failed job, an overdue request and a NATS position,
// and reads the gauges.
func testGauges(t *testing.T, db store) {
	ctx := t.Context()
	ws, err := db.CreateWorkspace(ctx, "gauges")
	if err != nil {
		t.Fatalf("CreateWorkspace() = %v", err)
	}
	purpose := func(id string) {
		t.Helper()
		if err := db.PutPurpose(ctx, ws.ID, &consentd.Purpose{ID: id, Name: id, Type: consentd.Commercial,
			Channels: map[string]consentd.ChannelSetting{"email": {}}}, true, "key:test"); err != nil {
			t.Fatalf("PutPurpose(%s) = %v", id, err)
		}
	}
	purpose("first")
	if err := db.PutWebhook(ctx, ws.ID, &consentd.Webhook{ID: "crm", URL: "https://crm.example.com/hook", Secret: secret}, true); err != nil {
		t.Fatalf("PutWebhook(crm) = %v", err)
	}
	if err := db.PutWebhook(ctx, ws.ID, &consentd.Webhook{ID: "off", URL: "https://off.example.com/hook", Secret: secret,
		Disabled: true, DisabledReason: "disabled"}, true); err != nil {
		t.Fatalf("PutWebhook(off) = %v", err)
	}
	signer, err := ledger.LoadOrCreateKey(filepath.Join(t.TempDir(), "checkpoint.key"), "consentd")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ledger.SignCheckpoint(ctx, db, signer, ws.ID); err != nil {
		t.Fatalf("SignCheckpoint() = %v", err)
	}
	cpAt := time.Now()
	purpose("second") // the webhooks and the checkpoint are now behind
	purpose("third")
	if err := db.SetEventCursor(ctx, ws.ID, "nats", 2); err != nil {
		t.Fatalf("SetEventCursor() = %v", err)
	}
	_, jobs, err := db.PutRecord(ctx, ws.ID, consentd.Record{Type: "lead", ID: "l1", Fields: map[string]any{"Email": "a@example.com"}},
		[]consentd.JobTrigger{{RuleID: "now", Change: []consentd.RecordChange{consentd.RecordCreated}, MaxAttempts: 1}})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("PutRecord() = %d jobs, %v", len(jobs), err)
	}
	if js, err := db.ClaimJobs(ctx, time.Minute, 10); err != nil || len(js) != 1 {
		t.Fatalf("ClaimJobs() = %d, %v", len(js), err)
	}
	if err := db.FailJob(ctx, ws.ID, jobs[0].ID, "boom", time.Time{}); err != nil {
		t.Fatalf("FailJob() = %v", err)
	}
	if _, err := db.CreateRequest(ctx, ws.ID, consentd.RequestInput{Type: "withdraw", ContactPoint: "old@example.com", Regulation: "gdpr",
		ReceivedAt: time.Now().AddDate(0, -2, 0)}, "key:test"); err != nil {
		t.Fatalf("CreateRequest() = %v", err)
	}
	size, err := db.LogSize(ctx, ws.ID)
	if err != nil {
		t.Fatal(err)
	}

	c := statemetrics.New(db, nil)
	c.NATSCursor = "nats"
	later := 90 * time.Second
	c.Now = func() time.Time { return time.Now().Add(later) }
	got := gather(t, c)
	w := func(name string, labels ...string) string { return series(name, labels...) }
	want := map[string]float64{
		"consentd_state_up": 1,
		w("consentd_log_size_entries", "workspace_id", ws.ID):                         float64(size),
		w("consentd_checkpoint_lag_entries", "workspace_id", ws.ID):                   float64(size - 1),
		w("consentd_webhook_lag_entries", "webhook_id", "crm", "workspace_id", ws.ID): float64(size - 1),
		w("consentd_webhook_lag_entries", "webhook_id", "off", "workspace_id", ws.ID): float64(size - 1),
		w("consentd_webhook_disabled", "webhook_id", "crm", "workspace_id", ws.ID):    0,
		w("consentd_webhook_disabled", "webhook_id", "off", "workspace_id", ws.ID):    1,
		w("consentd_nats_lag_entries", "workspace_id", ws.ID):                         float64(size - 2),
		w("consentd_jobs_queued", "kind", "rule", "workspace_id", ws.ID):              0,
		w("consentd_jobs_due", "kind", "rule", "workspace_id", ws.ID):                 0,
		w("consentd_jobs_failed", "kind", "rule", "workspace_id", ws.ID):              1,
		w("consentd_jobs_queued", "kind", "request", "workspace_id", ws.ID):           1,
		w("consentd_jobs_due", "kind", "request", "workspace_id", ws.ID):              1,
		w("consentd_jobs_failed", "kind", "request", "workspace_id", ws.ID):           0,
		w("consentd_requests_pending", "workspace_id", ws.ID):                         1,
		w("consentd_requests_overdue", "workspace_id", ws.ID):                         1,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v); want %v", k, g, ok, v)
		}
	}
	age := got[w("consentd_checkpoint_age_seconds", "workspace_id", ws.ID)]
	if min := later.Seconds(); age < min || age > min+time.Since(cpAt).Seconds()+5 {
		t.Errorf("consentd_checkpoint_age_seconds = %v; want about %v", age, min)
	}
	if len(got) != len(want)+1 {
		t.Errorf("gathered %d series; want %d:\n%s", len(got), len(want)+1, dump(got))
	}
	for k := range got {
		if strings.Contains(k, "@") {
			t.Errorf("a series names a contact point: %s", k)
		}
	}

	// Within the TTL a scrape reuses the reading; after it, reads again.
	purpose("fourth")
	if g := gather(t, c)[w("consentd_log_size_entries", "workspace_id", ws.ID)]; g != float64(size) {
		t.Errorf("log size within the TTL = %v; want the cached %d", g, size)
	}
	c.TTL = 0
	if g := gather(t, c)[w("consentd_log_size_entries", "workspace_id", ws.ID)]; g != float64(size+1) {
		t.Errorf("log size after the TTL = %v; want %d", g, size+1)
	}

	// A store that cannot be read: up is 0 and nothing else is sent.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if got := gather(t, c); len(got) != 1 || got["consentd_state_up"] != 0 {
		t.Errorf("after Close gathered %s; want consentd_state_up 0 only", dump(got))
	}
}

// gather registers c alone and returns its series by name{labels}.
func gather(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather() = %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName(), l.GetValue())
			}
			out[series(mf.GetName(), labels...)] = m.GetGauge().GetValue()
		}
	}
	return out
}

// series names a series: name{k="v",...}, labels in the order given
// (Gather sorts them by name).
func series(name string, labels ...string) string {
	if len(labels) == 0 {
		return name
	}
	var parts []string
	for i := 0; i < len(labels); i += 2 {
		parts = append(parts, fmt.Sprintf("%s=%q", labels[i], labels[i+1]))
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}

func dump(m map[string]float64) string {
	var lines []string
	for k, v := range m {
		lines = append(lines, fmt.Sprintf("%s %v", k, v))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
