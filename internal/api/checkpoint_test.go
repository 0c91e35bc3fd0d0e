package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/transparency-dev/formats/log"
	tproof "github.com/transparency-dev/formats/proof"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
)

// checkAgainstDoc validates a JSON answer against the schema /openapi.json
// gives the route's success response.
func (e *env) checkAgainstDoc(doc *openapi3.T, path string, r *response) {
	e.t.Helper()
	item := doc.Paths.Find(path)
	if item == nil || item.Get == nil {
		e.t.Fatalf("/openapi.json has no GET %s", path)
	}
	resp := item.Get.Responses.Status(r.status)
	if resp == nil || resp.Value.Content["application/json"] == nil {
		e.t.Fatalf("/openapi.json: GET %s has no JSON %d answer", path, r.status)
	}
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		e.t.Fatal(err)
	}
	if err := resp.Value.Content["application/json"].Schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.EnableFormatValidation()); err != nil {
		e.t.Errorf("GET %s answer %s does not match /openapi.json: %v", r.path, r.body, err)
	}
}

func (e *env) openAPI() *openapi3.T {
	e.t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(e.must("GET", "/openapi.json", "", nil, 200).body)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		e.t.Fatalf("validate /openapi.json: %v", err)
	}
	return doc
}

type storedCheckpointJSON struct {
	Checkpoint string    `json:"checkpoint"`
	Origin     string    `json:"origin"`
	Size       int64     `json:"size"`
	Root       string    `json:"root"`
	KeyID      string    `json:"key_id"`
	PublicKey  string    `json:"public_key"`
	CreatedAt  time.Time `json:"created_at"`
	Problem    string    `json:"problem"`
}

// GET /v1/log/checkpoints lists what was signed; GET /v1/log/proof proves
// any two sizes consistent, and both check out with transparency-dev's
// libraries against the signed roots.
func TestCheckpointHistoryAndConsistency(t *testing.T) {
	e := newEnv(t)
	doc := e.openAPI()
	w, read := e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleRead)
	t0 := time.Now().Add(-time.Hour)
	var sizes []int64
	for i := range 12 {
		e.must("POST", "/v1/consents", w, write(fmt.Sprintf("u%d@example.com", i), "newsletter", "", "email", "opted_in", t0), 201)
		if i == 3 || i == 7 || i == 11 {
			var cp struct {
				Size int64 `json:"size"`
			}
			e.must("POST", "/v1/log/checkpoints", w, nil, 201).decode(t, &cp)
			sizes = append(sizes, cp.Size)
		}
	}
	e.must("POST", "/v1/consents", w, write("late@example.com", "newsletter", "", "email", "opted_in", t0), 201)
	logSize := e.logSize(read)
	if len(sizes) != 3 || sizes[2] != logSize-1 {
		t.Fatalf("checkpoints at %v, log size %d", sizes, logSize)
	}

	list := func(query string) (page struct {
		Checkpoints []storedCheckpointJSON `json:"checkpoints"`
		Next        int64                  `json:"next"`
	}) {
		t.Helper()
		r := e.must("GET", "/v1/log/checkpoints"+query, read, nil, 200)
		e.checkAgainstDoc(doc, "/v1/log/checkpoints", r)
		r.decode(t, &page)
		return page
	}
	all := list("")
	if len(all.Checkpoints) != 3 || all.Next != 0 {
		t.Fatalf("GET /v1/log/checkpoints = %+v; want the 3 signed, one page", all)
	}
	for i, c := range all.Checkpoints {
		cp, err := ledger.OpenCheckpoint(c.Checkpoint, c.PublicKey)
		if err != nil || cp.Size != sizes[i] || c.Size != sizes[i] || cp.Root.String() != c.Root || cp.Origin != ledger.Origin(e.a.id) || c.Origin != cp.Origin {
			t.Errorf("checkpoint %d = %+v (%v); want size %d of %s", i, c, err, sizes[i], ledger.Origin(e.a.id))
		}
		if c.KeyID != "consentd/"+e.a.id+"+"+strings.Split(c.PublicKey, "+")[1] || c.CreatedAt.IsZero() || c.Problem != "" {
			t.Errorf("checkpoint %d: key %q, created %v, problem %q", i, c.KeyID, c.CreatedAt, c.Problem)
		}
	}
	for _, tc := range []struct {
		query string
		want  []int64
		next  int64
	}{
		{fmt.Sprintf("?from=%d", sizes[1]), sizes[1:], 0},
		{fmt.Sprintf("?to=%d", sizes[1]), sizes[:2], 0},
		{fmt.Sprintf("?from=%d&to=%d", sizes[1], sizes[1]), sizes[1:2], 0},
		{fmt.Sprintf("?from=%d&to=%d", sizes[0]+1, sizes[1]-1), nil, 0},
		{"?limit=2", sizes[:2], sizes[1] + 1},
		{fmt.Sprintf("?from=%d&limit=2", sizes[1]+1), sizes[2:], 0},
		{fmt.Sprintf("?to=%d&limit=2", sizes[1]), sizes[:2], 0},
	} {
		page := list(tc.query)
		var got []int64
		for _, c := range page.Checkpoints {
			got = append(got, c.Size)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) || page.Next != tc.next {
			t.Errorf("GET /v1/log/checkpoints%s = sizes %v, next %d; want %v, next %d", tc.query, got, page.Next, tc.want, tc.next)
		}
	}
	// Another workspace's list is its own.
	if got := e.must("GET", "/v1/log/checkpoints", e.b.key(consentd.RoleRead), nil, 200); !strings.Contains(string(got.body), `"checkpoints":[]`) {
		t.Errorf("workspace B's checkpoints = %s; want none", got)
	}

	// Consistency proofs.
	type proofJSON struct {
		Old           int64                 `json:"old"`
		New           int64                 `json:"new"`
		OldRoot       string                `json:"old_root"`
		NewRoot       string                `json:"new_root"`
		Proof         [][]byte              `json:"proof"`
		OldCheckpoint *storedCheckpointJSON `json:"old_checkpoint"`
		NewCheckpoint *storedCheckpointJSON `json:"new_checkpoint"`
	}
	for _, tc := range []struct {
		old, new     int64
		signedOld    bool
		signedNew    bool
		wantNonEmpty bool
	}{
		{sizes[0], sizes[2], true, true, true},
		{sizes[0], sizes[1], true, true, true},
		{1, logSize, false, false, true},
		{sizes[1], logSize, true, false, true},
		{sizes[1], sizes[1], true, true, false},
	} {
		path := fmt.Sprintf("/v1/log/proof?old=%d&new=%d", tc.old, tc.new)
		r := e.must("GET", path, read, nil, 200)
		e.checkAgainstDoc(doc, "/v1/log/proof", r)
		var p proofJSON
		r.decode(t, &p)
		if p.Old != tc.old || p.New != tc.new || (p.OldCheckpoint != nil) != tc.signedOld || (p.NewCheckpoint != nil) != tc.signedNew || (len(p.Proof) > 0) != tc.wantNonEmpty {
			t.Errorf("GET %s = %s", path, r)
			continue
		}
		oldRoot, newRoot := mustB64(t, p.OldRoot), mustB64(t, p.NewRoot)
		// Against the signed roots, when the sizes were signed: parsed and
		// verified by transparency-dev/formats with the key each names.
		for _, c := range []struct {
			cp   *storedCheckpointJSON
			root []byte
		}{{p.OldCheckpoint, oldRoot}, {p.NewCheckpoint, newRoot}} {
			if c.cp == nil {
				continue
			}
			v, err := note.NewVerifier(c.cp.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			parsed, _, _, err := log.ParseCheckpoint([]byte(c.cp.Checkpoint), ledger.Origin(e.a.id), v)
			if err != nil || !bytes.Equal(parsed.Hash, c.root) {
				t.Errorf("GET %s: checkpoint at %d does not parse with formats or has another root: %v", path, c.cp.Size, err)
			}
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(p.Old), uint64(p.New), p.Proof, oldRoot, newRoot); err != nil {
			t.Errorf("GET %s: transparency-dev/merkle rejects the proof: %v", path, err)
		}
		tp := make(tlog.TreeProof, len(p.Proof))
		for i, h := range p.Proof {
			copy(tp[i][:], h)
		}
		if err := tlog.CheckTree(tp, p.New, tlog.Hash(newRoot), p.Old, tlog.Hash(oldRoot)); err != nil {
			t.Errorf("GET %s: tlog rejects the proof: %v", path, err)
		}
		if len(p.Proof) > 0 {
			p.Proof[0][0] ^= 1
			if proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(p.Old), uint64(p.New), p.Proof, oldRoot, newRoot) == nil {
				t.Errorf("GET %s: an altered proof verifies", path)
			}
		}
	}

	// Bad input: a problem with a stable code; nothing changes.
	before := e.must("GET", "/v1/log/checkpoints", read, nil, 200).body
	for _, tc := range []struct {
		path, code, field string
	}{
		{"/v1/log/checkpoints?from=-1", consentd.EINVALID, "from"},
		{"/v1/log/checkpoints?from=x", consentd.EINVALID, "from"},
		{"/v1/log/checkpoints?to=1.5", consentd.EINVALID, "to"},
		{"/v1/log/checkpoints?from=5&to=4", consentd.EINVALID, "from"},
		{"/v1/log/checkpoints?limit=0", consentd.EINVALID, "limit"},
		{"/v1/log/checkpoints?limit=1001", consentd.EINVALID, "limit"},
		{"/v1/log/proof", consentd.EINVALID, "old"},
		{"/v1/log/proof?old=1", consentd.EINVALID, "new"},
		{"/v1/log/proof?old=x&new=2", consentd.EINVALID, "old"},
		{"/v1/log/proof?old=1&new=-2", consentd.EINVALID, "new"},
		{"/v1/log/proof?old=0&new=2", consentd.EINVALID, "old"},
		{"/v1/log/proof?old=-1&new=2", consentd.EINVALID, "old"},
		{"/v1/log/proof?old=3&new=2", consentd.EINVALID, "old"},
		{fmt.Sprintf("/v1/log/proof?old=1&new=%d", logSize+1), consentd.EBEYONDLOG, "new"},
		{"/v1/log/proof?old=1&new=99999999999999999999", consentd.EINVALID, "new"},
	} {
		r := e.do("GET", tc.path, read, nil)
		p := r.problem(t)
		if r.status != 422 || p.Code != tc.code || len(p.Fields) != 1 || p.Fields[0].Field != tc.field {
			t.Errorf("GET %s = %s; want 422 %s on %s", tc.path, r, tc.code, tc.field)
		}
	}
	if after := e.must("GET", "/v1/log/checkpoints", read, nil, 200).body; !bytes.Equal(after, before) || e.logSize(read) != logSize {
		t.Errorf("bad requests changed the checkpoints or the log")
	}
	// A proof is about this workspace's log: B's log is shorter.
	bSize := e.logSize(e.b.key(consentd.RoleRead))
	if r := e.do("GET", fmt.Sprintf("/v1/log/proof?old=1&new=%d", bSize+1), e.b.key(consentd.RoleRead), nil); r.status != 422 || r.problem(t).Code != consentd.EBEYONDLOG {
		t.Errorf("GET /v1/log/proof beyond B's log = %s; want 422 %s", r, consentd.EBEYONDLOG)
	}
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Fatalf("%q is not a base64 hash: %v", s, err)
	}
	return b
}

// The receipt as C2SP tlog-proof text checks out with transparency-dev's
// libraries: formats parses the proof and the checkpoint (with the key
// named after the log's origin), merkle verifies the inclusion of the extra
// data, which is the leaf exactly as hashed.
func TestReceiptTLogProof(t *testing.T) {
	e := newEnv(t)
	doc := e.openAPI()
	w, read := e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleRead)
	t0 := time.Now().Add(-time.Hour)
	for i := range 9 {
		body := write(fmt.Sprintf("u%d@example.com", i), "newsletter", "", "email", "opted_in", t0)
		body["reason"] = "ticked the box" // evidence, which the leaf commits to
		e.must("POST", "/v1/consents", w, body, 201)
	}
	path := consentPath("u4@example.com#newsletter:email") + "/receipt"
	r := e.must("GET", path, read, nil, 200)
	e.checkAgainstDoc(doc, "/v1/consents/{id}/receipt", r)
	var rc ledger.Receipt
	r.decode(t, &rc)
	if err := ledger.VerifyReceipt(&rc, e.signer.PublicKey()); err != nil {
		t.Fatalf("JSON receipt: %v", err)
	}
	// The JSON receipt carries the entry's evidence and opening, which the
	// leaf commits to: altered, the receipt no longer verifies.
	if len(rc.Evidence) == 0 || len(rc.Opening) != consentd.OpeningSize || !bytes.Contains(rc.Evidence, []byte("ticked the box")) {
		t.Errorf("receipt evidence %q, opening of %d bytes; want the write's reason and a %d-byte opening", rc.Evidence, len(rc.Opening), consentd.OpeningSize)
	}
	bad := rc
	bad.Evidence = bytes.Replace(bytes.Clone(rc.Evidence), []byte("ticked"), []byte("tucked"), 1)
	if err := ledger.VerifyReceipt(&bad, e.signer.PublicKey()); err == nil {
		t.Error("a receipt with altered evidence verifies")
	}
	var latest struct {
		PublicKey string `json:"public_key"`
	}
	e.must("GET", "/v1/log/checkpoints/latest", read, nil, 200).decode(t, &latest)
	if rc.PublicKey != latest.PublicKey {
		t.Errorf("receipt names key %q; the checkpoint %q", rc.PublicKey, latest.PublicKey)
	}

	text := e.do("GET", path, read, nil, "Accept", "text/x.tlog-proof")
	if text.status != 200 || text.header.Get("Content-Type") != "text/x.tlog-proof" || !strings.Contains(text.header.Get("Vary"), "Accept") {
		t.Fatalf("GET receipt as tlog-proof = %s, Content-Type %q, Vary %q", text, text.header.Get("Content-Type"), text.header.Get("Vary"))
	}
	if item := doc.Paths.Find("/v1/consents/{id}/receipt"); item.Get.Responses.Status(200).Value.Content["text/x.tlog-proof"] == nil {
		t.Errorf("/openapi.json does not offer the receipt as text/x.tlog-proof")
	}
	var tp tproof.TLogProof
	if err := tp.Unmarshal(text.body); err != nil {
		t.Fatalf("formats cannot parse the tlog-proof: %v\n%s", err, text.body)
	}
	if tp.Index != uint64(rc.Seq-1) || !bytes.Equal(tp.ExtraData, rc.Leaf) || string(tp.Checkpoint) != rc.Checkpoint || len(tp.Hashes) != len(rc.Proof) {
		t.Errorf("tlog-proof index %d, extra %q, %d hashes; want index %d, the leaf %q, %d hashes", tp.Index, tp.ExtraData, len(tp.Hashes), rc.Seq-1, rc.Leaf, len(rc.Proof))
	}
	v, err := note.NewVerifier(latest.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	cp, _, _, err := log.ParseCheckpoint(tp.Checkpoint, ledger.Origin(e.a.id), v)
	if err != nil {
		t.Fatalf("formats cannot verify the checkpoint: %v", err)
	}
	hashes := make([][]byte, len(tp.Hashes))
	for i := range tp.Hashes {
		hashes[i] = tp.Hashes[i][:]
	}
	leafHash := rfc6962.DefaultHasher.HashLeaf(tp.ExtraData)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, tp.Index, cp.Size, leafHash, hashes, cp.Hash); err != nil {
		t.Errorf("merkle rejects the inclusion proof: %v", err)
	}
	if proof.VerifyInclusion(rfc6962.DefaultHasher, tp.Index+1, cp.Size, leafHash, hashes, cp.Hash) == nil {
		t.Errorf("merkle accepts the proof at another index")
	}
	// formats with another key, or another origin, refuses it.
	other := testKey(t)
	ov, _ := note.NewVerifier(other.PublicKeyFor(ledger.Origin(e.a.id)))
	if _, _, _, err := log.ParseCheckpoint(tp.Checkpoint, ledger.Origin(e.a.id), ov); err == nil {
		t.Error("formats verifies the checkpoint with another key")
	}
	if _, _, _, err := log.ParseCheckpoint(tp.Checkpoint, ledger.Origin(e.b.id), v); err == nil {
		t.Error("formats takes the checkpoint for another workspace's")
	}
	// consentd reads it back.
	back, err := ledger.ParseTLogProof(text.body)
	if err != nil || ledger.VerifyReceipt(back, e.signer.PublicKey()) != nil {
		t.Errorf("ledger.ParseTLogProof: %+v, %v", back, err)
	}

	// Which form each Accept gets: tlog-proof text when preferred; JSON
	// otherwise, also when Accept names neither.
	for _, tc := range []struct {
		accept string
		text   bool
	}{
		{"", false},
		{"application/json", false},
		{"text/x.tlog-proof", true},
		{"TEXT/X.TLOG-PROOF", true},
		{"application/json;q=0.5, text/x.tlog-proof", true},
		{"text/x.tlog-proof;q=0.5, application/json", false},
		{"text/x.tlog-proof, application/json", false},
		{"text/*", true},
		{"*/*", false},
		{"text/plain", false},
		{"text/x.tlog-proof;q=0", false},
		{"text/x.tlog-proof;q=nonsense", false},
	} {
		r := e.do("GET", path, read, nil, "Accept", tc.accept)
		ct := r.header.Get("Content-Type")
		if r.status != 200 || (ct == "text/x.tlog-proof") != tc.text || (!tc.text && ct != "application/json") {
			t.Errorf("GET receipt with Accept %q = %d %s; want tlog-proof %v", tc.accept, r.status, ct, tc.text)
		}
	}
}

func testKey(t *testing.T) *ledger.Signer {
	t.Helper()
	s, err := ledger.LoadOrCreateKey(t.TempDir()+"/other.key", "consentd")
	if err != nil {
		t.Fatal(err)
	}
	return s
}
