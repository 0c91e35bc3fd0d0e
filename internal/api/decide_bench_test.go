package api_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/api"
	"github.com/consentd/consentd/internal/index"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/sqlite"
)

// BenchmarkPostDecision is the server's own work for one POST
// /v1/decisions as `consentd bench http-decide` sends it (an admin key, a
// purpose with email non_restrictive, no consent): the handler chain
// without the network, for profiles (-cpuprofile, -benchmem).
func BenchmarkPostDecision(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	db, err := sqlite.Open(filepath.Join(dir, "consentd.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	signer, err := ledger.LoadOrCreateKey(filepath.Join(dir, "checkpoint.key"), "consentd")
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	s := api.New(db, signer, log)
	idx := index.New(db, log)
	db.OnCommit = func(m map[string][]consentd.LogRecord) { idx.Apply(ctx, m) }
	s.Decider = idx
	ws, err := db.CreateWorkspace(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	_, secret, err := db.CreateKey(ctx, ws.ID, consentd.RoleAdmin, "bench", "")
	if err != nil {
		b.Fatal(err)
	}
	serve := func(method, path, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, bytes.NewReader([]byte(body)))
		r.Header.Set("Authorization", "Bearer "+secret)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w
	}
	if w := serve("POST", "/v1/purposes", `{"id":"news","name":"News","type":"commercial","channels":{"email":{"enforcement":"non_restrictive"}}}`); w.Code != 201 {
		b.Fatalf("create purpose = %d %s", w.Code, w.Body)
	}
	body := []byte(`{"contact_point":"user12345@example.com","channel":"email","purpose":"news"}`)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r := httptest.NewRequest("POST", "/v1/decisions", bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+secret)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("decision = %d %s", w.Code, w.Body)
		}
	}
}
