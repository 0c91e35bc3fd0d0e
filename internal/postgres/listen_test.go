package postgres_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/postgres"
)

// TestListenJobs: a transaction that enqueues a job (filing a request)
// wakes a job listener on another connection when it commits; a refused
// one (nothing committed) does not.
func TestListenJobs(t *testing.T) {
	u := freshDB(t)
	db := open(t, u)
	defer db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wake := postgres.ListenJobs(ctx, u, slog.New(slog.DiscardHandler))
	select { // once when it listens
	case <-wake:
	case <-time.After(10 * time.Second):
		t.Fatal("no wake-up when the listener connected")
	}
	ws, err := db.CreateWorkspace(ctx, "listen")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateRequest(ctx, ws.ID, consentd.RequestInput{Type: consentd.RequestWithdraw, PartyID: "nobody", Regulation: consentd.RegulationGDPR}, "test"); err == nil {
		t.Fatal("CreateRequest for a party that does not exist succeeded")
	}
	select {
	case <-wake:
		t.Fatal("woken by a transaction that committed nothing")
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := db.CreateRequest(ctx, ws.ID, consentd.RequestInput{Type: consentd.RequestWithdraw, ContactPoint: "jane@example.com", Regulation: consentd.RegulationGDPR}, "test"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wake:
	case <-time.After(10 * time.Second):
		t.Fatal("no wake-up after a request was filed")
	}
	cancel()
	for range wake { // closed once ctx is done
	}
}
