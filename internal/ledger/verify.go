package ledger

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"hash"
	"slices"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Entry is one stored log entry as the storage layer hands it to a Verifier:
// its sequence number, its exact leaf data, and the leaf hash stored with it.
type Entry struct {
	Seq      int64
	Data     []byte
	LeafHash tlog.Hash
}

// Report is the outcome of verifying a whole log with a Verifier.
type Report struct {
	Entries     int64  `json:"entries"`             // entries fed to the Verifier
	Root        string `json:"root"`                // base64 of the root recomputed from the entries' data
	KeyID       string `json:"key_id"`              // the key the checkpoints were checked against
	Checkpoints int    `json:"checkpoints"`         // how many signed checkpoints were compared with the log
	OK          bool   `json:"ok"`                  // no problem found
	FirstBad    int64  `json:"first_bad,omitempty"` // seq of the first bad entry (0 = none, or not attributable to an entry)
	Problem     string `json:"problem,omitempty"`   // human-readable, names the seq

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
// Problems with the checkpoints themselves (a bad signature, another
// workspace's origin, two different roots signed at one size) have no place
// in the log order: they make the report fail, but are named in Problem
// only after an entry problem, if there is one.
//
// A Verifier is not safe for concurrent use.
type Verifier struct {
	keyID string
	cps   []Checkpoint // valid checkpoints, sorted by size, sizes unique
	next  int          // cps[next] is the next checkpoint to compare
	n     int64        // entries fed so far = current tree size

	// stack[:depth] are the roots of the perfect subtrees of the tree of
	// size n, largest (leftmost) first; depth is the number of set bits of n.
	stack [64]tlog.Hash
	depth int

	checked   int   // checkpoints compared
	lastGood  int64 // size of the last checkpoint that matched
	stopped   bool  // an entry problem has been found
	firstBad  int64
	problem   string
	cpProblem string // first problem with the checkpoints themselves

	h   hash.Hash // reused leaf hasher
	buf tlog.Hash
}

// NewVerifier returns a Verifier for the log with the given origin (see
// Origin) whose checkpoints are signed by publicKey, a note verifier key.
// signedCheckpoints are the signed note texts of the log's checkpoints, in
// any order. A checkpoint that does not verify under publicKey, or whose
// origin is not origin, is not an error here: it is a problem reported by
// Report. NewVerifier fails only on a bad origin or public key.
func NewVerifier(origin, publicKey string, signedCheckpoints []string) (*Verifier, error) {
	if err := checkOrigin(origin); err != nil {
		return nil, fmt.Errorf("ledger: bad origin: %w", err)
	}
	nv, err := note.NewVerifier(publicKey)
	if err != nil {
		return nil, fmt.Errorf("ledger: bad public key: %w", err)
	}
	v := &Verifier{keyID: keyID(nv.Name(), nv.KeyHash()), h: sha256.New()}
	vs := note.VerifierList(nv)

	var bad int
	for i, signed := range signedCheckpoints {
		cp, err := openCheckpoint(signed, vs)
		switch {
		case err != nil:
			bad++
			if v.cpProblem == "" {
				v.cpProblem = fmt.Sprintf("checkpoint %d of %d%s is not validly signed by %s: %s",
					i+1, len(signedCheckpoints), claimedSize(signed), v.keyID, strings.TrimPrefix(err.Error(), "ledger: "))
			}
		case cp.Origin != origin:
			bad++
			if v.cpProblem == "" {
				v.cpProblem = fmt.Sprintf("checkpoint %d of %d (size %d) is for log %q, not %q",
					i+1, len(signedCheckpoints), cp.Size, cp.Origin, origin)
			}
		default:
			v.cps = append(v.cps, cp)
		}
	}
	switch {
	case bad == 2:
		v.cpProblem += " (and 1 more bad checkpoint)"
	case bad > 2:
		v.cpProblem += fmt.Sprintf(" (and %d more bad checkpoints)", bad-1)
	}

	slices.SortFunc(v.cps, func(a, b Checkpoint) int {
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
	lh := v.leafHash(e.Data)

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
		default:
			if n, ok := dataSeq(e.Data); ok && n != e.Seq {
				v.fail(e.Seq, fmt.Sprintf("entry %d was moved: its data says it is entry %d", e.Seq, n))
			}
		}
	}

	// Push the leaf and merge equal-sized subtrees: one merge per trailing
	// 1 bit of the old size.
	h := lh
	d := v.depth
	for k := v.n; k&1 == 1; k >>= 1 {
		d--
		h = tlog.NodeHash(v.stack[d], h)
	}
	v.stack[d] = h
	v.depth = d + 1
	v.n++

	v.checkCheckpoint()
}

// dataSeq reads the seq a consentd log entry carries in its data, which
// starts {"seq":N,... (the encoding of consentd.LogEntry). It reports false
// for data of another shape.
func dataSeq(data []byte) (int64, bool) {
	const prefix = `{"seq":`
	if len(data) <= len(prefix) || string(data[:len(prefix)]) != prefix {
		return 0, false
	}
	var n int64
	i := len(prefix)
	for ; i < len(data) && data[i] >= '0' && data[i] <= '9' && i < len(prefix)+19; i++ {
		n = n*10 + int64(data[i]-'0')
	}
	if i == len(prefix) || i == len(data) || (data[i] != ',' && data[i] != '}') {
		return 0, false
	}
	return n, true
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
		v.fail(v.lastGood+1, fmt.Sprintf(
			"tree at size %d does not match the checkpoint signed at size %d; an entry in (%d, %d] was altered",
			cp.Size, cp.Size, v.lastGood, cp.Size))
		return
	}
	v.lastGood = cp.Size
}

func (v *Verifier) fail(seq int64, problem string) {
	v.stopped = true
	v.firstBad = seq
	v.problem = problem
}

// root folds the subtree stack right to left into the root of the tree of
// size v.n.
func (v *Verifier) root() tlog.Hash {
	if v.depth == 0 {
		return emptyRoot
	}
	h := v.stack[v.depth-1]
	for i := v.depth - 2; i >= 0; i-- {
		h = tlog.NodeHash(v.stack[i], h)
	}
	return h
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
		KeyID:       v.keyID,
		Checkpoints: v.checked,
		FirstBad:    v.firstBad,
		Problem:     v.problem,
	}
	if !v.stopped && v.next < len(v.cps) {
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
	switch {
	case r.Problem == "":
		r.Problem = v.cpProblem
	case v.cpProblem != "":
		r.Problem += " (also: " + v.cpProblem + ")"
	}
	r.OK = r.Problem == ""
	return r
}
