package ledger

import (
	"bytes"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// Receipt proves that one entry is in a workspace's log: the entry's exact
// leaf bytes, an RFC 6962 inclusion proof of it in the tree of size TreeSize,
// and the checkpoint signed at that size. Anyone holding the public key can
// check it offline with VerifyReceipt.
type Receipt struct {
	Leaf       []byte   `json:"leaf"`       // the exact leaf data bytes (base64 in JSON)
	Seq        int64    `json:"seq"`        // 1-based sequence number; tree index Seq-1
	LeafHash   string   `json:"leaf_hash"`  // base64 of LeafHash(Leaf)
	TreeSize   int64    `json:"tree_size"`  // size of the tree the proof is for
	Proof      []string `json:"proof"`      // base64 hashes of the tlog.RecordProof
	Checkpoint string   `json:"checkpoint"` // signed note text of the checkpoint at TreeSize
	PublicKey  string   `json:"public_key"` // note verifier key that signed Checkpoint (informational)
}

// maxProofLen bounds the proof length VerifyReceipt accepts; a tree of
// size < 2^63 needs at most 63 hashes.
const maxProofLen = 64

// NewReceipt builds the receipt for the entry seq with leaf data leaf,
// proving it against the checkpoint cp (which must be the contents of
// signedCheckpoint) using the tlog stored hashes in r. publicKey is the
// verifier key of the signer; it is embedded in the receipt.
//
// NewReceipt checks what it returns: the signature of signedCheckpoint under
// publicKey, that it says cp, and the inclusion proof against cp.Root. It
// therefore fails, instead of handing out a receipt that VerifyReceipt would
// reject, when the stored leaf, the stored hashes and the checkpoint disagree.
func NewReceipt(seq int64, leaf []byte, signedCheckpoint string, cp Checkpoint, r tlog.HashReader, publicKey string) (*Receipt, error) {
	if seq < 1 || seq > cp.Size {
		return nil, fmt.Errorf("ledger: entry %d is not in a tree of size %d", seq, cp.Size)
	}
	opened, err := OpenCheckpoint(signedCheckpoint, publicKey)
	if err != nil {
		return nil, err
	}
	if opened != cp {
		return nil, errors.New("ledger: the signed checkpoint does not match the checkpoint given")
	}
	proof, err := tlog.ProveRecord(cp.Size, seq-1, r)
	if err != nil {
		return nil, fmt.Errorf("ledger: proving entry %d in tree of size %d: %w", seq, cp.Size, err)
	}
	lh := LeafHash(leaf)
	if err := tlog.CheckRecord(proof, cp.Size, cp.Root, seq-1, lh); err != nil {
		return nil, fmt.Errorf("ledger: entry %d does not verify against the checkpoint at size %d: %w", seq, cp.Size, err)
	}
	rc := &Receipt{
		Leaf:       bytes.Clone(leaf),
		Seq:        seq,
		LeafHash:   lh.String(),
		TreeSize:   cp.Size,
		Proof:      make([]string, len(proof)),
		Checkpoint: signedCheckpoint,
		PublicKey:  publicKey,
	}
	if rc.Leaf == nil {
		rc.Leaf = []byte{}
	}
	for i, h := range proof {
		rc.Proof[i] = h.String()
	}
	return rc, nil
}

// VerifyReceipt checks a receipt: the checkpoint's signature under
// publicKey, that the checkpoint parses and is for TreeSize, that LeafHash
// is the leaf hash of Leaf, and the inclusion proof of that hash at index
// Seq-1 against the checkpoint's root.
//
// If publicKey is "", the key embedded in the receipt (rc.PublicKey) is used.
// That only proves the receipt is internally consistent: whoever made the
// receipt also chose that key. For real assurance the caller must pin the
// log's public key, obtained out of band, and pass it here. When publicKey is
// given, rc.PublicKey is ignored.
//
// VerifyReceipt does not check which workspace the checkpoint is for. Callers
// that care should compare the origin (OpenCheckpoint(rc.Checkpoint, key))
// with Origin(workspaceID), and check the workspace named inside Leaf.
func VerifyReceipt(rc *Receipt, publicKey string) error {
	if rc == nil {
		return errors.New("ledger: no receipt")
	}
	if publicKey == "" {
		publicKey = rc.PublicKey
	}
	cp, err := OpenCheckpoint(rc.Checkpoint, publicKey)
	if err != nil {
		return err
	}
	if rc.TreeSize != cp.Size {
		return fmt.Errorf("ledger: receipt is for tree size %d but its checkpoint is for size %d", rc.TreeSize, cp.Size)
	}
	if rc.Seq < 1 || rc.Seq > cp.Size {
		return fmt.Errorf("ledger: entry %d is not in a tree of size %d", rc.Seq, cp.Size)
	}
	lh := LeafHash(rc.Leaf)
	claimed, err := tlog.ParseHash(rc.LeafHash)
	if err != nil {
		return fmt.Errorf("ledger: receipt leaf hash: %w", err)
	}
	if claimed != lh {
		return fmt.Errorf("ledger: receipt leaf hash does not match the leaf data of entry %d", rc.Seq)
	}
	if len(rc.Proof) > maxProofLen {
		return fmt.Errorf("ledger: receipt proof has %d hashes, more than any tree needs", len(rc.Proof))
	}
	proof := make(tlog.RecordProof, len(rc.Proof))
	for i, s := range rc.Proof {
		if proof[i], err = tlog.ParseHash(s); err != nil {
			return fmt.Errorf("ledger: receipt proof hash %d: %w", i, err)
		}
	}
	if err := tlog.CheckRecord(proof, cp.Size, cp.Root, rc.Seq-1, lh); err != nil {
		return fmt.Errorf("ledger: entry %d is not proven in the tree of size %d: %w", rc.Seq, cp.Size, err)
	}
	return nil
}
