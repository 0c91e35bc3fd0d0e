package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/client"
)

// This example records a consent from a sign-up form, asks whether a
// newsletter may go to the address, and tells a missing consent from other
// failures by the problem's stable code. It needs a running server, so it
// is compiled but not run.
func Example() {
	ctx := context.Background()
	c := client.New("http://127.0.0.1:8080", "ck_live_...",
		client.WithHTTPClient(&http.Client{Timeout: 30 * time.Second}),
		client.WithUserAgent("signup-service/2.1"))

	// A consent write is an upsert ordered by captured_at: repeating it
	// after a timeout is safe.
	a, err := c.WriteConsent(ctx, consentd.ConsentWrite{
		ContactPoint: "jane@example.com", Purpose: "newsletter", Channel: "email",
		Status: consentd.OptedIn, CapturedAt: time.Now(), Source: consentd.Source{Type: consentd.SourceForm, Name: "signup"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(a.ID, a.Outcome) // jane@example.com#newsletter:email created

	d, err := c.Decide(ctx, consentd.DecisionRequest{ContactPoint: "jane@example.com", Purpose: "newsletter", Channel: "email"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Allowed, d.Reason)

	// Ids are escaped by the client: pass them as they are.
	_, err = c.GetConsent(ctx, "jane@example.com#newsletter:email", consentd.Times{AsOf: time.Now().Add(-24 * time.Hour)})
	var e *client.Error
	switch {
	case errors.As(err, &e) && e.Code == consentd.ENOTINEFFECT:
		fmt.Println("no consent in effect a day ago")
	case err != nil:
		log.Fatal(err)
	}
}

// This example filters a recipient list through the NDJSON stream: the
// requests are sent while the answers are read, one answer per request, in
// order.
func ExampleClient_DecideStream() {
	ctx := context.Background()
	c := client.New("http://127.0.0.1:8080", "ck_live_...")
	recipients := []string{"jane@example.com", "bob@example.com"}
	reqs := func(yield func(consentd.DecisionRequest) bool) {
		for _, cp := range recipients {
			if !yield(consentd.DecisionRequest{ContactPoint: cp}) {
				return
			}
		}
	}
	s, err := c.DecideStream(ctx, client.StreamOptions{Purpose: "newsletter", Channel: "email"}, reqs)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	for i := 0; s.Next(); i++ {
		if it := s.Item(); it.Allowed() {
			fmt.Println("send to", recipients[i])
		}
	}
	if err := s.Err(); err != nil {
		log.Fatal(err)
	}
}

// This example reads every opted-out consent, page after page.
func ExampleClient_AllConsents() {
	ctx := context.Background()
	c := client.New("http://127.0.0.1:8080", "ck_live_...")
	for consent, err := range c.AllConsents(ctx, consentd.ConsentFilter{Status: consentd.OptedOut, Limit: 500}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(consent.ID)
	}
}
