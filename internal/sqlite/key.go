package sqlite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"errors"
	"strings"

	"github.com/consentd/consentd"
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
// for a bad role, ECONFLICT when the secret is already a key.
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
	err := db.write(ctx, func(tx *Tx) error {
		k.CreatedAt = tx.now
		var n int
		if err := tx.QueryRowContext(tx.ctx, `SELECT count(*) FROM api_keys WHERE hash = ?`, keyHash(secret)).Scan(&n); err != nil {
			return err
		} else if n > 0 {
			return consentd.Errorf(consentd.ECONFLICT, "this key exists")
		}
		_, err := tx.ExecContext(tx.ctx, `INSERT INTO api_keys (id, workspace_id, role, name, hash, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			k.ID, wsID, string(role), name, keyHash(secret), nanos(tx.now))
		return err
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
	err := db.r.QueryRowContext(ctx, `SELECT id, workspace_id, role, name, created_at FROM api_keys WHERE hash = ?`, keyHash(secret)).
		Scan(&k.ID, &k.WorkspaceID, &role, &k.Name, &created)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, consentd.Errorf(consentd.EUNAUTHORIZED, "unknown API key")
		}
		return nil, err
	}
	k.Role, k.CreatedAt = consentd.Role(role), fromNanos(created)
	return k, nil
}

// Keys lists a workspace's keys.
func (db *DB) Keys(ctx context.Context, wsID string) ([]*consentd.APIKey, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, role, name, created_at FROM api_keys WHERE workspace_id = ? ORDER BY created_at, id`, wsID)
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
	return db.write(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(tx.ctx, `DELETE FROM api_keys WHERE workspace_id = ? AND id = ?`, wsID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return consentd.Errorf(consentd.ENOTFOUND, "key not found")
		}
		return nil
	})
}
