package ledger

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/tlog"
)

// LeafHash returns the RFC 6962 leaf hash of one entry's leaf data,
// SHA-256(0x00 || data). It is tlog.RecordHash.
func LeafHash(data []byte) tlog.Hash {
	return tlog.RecordHash(data)
}

// Origin returns the checkpoint origin line of a workspace's log,
// "consentd/" followed by the workspace id. Every checkpoint of the workspace
// carries it, so that a checkpoint of one workspace cannot pass as another's
// where the origin is checked (NewVerifier does; OpenCheckpoint and
// VerifyReceipt leave it to the caller).
func Origin(workspaceID string) string {
	return "consentd/" + workspaceID
}

// Checkpoint is the body of a C2SP checkpoint: the log's origin, the size of
// the tree, and the tree's RFC 6962 root hash at that size.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
}

// Text returns the checkpoint body as signed:
//
//	<origin>\n<size in decimal>\n<base64 root>\n
//
// consentd writes no extension lines. Text does not validate c; Signer.Sign
// refuses a checkpoint whose text would not parse back.
func (c Checkpoint) Text() []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
}

// maxCheckpointText bounds the size of a checkpoint body we are willing to parse.
const maxCheckpointText = 1 << 16

// ParseCheckpoint parses a checkpoint body (the note text, without the
// signature block). It accepts only the canonical form that Text produces:
// exactly three lines, a non-empty origin, a decimal size without sign or
// leading zeros, and a canonical standard-base64 32-byte root. Because of
// that, a parsed Checkpoint re-encodes to exactly the bytes that were signed.
// C2SP extension lines are rejected, since consentd never writes them.
//
// ParseCheckpoint does not check any signature; use OpenCheckpoint for text
// that comes with one.
func ParseCheckpoint(text []byte) (Checkpoint, error) {
	if len(text) > maxCheckpointText {
		return Checkpoint{}, errors.New("ledger: malformed checkpoint: too long")
	}
	if !bytes.HasSuffix(text, []byte("\n")) {
		return Checkpoint{}, errors.New("ledger: malformed checkpoint: missing final newline")
	}
	lines := strings.Split(string(text[:len(text)-1]), "\n")
	if len(lines) != 3 {
		return Checkpoint{}, fmt.Errorf("ledger: malformed checkpoint: %d lines, want 3", len(lines))
	}
	var c Checkpoint
	c.Origin = lines[0]
	if err := checkOrigin(c.Origin); err != nil {
		return Checkpoint{}, err
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || lines[1] != strconv.FormatInt(n, 10) {
		return Checkpoint{}, fmt.Errorf("ledger: malformed checkpoint: bad tree size %q", lines[1])
	}
	c.Size = n
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize || base64.StdEncoding.EncodeToString(root) != lines[2] {
		return Checkpoint{}, fmt.Errorf("ledger: malformed checkpoint: bad root hash %q", lines[2])
	}
	copy(c.Root[:], root)
	return c, nil
}

// checkOrigin reports whether origin can be the first line of a signed note.
func checkOrigin(origin string) error {
	if origin == "" {
		return errors.New("ledger: malformed checkpoint: empty origin")
	}
	if !utf8.ValidString(origin) {
		return errors.New("ledger: malformed checkpoint: origin is not UTF-8")
	}
	for _, r := range origin {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("ledger: malformed checkpoint: control character in origin %q", origin)
		}
	}
	return nil
}

// validate reports whether c would survive Text and ParseCheckpoint.
func (c Checkpoint) validate() error {
	if err := checkOrigin(c.Origin); err != nil {
		return err
	}
	if c.Size < 0 {
		return fmt.Errorf("ledger: malformed checkpoint: negative tree size %d", c.Size)
	}
	return nil
}
