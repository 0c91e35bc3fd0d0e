package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
)

func (m *Main) workspaceCreate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("workspace create", flag.ContinueOnError)
	var c config
	m.flags(fs, &c, false)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"usage: consentd workspace create NAME"}
	}
	db, _, err := c.open(true)
	if err != nil {
		return err
	}
	defer db.Close()
	ws, err := db.CreateWorkspace(ctx, fs.Arg(0))
	if err != nil {
		return fmt.Errorf("create workspace: %s", consentd.ErrorMessage(err))
	}
	_, key, err := db.CreateKey(ctx, ws.ID, consentd.RoleAdmin, "workspace admin", "")
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "Created workspace %q (%s). Its admin key, shown only this once:\n%s\n", ws.Name, ws.ID, key)
	return nil
}

func (m *Main) keysCreate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
	var c config
	m.flags(fs, &c, false)
	role := fs.String("role", "", "admin, write, check, read or agent")
	name := fs.String("name", "", "a label for the key")
	fs.StringVar(&c.Workspace, "workspace", consentd.DefaultWorkspace, "workspace name")
	if err := parse(fs, args); err != nil {
		return err
	}
	if !consentd.Role(*role).Valid() {
		return usageError{"--role must be admin, write, check, read or agent"}
	}
	db, ws, err := m.openWorkspace(ctx, &c)
	if err != nil {
		return err
	}
	defer db.Close()
	k, key, err := db.CreateKey(ctx, ws.ID, consentd.Role(*role), *name, "")
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "Created %s key %s in workspace %q. The key, shown only this once:\n%s\n", k.Role, k.ID, ws.Name, key)
	return nil
}

func (m *Main) logVerify(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("log verify", flag.ContinueOnError)
	var c config
	m.flags(fs, &c, false)
	fs.StringVar(&c.Workspace, "workspace", "", "verify only this workspace (default: all)")
	asJSON := fs.Bool("json", false, "print one JSON report per workspace")
	if err := parse(fs, args); err != nil {
		return err
	}
	db, signer, err := c.openExisting(ctx, true)
	if err != nil {
		var ue usageError
		if !errors.As(err, &ue) {
			fmt.Fprintf(m.Stderr, "consentd: %v\n", err)
			return exitError{exitUsage}
		}
		return err
	}
	defer db.Close()
	var wss []*consentd.Workspace
	if c.Workspace != "" {
		ws, err := c.workspace(ctx, db)
		if err != nil {
			return err
		}
		wss = append(wss, ws)
	} else if wss, err = db.Workspaces(ctx); err != nil {
		fmt.Fprintf(m.Stderr, "consentd: %v\n", err)
		return exitError{exitUsage}
	}
	if len(wss) == 0 {
		// A store without workspaces has an empty log: nothing is broken,
		// but saying "ok" about nothing would mislead.
		fmt.Fprintf(m.Stdout, "nothing to verify: no workspace in %s\n", c.where())
		return nil
	}
	broken := false
	for _, ws := range wss {
		rep, err := ledger.Verify(ctx, c.ledger(db), db, signer.PublicKeyRing(), ws.ID)
		if err != nil {
			fmt.Fprintf(m.Stderr, "consentd: workspace %s: %v\n", ws.Name, err)
			return exitError{exitUsage}
		}
		// Saved as the workspace's newest verification, which the console
		// shows; a database that cannot take it (a read-only replica)
		// does not make the verification fail.
		if err := ledger.RecordVerification(ctx, db, ws.ID, "cli", time.Now(), rep); err != nil {
			fmt.Fprintf(m.Stderr, "consentd: workspace %s: the result was not saved: %v\n", ws.Name, err)
		}
		if *asJSON {
			json.NewEncoder(m.Stdout).Encode(struct {
				Workspace string `json:"workspace"`
				ledger.Report
			}{ws.Name, rep})
		} else {
			printReport(m.Stdout, ws.Name, rep)
		}
		broken = broken || !rep.OK
	}
	if broken {
		return exitError{exitFailed}
	}
	return nil
}

// printReport writes a workspace's verification on a line, and when more
// than one stored row differs from the log's replay (the problem names the
// first), the first few of them, one a line.
func printReport(w io.Writer, ws string, rep ledger.Report) {
	keys := "no checkpoint keys"
	if len(rep.KeyIDs) > 0 {
		keys = "keys " + strings.Join(rep.KeyIDs, ", ")
	}
	switch {
	case rep.OK:
		fmt.Fprintf(w, "workspace %s: ok, %d entries, root %s, %d checkpoints checked, %s", ws, rep.Entries, rep.Root, rep.Checkpoints, keys)
		if rep.State != nil {
			fmt.Fprintf(w, "; the log's replay matches %d consents and %d suppressions", rep.State.Consents, rep.State.Suppressions)
		}
		fmt.Fprintln(w)
	case rep.FirstBad > 0:
		fmt.Fprintf(w, "workspace %s: BROKEN, first bad entry %d: %s (%d entries, %s)\n", ws, rep.FirstBad, rep.Problem, rep.Entries, keys)
	case len(rep.BadPair) == 2:
		fmt.Fprintf(w, "workspace %s: BROKEN, first bad checkpoint pair %d and %d: %s (%d entries, %s)\n", ws, rep.BadPair[0], rep.BadPair[1], rep.Problem, rep.Entries, keys)
	default:
		fmt.Fprintf(w, "workspace %s: BROKEN: %s (%d entries, %s)\n", ws, rep.Problem, rep.Entries, keys)
	}
	if rep.State == nil || rep.State.Differences < 2 {
		return
	}
	for _, d := range rep.State.First {
		fmt.Fprintf(w, "  %s\n", d)
	}
	if more := rep.State.Differences - int64(len(rep.State.First)); more > 0 {
		fmt.Fprintf(w, "  and %d more stored rows that differ\n", more)
	}
}

// keyList is a repeatable flag of note verifier keys; each value may hold
// several, separated by white space.
type keyList []string

func (k *keyList) String() string     { return strings.Join(*k, " ") }
func (k *keyList) Set(v string) error { *k = append(*k, v); return nil }

func (m *Main) receiptVerify(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("receipt verify", flag.ContinueOnError)
	var c config
	m.flags(fs, &c, false)
	var pub keyList
	fs.Var(&pub, "public-key", "the log's public key (a note verifier key; repeat it, or separate keys by spaces, for a ring); default: the data folder's key ring")
	if err := parse(fs, args); err != nil {
		return err
	}
	var in io.Reader = m.Stdin
	if fs.NArg() > 0 && fs.Arg(0) != "-" {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			fmt.Fprintf(m.Stderr, "consentd: %v\n", err)
			return exitError{exitUsage}
		}
		defer f.Close()
		in = f
	}
	raw, err := io.ReadAll(io.LimitReader(in, maxReceipt+1))
	if err != nil {
		fmt.Fprintf(m.Stderr, "consentd: reading the receipt: %v\n", err)
		return exitError{exitUsage}
	}
	if len(raw) > maxReceipt {
		fmt.Fprintf(m.Stderr, "consentd: the receipt is larger than %d bytes\n", maxReceipt)
		return exitError{exitUsage}
	}

	// The C2SP tlog-proof text, or consentd's JSON.
	var rc *ledger.Receipt
	form := "JSON"
	if first, _, _ := strings.Cut(string(raw), "\n"); first == ledger.TLogProofHeader {
		form = "tlog-proof"
		if rc, err = ledger.ParseTLogProof(raw); err != nil {
			// It says it is a receipt; one that does not parse is a broken one.
			fmt.Fprintf(m.Stdout, "receipt BROKEN: %v\n", strings.TrimPrefix(err.Error(), "ledger: "))
			return exitError{exitFailed}
		}
	} else if err := json.Unmarshal(raw, &rc); err != nil || rc == nil {
		why := "it holds null"
		if err != nil {
			why = consentd.JSONErrorMessage(err, "the receipt")
		}
		fmt.Fprintf(m.Stderr, "consentd: the receipt is not a consentd JSON receipt (%s), nor a %s proof\n", why, ledger.TLogProofHeader)
		return exitError{exitUsage}
	}

	key := strings.Join(pub, "\n")
	if key == "" {
		path := c.logKeyPath()
		if _, err := os.Stat(path); err != nil {
			return usageError{"give --public-key (from GET /v1/log/checkpoints/latest) or a data folder with the log key"}
		}
		s, err := ledger.LoadOrCreateKey(path, "")
		if err != nil {
			return err
		}
		key = s.PublicKeyRing()
	}
	ring, err := ledger.ParseRing(key)
	if err != nil {
		return usageError{fmt.Sprintf("--public-key: %v", strings.TrimPrefix(err.Error(), "ledger: "))}
	}
	if err := ledger.VerifyReceipt(rc, key); err != nil {
		fmt.Fprintf(m.Stdout, "receipt BROKEN: %v\n", strings.TrimPrefix(err.Error(), "ledger: "))
		return exitError{exitFailed}
	}
	cp, by, err := ring.Open(rc.Checkpoint)
	if err != nil { // VerifyReceipt has opened it already
		return err
	}
	if len(rc.Evidence) > 0 && len(rc.Opening) > 0 {
		form += "; its evidence matches the leaf"
	}
	fmt.Fprintf(m.Stdout, "receipt ok: entry %d is in the log %s of size %d, signed by %s (%s)\n", rc.Seq, cp.Origin, rc.TreeSize, by.KeyID, form)
	return nil
}

// maxReceipt bounds the size of a receipt file receipt verify reads.
const maxReceipt = 4 << 20

func (m *Main) keysRotateLog(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("keys rotate-log", flag.ContinueOnError)
	var c config
	m.flags(fs, &c, false)
	if err := parse(fs, args); err != nil {
		return err
	}
	path := c.logKeyPath()
	if _, err := os.Stat(path); err != nil {
		return usageError{fmt.Sprintf("no checkpoint key to rotate at %s (consentd serve creates it): %v", path, err)}
	}
	s, err := ledger.RotateKey(path)
	if err != nil {
		return err
	}
	ids := s.KeyIDs()
	fmt.Fprintf(m.Stdout, "New checkpoints are signed with key %s; %d older keys still verify. Restart running servers to sign with it. Its public key:\n%s\n",
		ids[len(ids)-1], len(ids)-1, s.PublicKey())
	return nil
}

func (m *Main) keysRotateLinks(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("keys rotate-links", flag.ContinueOnError)
	var c config
	m.flags(fs, &c, false)
	if err := parse(fs, args); err != nil {
		return err
	}
	// Rotating a keyring that is not there would make one in a mistyped
	// folder; serve creates the keyring on its first start.
	path := c.LinkKeys
	if path == "" {
		path = filepath.Join(c.Data, "link-keys.json")
	}
	if _, err := os.Stat(path); err != nil {
		return usageError{fmt.Sprintf("no signed-link keyring to rotate at %s (consentd serve creates it; --link-keys or CONSENTD_LINK_KEYS names another)", path)}
	}
	k, err := c.linkKeys()
	if err != nil {
		return err
	}
	if err := k.Rotate(); err != nil {
		return err
	}
	ids := k.KeyIDs()
	fmt.Fprintf(m.Stdout, "New links are signed with key %s; %d older keys still verify. Restart running servers to sign with it.\n", ids[len(ids)-1], len(ids)-1)
	return nil
}
