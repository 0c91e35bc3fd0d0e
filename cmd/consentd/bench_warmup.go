package main

import (
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/index"
	"github.com/consentd/consentd/internal/sqlite"
)

// benchWarmup writes consents into SQLite, then times warming a decision
// index from it against a raw scan of the same rows.
func benchWarmup(ctx context.Context, e *benchEnv) (*benchResult, error) {
	const n = 200_000
	path := filepath.Join(e.dir, "warmup.db")
	db, err := sqlite.Open(path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	ws, err := db.CreateWorkspace(ctx, "bench")
	if err != nil {
		return nil, err
	}
	if err := db.PutPurpose(ctx, ws.ID, &consentd.Purpose{ID: "news", Name: "News", Type: consentd.Commercial,
		Channels: map[string]consentd.ChannelSetting{"email": {}}}, true, "bench"); err != nil {
		return nil, err
	}
	at := time.Now().Add(-time.Hour)
	batch := make([]consentd.ConsentWrite, 0, 10_000)
	for i := 0; i < n; i++ {
		batch = append(batch, consentd.ConsentWrite{ContactPoint: benchAddr(i), Channel: "email", Purpose: "news",
			Status: consentd.OptedIn, CapturedAt: at, Source: consentd.Source{Type: "import"}})
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := db.WriteConsents(ctx, ws.ID, batch, "bench"); err != nil {
				return nil, err
			}
			batch = batch[:0]
		}
	}
	start := time.Now()
	idx := index.New(db, slog.New(slog.DiscardHandler))
	if _, err := idx.Decide(ctx, ws.ID, &consentd.DecisionRequest{ContactPoint: benchAddr(1), Channel: "email", Purpose: "news"}); err != nil {
		return nil, err
	}
	ours := float64(n) / time.Since(start).Seconds()

	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(ON)")
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	start = time.Now()
	rows, err := raw.QueryContext(ctx, `SELECT cp_hash, channel_type, status FROM consents WHERE workspace_id = ?`, ws.ID)
	if err != nil {
		return nil, err
	}
	var h []byte
	var ct, st string
	for rows.Next() {
		if err := rows.Scan(&h, &ct, &st); err != nil {
			rows.Close()
			return nil, err
		}
	}
	rows.Close()
	scan := float64(n) / time.Since(start).Seconds()
	return &benchResult{Scenario: "warm-up", Notes: map[string]any{"consents": n, "backend": "sqlite"},
		Figures: []benchFigure{{Name: "index warm-up", Unit: "consents/s", Value: ours, Reference: scan,
			RefName: "raw SELECT of the same rows", Ratio: ours / scan}}}, nil
}
