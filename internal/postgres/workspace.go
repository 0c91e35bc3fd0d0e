package postgres

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"

	"github.com/consentd/consentd"
)

// wsCache is what decisions and writes need of a workspace, kept in memory.
// Other processes change workspaces too, so every use checks version
// against the workspaces row: reads in the same statement or round trip as
// their other queries, writes under the log lock.
type wsCache struct {
	ws      consentd.Workspace
	secret  []byte
	catalog *consentd.Catalog
	version int64 // workspaces.catalog_version this copy was read at
}

func (db *DB) invalidate(wsID string) {
	db.mu.Lock()
	delete(db.cache, wsID)
	db.mu.Unlock()
}

// WorkspaceSecret returns the key of the workspace's contact point hashes.
func (db *DB) WorkspaceSecret(ctx context.Context, id string) ([]byte, error) {
	c, err := db.cachedWS(ctx, id) // the secret never changes
	if err != nil {
		return nil, err
	}
	return c.secret, nil
}

// Invalidate drops what this process caches of a workspace. Every use
// checks the cached copy against the database anyway; this only saves the
// check that would find it stale.
func (db *DB) Invalidate(wsID string) { db.invalidate(wsID) }

// changed marks a workspace's settings or catalog as changed by tx: it
// bumps the version every process checks its copy against, makes the later
// writes of tx read them again, and drops this process's copy once tx
// commits.
func (tx *Tx) changed(wsID string) {
	tx.queue(`UPDATE workspaces SET catalog_version = catalog_version + 1 WHERE id = $1`, wsID)
	if l := tx.logs[wsID]; l != nil {
		l.version = -1
	}
	tx.after = append(tx.after, func() { tx.db.invalidate(wsID) })
}

// loadWS reads the workspace and its catalog in one statement (one
// snapshot) through q: the pool, or a write transaction, which sees its own
// changes. Only what the pool read, which is committed, is cached.
func (db *DB) loadWS(ctx context.Context, q querier, wsID string) (*wsCache, error) {
	c := &wsCache{}
	var purposes, topics []string
	dest, finish := workspaceDest(&c.ws, &c.secret)
	err := q.QueryRow(ctx, `SELECT `+workspaceColumns+`, w.catalog_version,
			ARRAY(SELECT body FROM purposes WHERE workspace_id = w.id ORDER BY id),
			ARRAY(SELECT body FROM topics WHERE workspace_id = w.id ORDER BY id)
		FROM workspaces w WHERE w.id = $1`, wsID).
		Scan(append(dest, &c.version, &purposes, &topics)...)
	if err != nil {
		return nil, notFound(err, "workspace")
	}
	if err := finish(); err != nil {
		return nil, err
	}
	ps := make([]*consentd.Purpose, len(purposes))
	for i, body := range purposes {
		ps[i] = &consentd.Purpose{}
		if err := json.Unmarshal([]byte(body), ps[i]); err != nil {
			return nil, fmt.Errorf("purpose body: %w", err)
		}
	}
	ts := make([]*consentd.Topic, len(topics))
	for i, body := range topics {
		ts[i] = &consentd.Topic{}
		if err := json.Unmarshal([]byte(body), ts[i]); err != nil {
			return nil, fmt.Errorf("topic body: %w", err)
		}
	}
	c.catalog = consentd.NewCatalog(ps, ts)
	if q == querier(db.pool) {
		db.remember(c)
	}
	return c, nil
}

// remember caches c, a committed copy, unless a newer one is cached.
func (db *DB) remember(c *wsCache) {
	db.mu.Lock()
	if old := db.cache[c.ws.ID]; old == nil || old.version <= c.version {
		db.cache[c.ws.ID] = c
	}
	db.mu.Unlock()
}

// cachedWS returns this process's copy of the workspace without checking
// that it is current, loading it when there is none. Callers check
// c.version in their own queries.
func (db *DB) cachedWS(ctx context.Context, wsID string) (*wsCache, error) {
	db.mu.RLock()
	c := db.cache[wsID]
	db.mu.RUnlock()
	if c != nil {
		return c, nil
	}
	return db.loadWS(ctx, db.pool, wsID)
}

// currentWS returns the workspace as committed now: the cached copy when its
// version is current, else a new one.
func (db *DB) currentWS(ctx context.Context, wsID string) (*wsCache, error) {
	db.mu.RLock()
	c := db.cache[wsID]
	db.mu.RUnlock()
	if c != nil {
		var v int64
		if err := db.pool.QueryRow(ctx, `SELECT catalog_version FROM workspaces WHERE id = $1`, wsID).Scan(&v); err != nil {
			return nil, notFound(err, "workspace")
		}
		if v == c.version {
			return c, nil
		}
	}
	return db.loadWS(ctx, db.pool, wsID)
}

// CreateWorkspace creates a workspace with a new contact point secret. It
// returns ECONFLICT when the name is taken and EINVALID for a bad name.
func (db *DB) CreateWorkspace(ctx context.Context, name string) (*consentd.Workspace, error) {
	if !consentd.ValidID(name) {
		return nil, consentd.FieldErrorf(consentd.EINVALID, "name", "workspace name must match [a-z0-9][a-z0-9_-]{0,63}")
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	ws := &consentd.Workspace{ID: "ws_" + randomID(10), Name: name}
	err := db.write(ctx, "", func(tx *Tx) error {
		ws.CreatedAt = tx.now
		tag, err := tx.Exec(tx.ctx, `INSERT INTO workspaces (id, name, secret, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING`,
			ws.ID, name, secret, nanos(tx.now))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return consentd.Errorf(consentd.ECONFLICT, "a workspace with this name exists")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ws, nil
}

// Workspace returns a workspace by id; ENOTFOUND when there is none.
func (db *DB) Workspace(ctx context.Context, id string) (*consentd.Workspace, error) {
	c, err := db.currentWS(ctx, id)
	if err != nil {
		return nil, err
	}
	ws := c.ws
	return &ws, nil
}

// WorkspaceByName returns a workspace by name; ENOTFOUND when there is none.
func (db *DB) WorkspaceByName(ctx context.Context, name string) (*consentd.Workspace, error) {
	var id string
	if err := db.pool.QueryRow(ctx, `SELECT id FROM workspaces WHERE name = $1`, name).Scan(&id); err != nil {
		return nil, notFound(err, "workspace")
	}
	return db.Workspace(ctx, id)
}

// Workspaces lists every workspace, by name.
func (db *DB) Workspaces(ctx context.Context) ([]*consentd.Workspace, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+workspaceColumns+` FROM workspaces w ORDER BY w.name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*consentd.Workspace
	for rows.Next() {
		ws := &consentd.Workspace{}
		var secret []byte
		dest, finish := workspaceDest(ws, &secret)
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if err := finish(); err != nil {
			return nil, err
		}
		out = append(out, ws)
	}
	return out, rows.Err()
}

// UpdateWorkspace changes a workspace's settings and logs the change. It
// returns EINVALID, ECONFLICT (name taken) or ENOTFOUND.
func (db *DB) UpdateWorkspace(ctx context.Context, id string, u consentd.WorkspaceUpdate, actor string) (*consentd.Workspace, error) {
	if u.Name != nil && !consentd.ValidID(*u.Name) {
		return nil, consentd.FieldErrorf(consentd.EINVALID, "name", "workspace name must match [a-z0-9][a-z0-9_-]{0,63}")
	}
	if u.DefaultRegion != nil && *u.DefaultRegion != "" && !consentd.ValidRegion(*u.DefaultRegion) {
		return nil, consentd.FieldErrorf(consentd.EINVALID, "default_region", "default_region must be an ISO 3166 alpha-2 code such as DE")
	}
	if err := u.ValidateSMS(); err != nil {
		return nil, err
	}
	if err := u.ValidateBrand(); err != nil {
		return nil, err
	}
	// Under the log lock: the change is ordered with the writes that
	// normalize contact points by the default region.
	err := db.write(ctx, id, func(tx *Tx) error {
		if u.Name != nil {
			// A name taken, even by a rename committed a moment ago, fails
			// on the unique index: ECONFLICT (see dbError).
			tx.queue(`UPDATE workspaces SET name = $1 WHERE id = $2`, *u.Name, id)
		}
		if u.DefaultRegion != nil {
			tx.queue(`UPDATE workspaces SET default_region = $1 WHERE id = $2`, *u.DefaultRegion, id)
		}
		if u.SMSSenderName != nil {
			tx.queue(`UPDATE workspaces SET sms_sender_name = $1 WHERE id = $2`, *u.SMSSenderName, id)
		}
		if u.SMSHelpText != nil {
			tx.queue(`UPDATE workspaces SET sms_help_text = $1 WHERE id = $2`, *u.SMSHelpText, id)
		}
		tx.updateBrand(id, &u)
		return tx.logWorkspace(id, actor)
	})
	if err != nil {
		return nil, err
	}
	return db.Workspace(ctx, id)
}

func randomID(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal %T: %v", v, err))
	}
	return string(b)
}
