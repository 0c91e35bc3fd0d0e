package postgres_test

import (
	"context"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consentd/consentd/internal/pgtest"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/api"
	"github.com/consentd/consentd/internal/index"
	"github.com/consentd/consentd/internal/postgres"
	"github.com/consentd/consentd/internal/sqlite"
	"github.com/consentd/consentd/internal/storetest"
	"github.com/jackc/pgx/v5"
)

var (
	_ api.Store       = (*postgres.DB)(nil)
	_ storetest.Store = (*postgres.DB)(nil)
	_ index.Source    = (*postgres.DB)(nil)
)

func adminURL() string { return pgtest.AdminURL() }

func redacted(s string) string { return pgtest.Redacted(s) }

// freshDB is a new, empty database on the test server (pgtest.FreshDB).
func freshDB(t testing.TB) string { return pgtest.FreshDB(t) }

func open(t testing.TB, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	return db
}

// TestStore runs the conformance suite on a new database per subtest.
func TestStore(t *testing.T) {
	freshDB(t) // skip or fail at once when there is no server
	storetest.Run(t, func(t *testing.T) storetest.Store { return open(t, freshDB(t)) })
}

// TestStoreTampered runs the tampering cases of the log's replay, with a
// second connection that writes the database directly.
func TestStoreTampered(t *testing.T) {
	freshDB(t)
	storetest.RunTampered(t, func(t *testing.T) (storetest.Store, storetest.Exec) {
		u := freshDB(t)
		db := open(t, u)
		raw, err := pgx.Connect(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close(context.Background()) })
		return db, func(ctx context.Context, query string, args ...any) (int64, error) {
			tag, err := raw.Exec(ctx, query, args...)
			return tag.RowsAffected(), err
		}
	})
}

// TestMigrateConcurrently opens several handles on a new database at once,
// as replicas starting together do: each migration runs once.
func TestMigrateConcurrently(t *testing.T) {
	u := freshDB(t)
	var wg sync.WaitGroup
	dbs := make([]*postgres.DB, 4)
	errs := make([]error, len(dbs))
	for i := range dbs {
		wg.Go(func() { dbs[i], errs[i] = postgres.Open(context.Background(), u) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open() %d of %d at once = %v", i, len(dbs), err)
		}
		defer dbs[i].Close()
	}
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var versions []string
	rows, _ := conn.Query(context.Background(), `SELECT version FROM schema_migrations ORDER BY version`)
	versions, err = pgx.CollectRows(rows, pgx.RowTo[string])
	files, _ := filepath.Glob("migrations/*.sql") // each applied once, in order
	want := make([]string, len(files))
	for i, f := range files {
		want[i] = strings.TrimSuffix(filepath.Base(f), ".sql")
	}
	if err != nil || len(want) == 0 || !slices.Equal(versions, want) {
		t.Errorf("schema_migrations = %v, %v; want %v", versions, err, want)
	}
	// Opening again applies nothing and still works.
	db := open(t, u)
	defer db.Close()
	if _, err := db.CreateWorkspace(context.Background(), "test"); err != nil {
		t.Errorf("CreateWorkspace() after migrations = %v", err)
	}
}

// TestTwoHandles writes the same keys through two handles on one database,
// as two replicas do, from many goroutines with mixed captured_at: every
// key ends in its latest write's state, every write is logged once, and the
// one log per workspace verifies, numbered without gaps.
func TestTwoHandles(t *testing.T) {
	u := freshDB(t)
	db1, db2 := open(t, u), open(t, u)
	defer db1.Close()
	defer db2.Close()
	ws, err := db1.CreateWorkspace(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	storetest.PutCatalog(t, db1, ws.ID)
	// Warm db2's cache before the writes, so that both handles write.
	if _, err := db2.Catalog(context.Background(), ws.ID); err != nil {
		t.Fatal(err)
	}
	cw := storetest.NewConcurrentWrites(600, 6)
	cw.Run(t, ws.ID, 16, db1, db2)
	cw.Check(t, db1, ws.ID, 1)
	if n1, n2 := must(db1.LogSize(context.Background(), ws.ID)), must(db2.LogSize(context.Background(), ws.ID)); n1 != n2 || n1 != 601 {
		t.Errorf("LogSize() = %d through one handle, %d through the other; want 601", n1, n2)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestCatalogAcrossHandles changes the catalog and the settings through one
// handle and uses them through another that has them cached.
func TestCatalogAcrossHandles(t *testing.T) {
	ctx := context.Background()
	u := freshDB(t)
	db1, db2 := open(t, u), open(t, u)
	defer db1.Close()
	defer db2.Close()
	ws, err := db1.CreateWorkspace(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	storetest.PutCatalog(t, db1, ws.ID)
	t0 := time.Now().Add(-time.Hour)
	w := consentd.ConsentWrite{ContactPoint: "a@example.com", Channel: "email", Purpose: "newsletter", Status: consentd.OptedIn, CapturedAt: t0, Source: consentd.Source{Type: "api"}}
	if _, err := db2.WriteConsents(ctx, ws.ID, []consentd.ConsentWrite{w}, "t"); err != nil { // caches the catalog in db2
		t.Fatal(err)
	}
	if err := db1.PutPurpose(ctx, ws.ID, &consentd.Purpose{ID: "surveys", Name: "Surveys", Type: consentd.Commercial,
		Channels: map[string]consentd.ChannelSetting{"email": {Enforcement: consentd.NonRestrictive}}}, true, "t"); err != nil {
		t.Fatal(err)
	}
	w.Purpose = "surveys"
	res, err := db2.WriteConsents(ctx, ws.ID, []consentd.ConsentWrite{w}, "t")
	if err != nil || res[0].Err != nil || res[0].Outcome != consentd.Created {
		t.Errorf("db2.WriteConsents(purpose made through db1) = %+v, %v; want created", res, err)
	}
	d, err := db2.Decide(ctx, ws.ID, &consentd.DecisionRequest{ContactPoint: "b@example.com", Channel: "email", Purpose: "surveys"})
	if err != nil || !d.Allowed || d.Reason != consentd.ReasonNotOptedOut {
		t.Errorf("db2.Decide(purpose made through db1) = %+v, %v; want not_opted_out", d, err)
	}
	if cat, err := db2.Catalog(ctx, ws.ID); err != nil || cat.Purposes["surveys"] == nil {
		t.Errorf("db2.Catalog() = %v; want surveys in it", err)
	}
	if err := db1.PutPurpose(ctx, ws.ID, &consentd.Purpose{ID: "surveys", Name: "Surveys", Type: consentd.Commercial,
		Channels: map[string]consentd.ChannelSetting{"email": {}}}, false, "t"); err != nil {
		t.Fatal(err)
	}
	d, err = db2.Decide(ctx, ws.ID, &consentd.DecisionRequest{ContactPoint: "b@example.com", Channel: "email", Purpose: "surveys"})
	if err != nil || d.Allowed || d.Reason != consentd.ReasonNoConsent {
		t.Errorf("db2.Decide(purpose made restrictive through db1) = %+v, %v; want no_consent", d, err)
	}
	// A purpose db2 has never heard of: the decision finds the catalog
	// stale rather than answering unknown_purpose.
	if err := db1.PutPurpose(ctx, ws.ID, &consentd.Purpose{ID: "events", Name: "Events", Type: consentd.Transactional,
		Channels: map[string]consentd.ChannelSetting{"email": {}}}, true, "t"); err != nil {
		t.Fatal(err)
	}
	d, err = db2.Decide(ctx, ws.ID, &consentd.DecisionRequest{ContactPoint: "b@example.com", Channel: "email", Purpose: "events"})
	if err != nil || !d.Allowed {
		t.Errorf("db2.Decide(purpose db2 never saw) = %+v, %v; want allowed", d, err)
	}
	region := "DE"
	if _, err := db1.UpdateWorkspace(ctx, ws.ID, consentd.WorkspaceUpdate{DefaultRegion: &region}, "t"); err != nil {
		t.Fatal(err)
	}
	if got, err := db2.Workspace(ctx, ws.ID); err != nil || got.DefaultRegion != "DE" {
		t.Errorf("db2.Workspace() = %+v, %v; want region DE", got, err)
	}
}

// TestNotify checks that each transaction that appends to a log notifies
// Channel once, at commit, with the workspace and its last seq.
func TestNotify(t *testing.T) {
	ctx := context.Background()
	u := freshDB(t)
	db := open(t, u)
	defer db.Close()
	ws, err := db.CreateWorkspace(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "LISTEN "+postgres.Channel); err != nil {
		t.Fatal(err)
	}
	storetest.PutCatalog(t, db, ws.ID)
	t0 := time.Now().Add(-time.Hour)
	var batch []consentd.ConsentWrite
	for i := range 5 {
		batch = append(batch, consentd.ConsentWrite{ContactPoint: "n" + strconv.Itoa(i) + "@example.com", Channel: "email", Purpose: "newsletter",
			Status: consentd.OptedIn, CapturedAt: t0, Source: consentd.Source{Type: "api"}})
	}
	if _, err := db.WriteConsents(ctx, ws.ID, batch, "t"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 2 {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			t.Fatalf("WaitForNotification() = %v; got %v so far", err, got)
		}
		got = append(got, n.Payload)
	}
	if want := []string{ws.ID + ":1", ws.ID + ":6"}; !slices.Equal(got, want) {
		t.Errorf("notifications = %v; want %v", got, want)
	}
}

// TestOnCommit checks that OnCommit gets each transaction's entries before
// the write returns.
func TestOnCommit(t *testing.T) {
	ctx := context.Background()
	db := open(t, freshDB(t))
	defer db.Close()
	var mu sync.Mutex
	var seqs []int64
	db.SetOnCommit(func(m map[string][]consentd.LogRecord) {
		mu.Lock()
		defer mu.Unlock()
		for _, recs := range m {
			for _, r := range recs {
				seqs = append(seqs, r.Seq)
			}
		}
	})
	ws, err := db.CreateWorkspace(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	storetest.PutCatalog(t, db, ws.ID)
	w := consentd.ConsentWrite{ContactPoint: "a@example.com", Channel: "email", Purpose: "newsletter", Status: consentd.OptedIn,
		CapturedAt: time.Now().Add(-time.Hour), Source: consentd.Source{Type: "api"}}
	if _, err := db.WriteConsents(ctx, ws.ID, []consentd.ConsentWrite{w, w}, "t"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(seqs, []int64{1, 2, 3}) {
		t.Errorf("OnCommit saw seqs %v; want [1 2 3]", seqs)
	}
}

// TestMethodsMatchSQLite checks that the two backends have the same
// methods, with the same signatures, but for the SQLite file's path.
func TestMethodsMatchSQLite(t *testing.T) {
	methods := func(v any) map[string]string {
		out := map[string]string{}
		typ := reflect.TypeOf(v)
		for i := range typ.NumMethod() {
			m := typ.Method(i)
			out[m.Name] = strings.Replace(m.Type.String(), typ.String(), "*DB", 1)
		}
		return out
	}
	pg, lite := methods((*postgres.DB)(nil)), methods((*sqlite.DB)(nil))
	for name, sig := range lite {
		if name == "Path" {
			continue
		}
		if pg[name] != sig {
			t.Errorf("postgres.DB.%s = %q; want %q as sqlite.DB has it", name, pg[name], sig)
		}
	}
	for name := range pg {
		if _, ok := lite[name]; !ok {
			t.Errorf("postgres.DB.%s has no sqlite.DB counterpart", name)
		}
	}
}

// TestStaleUpgrade runs the upgrade that lists stale contact points on a
// new database, undoing its migration with a second connection.
func TestStaleUpgrade(t *testing.T) {
	u := freshDB(t)
	storetest.RunStaleUpgrade(t, func(t *testing.T) storetest.Migrator { return open(t, u) },
		func(ctx context.Context, query string, args ...any) (int64, error) {
			raw, err := pgx.Connect(ctx, u)
			if err != nil {
				return 0, err
			}
			defer raw.Close(ctx)
			tag, err := raw.Exec(ctx, query, args...)
			return tag.RowsAffected(), err
		})
}

// TestJobKindsUpgrade runs the upgrade that moves the confirmation mail
// outbox and the pending requests into jobs, on a new database, undoing
// its migration with a second connection.
func TestJobKindsUpgrade(t *testing.T) {
	u := freshDB(t)
	storetest.RunJobKindsUpgrade(t, func(t *testing.T) storetest.Store { return open(t, u) },
		func(ctx context.Context, query string, args ...any) (int64, error) {
			raw, err := pgx.Connect(ctx, u)
			if err != nil {
				return 0, err
			}
			defer raw.Close(ctx)
			tag, err := raw.Exec(ctx, query, args...)
			return tag.RowsAffected(), err
		})
}

// TestBrandUpgrade opens a database written before migration 0016 (the
// brand columns dropped with a second connection) and checks that its
// data is kept.
func TestBrandUpgrade(t *testing.T) {
	u := freshDB(t)
	storetest.RunBrandUpgrade(t, func(t *testing.T) storetest.Store { return open(t, u) },
		func(ctx context.Context, query string, args ...any) (int64, error) {
			raw, err := pgx.Connect(ctx, u)
			if err != nil {
				return 0, err
			}
			defer raw.Close(ctx)
			tag, err := raw.Exec(ctx, query, args...)
			return tag.RowsAffected(), err
		})
}
