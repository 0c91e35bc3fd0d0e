package sqlite_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/sqlite"
)

func open(t *testing.T) (*sqlite.DB, string) { return openB(t) }

func openB(t testing.TB) (*sqlite.DB, string) {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "consentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ws, err := db.CreateWorkspace(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	p := &consentd.Purpose{ID: "newsletter", Name: "Newsletter", Type: consentd.Commercial,
		Channels: map[string]consentd.ChannelSetting{"email": {}, "sms": {}}}
	if err := db.PutPurpose(context.Background(), ws.ID, p, true, "test"); err != nil {
		t.Fatal(err)
	}
	if err := db.PutTopic(context.Background(), ws.ID, &consentd.Topic{ID: "weekly", Purpose: "newsletter", Name: "Weekly"}, true, "test"); err != nil {
		t.Fatal(err)
	}
	return db, ws.ID
}

func write(cp, status string, at time.Time) consentd.ConsentWrite {
	return consentd.ConsentWrite{ContactPoint: cp, Channel: "email", Purpose: "newsletter", Status: consentd.Status(status), CapturedAt: at, Source: consentd.Source{Type: "form"}}
}

func TestWriteAndDecide(t *testing.T) {
	ctx := context.Background()
	db, ws := open(t)
	t0 := time.Now().Add(-time.Hour).UTC()
	res, err := db.WriteConsents(ctx, ws, []consentd.ConsentWrite{
		write("Jane@Example.com ", "opted_in", t0),
		write("jane@example.com", "opted_in", t0),
		write("jane@example.com", "opted_out", t0.Add(-time.Minute)),
		write("not an address", "opted_in", t0),
		write("jane@example.com", "opted_in", t0.Add(time.Hour*2)),
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		outcome consentd.Outcome
		code    string
	}{{consentd.Created, ""}, {consentd.Unchanged, ""}, {consentd.Superseded, ""}, {"", consentd.EINVALIDCONTACTPOINT}, {"", consentd.EFUTURECAPTUREDAT}}
	for i, w := range want {
		if res[i].Outcome != w.outcome || consentd.ErrorCode(res[i].Err) != w.code {
			t.Errorf("write %d = %q, %v; want %q, %q", i, res[i].Outcome, res[i].Err, w.outcome, w.code)
		}
	}
	d, err := db.Decide(ctx, ws, &consentd.DecisionRequest{ContactPoint: "JANE@example.com", Channel: "email", Purpose: "newsletter"})
	if err != nil || !d.Allowed || d.Reason != consentd.ReasonOptedIn || d.Seq != 5 {
		t.Fatalf("Decide = %+v, %v; want allowed opted_in at seq 5", d, err)
	}
	c, err := db.Consent(ctx, ws, "jane@example.com#newsletter:email", time.Time{})
	if err != nil || c.Status != consentd.OptedIn || c.Version != 1 {
		t.Fatalf("Consent = %+v, %v", c, err)
	}
	if _, err := db.Consent(ctx, ws, "jane@example.com#newsletter:email", t0.Add(-24*time.Hour)); consentd.ErrorCode(err) != consentd.ENOTFOUND {
		t.Fatalf("Consent as of before = %v; want not_found", err)
	}
	h, err := db.ConsentHistory(ctx, ws, "jane@example.com#newsletter:email")
	if err != nil || len(h) != 3 {
		t.Fatalf("history = %d entries, %v; want 3", len(h), err)
	}
}

func TestConcurrentWritersOneKey(t *testing.T) {
	ctx := context.Background()
	db, ws := open(t)
	t0 := time.Now().Add(-time.Hour).UTC()
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			status := "opted_in"
			if i%2 == 1 {
				status = "opted_out"
			}
			if _, err := db.WriteConsents(ctx, ws, []consentd.ConsentWrite{write("a@b.de", status, t0.Add(time.Duration(i)*time.Second))}, "t"); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	c, err := db.Consent(ctx, ws, "a@b.de#newsletter:email", time.Time{})
	if err != nil || c.Status != consentd.OptedOut || !c.CapturedAt.Equal(t0.Add(49*time.Second)) {
		t.Fatalf("final = %+v, %v; want opted_out at t0+49s", c, err)
	}
	if n, _ := db.LogSize(ctx, ws); n != 52 {
		t.Fatalf("log size %d; want 52 (2 catalog + 50 writes)", n)
	}
}
