package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/postgres"
)

// where names the store the config points at, for messages: the data
// folder, the SQLite file given by --database, or the PostgreSQL URL
// without its password.
func (c *config) where() string {
	switch {
	case c.postgres():
		u, err := url.Parse(c.Database)
		if err != nil {
			return "the PostgreSQL database given by --database"
		}
		if u.User != nil {
			u.User = url.User(u.User.Username())
		}
		return "database " + u.String()
	case c.Database != "":
		return "database file " + c.sqlitePath()
	}
	return "data folder " + c.Data
}

// noDataError is an offline command pointed at a folder or database that
// holds no consentd data: it names the place and says how data gets there.
func (c *config) noDataError(detail string) error {
	return usageError{fmt.Sprintf("no consentd data in %s (%s); check --data or --database (CONSENTD_DATA, CONSENTD_DATABASE), or create it with consentd serve or consentd apply", c.where(), detail)}
}

// openExisting opens the store of an offline command that reads or changes
// existing data. Unlike open it creates nothing: a missing data folder, a
// missing or empty SQLite file and a PostgreSQL database without consentd's
// tables are a usage error (exit 2) naming the place, not a new empty store.
// With withKey it also loads the checkpoint key ring, which must exist.
func (c *config) openExisting(ctx context.Context, withKey bool) (store, *ledger.Signer, error) {
	if c.postgres() {
		ok, err := postgres.HasSchema(ctx, c.Database)
		if err != nil {
			return nil, nil, usageError{fmt.Sprintf("cannot open %s: %v", c.where(), strings.TrimPrefix(err.Error(), "postgres: "))}
		}
		if !ok {
			return nil, nil, c.noDataError("it has no consentd tables")
		}
	} else {
		path := c.sqlitePath()
		fi, err := os.Stat(path)
		switch {
		case os.IsNotExist(err) && c.Database == "":
			if _, derr := os.Stat(c.Data); os.IsNotExist(derr) {
				return nil, nil, c.noDataError("the folder does not exist")
			}
			return nil, nil, c.noDataError("it has no consentd.db")
		case os.IsNotExist(err):
			return nil, nil, c.noDataError("the file does not exist")
		case err != nil:
			return nil, nil, usageError{fmt.Sprintf("cannot open %s: %v", c.where(), err)}
		case fi.IsDir():
			return nil, nil, usageError{fmt.Sprintf("%s is a folder, not a database file", path)}
		case fi.Size() == 0:
			return nil, nil, c.noDataError(path + " is empty")
		}
	}
	var signer *ledger.Signer
	if withKey {
		path := c.logKeyPath()
		if _, err := os.Stat(path); err != nil {
			return nil, nil, usageError{fmt.Sprintf("no checkpoint key at %s for %s (consentd serve creates it; --log-key or CONSENTD_LOG_KEY names another)", path, c.where())}
		}
		s, err := ledger.LoadOrCreateKey(path, "consentd")
		if err != nil {
			return nil, nil, fmt.Errorf("checkpoint key %s: %w", path, err)
		}
		signer = s
	}
	db, err := c.openDB()
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", c.where(), err)
	}
	return db, signer, nil
}

// workspace finds the workspace c names in db; a missing one is a usage
// error that names the store and the workspaces it has.
func (c *config) workspace(ctx context.Context, db store) (*consentd.Workspace, error) {
	ws, err := db.WorkspaceByName(ctx, c.Workspace)
	if err == nil {
		return ws, nil
	}
	if consentd.ErrorCode(err) != consentd.ENOTFOUND {
		return nil, fmt.Errorf("workspace %q in %s: %w", c.Workspace, c.where(), err)
	}
	wss, lerr := db.Workspaces(ctx)
	if lerr != nil {
		return nil, fmt.Errorf("list workspaces of %s: %w", c.where(), lerr)
	}
	if len(wss) == 0 {
		return nil, usageError{fmt.Sprintf("no workspace %q in %s: it has no workspaces yet (consentd serve or consentd apply creates %q)", c.Workspace, c.where(), consentd.DefaultWorkspace)}
	}
	names := make([]string, len(wss))
	for i, w := range wss {
		names[i] = w.Name
	}
	sort.Strings(names)
	return nil, usageError{fmt.Sprintf("no workspace %q in %s (it has: %s)", c.Workspace, c.where(), strings.Join(names, ", "))}
}
