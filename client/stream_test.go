package client_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/client"
)

// TestDecideStreamLong streams more requests than any buffer on the way
// holds, reads the answers in order while the requests are still being
// sent, and stops a second stream by cancelling its context.
func TestDecideStreamLong(t *testing.T) {
	srv := newServer(t)
	ctx := t.Context()
	c := client.New(srv.url, srv.admin, checked(t))
	if _, err := c.CreatePurpose(ctx, client.PurposeInput{ID: "news", Name: "News", Type: consentd.Commercial,
		Channels: map[string]consentd.ChannelSetting{"email": {Enforcement: consentd.NonRestrictive}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteConsent(ctx, consentd.ConsentWrite{ContactPoint: "p7@example.com", Channel: "email", Purpose: "news",
		Status: consentd.OptedOut, CapturedAt: time.Now().Add(-time.Minute), Source: consentd.Source{Type: "api"}}); err != nil {
		t.Fatal(err)
	}
	const n = 30000
	reqs := func(yield func(consentd.DecisionRequest) bool) {
		for i := range n {
			if !yield(consentd.DecisionRequest{ContactPoint: fmt.Sprintf("p%d@example.com", i)}) {
				return
			}
		}
	}
	s, err := c.DecideStream(ctx, client.StreamOptions{Purpose: "news", Channel: "email"}, reqs)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for s.Next() {
		it := s.Item()
		if want := fmt.Sprintf("p%d@example.com", i); it.ContactPoint != want || it.Allowed() == (i == 7) {
			t.Fatalf("answer %d = %+v; want %s allowed %v", i, it, want, i != 7)
		}
		i++
	}
	if err := s.Err(); err != nil || i != n {
		t.Fatalf("%d answers, %v; want %d", i, err, n)
	}
	s.Close()

	// An endless stream, cancelled after the first answers.
	cctx, cancel := context.WithCancel(ctx)
	endless := func(yield func(consentd.DecisionRequest) bool) {
		for i := 0; ; i++ {
			if !yield(consentd.DecisionRequest{ContactPoint: fmt.Sprintf("q%d@example.com", i)}) {
				return
			}
		}
	}
	s, err = c.DecideStream(cctx, client.StreamOptions{Purpose: "news", Channel: "email"}, endless)
	if err != nil {
		t.Fatal(err)
	}
	read := 0
	for s.Next() {
		if read++; read == 100 {
			cancel()
		}
	}
	if s.Err() == nil {
		t.Errorf("a cancelled stream ended without an error after %d answers", read)
	}
	s.Close()
	cancel()
}
