package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/consentd/consentd"
)

// wsCache is what decisions and writes need of a workspace, kept in memory
// and dropped when this process changes the workspace or its catalog.
type wsCache struct {
	ws      consentd.Workspace
	secret  []byte
	catalog *consentd.Catalog
}

func (db *DB) invalidate(wsID string) {
	db.mu.Lock()
	delete(db.cache, wsID)
	db.mu.Unlock()
}

// WorkspaceSecret returns the key of the workspace's contact point hashes.
func (db *DB) WorkspaceSecret(ctx context.Context, id string) ([]byte, error) {
	c, err := db.loadWS(ctx, db.r, id)
	if err != nil {
		return nil, err
	}
	return c.secret, nil
}

// Invalidate drops what this process caches of a workspace, for changes
// made by another process (seen in the log).
func (db *DB) Invalidate(wsID string) { db.invalidate(wsID) }

// changed marks a workspace's settings or catalog as changed by tx: tx reads
// them anew, and the cache drops them once tx commits.
func (tx *Tx) changed(wsID string) {
	tx.dirty[wsID] = true
	tx.after = append(tx.after, func() { tx.db.invalidate(wsID) })
}

func (db *DB) invalidateAll() {
	db.mu.Lock()
	clear(db.cache)
	db.mu.Unlock()
	db.edges.Forget()
}

// loadWS returns the cached workspace, loading it through q (the reader pool
// or a write transaction) when it is not cached.
func (db *DB) loadWS(ctx context.Context, q querier, wsID string) (*wsCache, error) {
	tx, inTx := q.(*Tx)
	if !inTx || !tx.dirty[wsID] {
		db.mu.RLock()
		c := db.cache[wsID]
		db.mu.RUnlock()
		if c != nil {
			return c, nil
		}
	}
	c := &wsCache{}
	if err := scanWorkspace(q.QueryRowContext(ctx, `SELECT `+workspaceColumns+` FROM workspaces WHERE id = ?`, wsID), &c.ws, &c.secret); err != nil {
		return nil, notFound(err, "workspace")
	}
	purposes, err := loadPurposes(ctx, q, wsID)
	if err != nil {
		return nil, err
	}
	topics, err := loadTopics(ctx, q, wsID)
	if err != nil {
		return nil, err
	}
	c.catalog = consentd.NewCatalog(purposes, topics)
	if _, ok := q.(*sql.DB); ok { // cache only what committed state says
		db.mu.Lock()
		db.cache[wsID] = c
		db.mu.Unlock()
	}
	return c, nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
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
	err := db.write(ctx, func(tx *Tx) error {
		ws.CreatedAt = tx.now
		var n int
		if err := tx.QueryRowContext(tx.ctx, `SELECT count(*) FROM workspaces WHERE name = ?`, name).Scan(&n); err != nil {
			return err
		} else if n > 0 {
			return consentd.Errorf(consentd.ECONFLICT, "a workspace with this name exists")
		}
		_, err := tx.ExecContext(tx.ctx, `INSERT INTO workspaces (id, name, secret, created_at) VALUES (?, ?, ?, ?)`, ws.ID, name, secret, nanos(tx.now))
		return err
	})
	if err != nil {
		return nil, err
	}
	return ws, nil
}

// Workspace returns a workspace by id; ENOTFOUND when there is none.
func (db *DB) Workspace(ctx context.Context, id string) (*consentd.Workspace, error) {
	c, err := db.loadWS(ctx, db.r, id)
	if err != nil {
		return nil, err
	}
	ws := c.ws
	return &ws, nil
}

// WorkspaceByName returns a workspace by name; ENOTFOUND when there is none.
func (db *DB) WorkspaceByName(ctx context.Context, name string) (*consentd.Workspace, error) {
	var id string
	if err := db.r.QueryRowContext(ctx, `SELECT id FROM workspaces WHERE name = ?`, name).Scan(&id); err != nil {
		return nil, notFound(err, "workspace")
	}
	return db.Workspace(ctx, id)
}

// Workspaces lists every workspace.
func (db *DB) Workspaces(ctx context.Context) ([]*consentd.Workspace, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id FROM workspaces ORDER BY name`)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	var out []*consentd.Workspace
	for _, id := range ids {
		ws, err := db.Workspace(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, ws)
	}
	return out, rows.Err()
}

// UpdateWorkspace changes a workspace's settings. It returns EINVALID,
// ECONFLICT (name taken) or ENOTFOUND.
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
	err := db.write(ctx, func(tx *Tx) error {
		if u.Name != nil {
			var n int
			if err := tx.QueryRowContext(tx.ctx, `SELECT count(*) FROM workspaces WHERE name = ? AND id != ?`, *u.Name, id).Scan(&n); err != nil {
				return err
			} else if n > 0 {
				return consentd.Errorf(consentd.ECONFLICT, "a workspace with this name exists")
			}
			if _, err := tx.ExecContext(tx.ctx, `UPDATE workspaces SET name = ? WHERE id = ?`, *u.Name, id); err != nil {
				return err
			}
		}
		if u.DefaultRegion != nil {
			if _, err := tx.ExecContext(tx.ctx, `UPDATE workspaces SET default_region = ? WHERE id = ?`, *u.DefaultRegion, id); err != nil {
				return err
			}
		}
		if u.SMSSenderName != nil {
			if _, err := tx.ExecContext(tx.ctx, `UPDATE workspaces SET sms_sender_name = ? WHERE id = ?`, *u.SMSSenderName, id); err != nil {
				return err
			}
		}
		if u.SMSHelpText != nil {
			if _, err := tx.ExecContext(tx.ctx, `UPDATE workspaces SET sms_help_text = ? WHERE id = ?`, *u.SMSHelpText, id); err != nil {
				return err
			}
		}
		if err := tx.updateBrand(id, &u); err != nil {
			return err
		}
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
