package index_test

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/index"
	"github.com/consentd/consentd/internal/pgtest"
	"github.com/consentd/consentd/internal/postgres"
	"github.com/consentd/consentd/internal/sqlite"
)

// equivStore is what the test needs of a store: both backends have it.
type equivStore interface {
	index.Source
	CreateWorkspace(ctx context.Context, name string) (*consentd.Workspace, error)
	UpdateWorkspace(ctx context.Context, id string, u consentd.WorkspaceUpdate, actor string) (*consentd.Workspace, error)
	PutPurpose(ctx context.Context, wsID string, p *consentd.Purpose, create bool, actor string) error
	PutTopic(ctx context.Context, wsID string, t *consentd.Topic, create bool, actor string) error
	WriteConsents(ctx context.Context, wsID string, writes []consentd.ConsentWrite, actor string) ([]consentd.WriteResult, error)
	AddSuppression(ctx context.Context, wsID string, in consentd.SuppressionInput, actor string) (*consentd.Suppression, error)
	Decide(ctx context.Context, wsID string, req *consentd.DecisionRequest) (*consentd.DecisionResult, error)
	SetOnCommit(func(map[string][]consentd.LogRecord))
	Close() error
}

// TestFastPathsMatchStore compares, on SQLite and PostgreSQL, the store's
// own Decide (normalize, consentd.ContactPointHash, SQL) with the index's
// Decide, Prepared.Decide, Prepared.Decision and Prepared.Decisions on
// random requests: bad
// addresses, odd Unicode, IDN domains, phone numbers in many forms,
// duplicates, unknown purposes and topics, custom channels, and a catalog
// change half way. Same answers, same error codes.
func TestFastPathsMatchStore(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			var db equivStore
			var err error
			if backend == "sqlite" {
				db, err = sqlite.Open(filepath.Join(t.TempDir(), "consentd.db"))
			} else {
				db, err = postgres.Open(ctx, pgtest.FreshDB(t))
			}
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			idx := index.New(db, slog.New(slog.DiscardHandler))
			db.SetOnCommit(func(m map[string][]consentd.LogRecord) { idx.Apply(ctx, m) })
			ws, err := db.CreateWorkspace(ctx, "w")
			if err != nil {
				t.Fatal(err)
			}
			region := "US"
			if _, err := db.UpdateWorkspace(ctx, ws.ID, consentd.WorkspaceUpdate{DefaultRegion: &region}, "t"); err != nil {
				t.Fatal(err)
			}
			for _, p := range []*consentd.Purpose{
				{ID: "news", Name: "N", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{
					"email": {Enforcement: consentd.NonRestrictive}, "sms": {Enforcement: consentd.Restrictive}, "crm": {Enforcement: consentd.Restrictive}}},
				{ID: "orders", Name: "O", Type: consentd.Transactional, Channels: map[string]consentd.ChannelSetting{"email": {Enforcement: consentd.Disabled}}},
			} {
				if err := db.PutPurpose(ctx, ws.ID, p, true, "t"); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.PutTopic(ctx, ws.ID, &consentd.Topic{ID: "weekly", Purpose: "news", Name: "W"}, true, "t"); err != nil {
				t.Fatal(err)
			}
			emails := []string{"jane@example.com", "Jane@Example.COM", " jane@example.com\t", "jöran@bücher.example", "JÖRAN@BÜCHER.EXAMPLE",
				"jöran@xn--bcher-kva.example", "ｊａｎｅ@example.com", "é@例え.テスト", "bob@EXAMPLE.com", "not-an-address", "", "a@b",
				"jane@example..com", "jane@@example.com", "jane@example.com\u200b", "x@xn--zz.example", "u@1.2.3.4", "\"q\"@example.com",
				"jane@[127.0.0.1]", "caf\u0065\u0301@example.com", "café@example.com", "\xff@example.com"}
			phones := []string{"+14155550123", "+1 (415) 555-0123", "(415) 555-0123", "415.555.0123", "001 415 555 0123", "+1\u00a0415\u00a0555\u00a00123",
				"+44 20 7946 0958", "020 7946 0958", "+1-415-555-0124", "4155550124", "+1 415 555 0123 x1", "++14155550123", "+999 1234", "0", ""}
			customs := []string{"crm-42", " crm-42 ", "CRM-42", "", "a\x01b", "ünïcode"}
			rng := rand.New(rand.NewPCG(7, 17))
			pick := func(l []string) string { return l[rng.IntN(len(l))] }
			t0 := time.Now().Add(-time.Hour)
			statuses := []consentd.Status{consentd.OptedIn, consentd.OptedOut, consentd.Pending}
			for range 150 {
				ch, cp := "email", pick(emails)
				switch rng.IntN(3) {
				case 1:
					ch, cp = "sms", pick(phones)
				case 2:
					ch, cp = "crm", pick(customs)
				}
				if rng.IntN(8) == 0 {
					db.AddSuppression(ctx, ws.ID, consentd.SuppressionInput{ContactPoint: cp, Reason: consentd.SuppressHardBounce}, "t") // invalid ones are refused
					continue
				}
				w := consentd.ConsentWrite{ContactPoint: cp, Channel: ch, Purpose: "news", Status: statuses[rng.IntN(3)],
					CapturedAt: t0.Add(time.Duration(rng.IntN(3600)) * time.Second), Source: consentd.Source{Type: "api"}}
				if rng.IntN(3) == 0 {
					w.Topic = "weekly"
				}
				db.WriteConsents(ctx, ws.ID, []consentd.ConsentWrite{w}, "t") // invalid ones are refused
			}
			type key struct{ purpose, topic, channel string }
			prepared := map[key]*index.Prepared{}
			for i := range 3000 {
				if i == 1500 { // a catalog change: the Prepared resolve again
					if err := db.PutPurpose(ctx, ws.ID, &consentd.Purpose{ID: "news", Name: "N", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{
						"email": {Enforcement: consentd.Restrictive}, "sms": {Enforcement: consentd.Restrictive}}}, false, "t"); err != nil {
						t.Fatal(err)
					}
				}
				r := consentd.DecisionRequest{Purpose: "news", Channel: "email", ContactPoint: pick(emails)}
				switch rng.IntN(3) {
				case 1:
					r.Channel, r.ContactPoint = "sms", pick(phones)
				case 2:
					r.Channel, r.ContactPoint = "crm", pick(customs)
				}
				switch rng.IntN(10) {
				case 0:
					r.Purpose = "orders"
				case 1:
					r.Purpose = "nope"
				case 2, 3:
					r.Topic = "weekly"
				case 4:
					r.Topic = "nope"
				case 5:
					r.Channel = "push"
				}
				want, wantErr := db.Decide(ctx, ws.ID, &r)
				got, err := idx.Decide(ctx, ws.ID, &r)
				check := func(path string, got *consentd.DecisionResult, err error) {
					t.Helper()
					if consentd.ErrorCode(err) != consentd.ErrorCode(wantErr) || (err == nil) != (wantErr == nil) {
						t.Fatalf("%s(%+v) = %v; the store's error is %v", path, r, err, wantErr)
					}
					if err == nil && *got != *want {
						t.Fatalf("%s(%+v) = %+v; the store says %+v", path, r, got, want)
					}
				}
				check("index Decide", got, err)
				k := key{r.Purpose, r.Topic, r.Channel}
				p, ok := prepared[k]
				if !ok {
					var perr error
					if p, perr = idx.Prepare(ctx, ws.ID, r.Purpose, r.Topic, r.Channel); perr != nil {
						check("Prepare", nil, perr)
						continue
					}
					prepared[k] = p
				}
				var res consentd.DecisionResult
				err = p.Decide(r.ContactPoint, &res)
				check("Prepared.Decide", &res, err)
				d, err := p.Decision(r.ContactPoint)
				if err == nil {
					res.Decision = d // the rest was checked above
				}
				check("Prepared.Decision", &res, err)
				var noID consentd.DecisionResult
				suffix, err := p.DecideNoID(r.ContactPoint, &noID)
				if err == nil {
					if noID.ConsentID != "" {
						t.Fatalf("Prepared.DecideNoID(%q) set the consent id %q", r.ContactPoint, noID.ConsentID)
					}
					noID.ConsentID = noID.ContactPoint + suffix
				}
				check("Prepared.DecideNoID", &noID, err)
			}
			// Decisions, many at a time (more than a group), agrees with
			// Decision one at a time.
			for k, p := range prepared {
				var cps []string
				for range 100 {
					cps = append(cps, pick(emails), pick(phones), pick(customs))
				}
				ds, errs := make([]consentd.Decision, len(cps)), make([]error, len(cps))
				p.Decisions(cps, ds, errs)
				for i, cp := range cps {
					d, err := p.Decision(cp)
					if consentd.ErrorCode(err) != consentd.ErrorCode(errs[i]) || (err == nil) != (errs[i] == nil) || d != ds[i] {
						t.Fatalf("%+v: Decisions gave %q %+v, %v; Decision %+v, %v", k, cp, ds[i], errs[i], d, err)
					}
				}
			}
		})
	}
}
