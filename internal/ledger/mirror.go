package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Mirror is a Store that also keeps each workspace's newest signed
// checkpoint as a file in Dir, outside the database. Someone who can write
// the database could delete the tail of a log together with the checkpoints
// that cover it; the file still names the size the log had, so verification
// reports the cut.
type Mirror struct {
	Store
	Dir string

	mu sync.Mutex // orders file updates: the newest checkpoint wins
}

func (m *Mirror) path(wsID string) string { return filepath.Join(m.Dir, wsID+".checkpoint") }

// AddCheckpoint stores the checkpoint in the database and, when it is the
// largest so far, in the workspace's file (written atomically).
func (m *Mirror) AddCheckpoint(ctx context.Context, wsID string, n int64, signed string) error {
	if err := m.Store.AddCheckpoint(ctx, wsID, n, signed); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, err := os.ReadFile(m.path(wsID)); err == nil {
		if cp, err := ParseCheckpoint(checkpointBody(string(old))); err == nil && cp.Size >= n {
			return nil
		}
	}
	if err := os.MkdirAll(m.Dir, 0o700); err != nil {
		return fmt.Errorf("checkpoint folder: %w", err)
	}
	tmp, err := os.CreateTemp(m.Dir, ".checkpoint-*")
	if err != nil {
		return fmt.Errorf("checkpoint file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(signed); err != nil {
		tmp.Close()
		return fmt.Errorf("checkpoint file: %w", err)
	}
	if err := errors.Join(tmp.Sync(), tmp.Close()); err != nil {
		return fmt.Errorf("checkpoint file: %w", err)
	}
	if err := os.Rename(tmp.Name(), m.path(wsID)); err != nil {
		return fmt.Errorf("checkpoint file: %w", err)
	}
	syncDir(m.Dir)
	return nil
}

// Checkpoints returns the database's checkpoints and the file's.
func (m *Mirror) Checkpoints(ctx context.Context, wsID string) ([]string, error) {
	cps, err := m.Store.Checkpoints(ctx, wsID)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(m.path(wsID))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return cps, nil
	case err != nil:
		return nil, fmt.Errorf("checkpoint file: %w", err)
	}
	return append(cps, string(b)), nil
}

// checkpointBody returns the text of a signed note before its signatures.
func checkpointBody(signed string) []byte {
	for i := 0; i+1 < len(signed); i++ {
		if signed[i] == '\n' && signed[i+1] == '\n' {
			return []byte(signed[:i+1])
		}
	}
	return []byte(signed)
}
