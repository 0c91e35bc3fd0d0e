package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/consentd/consentd"
)

// workspaceList is `consentd workspace list`: the store's workspaces, by
// name.
func (m *Main) workspaceList(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("workspace list", flag.ContinueOnError)
	var c config
	m.flags(fs, &c, false)
	asJSON := fs.Bool("json", false, "print one JSON workspace per line")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError{"usage: consentd workspace list [--json] [--data DIR | --database URL]"}
	}
	db, _, err := c.openExisting(ctx, false)
	if err != nil {
		return err
	}
	defer db.Close()
	wss, err := db.Workspaces(ctx)
	if err != nil {
		return fmt.Errorf("list workspaces of %s: %w", c.where(), err)
	}
	if *asJSON {
		enc := json.NewEncoder(m.Stdout)
		for _, ws := range wss {
			if err := enc.Encode(ws); err != nil {
				return err
			}
		}
		return nil
	}
	if len(wss) == 0 {
		fmt.Fprintf(m.Stdout, "no workspaces in %s\n", c.where())
		return nil
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tCREATED")
	for _, ws := range wss {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", ws.Name, ws.ID, ws.CreatedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

// keysList is `consentd keys list`: a workspace's API keys without their
// secrets (only hashes are stored; a secret is shown once, at creation).
func (m *Main) keysList(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("keys list", flag.ContinueOnError)
	var c config
	m.flags(fs, &c, false)
	fs.StringVar(&c.Workspace, "workspace", consentd.DefaultWorkspace, "workspace name")
	asJSON := fs.Bool("json", false, "print one JSON key per line")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError{"usage: consentd keys list [--workspace NAME] [--json]"}
	}
	db, ws, err := m.openWorkspace(ctx, &c)
	if err != nil {
		return err
	}
	defer db.Close()
	keys, err := db.Keys(ctx, ws.ID)
	if err != nil {
		return fmt.Errorf("list keys of workspace %q: %w", ws.Name, err)
	}
	if *asJSON {
		enc := json.NewEncoder(m.Stdout)
		for _, k := range keys {
			if err := enc.Encode(k); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROLE\tNAME\tCREATED")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, k.Role, k.Name, k.CreatedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

// keysRevoke is `consentd keys revoke ID...`: it deletes API keys of a
// workspace. A running server may still accept a revoked key for the few
// seconds it caches keys.
func (m *Main) keysRevoke(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("keys revoke", flag.ContinueOnError)
	var c config
	m.flags(fs, &c, false)
	fs.StringVar(&c.Workspace, "workspace", consentd.DefaultWorkspace, "workspace name")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError{"usage: consentd keys revoke ID... [--workspace NAME] (consentd keys list shows the ids)"}
	}
	db, ws, err := m.openWorkspace(ctx, &c)
	if err != nil {
		return err
	}
	defer db.Close()
	failed := false
	for _, id := range fs.Args() {
		if err := db.DeleteKey(ctx, ws.ID, id); err != nil {
			if consentd.ErrorCode(err) == consentd.ENOTFOUND {
				fmt.Fprintf(m.Stderr, "consentd: no key %s in workspace %q (consentd keys list shows the ids)\n", id, ws.Name)
			} else {
				fmt.Fprintf(m.Stderr, "consentd: revoke key %s: %v\n", id, err)
			}
			failed = true
			continue
		}
		fmt.Fprintf(m.Stdout, "Revoked key %s of workspace %q. Running servers refuse it within %s.\n", id, ws.Name, keyCacheNote)
	}
	if failed {
		return exitError{exitFailed}
	}
	return nil
}

// keyCacheNote is how long a server may go on accepting a key deleted by
// another process (internal/api caches keys for 10 seconds).
const keyCacheNote = "10 seconds"

// version is `consentd version` and `consentd --version`: the module
// version and the VCS revision the binary was built from, as the Go
// toolchain recorded them.
func (m *Main) version(args []string) error {
	if len(args) != 0 {
		return usageError{"usage: consentd version"}
	}
	fmt.Fprintln(m.Stdout, versionLine())
	return nil
}

// versionLine is "consentd VERSION (revision REV[, modified], built TIME,
// GOVERSION)"; a binary built outside a module or a repository says less.
func versionLine() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "consentd (no build information)"
	}
	ver := info.Main.Version
	if ver == "" {
		ver = "(devel)"
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	var parts []string
	if rev := settings["vcs.revision"]; rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if settings["vcs.modified"] == "true" {
			rev += ", modified"
		}
		parts = append(parts, "revision "+rev)
	}
	if t := settings["vcs.time"]; t != "" {
		parts = append(parts, "committed "+t)
	}
	parts = append(parts, info.GoVersion)
	return fmt.Sprintf("consentd %s (%s)", ver, strings.Join(parts, ", "))
}

// commands are the command lines Run knows, for "did you mean".
var commands = []string{
	"serve", "migrate", "version", "help",
	"workspace create", "workspace list",
	"keys create", "keys list", "keys revoke", "keys rotate-links", "keys rotate-log",
	"log verify", "receipt verify", "filter", "bench", "jobs list", "jobs retry",
	"apply", "export-catalog", "import", "export",
}

// suggest returns the known commands closest to what was typed (the first
// one or two arguments), within an edit distance that catches a typo or
// two but not a different word; none when nothing is close.
func suggest(args []string) []string {
	typed1 := args[0]
	typed2 := typed1
	if len(args) > 1 {
		typed2 = args[0] + " " + args[1]
	}
	best, bestD := []string{}, 1<<30
	for _, cmd := range commands {
		typed := typed1
		if strings.Contains(cmd, " ") {
			typed = typed2
		}
		d := editDistance(typed, cmd)
		if d > max(1, min(3, len(cmd)/3)) {
			continue
		}
		switch {
		case d < bestD:
			best, bestD = []string{cmd}, d
		case d == bestD:
			best = append(best, cmd)
		}
	}
	sort.Strings(best)
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes
// (command names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
