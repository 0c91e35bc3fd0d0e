package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"strings"

	"github.com/consentd/consentd"
	"github.com/jackc/pgx/v5"
)

// KeyPrefix starts every generated API key.
const KeyPrefix = "cdk_"

// NewKeySecret returns a new random API key: "cdk_" and 32 random bytes in
// base32.
func NewKeySecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return KeyPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

func keyHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// CreateKey stores a key for a workspace, hashed (SHA-256: keys are 256-bit
// random, so a slow hash adds nothing). secret "" makes a new one. It returns
// the key's metadata and the secret, which is never shown again; EINVALID
// for a bad role, ECONFLICT when the secret is already a key, ENOTFOUND for
// an unknown workspace.
func (db *DB) CreateKey(ctx context.Context, wsID string, role consentd.Role, name, secret string) (*consentd.APIKey, string, error) {
	if !role.Valid() {
		return nil, "", consentd.FieldErrorf(consentd.EINVALID, "role", "role must be admin, write, check, read or agent")
	}
	if secret == "" {
		secret = NewKeySecret()
	} else if len(secret) < 16 {
		return nil, "", consentd.FieldErrorf(consentd.EINVALID, "key", "a key must be at least 16 characters")
	}
	k := &consentd.APIKey{ID: "key_" + randomID(12), WorkspaceID: wsID, Role: role, Name: name}
	err := db.write(ctx, "", func(tx *Tx) error {
		k.CreatedAt = tx.now
		tag, err := tx.Exec(tx.ctx, `INSERT INTO api_keys (id, workspace_id, role, name, hash, created_at)
			SELECT $1, id, $3, $4, $5, $6 FROM workspaces WHERE id = $2 ON CONFLICT (hash) DO NOTHING`,
			k.ID, wsID, string(role), name, keyHash(secret), nanos(tx.now))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var n int
			if err := tx.QueryRow(tx.ctx, `SELECT count(*) FROM workspaces WHERE id = $1`, wsID).Scan(&n); err != nil {
				return err
			} else if n == 0 {
				return consentd.Errorf(consentd.ENOTFOUND, "workspace not found")
			}
			return consentd.Errorf(consentd.ECONFLICT, "this key exists")
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return k, secret, nil
}

// Authenticate finds the key whose secret is given; EUNAUTHORIZED when none.
// The lookup is by the secret's SHA-256, so no secret is compared in a loop.
func (db *DB) Authenticate(ctx context.Context, secret string) (*consentd.APIKey, error) {
	k := &consentd.APIKey{}
	var role string
	var created int64
	err := db.pool.QueryRow(ctx, `SELECT id, workspace_id, role, name, created_at FROM api_keys WHERE hash = $1`, keyHash(secret)).
		Scan(&k.ID, &k.WorkspaceID, &role, &k.Name, &created)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, consentd.Errorf(consentd.EUNAUTHORIZED, "unknown API key")
		}
		return nil, err
	}
	k.Role, k.CreatedAt = consentd.Role(role), fromNanos(created)
	return k, nil
}

// Keys lists a workspace's keys.
func (db *DB) Keys(ctx context.Context, wsID string) ([]*consentd.APIKey, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, role, name, created_at FROM api_keys WHERE workspace_id = $1 ORDER BY created_at, id`, wsID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*consentd.APIKey{}
	for rows.Next() {
		k := &consentd.APIKey{WorkspaceID: wsID}
		var role string
		var created int64
		if err := rows.Scan(&k.ID, &role, &k.Name, &created); err != nil {
			return nil, err
		}
		k.Role, k.CreatedAt = consentd.Role(role), fromNanos(created)
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeleteKey deletes a key of the workspace; ENOTFOUND when there is none.
func (db *DB) DeleteKey(ctx context.Context, wsID, id string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM api_keys WHERE workspace_id = $1 AND id = $2`, wsID, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return consentd.Errorf(consentd.ENOTFOUND, "key not found")
	}
	return nil
}
