package tally

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

func TestTakeAndPutBack(t *testing.T) {
	c := New()
	day := time.Date(2026, 3, 1, 23, 59, 0, 0, time.UTC)
	c.Count("ws1", "news", "email", true, consentd.ReasonOptedIn, day)
	c.Count("ws1", "news", "email", true, consentd.ReasonOptedIn, day)
	c.Count("ws1", "news", "email", false, consentd.ReasonOptedOut, day.Add(time.Minute)) // the next UTC day
	c.CountN("ws2", "news", "sms", false, consentd.ReasonNoConsent, day, 5)

	failing := func(context.Context, []consentd.DecisionCount) error { return errors.New("down") }
	if err := c.Flush(context.Background(), failing); err == nil {
		t.Fatal("Flush with a failing sink = nil")
	}
	c.Count("ws1", "news", "email", true, consentd.ReasonOptedIn, day)
	var got []consentd.DecisionCount
	if err := c.Flush(context.Background(), func(_ context.Context, n []consentd.DecisionCount) error { got = n; return nil }); err != nil {
		t.Fatal(err)
	}
	want := []consentd.DecisionCount{
		{WorkspaceID: "ws1", Day: "2026-03-01", Purpose: "news", Channel: "email", Allowed: true, Reason: consentd.ReasonOptedIn, Count: 3},
		{WorkspaceID: "ws1", Day: "2026-03-02", Purpose: "news", Channel: "email", Allowed: false, Reason: consentd.ReasonOptedOut, Count: 1},
		{WorkspaceID: "ws2", Day: "2026-03-01", Purpose: "news", Channel: "sms", Allowed: false, Reason: consentd.ReasonNoConsent, Count: 5},
	}
	if len(got) != len(want) {
		t.Fatalf("flushed %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("flushed[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if n := c.Take(); n != nil {
		t.Errorf("Take after a flush = %+v, want nothing", n)
	}
	var nilCounter *Counter
	nilCounter.Count("ws", "p", "c", true, consentd.ReasonOptedIn, day) // must not panic
}

func BenchmarkCount(b *testing.B) {
	c := New()
	now := time.Now()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c.Count("ws_0123456789", "newsletter", "email", i&1 == 0, consentd.ReasonOptedIn, now)
	}
}

func BenchmarkCountParallel(b *testing.B) {
	c := New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Count("ws_0123456789", "newsletter", "email", true, consentd.ReasonOptedIn, time.Now())
		}
	})
}
