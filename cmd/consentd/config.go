package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/api"
	"github.com/consentd/consentd/internal/doi"
	"github.com/consentd/consentd/internal/feeds"
	"github.com/consentd/consentd/internal/httpbound"
	"github.com/consentd/consentd/internal/index"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/postgres"
	"github.com/consentd/consentd/internal/signedlink"
	"github.com/consentd/consentd/internal/sqlite"
	"github.com/consentd/consentd/internal/statemetrics"
	"github.com/consentd/consentd/internal/web"
)

// config holds the flags shared by the commands. Every flag has a CONSENTD_*
// variable; this file is the only place that reads the environment, but for
// the variable an SMS HTTP sender's file names for its secret (sms.go).
type config struct {
	Data                string
	Database            string
	LogKey              string
	Addr                string
	CheckpointInterval  time.Duration
	Workspace           string
	PublicURL           string
	SMTPURL             string
	MailFrom            string
	LinkKeys            string
	NATSURL             string        // events to NATS JetStream
	MetricsToken        string        // bearer token /metrics requires; "" leaves it open
	WebhookAllowPrivate bool          // webhook targets on private addresses
	JobRetryBase        time.Duration // automation jobs: first retry delay
	JobRetryCap         time.Duration // automation jobs: longest retry delay
	JobLease            time.Duration // jobs: how long a claimed job is its runner's before another may take it
	JobMaxAttempts      int           // automation jobs: runs before a job is failed
	ImportMaxBody       int64         // size limit of POST /v1/imports bodies
	TLSCert, TLSKey     string        // serve HTTPS with this certificate chain and key (PEM files)
	ShutdownGrace       time.Duration // how long a stop waits for in-flight requests
	TrustedProxies      string        // reverse proxies whose forwarding headers count (limits.go)
	APILimits           api.Limits    // the API's rate limits (limits.go)
	apiKeyRate          float64
	apiIPRate           float64
	HTTP                httpbound.Limits
	SMS                 smsConfig // the SMS sender (sms.go)
}

// flags registers the shared flags on fs with defaults from the
// environment. serve adds the server's flags.
func (m *Main) flags(fs *flag.FlagSet, c *config, serve bool) {
	fs.SetOutput(m.Stderr)
	env := func(name, def string) string {
		if v := m.Getenv(name); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&c.Data, "data", env("CONSENTD_DATA", "./consentd-data"), "data folder (CONSENTD_DATA)")
	fs.StringVar(&c.Database, "database", env("CONSENTD_DATABASE", ""), "database: postgres://... for PostgreSQL, or a SQLite file path (sqlite:PATH); default DATA/consentd.db (CONSENTD_DATABASE)")
	fs.StringVar(&c.LogKey, "log-key", env("CONSENTD_LOG_KEY", ""), "the checkpoint key ring file (one note private key per line, the last one signs); default DATA/checkpoint.key (CONSENTD_LOG_KEY)")
	if serve {
		fs.StringVar(&c.Addr, "addr", env("CONSENTD_ADDR", "127.0.0.1:8080"), "listen address (CONSENTD_ADDR)")
		d, err := time.ParseDuration(env("CONSENTD_CHECKPOINT_INTERVAL", "1m"))
		if err != nil {
			d = time.Minute
		}
		fs.DurationVar(&c.CheckpointInterval, "checkpoint-interval", d, "sign a checkpoint of every grown log this often (CONSENTD_CHECKPOINT_INTERVAL)")
		fs.StringVar(&c.PublicURL, "public-url", env("CONSENTD_PUBLIC_URL", ""), "base URL of the public pages in links and mail; default http://ADDR (CONSENTD_PUBLIC_URL)")
		fs.StringVar(&c.SMTPURL, "smtp-url", env("CONSENTD_SMTP_URL", ""), "smtp://user:pass@host:port for confirmation mail; default: write it to DATA/outbox (CONSENTD_SMTP_URL)")
		fs.StringVar(&c.NATSURL, "nats-url", env("CONSENTD_NATS_URL", ""), "nats://host:4222: also publish events to NATS JetStream (CONSENTD_NATS_URL)")
		fs.StringVar(&c.MetricsToken, "metrics-token", env("CONSENTD_METRICS_TOKEN", ""), "when set, GET /metrics requires Authorization: Bearer <this token>; prefer the variable, which ps does not show (CONSENTD_METRICS_TOKEN)")
		dur := func(name, def string) time.Duration {
			d, err := time.ParseDuration(env(name, def))
			if err != nil {
				d, _ = time.ParseDuration(def)
			}
			return d
		}
		fs.DurationVar(&c.JobRetryBase, "job-retry-base", dur("CONSENTD_JOB_RETRY_BASE", "10s"), "automation jobs: first retry delay; later ones double, with full jitter (CONSENTD_JOB_RETRY_BASE)")
		fs.DurationVar(&c.JobRetryCap, "job-retry-cap", dur("CONSENTD_JOB_RETRY_CAP", "1h"), "automation jobs: longest retry delay (CONSENTD_JOB_RETRY_CAP)")
		fs.DurationVar(&c.JobLease, "job-lease", dur("CONSENTD_JOB_LEASE", "5m"), "jobs: how long a claimed job is its runner's; a job whose process died runs again after it (CONSENTD_JOB_LEASE)")
		attempts, err := strconv.Atoi(env("CONSENTD_JOB_MAX_ATTEMPTS", "8"))
		if err != nil || attempts < 1 {
			attempts = 8
		}
		fs.IntVar(&c.JobMaxAttempts, "job-max-attempts", attempts, "automation jobs: runs before a job is failed (CONSENTD_JOB_MAX_ATTEMPTS)")
		m.limitFlags(fs, c, env)
		m.smsFlags(fs, &c.SMS, env)
		maxImport, _ := strconv.ParseInt(env("CONSENTD_IMPORT_MAX_BODY", ""), 10, 64)
		fs.Int64Var(&c.ImportMaxBody, "import-max-body", cmp.Or(maxImport, api.DefaultMaxImportBody), "size limit in bytes of a POST /v1/imports body (CONSENTD_IMPORT_MAX_BODY)")
		httpFlags(fs, &c.HTTP, dur, env)
		fs.StringVar(&c.MailFrom, "mail-from", env("CONSENTD_MAIL_FROM", "consentd@localhost"), "From address of confirmation mail (CONSENTD_MAIL_FROM)")
		fs.StringVar(&c.TLSCert, "tls-cert", env("CONSENTD_TLS_CERT", ""), "serve HTTPS: the certificate chain, PEM; with --tls-key (CONSENTD_TLS_CERT)")
		fs.StringVar(&c.TLSKey, "tls-key", env("CONSENTD_TLS_KEY", ""), "serve HTTPS: the certificate's private key, PEM; with --tls-cert (CONSENTD_TLS_KEY)")
		fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", dur("CONSENTD_SHUTDOWN_GRACE", "30s"), "on SIGTERM or SIGINT, how long in-flight requests may take to finish before their connections are closed (CONSENTD_SHUTDOWN_GRACE)")
	}
	// serve delivers to webhook targets; apply checks them.
	fs.BoolVar(&c.WebhookAllowPrivate, "webhook-allow-private", env("CONSENTD_WEBHOOK_ALLOW_PRIVATE", "") == "true", "allow webhook targets on loopback, private and link-local addresses (CONSENTD_WEBHOOK_ALLOW_PRIVATE=true)")
	fs.StringVar(&c.LinkKeys, "link-keys", env("CONSENTD_LINK_KEYS", ""), "the signed-link keyring; default DATA/link-keys.json (CONSENTD_LINK_KEYS)")
}

// httpFlags registers the server's time and connection bounds
// (internal/httpbound; README "Limits").
func httpFlags(fs *flag.FlagSet, l *httpbound.Limits, dur func(name, def string) time.Duration, env func(name, def string) string) {
	d := httpbound.Defaults
	fs.DurationVar(&l.ReadHeaderTimeout, "read-header-timeout", dur("CONSENTD_READ_HEADER_TIMEOUT", d.ReadHeaderTimeout.String()), "longest time to read a request's headers (CONSENTD_READ_HEADER_TIMEOUT)")
	fs.DurationVar(&l.BodyTimeout, "body-timeout", dur("CONSENTD_BODY_TIMEOUT", d.BodyTimeout.String()), "longest a request body may go without a byte; a body that keeps coming is never cut (CONSENTD_BODY_TIMEOUT)")
	fs.DurationVar(&l.WriteTimeout, "write-timeout", dur("CONSENTD_WRITE_TIMEOUT", d.WriteTimeout.String()), "longest a response write may wait for a client that does not read (CONSENTD_WRITE_TIMEOUT)")
	fs.DurationVar(&l.IdleTimeout, "idle-timeout", dur("CONSENTD_IDLE_TIMEOUT", d.IdleTimeout.String()), "how long a keep-alive connection may wait for its next request (CONSENTD_IDLE_TIMEOUT)")
	conns, err := strconv.Atoi(env("CONSENTD_MAX_CONNS", "0"))
	if err != nil {
		conns = 0
	}
	fs.IntVar(&l.MaxConns, "max-conns", conns, "most open connections; over it new ones wait in the listen queue; 0: the file descriptor limit less a quarter (at least 256) for the database and files; -1: no cap (CONSENTD_MAX_CONNS)")
}

// parse parses flags anywhere among the arguments ("receipt verify FILE
// --data DIR" as well as "receipt verify --data DIR FILE"); the positional
// arguments are left in fs.Args() in order. "--" ends the flags.
func parse(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := parseFlags(fs, args); err != nil { // flagerr.go
			return err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	return fs.Parse(append([]string{"--"}, positional...))
}

// store is what the commands need of a backend: everything the API and the
// decision index use, and the workspace bootstrap.
type store interface {
	api.Store
	index.Source
	doi.Store
	web.Store
	feeds.Store
	statemetrics.Store // the gauges of /metrics
	Workspaces(ctx context.Context) ([]*consentd.Workspace, error)
	WorkspaceByName(ctx context.Context, name string) (*consentd.Workspace, error)
	CreateWorkspace(ctx context.Context, name string) (*consentd.Workspace, error)
	SetOnCommit(func(map[string][]consentd.LogRecord))
	Migration() consentd.Migration
	Close() error
}

var (
	_ store = (*sqlite.DB)(nil)
	_ store = (*postgres.DB)(nil)
)

// ledger returns the log store: the database, with the newest checkpoint of
// each workspace mirrored in the data folder.
func (c *config) ledger(db store) ledger.Store {
	return &ledger.Mirror{Store: db, Dir: filepath.Join(c.Data, "checkpoints")}
}

// open opens the database and the checkpoint key the config names; the key
// is made when missing only if create is set (verifying with a new key would
// prove nothing).
func (c *config) open(create bool) (store, *ledger.Signer, error) {
	if c.Database == "" {
		if err := os.MkdirAll(c.Data, 0o700); err != nil {
			return nil, nil, fmt.Errorf("data folder: %w", err)
		}
	}
	keyPath := c.logKeyPath()
	if _, err := os.Stat(keyPath); err != nil && !create {
		return nil, nil, fmt.Errorf("checkpoint key: %w", err)
	}
	signer, err := ledger.LoadOrCreateKey(keyPath, "consentd")
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint key: %w", err)
	}
	db, err := c.openDB()
	if err != nil {
		return nil, nil, err
	}
	return db, signer, nil
}

// sqlitePath returns the SQLite database file the config names: the
// --database path, or consentd.db in the data folder; "" for PostgreSQL.
func (c *config) sqlitePath() string {
	switch {
	case c.postgres():
		return ""
	case strings.HasPrefix(c.Database, "sqlite:"):
		return strings.TrimPrefix(strings.TrimPrefix(c.Database, "sqlite:"), "//")
	case c.Database == "":
		return filepath.Join(c.Data, "consentd.db")
	}
	return c.Database
}

// openDB opens the database the config names, which applies pending
// migrations.
func (c *config) openDB() (store, error) {
	if c.postgres() {
		db, err := postgres.Open(context.Background(), c.Database)
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL: %w", err)
		}
		return db, nil
	}
	db, err := sqlite.Open(c.sqlitePath())
	if err != nil {
		return nil, err
	}
	return db, nil
}

// logKeyPath is the checkpoint key ring file: --log-key, or
// DATA/checkpoint.key.
func (c *config) logKeyPath() string {
	if c.LogKey != "" {
		return c.LogKey
	}
	return filepath.Join(c.Data, "checkpoint.key")
}

// linkKeys opens the keyring of the public links' tokens.
func (c *config) linkKeys() (*signedlink.Keyring, error) {
	path := c.LinkKeys
	if path == "" {
		path = filepath.Join(c.Data, "link-keys.json")
	}
	return signedlink.LoadOrCreate(path)
}

// postgres reports whether the database is a PostgreSQL URL.
func (c *config) postgres() bool {
	return strings.HasPrefix(c.Database, "postgres://") || strings.HasPrefix(c.Database, "postgresql://")
}

// follow returns what wakes the decision index when another process or
// replica appends to a log: PostgreSQL's notifications, or nothing (SQLite
// is polled).
func (c *config) follow(ctx context.Context, log *slog.Logger) <-chan string {
	if c.postgres() {
		return postgres.Listen(ctx, c.Database, log)
	}
	return nil
}
