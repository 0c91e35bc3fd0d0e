package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Outbox "sends" by writing each message as an RFC 5322 .eml file into a
// folder (DATA/outbox when no relay is configured), for an operator or a
// test to pick up. Files are written whole (a temporary name, then a
// rename) and readable by the owner only: they hold addresses.
type Outbox struct {
	Dir string
}

// NewOutbox returns an Outbox writing into dir, creating it when missing.
func NewOutbox(dir string) (*Outbox, error) {
	if dir == "" {
		return nil, fmt.Errorf("outbox: no folder")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	return &Outbox{Dir: dir}, nil
}

// String names the outbox folder.
func (o *Outbox) String() string { return "outbox " + o.Dir }

// Send writes m into the folder as <UTC time>-<random>.eml.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.Date.IsZero() {
		m.Date = time.Now()
	}
	b, err := m.Bytes()
	if err != nil {
		return &PermanentError{err}
	}
	r := make([]byte, 6)
	rand.Read(r)
	name := m.Date.UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(r) + ".eml"
	tmp, err := os.CreateTemp(o.Dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("outbox: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("outbox: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(o.Dir, name)); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}
