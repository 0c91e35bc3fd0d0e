package storetest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
)

// runTamperedTiles: the log's full tiles are what proofs are served from;
// a stored tile altered or deleted behind the log's back makes log verify
// fail and name the tile, although every entry is whole.
func runTamperedTiles(t *testing.T, open func(t *testing.T) (Store, Exec)) {
	cases := []struct {
		name, query string
		args        []any
		want        string
	}{
		{name: "untouched"},
		{name: "tile altered", query: `UPDATE log_tiles SET hashes = $2 WHERE workspace_id = $1 AND level = 0 AND idx = 1`,
			args: []any{make([]byte, ledger.TileSize)}, want: "the stored tile 0/1 of entries 257..512 does not match the entries"},
		{name: "tile deleted", query: `DELETE FROM log_tiles WHERE workspace_id = $1 AND level = 0 AND idx = 0`,
			want: "the stored tile 0/0 of entries 1..256 is missing"},
	}
	for _, c := range cases {
		t.Run("tiles/"+c.name, func(t *testing.T) {
			s, exec := open(t)
			e := newEnv(t, s, "tiles")
			signer := newSigner(t)
			var writes []consentd.ConsentWrite
			for i := range 600 {
				writes = append(writes, consentd.ConsentWrite{ContactPoint: fmt.Sprintf("tile%03d@example.com", i), Channel: "email", Purpose: "newsletter",
					Status: consentd.OptedIn, CapturedAt: e.t0, Source: consentd.Source{Type: "api"}})
			}
			if _, err := s.WriteConsents(e.ctx, e.ws, writes, "test"); err != nil {
				t.Fatal(err)
			}
			if _, _, err := ledger.SignCheckpoint(e.ctx, s, signer, e.ws); err != nil {
				t.Fatal(err)
			}
			if c.query != "" {
				n, err := exec(e.ctx, c.query, append([]any{e.ws}, c.args...)...)
				if err != nil || n != 1 {
					t.Fatalf("%s = %d rows, %v", c.query, n, err)
				}
			}
			rep, err := ledger.VerifyLog(e.ctx, s, signer.PublicKey(), e.ws)
			if err != nil {
				t.Fatal(err)
			}
			if c.want == "" {
				if !rep.OK {
					t.Fatalf("VerifyLog() = %+v; want OK", rep)
				}
				return
			}
			if rep.OK || !strings.Contains(rep.Problem, c.want) {
				t.Errorf("VerifyLog() = %+v; want a problem naming %q", rep, c.want)
			}
		})
	}
}
