package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/api"
	"github.com/consentd/consentd/internal/automation"
	"github.com/consentd/consentd/internal/clientip"
	"github.com/consentd/consentd/internal/console"
	"github.com/consentd/consentd/internal/doi"
	"github.com/consentd/consentd/internal/feeds"
	"github.com/consentd/consentd/internal/httpbound"
	"github.com/consentd/consentd/internal/index"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/mail"
	"github.com/consentd/consentd/internal/natspub"
	"github.com/consentd/consentd/internal/smsout"
	"github.com/consentd/consentd/internal/statemetrics"
	"github.com/consentd/consentd/internal/tally"
	"github.com/consentd/consentd/internal/web"
	"github.com/consentd/consentd/internal/webhook"
)

func (m *Main) serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var c config
	m.flags(fs, &c, true)
	demo := fs.Bool("demo", false, "load a small sample catalog and consents into an empty default workspace")
	if err := parse(fs, args); err != nil {
		return err
	}
	tlsc, err := c.tlsConfig() // listen.go
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(m.Stderr, nil))
	db, signer, err := c.open(true)
	if err != nil {
		return err
	}
	defer db.Close()
	logMigration(log, db.Migration())
	idx := index.New(db, log)
	var afterCommit afterCommitHooks // log consumers woken by a commit (events.go)
	db.SetOnCommit(func(entries map[string][]consentd.LogRecord) {
		idx.Apply(context.Background(), entries)
		afterCommit.run()
	})
	if err := m.bootstrap(ctx, db, c.where()); err != nil {
		return err
	}
	if *demo {
		ws, err := db.WorkspaceByName(ctx, consentd.DefaultWorkspace)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if err := loadDemo(ctx, db, ws.ID); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	publicURL := c.PublicURL
	if publicURL == "" {
		publicURL = c.scheme() + "://" + ln.Addr().String()
	}
	links, err := c.linkKeys()
	if err != nil {
		return err
	}
	sender, err := mail.Open(c.SMTPURL, filepath.Join(c.Data, "outbox"))
	if err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	sms, err := newSMSSender(&c) // sms.go; nil without --sms-provider
	if err != nil {
		return err
	}
	logStore := c.ledger(db) // one Mirror: it orders its file updates
	apiServer := api.New(db, signer, log)
	apiServer.Ledger = logStore
	apiServer.Decider = idx
	if err := apiServer.EnableLinks(links, publicURL); err != nil {
		return err
	}
	// Public pages (signed links, no API key) beside the API.
	proxies, err := clientip.Parse(c.TrustedProxies)
	if err != nil {
		return usageError{fmt.Sprintf("--trusted-proxies: %v", err)}
	}
	apiServer.SetLimits(c.limits())
	apiServer.ClientIP = proxies.IP
	mux := http.NewServeMux()
	pages := web.New(db, links, log)
	pages.ClientIP = proxies.IP
	pages.Receipts = apiServer // the record download's receipts
	pages.Mount(mux)           // /u/ unsubscribe, /p/ preference center
	confirm := doi.NewHandler(db, links, log)
	confirm.ClientIP = proxies.IP
	mux.Handle("/c/", confirm)
	// The operator console: sign-in with an API key, then a session cookie.
	con := console.New(db, apiServer, log)
	con.ClientIP = proxies.IP
	con.Mount(mux) // /admin/
	// The ses adapter fetches SNS signing certificates and confirms
	// subscriptions with its own bounded client; its trust store is the
	// system's roots (SSL_CERT_FILE and SSL_CERT_DIR change them).
	feeds.SetSNSOptions(feeds.SNSOptions{Client: &http.Client{Timeout: 10 * time.Second}, Log: log})
	feedsHandler := feeds.NewHandler(db, links, log)
	feedsHandler.PublicURL = publicURL
	feedsHandler.Mount(mux) // POST /feeds/...: providers' bounces, complaints, unsubscribes
	mux.Handle("/", apiServer)
	// Every connection, the public pages' too, is bounded in time and
	// number (internal/httpbound; README "Limits").
	srv := httpbound.Server(c.HTTP, accessLog(log, api.Instrument(decisionsFirst(mux, apiServer))))
	ln = httpbound.Listener(ln, c.HTTP.MaxConns)
	log.Info("consentd listening", "addr", c.scheme()+"://"+ln.Addr().String(), "data", c.Data, "log_key", signer.KeyID())
	if m.Ready != nil {
		m.Ready(ln.Addr().String())
	}
	cpCtx, stopCheckpoints := context.WithCancel(context.Background())
	cpDone := make(chan struct{})
	go func() {
		defer close(cpDone)
		checkpointLoop(cpCtx, db, logStore, signer, c.CheckpointInterval, log)
	}()
	// Background work with a stated exit: each loop ends when its context
	// is cancelled at shutdown, before the last checkpoint and before the
	// database closes.
	workCtx, stopWork := context.WithCancel(context.Background())
	var work sync.WaitGroup
	stopWorkers := sync.OnceFunc(func() { stopWork(); work.Wait() })
	defer stopWorkers()
	run := &running{ctx: workCtx, work: &work, db: db, api: apiServer, cfg: &c, log: log, afterCommit: &afterCommit, pages: pages}
	run.outbox, _ = sender.(*mail.Outbox)
	run.sms = sms
	// The job queue runs the confirmations' mail and SMS and the
	// data-subject requests, as it runs rule jobs (startAutomation).
	run.handlers = map[string]automation.Handler{
		consentd.JobKindConfirmationMail: doi.NewMailer(db, links, sender, publicURL, c.MailFrom, log),
		consentd.JobKindConfirmationSMS:  &doi.Texter{DB: db, Links: links, Sender: sms, PublicURL: publicURL},
		consentd.JobKindRequest:          automation.HandlerFunc(apiServer.RunRequestJob),
		consentd.JobKindLinkMail:         automation.HandlerFunc(apiServer.RunLinkMailJob),
	}
	apiServer.EnableLinkMail(sender, c.MailFrom) // preference links go by the confirmation mail's path
	// Decisions are counted in memory and their counts added to the
	// database every few seconds, and once more at shutdown, after the
	// last request (internal/tally).
	apiServer.Tally = tally.New()
	work.Add(1)
	go func() { defer work.Done(); apiServer.Tally.Run(workCtx, 5*time.Second, db.AddDecisionCounts, log) }()
	api.RegisterCollectors(slices.Concat(automation.Collectors(), webhook.Collectors(), natspub.Collectors(), feeds.Collectors(), index.Collectors())...)
	// The store's state as gauges, read when /metrics is scraped.
	state := statemetrics.New(db, log)
	if c.NATSURL != "" {
		state.NATSCursor = natspub.Cursor
	}
	api.SetStateCollector(state)
	apiServer.MetricsToken = c.MetricsToken
	for _, start := range []func(*running) error{m.startAutomation, m.startEvents, m.startImports} {
		if err := start(run); err != nil {
			stopCheckpoints()
			return err
		}
	}
	followCtx, stopFollowing := context.WithCancel(context.Background())
	defer stopFollowing()
	// Writes by other processes or replicas: woken by PostgreSQL's
	// notifications, and polled in any case (SQLite has no notifications).
	go idx.Follow(followCtx, c.follow(followCtx, log), time.Second)
	if !c.postgres() { // PostgreSQL checks its catalog_version on every use
		go watchCatalogs(followCtx, db, time.Second)
	}
	// Until ctx is done; then in-flight requests finish (listen.go).
	err = serveUntil(ctx, srv, ln, tlsc, c.ShutdownGrace, log)
	stopWorkers() // they write too: stop them before the last checkpoint
	stopCheckpoints()
	<-cpDone
	signAll(context.Background(), db, logStore, signer, log) // a last checkpoint covers every acknowledged write
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// running is what background workers started by serve share: each adds
// itself to work and returns when ctx is done, before the last checkpoint
// and before the database closes.
type running struct {
	ctx  context.Context
	work *sync.WaitGroup
	db   store
	api  *api.Server
	cfg  *config
	log  *slog.Logger
	// afterCommit wakes log consumers (webhooks, NATS) when this process
	// commits; other processes' commits reach them by polling.
	afterCommit *afterCommitHooks
	// outbox is the folder mail goes to without an SMTP relay; nil with one.
	outbox *mail.Outbox
	// pages are the public pages, whose opt-ins queue confirmation jobs.
	pages *web.Server
	// handlers run the jobs of other kinds than rule, by kind.
	handlers map[string]automation.Handler
	// sms sends texts (double opt-in, keyword replies) through the
	// provider of --sms-provider; nil without one.
	sms smsout.Sender
}

// afterCommitHooks are functions called after each commit of this process;
// each must return at once (a nudge).
type afterCommitHooks struct {
	mu sync.Mutex
	fs []func()
}

func (h *afterCommitHooks) add(f func()) {
	h.mu.Lock()
	h.fs = append(h.fs, f)
	h.mu.Unlock()
}

func (h *afterCommitHooks) run() {
	h.mu.Lock()
	fs := h.fs
	h.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// watchCatalogs drops the SQLite store's cached catalog of a workspace
// whose log grew, each interval, until ctx is done: the index does that
// for the workspaces it holds, but a workspace nobody has asked a
// decision of yet must also see another process's change (consentd
// apply). It costs one query per workspace per interval.
func watchCatalogs(ctx context.Context, db store, every time.Duration) {
	seen := map[string]int64{}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		wss, err := db.Workspaces(ctx)
		if err != nil {
			continue
		}
		for _, ws := range wss {
			n, err := db.LogSize(ctx, ws.ID)
			if err != nil {
				continue
			}
			if last, ok := seen[ws.ID]; !ok || n != last {
				db.Invalidate(ws.ID) // first sight too: it may have been cached before
			}
			seen[ws.ID] = n
		}
	}
}

// bootstrap creates the default workspace and its admin key on an empty
// database: CONSENTD_ADMIN_KEY when set, else a new key printed once. On a
// store that has workspaces already, a CONSENTD_ADMIN_KEY that is not one of
// its keys is not used: it says so on stderr rather than let every request
// with that key fail with 401 unexplained. apply bootstraps through here too.
func (m *Main) bootstrap(ctx context.Context, db store, where string) error {
	wss, err := db.Workspaces(ctx)
	if err != nil {
		return err
	}
	if len(wss) > 0 {
		if secret := m.Getenv("CONSENTD_ADMIN_KEY"); secret != "" {
			if _, err := db.Authenticate(ctx, secret); consentd.ErrorCode(err) == consentd.EUNAUTHORIZED {
				fmt.Fprintf(m.Stderr, "consentd: warning: CONSENTD_ADMIN_KEY is set but not used: %s already has workspaces and that key is not one of them; "+
					"use a key it has, create one with consentd keys create --role admin, or point --data at a new folder\n", where)
			}
		}
		return nil
	}
	ws, err := db.CreateWorkspace(ctx, consentd.DefaultWorkspace)
	if consentd.ErrorCode(err) == consentd.ECONFLICT {
		return nil // another replica starting at the same time made it
	} else if err != nil {
		return err
	}
	secret := m.Getenv("CONSENTD_ADMIN_KEY")
	_, key, err := db.CreateKey(ctx, ws.ID, consentd.RoleAdmin, "bootstrap admin", secret)
	if err != nil {
		return fmt.Errorf("admin key: %w", err)
	}
	if secret == "" {
		fmt.Fprintf(m.Stdout, "Created workspace %q. Its admin key, shown only this once:\n%s\n", ws.Name, key)
	} else {
		fmt.Fprintf(m.Stdout, "Created workspace %q with the admin key from CONSENTD_ADMIN_KEY.\n", ws.Name)
	}
	return nil
}

// checkpointLoop signs a checkpoint of every grown log each interval, until
// ctx is done.
func checkpointLoop(ctx context.Context, db store, st ledger.Store, signer *ledger.Signer, every time.Duration, log *slog.Logger) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			signAll(ctx, db, st, signer, log)
		}
	}
}

func signAll(ctx context.Context, db store, st ledger.Store, signer *ledger.Signer, log *slog.Logger) {
	wss, err := db.Workspaces(ctx)
	if err != nil {
		log.Error("checkpoint: list workspaces", "err", err)
		return
	}
	for _, ws := range wss {
		if _, _, err := ledger.SignCheckpoint(ctx, st, signer, ws.ID); err != nil && consentd.ErrorCode(err) != consentd.ENOTFOUND {
			log.Error("checkpoint", "workspace", ws.Name, "err", err)
		}
	}
}

// decisionsFirst hands single decisions (api.IsDecision), the most
// frequent request, to the API without mux's search through the pages'
// patterns, when mux gives them to the API's catch-all anyway (checked
// once, here); every other request goes through mux.
func decisionsFirst(mux *http.ServeMux, apiServer http.Handler) http.Handler {
	probe, _ := http.NewRequest(http.MethodPost, "http://consentd"+api.DecisionPath, nil)
	if h, pattern := mux.Handler(probe); pattern != "/" || h != apiServer {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if api.IsDecision(r) {
			r.Pattern = "/" // as mux sets it; the API's own shortcut sets its route's
			apiServer.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// accessLog logs each request by its route pattern, never its path or query:
// paths and queries carry contact points.
func accessLog(log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: 200}
		h.ServeHTTP(sw, r)
		// Checked first: the call's arguments would cost allocations on
		// every request even when debug lines are not written.
		if log.Enabled(r.Context(), slog.LevelDebug) {
			log.Debug("request", "method", r.Method, "route", r.Pattern, "status", sw.status, "duration", time.Since(start))
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the real writer (flush, full
// duplex).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logMigration says what opening the store did to its schema, when it did
// anything: an upgrade should leave a trace in the server's log.
func logMigration(log *slog.Logger, mig consentd.Migration) {
	if len(mig.Applied) > 0 {
		log.Info("schema migrated", "before", mig.Before, "after", mig.After, "applied", strings.Join(mig.Applied, ","))
	}
	for id, n := range mig.Tiles {
		log.Info("log moved to tiles", "workspace", id, "tiles", n)
	}
	for id, counts := range mig.Stale {
		// Counts by kind and outcome only: never a contact point.
		log.Warn("stored contact points no longer normalize to themselves; kept and found by their stored form, listed in stale_contact_points",
			"workspace", id, "counts", counts)
	}
}
