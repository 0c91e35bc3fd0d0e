package ledger

import (
	"context"
	"fmt"

	"github.com/consentd/consentd"
	"golang.org/x/mod/sumdb/tlog"
)

// Store is what the ledger needs of a backend's log: its size, hashes,
// entries and signed checkpoints.
type Store interface {
	LogSize(ctx context.Context, wsID string) (int64, error)
	HashReader(ctx context.Context, wsID string) tlog.HashReader
	Log(ctx context.Context, wsID string, after int64, limit int) ([]consentd.LogRecord, error)
	AddCheckpoint(ctx context.Context, wsID string, n int64, signed string) error
	LatestCheckpoint(ctx context.Context, wsID string) (signed string, n int64, err error)
	Checkpoints(ctx context.Context, wsID string) ([]string, error)
	CheckpointsBetween(ctx context.Context, wsID string, from, to int64, limit int) ([]consentd.CheckpointRecord, error)
	// FullTile returns the stored full tile at level and index, or nil
	// when there is none.
	FullTile(ctx context.Context, wsID string, level int, index int64) ([]byte, error)
}

// SignCheckpoint signs a checkpoint of the workspace's log at its current
// size and stores it, unless the newest stored checkpoint already has that
// size, in which case that one is returned. It returns ENOTFOUND for an
// empty log.
func SignCheckpoint(ctx context.Context, st Store, s *Signer, wsID string) (string, Checkpoint, error) {
	n, err := st.LogSize(ctx, wsID)
	if err != nil {
		return "", Checkpoint{}, err
	}
	if n == 0 {
		return "", Checkpoint{}, consentd.Errorf(consentd.ENOTFOUND, "the log is empty")
	}
	if signed, size, err := st.LatestCheckpoint(ctx, wsID); err == nil && size == n {
		cp, _, err := s.Ring().Open(signed)
		if err == nil {
			return signed, cp, nil
		}
	}
	root, err := tlog.TreeHash(n, st.HashReader(ctx, wsID))
	if err != nil {
		return "", Checkpoint{}, fmt.Errorf("tree hash at %d: %w", n, err)
	}
	cp := Checkpoint{Origin: Origin(wsID), Size: n, Root: root}
	signed, err := s.Sign(cp)
	if err != nil {
		return "", Checkpoint{}, err
	}
	if err := st.AddCheckpoint(ctx, wsID, n, signed); err != nil {
		return "", Checkpoint{}, err
	}
	return signed, cp, nil
}

// ReceiptFor returns the receipt of the entry seq with leaf data leaf,
// proved against a checkpoint that covers it (signed now when the newest
// one does not), signed by a key of s's ring.
func ReceiptFor(ctx context.Context, st Store, s *Signer, wsID string, seq int64, leaf []byte) (*Receipt, error) {
	signed, size, err := st.LatestCheckpoint(ctx, wsID)
	var cp Checkpoint
	if err == nil && size >= seq {
		cp, _, err = s.Ring().Open(signed)
	}
	if err != nil || size < seq {
		if signed, cp, err = SignCheckpoint(ctx, st, s, wsID); err != nil {
			return nil, err
		}
	}
	return NewReceipt(seq, leaf, signed, cp, st.HashReader(ctx, wsID), s.PublicKeyRing())
}

// VerifyLog recomputes the workspace's whole tree from its entries, checks
// it against every stored checkpoint, streaming, and checks each checkpoint
// against the next with a consistency proof from the stored tree.
// publicKey is the text form of a Ring (Signer.PublicKeyRing).
func VerifyLog(ctx context.Context, st Store, publicKey, wsID string) (Report, error) {
	cps, err := st.Checkpoints(ctx, wsID)
	if err != nil {
		return Report{}, err
	}
	v, err := NewVerifier(Origin(wsID), publicKey, cps)
	if err != nil {
		return Report{}, err
	}
	v.CheckTiles(func(level int, index int64) ([]byte, error) { return st.FullTile(ctx, wsID, level, index) })
	err = EachEntry(ctx, st, wsID, func(rec consentd.LogRecord) error {
		e := Entry{Seq: rec.Seq, Data: rec.Leaf}
		copy(e.LeafHash[:], rec.LeafHash)
		v.Add(e)
		return v.tileErr
	})
	if err != nil {
		return Report{}, err
	}
	v.CheckConsistency(st.HashReader(ctx, wsID))
	return v.Report(), nil
}

// LogReader reads a workspace's log entries after a seq.
type LogReader interface {
	Log(ctx context.Context, wsID string, after int64, limit int) ([]consentd.LogRecord, error)
}

// EachEntry calls fn with every entry of the workspace's log in seq order,
// reading in pages so memory stays flat.
func EachEntry(ctx context.Context, r LogReader, wsID string, fn func(rec consentd.LogRecord) error) error {
	const page = 5000
	var after int64
	for {
		recs, err := r.Log(ctx, wsID, after, page)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if err := fn(rec); err != nil {
				return err
			}
			after = rec.Seq
		}
		if len(recs) < page {
			return nil
		}
	}
}
