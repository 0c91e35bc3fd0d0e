package mail

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	netmail "net/mail"
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

// Purge deletes the messages of the folder whose recipient erased says
// was erased, and returns how many it deleted: the outbox holds addresses
// in plaintext, and an erasure must not leave them there. A message that
// does not parse is left alone.
func (o *Outbox) Purge(ctx context.Context, erased func(to string) (bool, error)) (int, error) {
	entries, err := os.ReadDir(o.Dir)
	if err != nil {
		return 0, fmt.Errorf("outbox: %w", err)
	}
	n := 0
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if e.IsDir() || filepath.Ext(e.Name()) != ".eml" {
			continue
		}
		path := filepath.Join(o.Dir, e.Name())
		to, ok := recipient(path)
		if !ok {
			continue
		}
		hit, err := erased(to)
		if err != nil {
			return n, err
		}
		if !hit {
			continue
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, fmt.Errorf("outbox: %w", err)
		}
		n++
	}
	return n, nil
}

// recipient returns the address of a message file's To header.
func recipient(path string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	m, err := netmail.ReadMessage(bufio.NewReader(f))
	if err != nil {
		return "", false
	}
	a, err := netmail.ParseAddress(m.Header.Get("To"))
	if err != nil {
		return "", false
	}
	return a.Address, true
}
