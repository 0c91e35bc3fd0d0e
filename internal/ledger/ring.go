package ledger

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// algEd25519 is the note signature algorithm byte of Ed25519 keys.
const algEd25519 = 1

// pubKey is the public half of an Ed25519 checkpoint key under one note key
// name.
type pubKey struct {
	name string
	hash uint32 // note key hash of name and pub
	pub  ed25519.PublicKey
	vkey string // "<name>+<hash>+<base64(alg || pub)>"
	v    note.Verifier
}

// newPubKey returns the key pub under the note key name name.
func newPubKey(name string, pub ed25519.PublicKey) (pubKey, error) {
	vkey, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		return pubKey{}, err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return pubKey{}, err
	}
	return pubKey{name: name, hash: v.KeyHash(), pub: pub, vkey: vkey, v: v}, nil
}

// parsePubKey parses a note verifier key of an Ed25519 key.
func parsePubKey(vkey string) (pubKey, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return pubKey{}, err
	}
	_, b64, _ := strings.Cut(vkey[len(v.Name())+1:], "+")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != algEd25519 {
		return pubKey{}, errors.New("not an Ed25519 note verifier key")
	}
	return pubKey{name: v.Name(), hash: v.KeyHash(), pub: ed25519.PublicKey(raw[1:]), vkey: vkey, v: v}, nil
}

func (k pubKey) id() string { return keyID(k.name, k.hash) }

// validKeyName reports whether name can be a note key name: non-empty UTF-8
// without spaces or plus signs.
func validKeyName(name string) bool {
	return name != "" && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// Ring is the public half of a checkpoint key ring: the keys a checkpoint
// may be signed by. A checkpoint verifies when a key of the ring signed it
// under the key's own name or under the checkpoint's origin: Signer signs
// under the origin, and consentd signed under the key file's name before
// it did.
//
// Its text form, which OpenCheckpoint, NewVerifier, VerifyLog and
// VerifyReceipt take, is one or more note verifier keys separated by white
// space (Signer.PublicKeyRing writes one per line); a single key is a ring
// of one.
type Ring struct {
	keys []pubKey
}

// ParseRing parses the text form of a key ring.
func ParseRing(text string) (*Ring, error) {
	r := &Ring{}
	for _, vkey := range strings.Fields(text) {
		k, err := parsePubKey(vkey)
		if err != nil {
			return nil, fmt.Errorf("ledger: bad public key: %w", err)
		}
		r.keys = append(r.keys, k)
	}
	if len(r.keys) == 0 {
		return nil, errors.New("ledger: bad public key: no key given")
	}
	return r, nil
}

// KeyIDs returns the ids of the ring's keys under their own names, in
// order.
func (r *Ring) KeyIDs() []string {
	ids := make([]string, len(r.keys))
	for i, k := range r.keys {
		ids[i] = k.id()
	}
	return ids
}

// keysFor returns the keys that may sign a checkpoint of origin: every key
// under its own name, and under origin when that is another valid name.
// Duplicates are dropped, since note.VerifierList refuses them.
func (r *Ring) keysFor(origin string) []pubKey {
	type nameHash struct {
		name string
		hash uint32
	}
	seen := map[nameHash]bool{}
	var out []pubKey
	add := func(k pubKey) {
		if !seen[nameHash{k.name, k.hash}] {
			seen[nameHash{k.name, k.hash}] = true
			out = append(out, k)
		}
	}
	for _, k := range r.keys {
		add(k)
		if validKeyName(origin) && origin != k.name {
			if ok, err := newPubKey(origin, k.pub); err == nil {
				add(ok)
			}
		}
	}
	return out
}

// opener checks the signatures of one origin's checkpoints.
type opener struct {
	keys []pubKey
	vs   note.Verifiers
}

func (r *Ring) opener(origin string) *opener {
	o := &opener{keys: r.keysFor(origin)}
	vs := make([]note.Verifier, len(o.keys))
	for i, k := range o.keys {
		vs[i] = k.v
	}
	o.vs = note.VerifierList(vs...)
	return o
}

// SignedBy names the key that signed a checkpoint.
type SignedBy struct {
	KeyID     string // "<name>+<8 hex digits>", the name as the signature line has it
	PublicKey string // the note verifier key under that name
}

// open verifies that signed is a note signed by a key of the ring and
// returns the checkpoint in it and the key that signed it (the first one,
// if several did). Signatures by other keys (for example witness
// cosignatures) are allowed and ignored.
func (o *opener) open(signed string) (Checkpoint, SignedBy, error) {
	n, err := note.Open([]byte(signed), o.vs)
	if err != nil {
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) {
			return Checkpoint{}, SignedBy{}, errors.New("ledger: checkpoint is not signed by the expected key")
		}
		return Checkpoint{}, SignedBy{}, fmt.Errorf("ledger: checkpoint signature: %w", err)
	}
	cp, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, SignedBy{}, err
	}
	var by SignedBy
	for _, k := range o.keys {
		if k.name == n.Sigs[0].Name && k.hash == n.Sigs[0].Hash {
			by = SignedBy{KeyID: k.id(), PublicKey: k.vkey}
		}
	}
	return cp, by, nil
}

// Open verifies that signed is a checkpoint signed by a key of the ring,
// under the key's name or under the checkpoint's origin, and returns the
// checkpoint and the key that signed it. It does not check the origin
// against a workspace; compare it with Origin(workspaceID) where it
// matters.
func (r *Ring) Open(signed string) (Checkpoint, SignedBy, error) {
	// The origin of the unverified text only chooses the names under which
	// the ring's keys are tried; the signature must still verify.
	origin, _, _ := strings.Cut(signed, "\n")
	return r.opener(origin).open(signed)
}

// OpenCheckpoint verifies that signed is a note signed by a key of the ring
// publicKey (the text form of a Ring: one verifier key, or several) and
// returns the checkpoint in it. Signatures by other keys (for example
// witness cosignatures) are allowed and ignored. OpenCheckpoint does not
// check the origin; compare it with Origin(workspaceID) where it matters.
func OpenCheckpoint(signed string, publicKey string) (Checkpoint, error) {
	r, err := ParseRing(publicKey)
	if err != nil {
		return Checkpoint{}, err
	}
	cp, _, err := r.Open(signed)
	return cp, err
}
