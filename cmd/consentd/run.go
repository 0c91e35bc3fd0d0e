package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // the command ran and found a problem (a broken log, a bad receipt) or failed
	exitUsage  = 2 // bad usage, or an I/O error before the command could run
)

// Main is the program, testable: tests call Run with their own streams and
// environment.
type Main struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Ready, when set, receives the server's address once it listens.
	Ready func(addr string)
}

const usage = `consentd: consent ledger and send-time decisions

Usage:
  consentd serve [flags]                         run the server
  consentd migrate [flags]                       bring the store up to date with this release, say what changed
  consentd version                               the release and revision of this binary (also --version)
  consentd workspace create NAME [flags]         create a workspace, print its admin key
  consentd workspace list [flags]                list the workspaces
  consentd keys create --role ROLE [flags]       create an API key, print it on the last line
  consentd keys list [flags]                     list a workspace's API keys (id, role, name, created; no secrets)
  consentd keys revoke ID... [flags]             delete API keys
  consentd keys rotate-links [flags]             add a new signed-link key (old links keep working)
  consentd keys rotate-log [flags]               add a new checkpoint key (old checkpoints keep verifying)
  consentd log verify [--workspace NAME] [flags] verify every workspace's consent log
  consentd receipt verify [FILE] [flags]         verify a consent receipt (JSON or tlog-proof) offline
  consentd filter --purpose P --channel C [FILE]  keep the rows of a recipient list that may be messaged
  consentd bench [--json] [SCENARIO...]          measure against references (docs/architecture.md (figures))
  consentd jobs list [--state S] [flags]         automation jobs (default: failed ones)
  consentd jobs retry (--all | ID...) [flags]    resubmit failed jobs
  consentd apply -f catalog.yaml [--dry-run]     create or update purposes, topics, rules, webhooks
  consentd export-catalog [-o FILE] [flags]      write the catalog file back
  consentd import --format F FILE [flags]        bulk import consents (native, dynamics, salesforce, listmonk, mailchimp)
  consentd export [--format csv|ndjson] [flags]  export consents in the native format
  consentd backup -o FILE [flags]                online backup: database snapshot and keys, one archive
  consentd restore -i FILE --data NEWDIR         unpack a backup into a new folder and verify its log
  consentd healthcheck [--url URL]               GET /readyz: exit 0 when ready (container health checks)
  consentd openapi [-o FILE]                     print the API document that /openapi.json serves

Run 'consentd COMMAND -h' for a command's flags.
`

// usageError is a mistake in the command line: exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// Run runs the command in args and returns the exit code.
func (m *Main) Run(ctx context.Context, args []string) int {
	err := m.run(ctx, args)
	var ue usageError
	var ex exitError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(m.Stderr, "consentd: %s\n", ue.msg)
		return exitUsage
	case errors.As(err, &ex):
		return ex.code
	}
	fmt.Fprintf(m.Stderr, "consentd: %v\n", err)
	return exitFailed
}

// exitError ends with a code after the command printed what it found.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func (m *Main) run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return usageError{"no command"}
	}
	cmd, rest := args[0], args[1:]
	sub := func() (string, []string) {
		if len(rest) == 0 {
			return "", nil
		}
		return rest[0], rest[1:]
	}
	switch cmd {
	case "serve":
		return m.serve(ctx, rest)
	case "migrate":
		return m.migrate(ctx, rest)
	case "version", "--version": // inspect.go
		return m.version(rest)
	case "workspace":
		switch s, r := sub(); s {
		case "create":
			return m.workspaceCreate(ctx, r)
		case "list": // inspect.go
			return m.workspaceList(ctx, r)
		}
	case "keys":
		switch s, r := sub(); s {
		case "create":
			return m.keysCreate(ctx, r)
		case "list": // inspect.go
			return m.keysList(ctx, r)
		case "revoke": // inspect.go
			return m.keysRevoke(ctx, r)
		case "rotate-links":
			return m.keysRotateLinks(ctx, r)
		case "rotate-log":
			return m.keysRotateLog(ctx, r)
		}
	case "log":
		if s, r := sub(); s == "verify" {
			return m.logVerify(ctx, r)
		}
	case "receipt":
		if s, r := sub(); s == "verify" {
			return m.receiptVerify(ctx, r)
		}
	case "filter":
		return m.filter(ctx, rest)
	case "bench":
		return m.bench(ctx, rest)
	case "jobs": // jobs.go
		switch s, r := sub(); s {
		case "list":
			return m.jobsList(ctx, r)
		case "retry":
			return m.jobsRetry(ctx, r)
		}
	case "apply": // apply.go
		return m.apply(ctx, rest)
	case "export-catalog": // apply.go
		return m.exportCatalog(ctx, rest)
	case "import": // importcmd.go
		return m.importFile(ctx, rest)
	case "export": // importcmd.go
		return m.export(ctx, rest)
	case "backup": // backup.go
		return m.backup(ctx, rest)
	case "restore": // backup.go
		return m.restore(ctx, rest)
	case "healthcheck": // healthcheck.go
		return m.healthcheck(ctx, rest)
	case "openapi": // openapi.go
		return m.openAPI(rest)
	case "help", "-h", "--help":
		fmt.Fprint(m.Stdout, usage)
		return nil
	}
	return m.unknownCommand(args)
}

// unknownCommand says what was not understood and, when a known command is
// a typo or two away (or the group word was right), what was meant; the
// full usage only when nothing is close.
func (m *Main) unknownCommand(args []string) error {
	typed := strings.Join(args[:min(2, len(args))], " ")
	var subs []string
	for _, c := range commands {
		if group, sub, ok := strings.Cut(c, " "); ok && group == args[0] {
			subs = append(subs, sub)
		}
	}
	if len(subs) > 0 && len(args) == 1 {
		return usageError{fmt.Sprintf("%s needs a subcommand: %s", args[0], strings.Join(subs, ", "))}
	}
	if close := suggest(args); len(close) > 0 {
		return usageError{fmt.Sprintf("unknown command %q; did you mean %s? (consentd help lists the commands)", typed, quoteList(close))}
	}
	if len(subs) > 0 {
		return usageError{fmt.Sprintf("unknown command %q; %s has: %s", typed, args[0], strings.Join(subs, ", "))}
	}
	fmt.Fprint(m.Stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", typed)}
}

// quoteList is "a", "a or b", or "a, b or c", each in quotes.
func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", "consentd "+v)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
