package postgres_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestPostgresReachable says whether this run could reach PostgreSQL: the
// test script runs it verbosely so that a machine without PostgreSQL is told
// plainly that the PostgreSQL tests were skipped. Under CI=true it fails.
func TestPostgresReachable(t *testing.T) {
	url := os.Getenv("CONSENTD_TEST_POSTGRES")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI=true and is not reachable: %v", err)
		}
		t.Skipf("PostgreSQL is not reachable (set CONSENTD_TEST_POSTGRES): every PostgreSQL test was SKIPPED: %v", err)
	}
	conn.Close(ctx)
	t.Logf("PostgreSQL reachable: the PostgreSQL tests ran")
}
