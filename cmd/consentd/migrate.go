package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/consentd/consentd"
)

// migrate opens the store, which applies the pending schema migrations and
// moves a log written by a release before tiles into tiles, and says what
// that did. serve does the same on start; this is the explicit step for
// operators who upgrade before they start the new release.
func (m *Main) migrate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	var c config
	m.flags(fs, &c, false)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError{"usage: consentd migrate [--data DIR | --database URL]"}
	}
	// A missing SQLite file would be created empty: that is not an upgrade.
	if path := c.sqlitePath(); path != "" {
		if _, err := os.Stat(path); err != nil {
			fmt.Fprintf(m.Stderr, "consentd: no database to migrate: %v\n", err)
			return exitError{exitUsage}
		}
	}
	db, err := c.openDB()
	if err != nil {
		fmt.Fprintf(m.Stderr, "consentd: %v\n", err)
		return exitError{exitUsage}
	}
	defer db.Close()
	mig := db.Migration()
	before := mig.Before
	if before == "" {
		before = "(empty)"
	}
	if len(mig.Applied) == 0 {
		fmt.Fprintf(m.Stdout, "schema %s: up to date\n", mig.After)
	} else {
		fmt.Fprintf(m.Stdout, "schema %s -> %s: applied %s\n", before, mig.After, strings.Join(mig.Applied, ", "))
	}
	if mig.Stale != nil {
		if err := m.printStale(ctx, db, mig.Stale); err != nil {
			fmt.Fprintf(m.Stderr, "consentd: %v\n", err)
			return exitError{exitUsage}
		}
	}
	if len(mig.Tiles) == 0 {
		fmt.Fprintln(m.Stdout, "log: stored in tiles, nothing to move")
		return nil
	}
	wss, err := db.Workspaces(ctx)
	if err != nil {
		fmt.Fprintf(m.Stderr, "consentd: %v\n", err)
		return exitError{exitUsage}
	}
	names := make(map[string]string, len(wss))
	for _, ws := range wss {
		names[ws.ID] = ws.Name
	}
	ids := make([]string, 0, len(mig.Tiles))
	for id := range mig.Tiles {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int { return strings.Compare(names[a]+"\x00"+a, names[b]+"\x00"+b) })
	for _, id := range ids {
		n, err := db.LogSize(ctx, id)
		if err != nil {
			fmt.Fprintf(m.Stderr, "consentd: %v\n", err)
			return exitError{exitUsage}
		}
		name := names[id]
		if name == "" {
			name = id
		}
		fmt.Fprintf(m.Stdout, "workspace %s: log moved to tiles, %d full tiles for %d entries\n", name, mig.Tiles[id], n)
	}
	return nil
}

// printStale says, per workspace, how many stored contact points the
// current normalization no longer returns as they are, by kind and outcome:
// counts only, never a contact point. It says nothing when there are none.
func (m *Main) printStale(ctx context.Context, db interface {
	Workspaces(context.Context) ([]*consentd.Workspace, error)
}, stale map[string]map[string]int) error {
	wss, err := db.Workspaces(ctx)
	if err != nil {
		return err
	}
	for _, ws := range wss {
		counts := stale[ws.ID]
		if len(counts) == 0 {
			continue
		}
		keys := slices.Sorted(maps.Keys(counts))
		total, parts := 0, make([]string, len(keys))
		for i, k := range keys {
			total += counts[k]
			parts[i] = fmt.Sprintf("%s %d", k, counts[k])
		}
		fmt.Fprintf(m.Stdout, "workspace %s: %d stored contact points no longer normalize to themselves (%s); kept, still found by reads, opt-outs, erasures and SMS STOP, listed by hash in stale_contact_points\n",
			ws.Name, total, strings.Join(parts, ", "))
	}
	return nil
}
