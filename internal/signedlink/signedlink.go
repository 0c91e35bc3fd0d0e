// Package signedlink makes and checks the tokens of consentd's public links
// (unsubscribe, preferences, double opt-in confirmation): HMAC-SHA256 over
// an opaque payload (a contact point hash, never the address), with a key id
// so that keys can rotate (old keys verify, the newest signs) and an optional
// expiry. A token that does not verify gives one generic error, whatever the
// reason, and comparison is constant-time.
package signedlink

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Link kinds.
const (
	Unsubscribe = "unsubscribe"
	Preferences = "preferences"
	Confirm     = "confirm"
	// Record reads a person's record of consents and nothing else: the
	// double opt-in page hands it out after a confirmation.
	Record = "record"
)

// ErrInvalid is the one error of a token that does not verify: tampered,
// unknown key, malformed or expired. Callers show one generic page for it.
var ErrInvalid = errors.New("signedlink: invalid or expired link")

// Claims is what a token says.
type Claims struct {
	Kind        string `json:"k"`
	Workspace   string `json:"w"`
	Hash        string `json:"h" doc:"base64url contact point hash"`
	CPKind      string `json:"ck,omitempty" doc:"contact point kind"`
	ChannelType string `json:"ct,omitempty"`
	Nonce       string `json:"n,omitempty" doc:"random, for single-use tokens"`
	IssuedAt    int64  `json:"i"`
	ExpiresAt   int64  `json:"e,omitempty" doc:"unix seconds; 0 = never"`
	Extra       string `json:"x,omitempty"`
}

// Expires returns when the token expires (zero = never).
func (c *Claims) Expires() time.Time {
	if c.ExpiresAt == 0 {
		return time.Time{}
	}
	return time.Unix(c.ExpiresAt, 0).UTC()
}

type key struct {
	ID        string `json:"id"`
	Secret    []byte `json:"secret"`
	CreatedAt int64  `json:"created_at"`
}

// Keyring holds the link keys: the last one signs, all verify. It is safe
// for concurrent use.
type Keyring struct {
	path string
	mu   sync.RWMutex
	keys []key
}

// LoadOrCreate reads the keyring at path (a JSON file in the data folder,
// mode 0600), creating it with one key when it does not exist.
func LoadOrCreate(path string) (*Keyring, error) {
	k := &Keyring{path: path}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := k.Rotate(); err != nil {
			return nil, err
		}
		return k, nil
	case err != nil:
		return nil, fmt.Errorf("link keys: %w", err)
	}
	if err := json.Unmarshal(b, &k.keys); err != nil || len(k.keys) == 0 {
		return nil, fmt.Errorf("link keys %s: not a keyring", path)
	}
	return k, nil
}

// Rotate adds a new key that signs from now on; older keys still verify.
// The keyring file is rewritten atomically.
func (k *Keyring) Rotate() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	secret := make([]byte, 32)
	rand.Read(secret)
	id := make([]byte, 4)
	rand.Read(id)
	keys := append(append([]key(nil), k.keys...), key{ID: base64.RawURLEncoding.EncodeToString(id), Secret: secret, CreatedAt: time.Now().Unix()})
	if k.path != "" {
		b, _ := json.MarshalIndent(keys, "", "  ")
		if err := os.MkdirAll(filepath.Dir(k.path), 0o700); err != nil {
			return fmt.Errorf("link keys: %w", err)
		}
		tmp := k.path + ".tmp"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			return fmt.Errorf("link keys: %w", err)
		}
		if err := os.Rename(tmp, k.path); err != nil {
			return fmt.Errorf("link keys: %w", err)
		}
	}
	k.keys = keys
	return nil
}

// KeyIDs lists the key ids, oldest first; the last one signs.
func (k *Keyring) KeyIDs() []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	ids := make([]string, len(k.keys))
	for i, kk := range k.keys {
		ids[i] = kk.ID
	}
	return ids
}

// NewNonce returns a random nonce for a single-use token.
func NewNonce() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Sign returns the token for c, signed with the newest key. IssuedAt is set
// when zero. Tokens look like "<key id>.<payload>.<mac>", URL-safe.
func (k *Keyring) Sign(c Claims) (string, error) {
	k.mu.RLock()
	kk := k.keys[len(k.keys)-1]
	k.mu.RUnlock()
	if c.IssuedAt == 0 {
		c.IssuedAt = time.Now().Unix()
	}
	p, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	body := kk.ID + "." + base64.RawURLEncoding.EncodeToString(p)
	return body + "." + base64.RawURLEncoding.EncodeToString(mac(kk.Secret, body)), nil
}

func mac(secret []byte, body string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("consentd-link-v1."))
	m.Write([]byte(body))
	return m.Sum(nil)
}

// Verify checks a token at time now and returns its claims, or ErrInvalid.
func (k *Keyring) Verify(token string, now time.Time) (*Claims, error) {
	kid, rest, ok := strings.Cut(token, ".")
	if !ok {
		return nil, ErrInvalid
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok || len(token) > 2048 {
		return nil, ErrInvalid
	}
	got, err := decode(sig)
	if err != nil {
		return nil, ErrInvalid
	}
	k.mu.RLock()
	var secret []byte
	for _, kk := range k.keys {
		if kk.ID == kid {
			secret = kk.Secret
		}
	}
	k.mu.RUnlock()
	if secret == nil || !hmac.Equal(got, mac(secret, kid+"."+payload)) {
		return nil, ErrInvalid
	}
	p, err := decode(payload)
	if err != nil {
		return nil, ErrInvalid
	}
	c := &Claims{}
	if err := json.Unmarshal(p, c); err != nil {
		return nil, ErrInvalid
	}
	if c.ExpiresAt != 0 && now.Unix() >= c.ExpiresAt {
		return nil, ErrInvalid
	}
	return c, nil
}

// decode reads one part of a token, which must be exactly what Sign
// writes: unpadded base64url in its one canonical spelling. The decoder
// alone is not enough: without Strict it ignores the unused low bits of
// the last character (so up to four spellings of a MAC verify), and even
// strict it skips CR and LF. Comparing the re-encoded bytes with the input
// refuses any token that differs from the signed one by a single byte.
func decode(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, err
	}
	if base64.RawURLEncoding.EncodeToString(b) != s {
		return nil, errors.New("signedlink: base64 not in canonical form")
	}
	return b, nil
}
