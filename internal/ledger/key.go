package ledger

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Signer signs checkpoints with one Ed25519 note key. It is safe for
// concurrent use.
type Signer struct {
	signer note.Signer
	name   string
	hash   uint32
	vkey   string
}

// LoadOrCreateKey returns the signer for the note private key stored at path
// (the skey text of note.GenerateKey, "PRIVATE+KEY+<name>+<hash>+<key>").
//
// If path does not exist, LoadOrCreateKey generates a new Ed25519 key called
// name, creates the missing parent directories with mode 0700 and writes the
// key with mode 0600. The file is written to a temporary file in the same
// directory, synced, and then hard-linked into place, which never replaces an
// existing file: if another process created the key first, that key is loaded
// and used instead. On file systems without hard links it falls back to
// rename.
//
// If the file exists and name is not empty, the key in it must be called
// name. An empty name accepts whatever key the file holds (it is an error
// when the file has to be created).
func LoadOrCreateKey(path, name string) (*Signer, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return loadKey(path, b, name)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("ledger: reading key: %w", err)
	}
	if name == "" {
		return nil, fmt.Errorf("ledger: key file %s does not exist and no key name was given", path)
	}

	skey, _, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return nil, fmt.Errorf("ledger: generating key: %w", err)
	}
	s, err := newSigner(skey)
	if err != nil {
		// note.GenerateKey does not validate the name; note.NewSigner does.
		return nil, fmt.Errorf("ledger: invalid key name %q: %w", name, err)
	}

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ledger: creating key directory: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("ledger: creating key: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful link or rename this is a no-op or removes the extra name
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("ledger: creating key: %w", err)
	}
	if _, err := f.WriteString(skey + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("ledger: writing key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("ledger: writing key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("ledger: writing key: %w", err)
	}

	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Lost a race with another process: use its key.
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("ledger: reading key: %w", err)
			}
			return loadKey(path, b, name)
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, fmt.Errorf("ledger: installing key: %w", err)
		}
	}
	syncDir(dir)
	return s, nil
}

// syncDir makes a new directory entry durable, best effort.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// loadKey parses the contents of a key file. Errors never quote the key.
func loadKey(path string, b []byte, name string) (*Signer, error) {
	s, err := newSigner(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("ledger: key file %s: %w", path, err)
	}
	if name != "" && s.name != name {
		return nil, fmt.Errorf("ledger: key file %s holds a key named %q, want %q", path, s.name, name)
	}
	return s, nil
}

// newSigner builds a Signer from note skey text, deriving the public key.
func newSigner(skey string) (*Signer, error) {
	ns, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("not a note private key: %w", err)
	}
	// note.NewSigner has checked the format, the algorithm and that the key
	// hash matches the derived public key; it just does not expose that
	// public key, so derive it again.
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 {
		return nil, errors.New("not a note private key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return nil, errors.New("not an Ed25519 note private key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(ns.Name(), pub)
	if err != nil {
		return nil, err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil || v.KeyHash() != ns.KeyHash() {
		return nil, errors.New("public key does not match the private key")
	}
	return &Signer{signer: ns, name: ns.Name(), hash: ns.KeyHash(), vkey: vkey}, nil
}

// Sign returns the signed note text of the checkpoint: the body of c.Text,
// a blank line and one "— <name> <signature>" line.
func (s *Signer) Sign(c Checkpoint) (string, error) {
	if err := c.validate(); err != nil {
		return "", err
	}
	msg, err := note.Sign(&note.Note{Text: string(c.Text())}, s.signer)
	if err != nil {
		return "", fmt.Errorf("ledger: signing checkpoint: %w", err)
	}
	return string(msg), nil
}

// PublicKey returns the note verifier key, "<name>+<hash>+<key>". It is what
// auditors pin and what OpenCheckpoint, VerifyReceipt and NewVerifier take.
func (s *Signer) PublicKey() string { return s.vkey }

// KeyID returns a short, stable identifier of the key: its name and the
// 8-hex-digit note key hash, such as "consentd+1a2b3c4d".
func (s *Signer) KeyID() string { return keyID(s.name, s.hash) }

func keyID(name string, hash uint32) string { return fmt.Sprintf("%s+%08x", name, hash) }

// OpenCheckpoint verifies that signed is a note signed by publicKey and
// returns the checkpoint in it. Signatures by other keys (for example
// witness cosignatures) are allowed and ignored. OpenCheckpoint does not
// check the origin; compare it with Origin(workspaceID) where it matters.
func OpenCheckpoint(signed string, publicKey string) (Checkpoint, error) {
	v, err := note.NewVerifier(publicKey)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("ledger: bad public key: %w", err)
	}
	return openCheckpoint(signed, note.VerifierList(v))
}

func openCheckpoint(signed string, vs note.Verifiers) (Checkpoint, error) {
	n, err := note.Open([]byte(signed), vs)
	if err != nil {
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) {
			return Checkpoint{}, errors.New("ledger: checkpoint is not signed by the expected key")
		}
		return Checkpoint{}, fmt.Errorf("ledger: checkpoint signature: %w", err)
	}
	return ParseCheckpoint([]byte(n.Text))
}
