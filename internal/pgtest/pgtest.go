// Package pgtest gives tests of any package a new, empty PostgreSQL
// database on the test server, so that every backend test runs against a
// real server and none of them shares state with another.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the server the tests use when CONSENTD_TEST_POSTGRES is not
// set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// AdminURL is the test server's connection string: CONSENTD_TEST_POSTGRES,
// or DefaultURL.
func AdminURL() string {
	if u := os.Getenv("CONSENTD_TEST_POSTGRES"); u != "" {
		return u
	}
	return DefaultURL
}

// Redacted is s without its password, for messages.
func Redacted(s string) string {
	if u, err := url.Parse(s); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return "the CONSENTD_TEST_POSTGRES connection string"
}

// FreshDB creates a new, empty database on the test server and returns its
// connection string; the database is dropped when the test ends. When the
// server cannot be reached the test is skipped, or fails when CI=true.
func FreshDB(t testing.TB) string {
	t.Helper()
	admin := AdminURL()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL not reachable at %s (set CONSENTD_TEST_POSTGRES): %v; with CI=true these tests must run", Redacted(admin), err)
		}
		t.Skipf("PostgreSQL not reachable at %s; these tests were skipped (set CONSENTD_TEST_POSTGRES to run them): %v", Redacted(admin), err)
	}
	defer conn.Close(context.Background())
	b := make([]byte, 6)
	rand.Read(b)
	name := "consentd_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("CREATE DATABASE %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("DROP DATABASE %s: %v", name, err)
		}
	})
	if u, err := url.Parse(admin); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		return u.String()
	}
	return admin + " dbname=" + name // a key=value string: the last dbname wins
}
