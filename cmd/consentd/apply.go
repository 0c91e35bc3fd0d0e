package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/catalogfile"
	"github.com/consentd/consentd/internal/feeds"
	"github.com/consentd/consentd/internal/rules"
	"github.com/consentd/consentd/internal/webhook"
)

// apply is `consentd apply -f catalog.yaml [--dry-run]`: configuration as
// code. It prints the plan (what it creates and updates, with a diff per
// changed field) and, unless --dry-run, carries it out. A file applied
// twice changes nothing the second time.
func (m *Main) apply(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("apply", flag.ContinueOnError)
	var c config
	m.flags(fs, &c, false)
	file := fs.String("f", "", "the catalog file (YAML or JSON); - for standard input")
	dryRun := fs.Bool("dry-run", false, "print the plan, change nothing")
	asJSON := fs.Bool("json", false, "print the plan as JSON")
	fs.StringVar(&c.Workspace, "workspace", consentd.DefaultWorkspace, "workspace name")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *file == "" || len(fs.Args()) > 0 {
		return usageError{"usage: consentd apply -f catalog.yaml [--dry-run] [--workspace NAME]"}
	}
	data, err := m.readInput(*file)
	if err != nil {
		return usageError{err.Error()}
	}
	f, err := catalogfile.Parse(data)
	if err != nil {
		return usageError{err.Error()}
	}
	// The admin key of a new workspace goes where a person reads it; with
	// --json standard output is the plan alone.
	var bootOut io.Writer = m.Stdout
	if *asJSON {
		bootOut = m.Stderr
	}
	// A dry run changes nothing, not even a new folder: it needs data.
	open := func() (store, *consentd.Workspace, error) { return m.openOrBootstrap(ctx, &c, bootOut) }
	if *dryRun {
		open = func() (store, *consentd.Workspace, error) { return m.openWorkspace(ctx, &c) }
	}
	db, ws, err := open()
	if err != nil {
		return err
	}
	defer db.Close()
	plan, err := catalogfile.MakePlan(ctx, db, ws.ID, f, catalogfile.Options{
		Getenv:        m.Getenv,
		ConfigureFeed: feeds.Configure,
		CheckRule: func(r *consentd.Rule) (*consentd.Rule, error) {
			p, err := rules.Compile(r)
			if err != nil {
				return nil, err
			}
			checked := p.Rule()
			return &checked, nil
		},
		ReadFile: func(name string) ([]byte, error) {
			// Relative to the catalog file (the working directory for
			// standard input).
			if *file != "-" && !filepath.IsAbs(name) {
				name = filepath.Join(filepath.Dir(*file), name)
			}
			return os.ReadFile(name)
		},
		CheckWebhook: func(w *consentd.Webhook) error {
			if err := w.Validate(); err != nil {
				return err
			}
			return webhook.CheckTarget(ctx, w.URL, c.WebhookAllowPrivate)
		},
	})
	if err != nil {
		return err
	}
	if *asJSON {
		json.NewEncoder(m.Stdout).Encode(plan)
	} else {
		plan.Print(m.Stdout)
	}
	if *dryRun || len(plan.Changes) == 0 {
		return nil
	}
	if err := catalogfile.Apply(ctx, db, ws.ID, plan, "apply"); err != nil {
		return err
	}
	if !*asJSON {
		fmt.Fprintf(m.Stdout, "Applied to workspace %q.\n", ws.Name)
	}
	return nil
}

// exportCatalog is `consentd export-catalog [-o FILE]`: the workspace's
// brand, purposes, topics, rules, webhooks and feeds as a catalog file that
// apply reads. With -o, the logo is written beside FILE as
// <FILE without extension>.logo.<png|jpg|gif|webp> and named by logo_file.
func (m *Main) exportCatalog(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("export-catalog", flag.ContinueOnError)
	var c config
	m.flags(fs, &c, false)
	out := fs.String("o", "", "write to this file instead of standard output")
	fs.StringVar(&c.Workspace, "workspace", consentd.DefaultWorkspace, "workspace name")
	if err := parse(fs, args); err != nil {
		return err
	}
	db, ws, err := m.openWorkspace(ctx, &c)
	if err != nil {
		return err
	}
	defer db.Close()
	f, err := catalogfile.Export(ctx, db, ws.ID)
	if err != nil {
		return err
	}
	// The logo: next to the output file, which names it (logo_file);
	// on standard output only its hash (logo_sha256), and apply leaves
	// the logo alone.
	if *out != "" && f.Workspace != nil && f.Workspace.LogoSHA256 != "" {
		info, data, err := db.Logo(ctx, ws.ID)
		if err != nil {
			return fmt.Errorf("logo: %w", err)
		}
		name := strings.TrimSuffix(filepath.Base(*out), filepath.Ext(*out)) + ".logo" + logoExt[info.ContentType]
		if err := os.WriteFile(filepath.Join(filepath.Dir(*out), name), data, 0o644); err != nil {
			return err
		}
		f.Workspace.LogoFile = name
	}
	b, err := catalogfile.Marshal(f)
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = m.Stdout.Write(b)
		return err
	}
	return os.WriteFile(*out, b, 0o644)
}

// logoExt is the file name extension of each logo type.
var logoExt = map[string]string{"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp"}

// readInput reads a named file, or standard input for "-".
func (m *Main) readInput(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(m.Stdin)
	}
	return os.ReadFile(name)
}

// openWorkspace opens an existing store offline (creating nothing) and
// finds the workspace c names; either missing is a usage error naming the
// folder or database.
func (m *Main) openWorkspace(ctx context.Context, c *config) (store, *consentd.Workspace, error) {
	db, _, err := c.openExisting(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	ws, err := c.workspace(ctx, db)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, ws, nil
}

// openOrBootstrap is openWorkspace for apply: on a new data folder or an
// empty database it first does what serve does on its first start (the
// checkpoint key, the default workspace and its admin key, printed once or
// taken from CONSENTD_ADMIN_KEY), so a catalog can be applied before the
// first serve. Other workspaces must exist already.
func (m *Main) openOrBootstrap(ctx context.Context, c *config, out io.Writer) (store, *consentd.Workspace, error) {
	if c.Workspace != consentd.DefaultWorkspace {
		return m.openWorkspace(ctx, c)
	}
	db, _, err := c.open(true)
	if err != nil {
		return nil, nil, err
	}
	boot := *m
	boot.Stdout = out
	if err := boot.bootstrap(ctx, db, c.where()); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("create the default workspace in %s: %w", c.where(), err)
	}
	ws, err := c.workspace(ctx, db)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, ws, nil
}
