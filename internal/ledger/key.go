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

// Signer is the checkpoint key ring: one or more Ed25519 note keys, oldest
// first. The newest key signs; every key of the ring verifies, so
// checkpoints signed before a rotation stay valid. It is safe for
// concurrent use.
//
// A key signs each checkpoint under the checkpoint's origin as its note key
// name ("consentd/<workspace id>"), as C2SP tlog-checkpoint recommends, so
// that the signature line names the log. The same Ed25519 key thus has one
// note key id per workspace. The name in the key file (such as "consentd")
// is the key's own name: checkpoints signed under it, as consentd did
// before it named keys by origin, verify too (see Ring).
type Signer struct {
	keys []*privKey // oldest first; the last one signs
}

// privKey is one key of a key file.
type privKey struct {
	pubKey
	priv ed25519.PrivateKey
}

// LoadOrCreateKey returns the key ring stored at path: a text file of note
// private keys (the skey text of note.GenerateKey,
// "PRIVATE+KEY+<name>+<hash>+<key>"), one per line, oldest first; the last
// one signs. Blank lines are ignored, so a file of one key, as consentd has
// always written, is a ring of one. RotateKey appends to it.
//
// If path does not exist, LoadOrCreateKey generates a new Ed25519 key called
// name, creates the missing parent directories with mode 0700 and writes the
// key with mode 0600. The file is written to a temporary file in the same
// directory, synced, and then hard-linked into place, which never replaces an
// existing file: if another process created the key first, that key is loaded
// and used instead. On file systems without hard links it falls back to
// rename.
//
// If the file exists and name is not empty, its keys must be called name.
// An empty name accepts whatever keys the file holds (it is an error when
// the file has to be created).
func LoadOrCreateKey(path, name string) (*Signer, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return loadKeys(path, b, name)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("ledger: reading key: %w", err)
	}
	if name == "" {
		return nil, fmt.Errorf("ledger: key file %s does not exist and no key name was given", path)
	}

	skey, k, err := generateKey(name)
	if err != nil {
		return nil, err
	}
	tmp, err := writeTemp(path, skey+"\n")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp) // after a successful link or rename this is a no-op or removes the extra name

	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Lost a race with another process: use its key.
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("ledger: reading key: %w", err)
			}
			return loadKeys(path, b, name)
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, fmt.Errorf("ledger: installing key: %w", err)
		}
	}
	syncDir(filepath.Dir(path))
	return &Signer{keys: []*privKey{k}}, nil
}

// RotateKey adds a new Ed25519 key to the key file at path and returns the
// ring with it: the new key, named like the newest one before it, signs
// from then on, and the older keys stay in the file so that what they
// signed still verifies. Processes that loaded the file before keep signing
// with the key they had until they load it again.
//
// The file is rewritten atomically (a synced temporary file renamed over
// it). Concurrent rotations are serialized by a lock file, path + ".lock",
// created exclusively; if one is left behind by a crash, RotateKey fails
// and names it.
func RotateKey(path string) (*Signer, error) {
	lock := path + ".lock"
	lf, err := os.OpenFile(lock, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("ledger: another key rotation holds %s (remove it if none is running)", lock)
		}
		return nil, fmt.Errorf("ledger: locking key file: %w", err)
	}
	lf.Close()
	defer os.Remove(lock)

	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ledger: reading key: %w", err)
	}
	s, err := loadKeys(path, b, "")
	if err != nil {
		return nil, err
	}
	skey, k, err := generateKey(s.newest().name)
	if err != nil {
		return nil, err
	}
	text := string(b)
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	tmp, err := writeTemp(path, text+skey+"\n")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("ledger: installing key: %w", err)
	}
	syncDir(filepath.Dir(path))
	return &Signer{keys: append(s.keys, k)}, nil
}

// generateKey returns a new Ed25519 note private key called name.
func generateKey(name string) (string, *privKey, error) {
	skey, _, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return "", nil, fmt.Errorf("ledger: generating key: %w", err)
	}
	k, err := parsePrivKey(skey)
	if err != nil {
		// note.GenerateKey does not validate the name; note.NewSigner does.
		return "", nil, fmt.Errorf("ledger: invalid key name %q: %w", name, err)
	}
	return skey, k, nil
}

// writeTemp writes text to a new temporary file (mode 0600) beside path,
// creating path's directory with mode 0700 when missing, syncs it and
// returns its name.
func writeTemp(path, text string) (string, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("ledger: creating key directory: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return "", fmt.Errorf("ledger: creating key: %w", err)
	}
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.WriteString(text)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("ledger: writing key: %w", err)
	}
	return f.Name(), nil
}

// syncDir makes a new directory entry durable, best effort.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// loadKeys parses the contents of a key file. Errors never quote a key.
func loadKeys(path string, b []byte, name string) (*Signer, error) {
	s := &Signer{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, err := parsePrivKey(line)
		if err != nil {
			return nil, fmt.Errorf("ledger: key file %s line %d: %w", path, i+1, err)
		}
		if name != "" && k.name != name {
			return nil, fmt.Errorf("ledger: key file %s line %d holds a key named %q, want %q", path, i+1, k.name, name)
		}
		s.keys = append(s.keys, k)
	}
	if len(s.keys) == 0 {
		return nil, fmt.Errorf("ledger: key file %s holds no key", path)
	}
	return s, nil
}

// parsePrivKey parses note skey text, deriving the public key.
func parsePrivKey(skey string) (*privKey, error) {
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
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != algEd25519 {
		return nil, errors.New("not an Ed25519 note private key")
	}
	priv := ed25519.NewKeyFromSeed(raw[1:])
	pk, err := newPubKey(ns.Name(), priv.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	if pk.hash != ns.KeyHash() {
		return nil, errors.New("public key does not match the private key")
	}
	return &privKey{pubKey: pk, priv: priv}, nil
}

// newest returns the key that signs.
func (s *Signer) newest() *privKey { return s.keys[len(s.keys)-1] }

// Sign returns the signed note text of the checkpoint: the body of c.Text,
// a blank line and one "— <name> <signature>" line by the newest key. The
// name is c.Origin when that is a valid note key name (it is for every
// Origin), else the key's own name.
func (s *Signer) Sign(c Checkpoint) (string, error) {
	if err := c.validate(); err != nil {
		return "", err
	}
	k := s.newest()
	ns, err := k.signerFor(c.Origin)
	if err != nil {
		return "", fmt.Errorf("ledger: signing checkpoint: %w", err)
	}
	msg, err := note.Sign(&note.Note{Text: string(c.Text())}, ns)
	if err != nil {
		return "", fmt.Errorf("ledger: signing checkpoint: %w", err)
	}
	return string(msg), nil
}

// signerFor returns a note signer of k named origin, or named as in the
// key file when origin cannot be a key name.
func (k *privKey) signerFor(origin string) (note.Signer, error) {
	pk := k.pubKey
	if validKeyName(origin) && origin != k.name {
		var err error
		if pk, err = newPubKey(origin, k.pub); err != nil {
			return nil, err
		}
	}
	return edSigner{name: pk.name, hash: pk.hash, priv: k.priv}, nil
}

// edSigner is a note.Signer of an Ed25519 key under any name; note.NewSigner
// takes only skey text, whose name is fixed.
type edSigner struct {
	name string
	hash uint32
	priv ed25519.PrivateKey
}

func (s edSigner) Name() string                    { return s.name }
func (s edSigner) KeyHash() uint32                 { return s.hash }
func (s edSigner) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.priv, msg), nil }

// PublicKey returns the note verifier key of the newest key under its own
// name, "<name>+<hash>+<key>". It is what auditors pin; OpenCheckpoint,
// VerifyReceipt and NewVerifier take it (or the whole PublicKeyRing).
func (s *Signer) PublicKey() string { return s.newest().vkey }

// PublicKeyFor returns the note verifier key of the newest key under the
// name it signs checkpoints of origin with (see Sign): the key a standard
// verifier such as transparency-dev/formats' log.ParseCheckpoint checks the
// signature line against.
func (s *Signer) PublicKeyFor(origin string) string {
	ns, err := s.newest().signerFor(origin)
	if err != nil || ns.Name() == s.newest().name {
		return s.newest().vkey
	}
	k, err := newPubKey(ns.Name(), s.newest().pub)
	if err != nil {
		return s.newest().vkey
	}
	return k.vkey
}

// PublicKeyRing returns the verifier keys of every key of the ring, oldest
// first, one per line: the key ring text that OpenCheckpoint, VerifyReceipt,
// NewVerifier and VerifyLog take.
func (s *Signer) PublicKeyRing() string {
	vkeys := make([]string, len(s.keys))
	for i, k := range s.keys {
		vkeys[i] = k.vkey
	}
	return strings.Join(vkeys, "\n")
}

// Ring returns the public half of the key ring.
func (s *Signer) Ring() *Ring {
	r := &Ring{keys: make([]pubKey, len(s.keys))}
	for i, k := range s.keys {
		r.keys[i] = k.pubKey
	}
	return r
}

// KeyID returns a short, stable identifier of the newest key under its own
// name: the name and the 8-hex-digit note key hash, such as
// "consentd+1a2b3c4d".
func (s *Signer) KeyID() string { return s.newest().id() }

// KeyIDs returns the KeyID of every key of the ring, oldest first; the
// last one signs.
func (s *Signer) KeyIDs() []string { return s.Ring().KeyIDs() }

func keyID(name string, hash uint32) string { return fmt.Sprintf("%s+%08x", name, hash) }
