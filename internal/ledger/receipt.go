package ledger

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/consentd/consentd"
	"golang.org/x/mod/sumdb/tlog"
)

// Receipt proves that one entry is in a workspace's log: the entry's exact
// leaf bytes, an RFC 6962 inclusion proof of it in the tree of size TreeSize,
// and the checkpoint signed at that size; with the entry's evidence and the
// opening of the leaf's commitment to it while they are kept. Anyone holding
// the public key can check it offline with VerifyReceipt.
//
// TLogProof and ParseTLogProof convert it to and from the C2SP tlog-proof
// text (https://c2sp.org/tlog-proof), which carries the leaf, the index, the
// proof and the checkpoint, but neither the evidence nor a key.
type Receipt struct {
	Leaf       []byte   `json:"leaf"`                                                                    // the exact leaf data bytes (base64 in JSON)
	Seq        int64    `json:"seq"`                                                                     // 1-based sequence number; tree index Seq-1
	LeafHash   string   `json:"leaf_hash"`                                                               // base64 of LeafHash(Leaf)
	TreeSize   int64    `json:"tree_size"`                                                               // size of the tree the proof is for
	Proof      []string `json:"proof"`                                                                   // base64 hashes of the tlog.RecordProof
	Checkpoint string   `json:"checkpoint"`                                                              // signed note text of the checkpoint at TreeSize
	PublicKey  string   `json:"public_key"`                                                              // note verifier key that signed Checkpoint, under the name it signed with (informational)
	Evidence   []byte   `json:"evidence,omitempty" doc:"the entry's evidence, committed to by the leaf"` // empty once erased
	Opening    []byte   `json:"opening,omitempty" doc:"the opening of the leaf's evidence commitment"`   // empty once erased
}

// maxProofLen bounds the proof length VerifyReceipt accepts; a tree of
// size < 2^63 needs at most 63 hashes.
const maxProofLen = 64

// NewReceipt builds the receipt for the entry seq with leaf data leaf,
// proving it against the checkpoint cp (which must be the contents of
// signedCheckpoint) using the tlog stored hashes in r. publicKey is the
// signer's key ring in text form (Signer.PublicKeyRing); the verifier key
// of the key that signed, under the name it signed with, is embedded in
// the receipt.
//
// NewReceipt checks what it returns: the signature of signedCheckpoint under
// publicKey, that it says cp, and the inclusion proof against cp.Root. It
// therefore fails, instead of handing out a receipt that VerifyReceipt would
// reject, when the stored leaf, the stored hashes and the checkpoint disagree.
func NewReceipt(seq int64, leaf []byte, signedCheckpoint string, cp Checkpoint, r tlog.HashReader, publicKey string) (*Receipt, error) {
	if seq < 1 || seq > cp.Size {
		return nil, fmt.Errorf("ledger: entry %d is not in a tree of size %d", seq, cp.Size)
	}
	ring, err := ParseRing(publicKey)
	if err != nil {
		return nil, err
	}
	opened, by, err := ring.Open(signedCheckpoint)
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
		PublicKey:  by.PublicKey,
	}
	if rc.Leaf == nil {
		rc.Leaf = []byte{}
	}
	for i, h := range proof {
		rc.Proof[i] = h.String()
	}
	return rc, nil
}

// SetEvidence puts the entry's evidence and the opening of the leaf's
// commitment to it into the receipt, after checking them against the leaf.
func (rc *Receipt) SetEvidence(evidence, opening []byte) error {
	if err := consentd.CheckEvidence(rc.Leaf, evidence, opening); err != nil {
		return fmt.Errorf("ledger: the evidence of entry %d: %w", rc.Seq, err)
	}
	rc.Evidence, rc.Opening = bytes.Clone(evidence), bytes.Clone(opening)
	return nil
}

// VerifyReceipt checks a receipt: the checkpoint's signature under a key of
// the ring publicKey (its text form: one note verifier key, or several),
// that the checkpoint parses and is for TreeSize, that LeafHash is the leaf
// hash of Leaf, and the inclusion proof of that hash at index Seq-1 against
// the checkpoint's root. When the receipt has both evidence and an opening,
// it also checks that they are what the leaf commits to
// (consentd.CheckEvidence); a receipt without them proves the entry only.
//
// If publicKey is "", the key embedded in the receipt (rc.PublicKey) is used.
// That only proves the receipt is internally consistent: whoever made the
// receipt also chose that key. For real assurance the caller must pin the
// log's public key, obtained out of band, and pass it here. When publicKey is
// given, rc.PublicKey is ignored. A receipt read from tlog-proof text has no
// embedded key.
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
	if strings.TrimSpace(publicKey) == "" {
		return errors.New("ledger: no public key to check the receipt's checkpoint with")
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
	if len(rc.Evidence) > 0 && len(rc.Opening) > 0 {
		if err := consentd.CheckEvidence(rc.Leaf, rc.Evidence, rc.Opening); err != nil {
			return fmt.Errorf("ledger: the evidence of entry %d: %w", rc.Seq, err)
		}
	}
	return nil
}

// TLogProofHeader is the first line of a C2SP tlog-proof.
const TLogProofHeader = "c2sp.org/tlog-proof@v1"

// TLogProof returns the receipt as C2SP tlog-proof text: the header, an
// extra line with the leaf bytes exactly as hashed (base64), the 0-based
// index Seq-1, the inclusion proof hashes (base64, one per line, from the
// leaf's sibling up), an empty line, and the signed checkpoint verbatim.
// The evidence, the opening and the public key are not part of it.
func (rc *Receipt) TLogProof() []byte {
	var b bytes.Buffer
	b.WriteString(TLogProofHeader + "\n")
	fmt.Fprintf(&b, "extra %s\n", base64.StdEncoding.EncodeToString(rc.Leaf))
	fmt.Fprintf(&b, "index %d\n", rc.Seq-1)
	for _, h := range rc.Proof {
		b.WriteString(h + "\n")
	}
	b.WriteString("\n")
	b.WriteString(rc.Checkpoint)
	return b.Bytes()
}

// maxTLogProof bounds the size of tlog-proof text ParseTLogProof reads.
const maxTLogProof = 1 << 22

// ParseTLogProof parses C2SP tlog-proof text into a Receipt whose leaf is
// the extra data (consentd's proofs always carry it), whose Seq is the
// index plus one, and whose TreeSize is the size the checkpoint claims. It
// checks the syntax only: VerifyReceipt checks the rest. The Receipt has no
// PublicKey, evidence or opening.
func ParseTLogProof(text []byte) (*Receipt, error) {
	if len(text) > maxTLogProof {
		return nil, errors.New("ledger: malformed tlog-proof: too long")
	}
	rest := string(text)
	line := func() (string, bool) {
		l, r, ok := strings.Cut(rest, "\n")
		rest = r
		return l, ok
	}
	if l, _ := line(); l != TLogProofHeader {
		return nil, fmt.Errorf("ledger: malformed tlog-proof: the first line is not %s", TLogProofHeader)
	}
	l, _ := line()
	e, ok := strings.CutPrefix(l, "extra ")
	if !ok {
		return nil, errors.New("ledger: malformed tlog-proof: no extra line with the entry's leaf")
	}
	leaf, err := base64.StdEncoding.DecodeString(e)
	if err != nil {
		return nil, errors.New("ledger: malformed tlog-proof: the extra data is not base64")
	}
	l, _ = line()
	i, ok := strings.CutPrefix(l, "index ")
	index, err := strconv.ParseInt(i, 10, 64)
	if !ok || err != nil || index < 0 || i != strconv.FormatInt(index, 10) || index == math.MaxInt64 {
		return nil, fmt.Errorf("ledger: malformed tlog-proof: bad index line %q", l)
	}
	rc := &Receipt{Leaf: leaf, Seq: index + 1, LeafHash: LeafHash(leaf).String(), Proof: []string{}}
	for {
		l, ok := line()
		if !ok {
			return nil, errors.New("ledger: malformed tlog-proof: no empty line before the checkpoint")
		}
		if l == "" {
			break
		}
		if _, err := tlog.ParseHash(l); err != nil {
			return nil, fmt.Errorf("ledger: malformed tlog-proof: proof hash %d is not a base64 SHA-256 hash", len(rc.Proof)+1)
		}
		if len(rc.Proof) == maxProofLen {
			return nil, fmt.Errorf("ledger: malformed tlog-proof: more than %d proof hashes", maxProofLen)
		}
		rc.Proof = append(rc.Proof, l)
	}
	if rest == "" {
		return nil, errors.New("ledger: malformed tlog-proof: no checkpoint")
	}
	rc.Checkpoint = rest
	cp, err := ParseCheckpoint(checkpointBody(rest))
	if err != nil {
		return nil, fmt.Errorf("ledger: malformed tlog-proof: %w", err)
	}
	rc.TreeSize = cp.Size
	return rc, nil
}
