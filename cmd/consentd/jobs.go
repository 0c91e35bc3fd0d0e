package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/automation"
	"github.com/consentd/consentd/internal/mail"
	"github.com/consentd/consentd/internal/postgres"
)

func (m *Main) jobsList(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("jobs list", flag.ContinueOnError)
	var c config
	m.flags(fs, &c, false)
	fs.StringVar(&c.Workspace, "workspace", consentd.DefaultWorkspace, "workspace name")
	state := fs.String("state", "failed", "queued, running, succeeded, failed or all")
	asJSON := fs.Bool("json", false, "print one JSON job per line, with its input")
	if err := parse(fs, args); err != nil {
		return err
	}
	f := consentd.JobFilter{State: consentd.JobState(*state), Limit: 1000}
	if *state == "all" {
		f.State = ""
	} else if !f.State.Valid() {
		return usageError{"--state must be queued, running, succeeded, failed or all"}
	}
	db, ws, err := m.openWorkspace(ctx, &c)
	if err != nil {
		return err
	}
	defer db.Close()
	var tw *tabwriter.Writer
	if !*asJSON {
		tw = tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tRULE OR REF\tSTATE\tATTEMPTS\tRUN AT\tLAST ERROR")
	}
	for {
		js, next, err := db.Jobs(ctx, ws.ID, f)
		if err != nil {
			return err
		}
		for _, j := range js {
			if *asJSON {
				json.NewEncoder(m.Stdout).Encode(j)
				continue
			}
			msg := strings.ReplaceAll(j.LastError, "\n", " ")
			if len(msg) > 120 {
				msg = msg[:117] + "..."
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", j.ID, j.Kind, cmp.Or(j.RuleID, j.Ref), j.State, j.Attempts, j.MaxAttempts, j.RunAt.Format("2006-01-02T15:04:05Z07:00"), msg)
		}
		if next == "" {
			break
		}
		f.PageToken = next
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

func (m *Main) jobsRetry(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("jobs retry", flag.ContinueOnError)
	var c config
	m.flags(fs, &c, false)
	fs.StringVar(&c.Workspace, "workspace", consentd.DefaultWorkspace, "workspace name")
	all := fs.Bool("all", false, "retry every failed job of the workspace")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *all == (fs.NArg() > 0) {
		return usageError{"usage: consentd jobs retry (--all | ID...) [--workspace NAME]"}
	}
	db, ws, err := m.openWorkspace(ctx, &c)
	if err != nil {
		return err
	}
	defer db.Close()
	if *all {
		n, err := db.RetryFailedJobs(ctx, ws.ID)
		if err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "Queued %d failed jobs again in workspace %q.\n", n, ws.Name)
		return nil
	}
	failed := false
	for _, id := range fs.Args() {
		if _, err := db.RetryJob(ctx, ws.ID, id); err != nil {
			fmt.Fprintf(m.Stderr, "consentd: job %s: %s\n", id, consentd.ErrorMessage(err))
			failed = true
			continue
		}
		fmt.Fprintf(m.Stdout, "Queued job %s again.\n", id)
	}
	if failed {
		return exitError{exitFailed}
	}
	return nil
}

// startAutomation starts the job runner: it runs rule jobs, confirmation
// mail and SMS and data-subject requests (r.handlers) until r.ctx is done,
// woken by the API and the pages when they enqueue a job, on PostgreSQL
// by the notifications of jobs enqueued by any process (LISTEN on a
// connection of its own), and polling in any case.
func (m *Main) startAutomation(r *running) error {
	runner := automation.New(r.db, r.api, r.log)
	runner.Base, runner.Cap, runner.Lease = r.cfg.JobRetryBase, r.cfg.JobRetryCap, r.cfg.JobLease
	runner.Handlers = r.handlers
	if r.cfg.postgres() {
		runner.Wake = postgres.ListenJobs(r.ctx, r.cfg.Database, r.log)
	}
	r.api.JobMaxAttempts = r.cfg.JobMaxAttempts
	r.api.JobsNudge = runner.Nudge
	if r.pages != nil {
		r.pages.JobsNudge = runner.Nudge
	}
	r.api.AfterErasure = func(ctx context.Context, wsID string) error {
		if _, err := automation.PurgeErased(ctx, r.db, wsID); err != nil { // an erased address leaves no job input behind
			return err
		}
		if r.outbox == nil {
			return nil
		}
		_, err := purgeOutbox(ctx, r.db, r.outbox, wsID) // nor mail in the outbox folder
		return err
	}
	r.work.Add(1)
	go func() {
		defer r.work.Done()
		runner.Run(r.ctx)
	}()
	return nil
}

// purgeOutbox deletes the outbox's mail to addresses erased in the
// workspace: each recipient is normalized and hashed as the workspace
// hashes contact points, and looked up among its erased suppressions.
func purgeOutbox(ctx context.Context, st automation.ErasureStore, o *mail.Outbox, wsID string) (int, error) {
	ws, err := st.Workspace(ctx, wsID)
	if err != nil {
		return 0, err
	}
	secret, err := st.WorkspaceSecret(ctx, wsID)
	if err != nil {
		return 0, err
	}
	return o.Purge(ctx, func(to string) (bool, error) {
		cp, err := consentd.NormalizeStored(consentd.KindEmail, to, ws.DefaultRegion)
		if err != nil {
			return false, nil
		}
		return st.Erased(ctx, wsID, consentd.ContactPointHash(secret, consentd.KindEmail, cp))
	})
}
