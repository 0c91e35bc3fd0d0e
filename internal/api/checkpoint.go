package api

import (
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
)

// tlogProofType is the media type of a receipt as C2SP tlog-proof text.
const tlogProofType = "text/x.tlog-proof"

// storedCheckpoint is a stored checkpoint as the server's key ring opens it.
type storedCheckpoint struct {
	checkpointAnswer
	CreatedAt time.Time `json:"created_at"`
	Problem   string    `json:"problem,omitempty" doc:"why the checkpoint does not verify under the server's key ring; key_id and public_key are then empty"`
}

// checkpointList is a page of stored checkpoints.
type checkpointList struct {
	Checkpoints []storedCheckpoint `json:"checkpoints"`
	Next        int64              `json:"next,omitempty" doc:"pass as from for the next page; absent on the last page"`
}

// consistencyAnswer is a consistency proof between two tree sizes, with the
// checkpoints stored at those sizes, so that a client can check the proof
// against two signed roots.
type consistencyAnswer struct {
	Old           int64             `json:"old"`
	New           int64             `json:"new"`
	OldRoot       string            `json:"old_root" doc:"the stored tree's root at size old (base64)"`
	NewRoot       string            `json:"new_root" doc:"the stored tree's root at size new (base64)"`
	Proof         []string          `json:"proof" doc:"RFC 6962 consistency proof hashes (base64), in the order of RFC 6962 section 2.1.2"`
	OldCheckpoint *storedCheckpoint `json:"old_checkpoint" doc:"the checkpoint signed at size old; null when none was stored at that size"`
	NewCheckpoint *storedCheckpoint `json:"new_checkpoint" doc:"the checkpoint signed at size new; null when none was stored at that size"`
}

func storedAnswer(sc ledger.StoredCheckpoint) storedCheckpoint {
	a := storedCheckpoint{CreatedAt: sc.CreatedAt}
	a.Checkpoint, a.Origin, a.Size, a.Root = sc.Signed, sc.Origin, sc.Size, sc.Root.String()
	if sc.Err != nil {
		a.Problem = strings.TrimPrefix(sc.Err.Error(), "ledger: ")
	} else {
		a.KeyID, a.PublicKey = sc.SignedBy.KeyID, sc.SignedBy.PublicKey
	}
	return a
}

// sizeParam parses an optional tree size query parameter: def when absent.
func sizeParam(r *http.Request, name string, def int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, consentd.FieldErrorf(consentd.EINVALID, name, "%s is a tree size, a whole number of at least 0", name)
	}
	return n, nil
}

func (s *Server) listCheckpoints(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	from, err := sizeParam(r, "from", 0)
	if err != nil {
		return err
	}
	to, err := sizeParam(r, "to", math.MaxInt64)
	if err != nil {
		return err
	}
	if from > to {
		return consentd.FieldErrorf(consentd.EINVALID, "from", "from (%d) must not be larger than to (%d)", from, to)
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return consentd.FieldErrorf(consentd.EINVALID, "limit", "limit is a number from 1 to 1000")
		}
		limit = n
	}
	cps, err := ledger.ListCheckpoints(r.Context(), s.DB, s.Signer.Ring(), k.WorkspaceID, from, to, limit)
	if err != nil {
		return err
	}
	page := checkpointList{Checkpoints: make([]storedCheckpoint, len(cps))}
	for i, sc := range cps {
		page.Checkpoints[i] = storedAnswer(sc)
	}
	if last := len(cps) - 1; last >= 0 && len(cps) == limit && cps[last].Size < to {
		page.Next = cps[last].Size + 1
	}
	writeJSON(w, 200, page)
	return nil
}

func (s *Server) logProof(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	var sizes [2]int64
	for i, name := range []string{"old", "new"} {
		if r.URL.Query().Get(name) == "" {
			return consentd.FieldErrorf(consentd.EINVALID, name, "%s is required: a tree size", name)
		}
		n, err := sizeParam(r, name, 0)
		if err != nil {
			return err
		}
		sizes[i] = n
	}
	p, err := ledger.ProveConsistency(r.Context(), s.DB, k.WorkspaceID, sizes[0], sizes[1])
	if err != nil {
		return err
	}
	a := consistencyAnswer{Old: p.Old, New: p.New, OldRoot: p.OldRoot.String(), NewRoot: p.NewRoot.String(), Proof: make([]string, len(p.Proof))}
	for i, h := range p.Proof {
		a.Proof[i] = h.String()
	}
	for _, c := range []struct {
		size int64
		dst  **storedCheckpoint
	}{{p.Old, &a.OldCheckpoint}, {p.New, &a.NewCheckpoint}} {
		cps, err := ledger.ListCheckpoints(r.Context(), s.DB, s.Signer.Ring(), k.WorkspaceID, c.size, c.size, 1)
		if err != nil {
			return err
		}
		if len(cps) == 1 {
			sc := storedAnswer(cps[0])
			*c.dst = &sc
		}
	}
	writeJSON(w, 200, a)
	return nil
}

// prefers reports whether the request's Accept header prefers the media type
// offered to the default one: it gives offered a higher quality than def,
// the most specific matching range deciding each (RFC 9110 section 12.5.1).
// Without an Accept header, or when it accepts neither, the default wins:
// the API then answers with its default type rather than 406.
func prefers(r *http.Request, offered, def string) bool {
	accept := strings.Join(r.Header.Values("Accept"), ",")
	if strings.TrimSpace(accept) == "" {
		return false
	}
	return quality(accept, offered) > quality(accept, def)
}

// quality returns the q value Accept gives to the media type mt, from its
// most specific matching range (type/subtype, then type/*, then */*); 0
// when none matches.
func quality(accept, mt string) float64 {
	typ, _, _ := strings.Cut(mt, "/")
	best, q := -1, 0.0
	for _, rng := range strings.Split(accept, ",") {
		media, params, err := mime.ParseMediaType(strings.TrimSpace(rng))
		if err != nil {
			continue
		}
		spec := -1
		switch {
		case media == mt:
			spec = 2
		case media == typ+"/*":
			spec = 1
		case media == "*/*":
			spec = 0
		}
		if spec <= best {
			continue
		}
		best, q = spec, 1
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f <= 1 {
				q = f
			} else {
				q = 0
			}
		}
	}
	return q
}
