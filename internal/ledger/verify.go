package ledger

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"hash"
	"slices"
	"strings"

	"github.com/consentd/consentd"
	"golang.org/x/mod/sumdb/tlog"
)

// Entry is one stored log entry as the storage layer hands it to a Verifier:
// its sequence number, its exact leaf data, and the leaf hash stored with it.
// Data is empty when an old entry's leaf bytes were erased: the stored hash
// then stands for them, and the checkpoints still check it.
type Entry struct {
	Seq      int64
	Data     []byte
	LeafHash tlog.Hash
}

// Report is the outcome of verifying a whole log with a Verifier.
type Report struct {
	Entries     int64    `json:"entries"`             // entries fed to the Verifier
	Root        string   `json:"root"`                // base64 of the root recomputed from the entries' data
	KeyIDs      []string `json:"key_ids"`             // the keys that signed the valid checkpoints, by checkpoint size, each once
	Checkpoints int      `json:"checkpoints"`         // how many signed checkpoints were compared with the log
	OK          bool     `json:"ok"`                  // no problem found
	FirstBad    int64    `json:"first_bad,omitempty"` // seq of the first bad entry (0 = none, or not attributable to an entry)
	BadPair     []int64  `json:"bad_pair,omitempty"`  // sizes of the first two consecutive checkpoints that no consistency proof connects
	Problem     string   `json:"problem,omitempty"`   // human-readable, names the seq or the checkpoint sizes

	// State is the replay of the log compared with the stored rows (set by
	// Verify, not by VerifyLog).
	State *StateReport `json:"state,omitempty" doc:"the log replayed and compared with the stored consents and suppressions, the rows decisions are warmed from"`
}

// Verifier recomputes a workspace's Merkle tree from its entries, one entry
// at a time, and checks it against the workspace's signed checkpoints.
//
// It holds only the O(log n) hashes of the perfect subtrees of the RFC 6962
// decomposition of the tree so far (one per set bit of the size), never the
// leaves, so a log of any length is verified in constant memory (plus the
// parsed checkpoints). Whenever the running size equals a checkpoint's size,
// the root is folded from those hashes and compared with the signed root.
//
// The Verifier reports the first problem in log order and then stops
// checking, though it keeps counting entries and hashing them into Root.
// A checkpoint whose root the recomputed tree does not have is such a
// problem (an entry before it was altered) unless a later checkpoint does
// match the tree: the entries up to that one are then as signed, and the
// checkpoint that did not match was signed over a root the log never had, a
// fork. Problems with the checkpoints themselves (a fork, a bad signature,
// another workspace's origin, two different roots signed at one size, two
// checkpoints that CheckConsistency cannot connect) have no place in the
// log order: they make the report fail, but are named in Problem only after
// an entry problem, if there is one.
//
// A Verifier is not safe for concurrent use.
type Verifier struct {
	ringIDs []string       // the ring's key ids, for messages
	cps     []checkedPoint // valid checkpoints, sorted by size, sizes unique
	next    int            // cps[next] is the next checkpoint to compare
	n       int64          // entries fed so far = current tree size

	// edge is the tree of size n as it grows: its root, and the full
	// tiles it completes, which CheckTiles compares with the stored ones.
	edge Edge

	// tiles, when set (CheckTiles), reads a stored full tile; nil data
	// means none is stored.
	tiles       func(level int, index int64) ([]byte, error)
	tileErr     error  // reading a stored tile failed
	tileProblem string // the first stored tile that does not match the entries

	checked     int   // checkpoints compared
	lastGood    int64 // size of the last checkpoint that matched
	mismatch    int64 // size of the first checkpoint that did not match since lastGood (0: none; a mismatch at size 0 is lastGood 0 and stopped)
	stopped     bool  // an entry problem has been found
	firstBad    int64
	problem     string
	forkProblem string // a checkpoint signed over a root the log never had
	pairProblem string // two consecutive checkpoints no consistency proof connects
	badPair     []int64
	cpProblem   string // first problem with the checkpoints' signatures, origins or sizes

	h   hash.Hash // reused leaf hasher
	buf tlog.Hash
}

// checkedPoint is a checkpoint whose signature verified, and its signer.
type checkedPoint struct {
	Checkpoint
	keyID string
}

// NewVerifier returns a Verifier for the log with the given origin (see
// Origin) whose checkpoints are signed by a key of the ring publicKey (the
// text form of a Ring: one note verifier key, or several). A checkpoint
// verifies when a key of the ring signed it under the origin or under the
// key's own name. signedCheckpoints are the signed note texts of the log's
// checkpoints, in any order. A checkpoint that does not verify, or whose
// origin is not origin, is not an error here: it is a problem reported by
// Report. NewVerifier fails only on a bad origin or public key.
func NewVerifier(origin, publicKey string, signedCheckpoints []string) (*Verifier, error) {
	if err := checkOrigin(origin); err != nil {
		return nil, fmt.Errorf("ledger: bad origin: %w", err)
	}
	ring, err := ParseRing(publicKey)
	if err != nil {
		return nil, err
	}
	v := &Verifier{ringIDs: ring.KeyIDs(), h: sha256.New()}
	o := ring.opener(origin)

	var bad int
	for i, signed := range signedCheckpoints {
		cp, by, err := o.open(signed)
		if err != nil {
			// Signed by the ring for another log (under that log's origin)?
			if other, _, err2 := ring.Open(signed); err2 == nil && other.Origin != origin {
				cp, err = other, nil
			}
		}
		switch {
		case err != nil:
			bad++
			if v.cpProblem == "" {
				v.cpProblem = fmt.Sprintf("checkpoint %d of %d%s is not validly signed by %s: %s",
					i+1, len(signedCheckpoints), claimedSize(signed), strings.Join(v.ringIDs, " or "), strings.TrimPrefix(err.Error(), "ledger: "))
			}
		case cp.Origin != origin:
			bad++
			if v.cpProblem == "" {
				v.cpProblem = fmt.Sprintf("checkpoint %d of %d (size %d) is for log %q, not %q",
					i+1, len(signedCheckpoints), cp.Size, cp.Origin, origin)
			}
		default:
			v.cps = append(v.cps, checkedPoint{cp, by.KeyID})
		}
	}
	switch {
	case bad == 2:
		v.cpProblem += " (and 1 more bad checkpoint)"
	case bad > 2:
		v.cpProblem += fmt.Sprintf(" (and %d more bad checkpoints)", bad-1)
	}

	slices.SortFunc(v.cps, func(a, b checkedPoint) int {
		if a.Size != b.Size {
			return cmpInt64(a.Size, b.Size)
		}
		return bytes.Compare(a.Root[:], b.Root[:])
	})
	// Drop duplicates; drop and report sizes with conflicting roots, since
	// the log cannot match both and we cannot tell which one is right.
	out := v.cps[:0]
	for i := 0; i < len(v.cps); {
		j := i + 1
		conflict := false
		for j < len(v.cps) && v.cps[j].Size == v.cps[i].Size {
			if v.cps[j].Root != v.cps[i].Root {
				conflict = true
			}
			j++
		}
		if conflict {
			if v.cpProblem == "" {
				v.cpProblem = fmt.Sprintf("checkpoints with different roots were signed at size %d: the log was forked or the key misused", v.cps[i].Size)
			}
		} else {
			out = append(out, v.cps[i])
		}
		i = j
	}
	v.cps = out

	v.checkCheckpoint() // a checkpoint at size 0
	return v, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// claimedSize returns " (claiming size N)" for a checkpoint whose signature
// failed, if its unverified body parses, for a more useful message.
func claimedSize(signed string) string {
	i := bytes.LastIndex([]byte(signed), []byte("\n\n"))
	if i < 0 {
		return ""
	}
	cp, err := ParseCheckpoint([]byte(signed[:i+1]))
	if err != nil {
		return ""
	}
	return fmt.Sprintf(" (claiming size %d)", cp.Size)
}

// Add feeds the next entry. Entries must come in seq order, starting at 1.
// Add does not retain e.Data.
func (v *Verifier) Add(e Entry) {
	lh := e.LeafHash
	if len(e.Data) > 0 {
		lh = v.leafHash(e.Data)
	}

	if !v.stopped {
		want := v.n + 1
		switch {
		case e.Seq > want+1:
			v.fail(want, fmt.Sprintf("entries %d..%d are missing", want, e.Seq-1))
		case e.Seq == want+1:
			v.fail(want, fmt.Sprintf("entry %d is missing", want))
		case e.Seq < 1:
			v.fail(want, fmt.Sprintf("entry %d has an invalid seq %d", want, e.Seq))
		case e.Seq == want-1:
			v.fail(e.Seq, fmt.Sprintf("entry %d is repeated", e.Seq))
		case e.Seq < want:
			v.fail(e.Seq, fmt.Sprintf("entry %d is out of order (it follows entry %d)", e.Seq, want-1))
		case lh != e.LeafHash:
			v.fail(e.Seq, fmt.Sprintf("entry %d was altered: its data does not match its stored leaf hash", e.Seq))
		case len(e.Data) > 0:
			if n, ok := consentd.LeafSeq(e.Data); ok && n != e.Seq {
				v.fail(e.Seq, fmt.Sprintf("entry %d was moved: its data says it is entry %d", e.Seq, n))
			}
		}
	}

	for _, t := range v.edge.Append(lh) {
		v.checkTile(t)
	}
	v.n++

	v.checkCheckpoint()
}

// leafPrefix is the RFC 6962 domain separation byte of leaf hashes.
var leafPrefix = []byte{0x00}

// leafHash is LeafHash without allocating.
func (v *Verifier) leafHash(data []byte) tlog.Hash {
	v.h.Reset()
	v.h.Write(leafPrefix)
	v.h.Write(data)
	v.h.Sum(v.buf[:0])
	return v.buf
}

// checkCheckpoint compares the root with the checkpoint signed at the
// current size, if there is one.
func (v *Verifier) checkCheckpoint() {
	if v.stopped || v.next >= len(v.cps) || v.cps[v.next].Size != v.n {
		return
	}
	cp := v.cps[v.next]
	v.next++
	v.checked++
	if v.root() != cp.Root {
		if cp.Size == 0 {
			v.fail(1, "tree at size 0 does not match the checkpoint signed at size 0")
		} else if v.mismatch == 0 {
			v.mismatch = cp.Size
		}
		return
	}
	if v.mismatch != 0 && v.forkProblem == "" {
		// The tree has this checkpoint's root, so the entries up to here are
		// as this checkpoint says: the earlier one was signed over another
		// tree. Which of the two the log should have been, the log cannot
		// tell.
		v.forkProblem = fmt.Sprintf(
			"the checkpoint signed at size %d does not match the log, but the later one at size %d does: the key signed two forked trees, "+
				"a checkpoint over a tree the log never had or entries in (%d, %d] rewritten before the later checkpoint was signed",
			v.mismatch, cp.Size, v.lastGood, v.mismatch)
	}
	v.mismatch = 0
	v.lastGood = cp.Size
}

// mismatchProblem describes a checkpoint the tree did not match and that no
// later checkpoint explains: an entry after the last matching one was
// altered.
func (v *Verifier) mismatchProblem() (int64, string) {
	return v.lastGood + 1, fmt.Sprintf(
		"tree at size %d does not match the checkpoint signed at size %d; an entry in (%d, %d] was altered",
		v.mismatch, v.mismatch, v.lastGood, v.mismatch)
}

// fail records the first entry problem and stops checking. A checkpoint
// mismatch found before it comes first in log order, so it is reported
// instead.
func (v *Verifier) fail(seq int64, problem string) {
	if v.mismatch != 0 {
		seq, problem = v.mismatchProblem()
	}
	v.stopped = true
	v.firstBad = seq
	v.problem = problem
}

// CheckConsistency checks each valid checkpoint against the next one (by
// size, up to the entries added so far) with an RFC 6962 consistency proof
// computed from r, the log's stored tree hashes: tlog.ProveTree, then
// tlog.CheckTree against the two signed roots. The first pair that does not
// hold is reported (Report.BadPair); a pair fails when the two checkpoints
// were signed over forked trees, or when the stored tree is not the one
// they were signed over. Call it once, after the last Add.
func (v *Verifier) CheckConsistency(r tlog.HashReader) {
	for i := 0; i+1 < len(v.cps) && v.pairProblem == ""; i++ {
		a, b := v.cps[i], v.cps[i+1]
		if b.Size > v.n {
			return // beyond the end of the log: Report names the cut
		}
		if a.Size == 0 {
			continue // the empty tree is a prefix of every tree; its root was compared
		}
		why := ""
		proof, err := tlog.ProveTree(b.Size, a.Size, r)
		if err == nil {
			err = tlog.CheckTree(proof, b.Size, b.Root, a.Size, a.Root)
		}
		if err != nil {
			why = err.Error()
			for _, c := range []checkedPoint{a, b} {
				if h, err := tlog.TreeHash(c.Size, r); err == nil && h != c.Root {
					why = fmt.Sprintf("the stored tree's root at size %d is not the signed one", c.Size)
					break
				}
			}
			v.badPair = []int64{a.Size, b.Size}
			v.pairProblem = fmt.Sprintf("the checkpoints signed at sizes %d and %d are not consistent: no consistency proof from the stored tree connects them: %s", a.Size, b.Size, why)
		}
	}
}

// root returns the root of the tree of size v.n.
func (v *Verifier) root() tlog.Hash { return v.edge.Root() }

// CheckTiles makes the Verifier compare every full tile the entries
// complete with the stored one that read returns (nil: not stored), so
// that a stored tile that proofs would be served from, altered or lost,
// is reported even though the entries themselves are whole.
func (v *Verifier) CheckTiles(read func(level int, index int64) ([]byte, error)) { v.tiles = read }

// checkTile compares the tile t, made from the entries, with the stored one.
func (v *Verifier) checkTile(t Tile) {
	if v.tiles == nil || v.tileErr != nil || v.tileProblem != "" {
		return
	}
	stored, err := v.tiles(t.Level, t.Index)
	if err != nil {
		v.tileErr = fmt.Errorf("ledger: reading tile %d/%d: %w", t.Level, t.Index, err)
		return
	}
	first := t.Index<<(TileHeight*(t.Level+1)) + 1
	last := (t.Index + 1) << (TileHeight * (t.Level + 1))
	switch {
	case stored == nil:
		v.tileProblem = fmt.Sprintf("the stored tile %d/%d of entries %d..%d is missing: proofs would be made from the entries instead", t.Level, t.Index, first, last)
	case !bytes.Equal(stored, t.Hashes):
		v.tileProblem = fmt.Sprintf("the stored tile %d/%d of entries %d..%d does not match the entries: proofs served from it would not verify", t.Level, t.Index, first, last)
	}
}

// emptyRoot is the RFC 6962 root of the empty tree, SHA-256 of nothing.
var emptyRoot = tlog.Hash(sha256.Sum256(nil))

// Report returns the verdict on the entries fed so far. If no entry problem
// was found but a checkpoint was signed at a size beyond the last entry,
// entries were removed from the end of the log and that is the problem.
// Report does not change the Verifier; more entries may be added after it.
func (v *Verifier) Report() Report {
	r := Report{
		Entries:     v.n,
		Root:        v.root().String(),
		KeyIDs:      []string{},
		Checkpoints: v.checked,
		FirstBad:    v.firstBad,
		BadPair:     v.badPair,
		Problem:     v.problem,
	}
	for _, cp := range v.cps {
		if !slices.Contains(r.KeyIDs, cp.keyID) {
			r.KeyIDs = append(r.KeyIDs, cp.keyID)
		}
	}
	switch {
	case v.stopped:
	case v.mismatch != 0:
		r.FirstBad, r.Problem = v.mismatchProblem()
	case v.next < len(v.cps):
		// Every remaining checkpoint is beyond the end of the log.
		last := v.cps[len(v.cps)-1].Size
		r.Checkpoints += len(v.cps) - v.next
		r.FirstBad = v.n + 1
		removed := fmt.Sprintf("entries %d..%d were removed", v.n+1, last)
		if last == v.n+1 {
			removed = fmt.Sprintf("entry %d was removed", last)
		}
		r.Problem = fmt.Sprintf("the log ends at %d but a checkpoint was signed at size %d: %s", v.n, last, removed)
	}
	var also []string
	for _, p := range []string{v.tileProblem, v.pairProblem, v.forkProblem, v.cpProblem} {
		switch {
		case p == "":
		case r.Problem == "":
			r.Problem = p
		default:
			also = append(also, p)
		}
	}
	if len(also) > 0 {
		r.Problem += " (also: " + strings.Join(also, "; ") + ")"
	}
	r.OK = r.Problem == ""
	return r
}
