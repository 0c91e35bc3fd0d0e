package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/consentd/consentd"
	"golang.org/x/mod/sumdb/tlog"
)

// StoredCheckpoint is a stored checkpoint as a Ring opened it.
type StoredCheckpoint struct {
	Checkpoint           // what the note says (parsed unverified when Err is set; zero if even that fails)
	Signed     string    // the signed note text as stored
	CreatedAt  time.Time // when it was stored
	SignedBy   SignedBy  // the key that signed it; zero when Err is set
	Err        error     // why it does not verify under the ring, or nil
}

// ListCheckpoints returns the workspace's stored checkpoints whose sizes are
// in [from, to], by size, at most limit, each opened with ring. A
// checkpoint that does not verify, or whose origin is not the workspace's,
// is returned with Err set, not dropped: the caller shows it for what it
// is.
func ListCheckpoints(ctx context.Context, st Store, ring *Ring, wsID string, from, to int64, limit int) ([]StoredCheckpoint, error) {
	recs, err := st.CheckpointsBetween(ctx, wsID, from, to, limit)
	if err != nil {
		return nil, err
	}
	o := ring.opener(Origin(wsID))
	out := make([]StoredCheckpoint, len(recs))
	for i, rec := range recs {
		sc := StoredCheckpoint{Signed: rec.Signed, CreatedAt: rec.CreatedAt}
		sc.Checkpoint, sc.SignedBy, sc.Err = o.open(rec.Signed)
		switch {
		case sc.Err != nil:
			sc.Checkpoint, _ = ParseCheckpoint(checkpointBody(rec.Signed))
		case sc.Origin != Origin(wsID):
			sc.Err = fmt.Errorf("ledger: checkpoint is for log %q, not %q", sc.Origin, Origin(wsID))
			sc.SignedBy = SignedBy{}
		case sc.Size != rec.Size:
			sc.Err = fmt.Errorf("ledger: checkpoint says size %d but is stored as size %d", sc.Size, rec.Size)
			sc.SignedBy = SignedBy{}
		}
		out[i] = sc
	}
	return out, nil
}

// ConsistencyProof is an RFC 6962 consistency proof between two sizes of a
// log's tree: that the tree of size Old is a prefix of the tree of size New.
type ConsistencyProof struct {
	Old, New         int64
	OldRoot, NewRoot tlog.Hash // the stored tree's roots at those sizes
	Proof            tlog.TreeProof
}

// ProveConsistency proves from the stored tree that the workspace's tree of
// size old is a prefix of its tree of size new, and checks the proof with
// tlog.CheckTree against the stored tree's roots before returning it. It
// returns EINVALID when old < 1 or old > new, and EBEYONDLOG when new is
// larger than the log. A proof of a size against itself is empty.
func ProveConsistency(ctx context.Context, st Store, wsID string, old, new int64) (*ConsistencyProof, error) {
	switch {
	case old < 1:
		return nil, consentd.FieldErrorf(consentd.EINVALID, "old", "old must be a tree size of at least 1")
	case old > new:
		return nil, consentd.FieldErrorf(consentd.EINVALID, "old", "old (%d) must not be larger than new (%d)", old, new)
	}
	size, err := st.LogSize(ctx, wsID)
	if err != nil {
		return nil, err
	}
	if new > size {
		return nil, consentd.FieldErrorf(consentd.EBEYONDLOG, "new", "the log has %d entries, fewer than new (%d)", size, new)
	}
	r := st.HashReader(ctx, wsID)
	p := &ConsistencyProof{Old: old, New: new}
	if p.OldRoot, err = tlog.TreeHash(old, r); err != nil {
		return nil, fmt.Errorf("tree hash at %d: %w", old, err)
	}
	if p.NewRoot, err = tlog.TreeHash(new, r); err != nil {
		return nil, fmt.Errorf("tree hash at %d: %w", new, err)
	}
	if p.Proof, err = tlog.ProveTree(new, old, r); err != nil {
		return nil, fmt.Errorf("proving tree %d in tree %d: %w", old, new, err)
	}
	if err := tlog.CheckTree(p.Proof, new, p.NewRoot, old, p.OldRoot); err != nil {
		return nil, fmt.Errorf("the consistency proof of tree %d in tree %d does not check: %w", old, new, err)
	}
	return p, nil
}
