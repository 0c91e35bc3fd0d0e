package ledger

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// memLog is an in-memory log in the shape the storage layer keeps: entries
// with stored leaf hashes, and the tlog stored hashes.
type memLog struct {
	entries []Entry
	hashes  []tlog.Hash
}

func (l *memLog) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(l.hashes)) {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = l.hashes[x]
	}
	return out, nil
}

func (l *memLog) append(t testing.TB, data []byte) {
	t.Helper()
	n := int64(len(l.entries))
	hs, err := tlog.StoredHashes(n, data, l)
	if err != nil {
		t.Fatal(err)
	}
	l.hashes = append(l.hashes, hs...)
	l.entries = append(l.entries, Entry{Seq: n + 1, Data: bytes.Clone(data), LeafHash: LeafHash(data)})
}

func (l *memLog) checkpoint(t testing.TB, origin string, size int64) Checkpoint {
	t.Helper()
	root, err := tlog.TreeHash(size, l)
	if err != nil {
		t.Fatal(err)
	}
	return Checkpoint{Origin: origin, Size: size, Root: root}
}

func entryData(i int) []byte {
	return fmt.Appendf(nil, `{"workspace":"ws1","seq":%d,"contact":"c%d@example.com","purpose":"newsletter","status":"granted"}`, i, i)
}

func newLog(t testing.TB, n int) *memLog {
	l := &memLog{}
	for i := 1; i <= n; i++ {
		l.append(t, entryData(i))
	}
	return l
}

func testSigner(t testing.TB, name string) *Signer {
	t.Helper()
	s, err := LoadOrCreateKey(filepath.Join(t.TempDir(), "key"), name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sign(t testing.TB, s *Signer, c Checkpoint) string {
	t.Helper()
	signed, err := s.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func TestLeafHash(t *testing.T) {
	v, err := NewVerifier("o", testSigner(t, "consentd").PublicKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range [][]byte{nil, {}, {0}, []byte("hello"), bytes.Repeat([]byte("x"), 1000)} {
		if LeafHash(d) != tlog.RecordHash(d) {
			t.Errorf("LeafHash(%q) != tlog.RecordHash", d)
		}
		if v.leafHash(d) != LeafHash(d) {
			t.Errorf("Verifier.leafHash(%q) != LeafHash", d)
		}
	}
	if emptyRoot != mustTreeHash(t, 0, &memLog{}) {
		t.Error("emptyRoot is not tlog.TreeHash(0)")
	}
}

func mustTreeHash(t testing.TB, n int64, r tlog.HashReader) tlog.Hash {
	t.Helper()
	h, err := tlog.TreeHash(n, r)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestOrigin(t *testing.T) {
	if got := Origin("ws_123"); got != "consentd/ws_123" {
		t.Errorf("Origin = %q", got)
	}
}

func TestCheckpointText(t *testing.T) {
	c := Checkpoint{Origin: "consentd/ws1", Size: 42, Root: LeafHash([]byte("x"))}
	want := "consentd/ws1\n42\n" + c.Root.String() + "\n"
	if got := string(c.Text()); got != want {
		t.Fatalf("Text = %q, want %q", got, want)
	}
	back, err := ParseCheckpoint(c.Text())
	if err != nil || back != c {
		t.Fatalf("ParseCheckpoint(Text) = %+v, %v", back, err)
	}
	zero := Checkpoint{Origin: "o", Size: 0, Root: emptyRoot}
	if back, err := ParseCheckpoint(zero.Text()); err != nil || back != zero {
		t.Fatalf("ParseCheckpoint(size 0) = %+v, %v", back, err)
	}

	root := c.Root.String()
	bad := []string{
		"",
		"consentd/ws1\n42\n" + root, // no final newline
		"consentd/ws1\n42\n" + root + "\nextra\n", // extension line
		"consentd/ws1\n42\n" + root + "\n\n",      // blank line
		"\n42\n" + root + "\n",                    // empty origin
		"consentd/ws1\n042\n" + root + "\n",       // leading zero
		"consentd/ws1\n+42\n" + root + "\n",       // sign
		"consentd/ws1\n-1\n" + root + "\n",        // negative
		"consentd/ws1\n 42\n" + root + "\n",       // space
		"consentd/ws1\n99999999999999999999\n" + root + "\n",
		"consentd/ws1\n42\n" + root[:len(root)-1] + "\n", // bad base64
		"consentd/ws1\n42\n" + "AAAA" + "\n",             // short hash
		"consentd/ws1\n42\n" + strings.TrimRight(root, "=") + "\n",
		"consentd/ws1\r\n42\n" + root + "\n",
		"consentd/ws1\n42\r\n" + root + "\n",
	}
	for _, text := range bad {
		if c, err := ParseCheckpoint([]byte(text)); err == nil {
			t.Errorf("ParseCheckpoint(%q) = %+v, want error", text, c)
		}
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "ledger.key")
	s1, err := LoadOrCreateKey(path, "consentd")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("key file mode %v, want 0600", m)
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o700 {
			t.Errorf("directory %s mode %v, want 0700", d, m)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("key directory holds %d files, want 1 (temporary file left behind?)", len(ents))
	}
	b, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(b), "PRIVATE+KEY+consentd+") {
		t.Errorf("key file does not hold a note private key")
	}
	if _, err := note.NewSigner(strings.TrimSpace(string(b))); err != nil {
		t.Errorf("key file is not a note private key: %v", err)
	}

	if !regexp.MustCompile(`^consentd\+[0-9a-f]{8}$`).MatchString(s1.KeyID()) {
		t.Errorf("KeyID = %q", s1.KeyID())
	}
	if !strings.HasPrefix(s1.PublicKey(), s1.KeyID()+"+") {
		t.Errorf("PublicKey %q does not start with KeyID %q", s1.PublicKey(), s1.KeyID())
	}
	if _, err := note.NewVerifier(s1.PublicKey()); err != nil {
		t.Errorf("PublicKey is not a note verifier key: %v", err)
	}

	for _, name := range []string{"consentd", ""} {
		s2, err := LoadOrCreateKey(path, name)
		if err != nil {
			t.Fatal(err)
		}
		if s2.PublicKey() != s1.PublicKey() || s2.KeyID() != s1.KeyID() {
			t.Errorf("reloaded key (name %q) differs: %s vs %s", name, s2.PublicKey(), s1.PublicKey())
		}
		// A checkpoint signed by the reloaded key opens with the original key.
		c := Checkpoint{Origin: "o", Size: 1, Root: LeafHash(nil)}
		if _, err := OpenCheckpoint(sign(t, s2, c), s1.PublicKey()); err != nil {
			t.Error(err)
		}
	}
	if _, err := LoadOrCreateKey(path, "other"); err == nil {
		t.Error("loading a key under another name succeeded")
	}

	// Bad names and bad files.
	for _, name := range []string{"", "two words", "a+b"} {
		p := filepath.Join(t.TempDir(), "k")
		if _, err := LoadOrCreateKey(p, name); err == nil {
			t.Errorf("LoadOrCreateKey with name %q succeeded", name)
		}
		if _, err := os.Stat(p); err == nil {
			t.Errorf("LoadOrCreateKey with bad name %q wrote a file", name)
		}
	}
	garbage := filepath.Join(t.TempDir(), "k")
	os.WriteFile(garbage, []byte("PRIVATE+KEY+x+00000000+c2VjcmV0\n"), 0o600)
	if _, err := LoadOrCreateKey(garbage, "x"); err == nil {
		t.Error("loading a garbage key succeeded")
	} else if strings.Contains(err.Error(), "c2VjcmV0") {
		t.Errorf("error quotes the key file: %v", err)
	}
}

func TestLoadOrCreateKeyRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "ledger.key")
	const n = 16
	keys := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := LoadOrCreateKey(path, "consentd")
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = s.PublicKey()
		}()
	}
	wg.Wait()
	final, err := LoadOrCreateKey(path, "consentd")
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if k != final.PublicKey() {
			t.Errorf("caller %d got key %s, but the file holds %s", i, k, final.PublicKey())
		}
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("key directory holds %d files, want 1", len(ents))
	}
}

func TestSignOpenCheckpoint(t *testing.T) {
	s := testSigner(t, "consentd")
	c := Checkpoint{Origin: Origin("ws1"), Size: 7, Root: LeafHash([]byte("r"))}
	signed := sign(t, s, c)
	// The key signs under the checkpoint's origin.
	if !strings.HasPrefix(signed, string(c.Text())+"\n— consentd/ws1 ") {
		t.Errorf("signed note = %q", signed)
	}
	got, err := OpenCheckpoint(signed, s.PublicKey())
	if err != nil || got != c {
		t.Fatalf("OpenCheckpoint = %+v, %v", got, err)
	}

	// Another key, with the same name or another, rejects it.
	for _, other := range []*Signer{testSigner(t, "consentd"), testSigner(t, "other")} {
		if _, err := OpenCheckpoint(signed, other.PublicKey()); err == nil {
			t.Errorf("checkpoint opened with another key %s", other.KeyID())
		}
	}

	// A modified body fails, whatever is changed.
	body, sig, _ := strings.Cut(signed, "\n\n")
	for _, mod := range []string{
		strings.Replace(body, "\n7\n", "\n8\n", 1),
		strings.Replace(body, "ws1", "ws2", 1),
		body[:len(body)-2] + "A",
	} {
		if _, err := OpenCheckpoint(mod+"\n\n"+sig, s.PublicKey()); err == nil {
			t.Errorf("modified checkpoint %q opened", mod)
		}
	}
	// A modified signature fails.
	sigLine := strings.TrimSuffix(sig, "\n")
	flipped := sigLine[:len(sigLine)-3] + string(rune(sigLine[len(sigLine)-3])^1) + sigLine[len(sigLine)-2:]
	if _, err := OpenCheckpoint(body+"\n\n"+flipped+"\n", s.PublicKey()); err == nil {
		t.Error("checkpoint with modified signature opened")
	}
	if _, err := OpenCheckpoint(body+"\n", s.PublicKey()); err == nil {
		t.Error("unsigned checkpoint opened")
	}
	if _, err := OpenCheckpoint(signed, "not a key"); err == nil {
		t.Error("OpenCheckpoint with a bad key succeeded")
	}

	// A cosignature by another key (a witness) does not hurt.
	witness := testSigner(t, "witness")
	n, err := note.Open([]byte(signed), note.VerifierList(mustVerifier(t, originKey(t, s, c.Origin))))
	if err != nil {
		t.Fatal(err)
	}
	ws, err := witness.newest().signerFor("witness")
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := note.Sign(n, ws)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := OpenCheckpoint(string(cosigned), s.PublicKey()); err != nil || got != c {
		t.Errorf("cosigned checkpoint: %+v, %v", got, err)
	}

	// Sign refuses checkpoints that would not parse back.
	for _, bad := range []Checkpoint{{Origin: "", Size: 1}, {Origin: "a\nb", Size: 1}, {Origin: "o", Size: -1}} {
		if _, err := s.Sign(bad); err == nil {
			t.Errorf("Sign(%+v) succeeded", bad)
		}
	}
}

// originKey returns the verifier key of s's newest key under origin, the
// name it signs origin's checkpoints with.
func originKey(t testing.TB, s *Signer, origin string) string {
	t.Helper()
	k, err := newPubKey(origin, s.newest().pub)
	if err != nil {
		t.Fatal(err)
	}
	return k.vkey
}

// keyIDFor returns the id of s's newest key under origin.
func keyIDFor(t testing.TB, s *Signer, origin string) string {
	t.Helper()
	k, err := parsePubKey(originKey(t, s, origin))
	if err != nil {
		t.Fatal(err)
	}
	return k.id()
}

func mustVerifier(t testing.TB, vkey string) note.Verifier {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestReceipts(t *testing.T) {
	s := testSigner(t, "consentd")
	attacker := testSigner(t, "consentd")
	origin := Origin("ws1")
	l := &memLog{}
	for n := 1; n <= 70; n++ {
		l.append(t, entryData(n))
		cp := l.checkpoint(t, origin, int64(n))
		signed := sign(t, s, cp)
		for seq := int64(1); seq <= int64(n); seq++ {
			e := l.entries[seq-1]
			rc, err := NewReceipt(seq, e.Data, signed, cp, l, s.PublicKey())
			if err != nil {
				t.Fatalf("NewReceipt(%d) in tree %d: %v", seq, n, err)
			}
			if err := VerifyReceipt(rc, s.PublicKey()); err != nil {
				t.Fatalf("receipt %d in tree %d: %v", seq, n, err)
			}
			if err := VerifyReceipt(rc, ""); err != nil {
				t.Fatalf("receipt %d in tree %d with embedded key: %v", seq, n, err)
			}
			j, err := json.Marshal(rc)
			if err != nil {
				t.Fatal(err)
			}
			var back Receipt
			if err := json.Unmarshal(j, &back); err != nil {
				t.Fatal(err)
			}
			if err := VerifyReceipt(&back, s.PublicKey()); err != nil {
				t.Fatalf("receipt %d in tree %d after JSON: %v", seq, n, err)
			}
			checkTampering(t, rc, s, attacker)
		}
	}
}

// checkTampering alters a good receipt in every way we can think of and
// checks that each one fails to verify.
func checkTampering(t *testing.T, good *Receipt, s, attacker *Signer) {
	t.Helper()
	clone := func() *Receipt {
		rc := *good
		rc.Leaf = bytes.Clone(good.Leaf)
		rc.Proof = append([]string(nil), good.Proof...)
		return &rc
	}
	other := LeafHash([]byte("other")).String()
	type tamper struct {
		name string
		f    func(*Receipt)
	}
	tampers := []tamper{
		{"leaf byte", func(rc *Receipt) { rc.Leaf[len(rc.Leaf)/2] ^= 1 }},
		{"leaf extended", func(rc *Receipt) { rc.Leaf = append(rc.Leaf, ' ') }},
		{"leaf and leaf hash", func(rc *Receipt) {
			rc.Leaf[0] ^= 1
			rc.LeafHash = LeafHash(rc.Leaf).String()
		}},
		{"leaf hash", func(rc *Receipt) { rc.LeafHash = other }},
		{"leaf hash garbage", func(rc *Receipt) { rc.LeafHash = "x" }},
		{"seq+1", func(rc *Receipt) { rc.Seq++ }},
		{"seq-1", func(rc *Receipt) { rc.Seq-- }},
		{"tree size", func(rc *Receipt) { rc.TreeSize++ }},
		{"proof extra hash", func(rc *Receipt) { rc.Proof = append(rc.Proof, other) }},
		{"checkpoint body", func(rc *Receipt) {
			body, sig, _ := strings.Cut(rc.Checkpoint, "\n\n")
			lines := strings.Split(body, "\n")
			lines[2] = other
			rc.Checkpoint = strings.Join(lines, "\n") + "\n\n" + sig
		}},
		{"checkpoint signature", func(rc *Receipt) {
			i := len(rc.Checkpoint) - 5
			rc.Checkpoint = rc.Checkpoint[:i] + string(rune(rc.Checkpoint[i])^1) + rc.Checkpoint[i+1:]
		}},
		{"checkpoint re-signed by attacker", func(rc *Receipt) {
			cp, err := OpenCheckpoint(rc.Checkpoint, s.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			rc.Checkpoint = sign(t, attacker, cp)
			rc.PublicKey = attacker.PublicKey()
		}},
	}
	if len(good.Proof) > 0 {
		tampers = append(tampers,
			tamper{"proof hash", func(rc *Receipt) { rc.Proof[0] = other }},
			tamper{"proof last hash", func(rc *Receipt) { rc.Proof[len(rc.Proof)-1] = other }},
			tamper{"proof truncated", func(rc *Receipt) { rc.Proof = rc.Proof[:len(rc.Proof)-1] }},
			tamper{"proof garbage", func(rc *Receipt) { rc.Proof[0] = "!!" }},
		)
	}
	if len(good.Proof) > 1 {
		tampers = append(tampers, tamper{"proof swapped", func(rc *Receipt) {
			rc.Proof[0], rc.Proof[1] = rc.Proof[1], rc.Proof[0]
		}})
	}
	for _, tc := range tampers {
		rc := clone()
		tc.f(rc)
		if err := VerifyReceipt(rc, s.PublicKey()); err == nil {
			t.Errorf("seq %d tree %d: receipt with altered %s verified", good.Seq, good.TreeSize, tc.name)
		}
	}
	if err := VerifyReceipt(nil, s.PublicKey()); err == nil {
		t.Error("nil receipt verified")
	}
}

func TestReceiptKeyPinning(t *testing.T) {
	s := testSigner(t, "consentd")
	attacker := testSigner(t, "consentd")
	l := newLog(t, 5)
	cp := l.checkpoint(t, "o", 5)
	// The attacker makes a receipt for a leaf that was never logged, under
	// its own key. It is self-consistent, so it verifies with the embedded
	// key; only pinning the real key catches it.
	fake := &memLog{}
	for _, e := range l.entries[:4] {
		fake.append(t, e.Data)
	}
	fake.append(t, []byte("forged consent"))
	fcp := fake.checkpoint(t, "o", 5)
	rc, err := NewReceipt(5, []byte("forged consent"), sign(t, attacker, fcp), fcp, fake, attacker.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyReceipt(rc, ""); err != nil {
		t.Fatalf("self-consistent receipt: %v", err)
	}
	if err := VerifyReceipt(rc, s.PublicKey()); err == nil {
		t.Error("attacker's receipt verified against the pinned key")
	}
	// And the real receipt carries the real key.
	real, err := NewReceipt(5, l.entries[4].Data, sign(t, s, cp), cp, l, s.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	// The key under the name it signed with: what a standard verifier
	// given this key checks the signature line against.
	if real.PublicKey != originKey(t, s, "o") {
		t.Errorf("receipt carries the public key %q; want %q", real.PublicKey, originKey(t, s, "o"))
	}
}

func TestNewReceiptRefuses(t *testing.T) {
	s := testSigner(t, "consentd")
	l := newLog(t, 10)
	cp := l.checkpoint(t, "o", 10)
	signed := sign(t, s, cp)
	leaf := l.entries[2].Data
	if _, err := NewReceipt(3, leaf, signed, cp, l, s.PublicKey()); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func() (*Receipt, error){
		"seq 0":        func() (*Receipt, error) { return NewReceipt(0, leaf, signed, cp, l, s.PublicKey()) },
		"seq > size":   func() (*Receipt, error) { return NewReceipt(11, leaf, signed, cp, l, s.PublicKey()) },
		"wrong leaf":   func() (*Receipt, error) { return NewReceipt(3, []byte("nope"), signed, cp, l, s.PublicKey()) },
		"wrong seq":    func() (*Receipt, error) { return NewReceipt(4, leaf, signed, cp, l, s.PublicKey()) },
		"wrong key":    func() (*Receipt, error) { return NewReceipt(3, leaf, signed, cp, l, testSigner(t, "x").PublicKey()) },
		"cp mismatch":  func() (*Receipt, error) { c := cp; c.Size = 9; return NewReceipt(3, leaf, signed, c, l, s.PublicKey()) },
		"missing hash": func() (*Receipt, error) { return NewReceipt(3, leaf, signed, cp, &memLog{}, s.PublicKey()) },
	}
	for name, f := range cases {
		if _, err := f(); err == nil {
			t.Errorf("NewReceipt with %s succeeded", name)
		}
	}
}

func TestVerifierRootMatchesTreeHash(t *testing.T) {
	s := testSigner(t, "consentd")
	v, err := NewVerifier("o", s.PublicKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	l := &memLog{}
	for n := 1; n <= 300; n++ {
		l.append(t, entryData(n))
		v.Add(l.entries[n-1])
		want := mustTreeHash(t, int64(n), l)
		if got := v.root(); got != want {
			t.Fatalf("root at size %d = %s, tlog.TreeHash = %s", n, got, want)
		}
		if r := v.Report(); r.Root != want.String() || r.Entries != int64(n) || !r.OK {
			t.Fatalf("report at size %d = %+v", n, r)
		}
	}
}

// scenario builds a 100-entry log with checkpoints at sizes 10, 50 and 100
// (given out of order), then lets mutate damage it.
type scenario struct {
	s       *Signer
	origin  string
	log     *memLog
	signed  []string
	entries []Entry
}

func newScenario(t *testing.T) *scenario {
	sc := &scenario{s: testSigner(t, "consentd"), origin: Origin("ws1"), log: newLog(t, 100)}
	for _, size := range []int64{50, 100, 10} {
		sc.signed = append(sc.signed, sign(t, sc.s, sc.log.checkpoint(t, sc.origin, size)))
	}
	for _, e := range sc.log.entries {
		e.Data = bytes.Clone(e.Data)
		sc.entries = append(sc.entries, e)
	}
	return sc
}

func (sc *scenario) run(t *testing.T) Report {
	t.Helper()
	v, err := NewVerifier(sc.origin, sc.s.PublicKey(), sc.signed)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range sc.entries {
		v.Add(e)
	}
	r := v.Report()
	j, _ := json.Marshal(r)
	t.Logf("report: %s", j)
	return r
}

func expectProblem(t *testing.T, r Report, firstBad int64, problem string) {
	t.Helper()
	if r.OK {
		t.Fatalf("report OK, want problem %q", problem)
	}
	if r.FirstBad != firstBad {
		t.Errorf("FirstBad = %d, want %d", r.FirstBad, firstBad)
	}
	if !strings.Contains(r.Problem, problem) {
		t.Errorf("Problem = %q, want it to contain %q", r.Problem, problem)
	}
}

func TestVerifierGoodLog(t *testing.T) {
	sc := newScenario(t)
	r := sc.run(t)
	want := Report{
		Entries:     100,
		Root:        mustTreeHash(t, 100, sc.log).String(),
		KeyIDs:      []string{keyIDFor(t, sc.s, sc.origin)},
		Checkpoints: 3,
		OK:          true,
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("report = %+v, want %+v", r, want)
	}
}

func TestVerifierNoCheckpoints(t *testing.T) {
	sc := newScenario(t)
	sc.signed = nil
	r := sc.run(t)
	if !r.OK || r.Checkpoints != 0 || r.Entries != 100 {
		t.Errorf("report = %+v", r)
	}
}

func TestVerifierEmptyLog(t *testing.T) {
	s := testSigner(t, "consentd")
	for _, cps := range [][]Checkpoint{nil, {{Origin: "o", Size: 0, Root: emptyRoot}}} {
		var signed []string
		for _, c := range cps {
			signed = append(signed, sign(t, s, c))
		}
		v, err := NewVerifier("o", s.PublicKey(), signed)
		if err != nil {
			t.Fatal(err)
		}
		r := v.Report()
		if !r.OK || r.Entries != 0 || r.Checkpoints != len(cps) || r.Root != emptyRoot.String() {
			t.Errorf("report = %+v", r)
		}
	}
	v, _ := NewVerifier("o", s.PublicKey(), []string{sign(t, s, Checkpoint{Origin: "o", Size: 0, Root: LeafHash(nil)})})
	expectProblem(t, v.Report(), 1, "does not match the checkpoint signed at size 0")
}

func TestVerifierAlteredEntry(t *testing.T) {
	sc := newScenario(t)
	sc.entries[36].Data[10] ^= 1
	r := sc.run(t)
	expectProblem(t, r, 37, "entry 37 was altered")
	if r.Entries != 100 || r.Checkpoints != 1 {
		t.Errorf("counts: %+v", r)
	}
}

func TestVerifierAlteredEntryWithRecomputedHashes(t *testing.T) {
	sc := newScenario(t)
	// The attacker rewrites entry 30 and its stored leaf hash (and, in the
	// database, every tlog hash above it): only the checkpoint can tell.
	sc.entries[29].Data = []byte(`{"status":"denied"}`)
	sc.entries[29].LeafHash = LeafHash(sc.entries[29].Data)
	r := sc.run(t)
	expectProblem(t, r, 11, "tree at size 50 does not match the checkpoint signed at size 50; an entry in (10, 50] was altered")
	// The checkpoint at 100 does not match either, so the one at 50 was
	// not a fork: an entry was altered.
	if r.Checkpoints != 3 || strings.Contains(r.Problem, "forked") {
		t.Errorf("Checkpoints = %d, problem %q; want 3 and no fork", r.Checkpoints, r.Problem)
	}

	// Altered in the first stretch: FirstBad is 1.
	sc = newScenario(t)
	sc.entries[4].Data = []byte("x")
	sc.entries[4].LeafHash = LeafHash(sc.entries[4].Data)
	expectProblem(t, sc.run(t), 1, "an entry in (0, 10] was altered")
}

func TestVerifierRemovedEntry(t *testing.T) {
	sc := newScenario(t)
	sc.entries = append(sc.entries[:39], sc.entries[40:]...)
	r := sc.run(t)
	expectProblem(t, r, 40, "entry 40 is missing")
	if r.Entries != 99 || r.Checkpoints != 1 {
		t.Errorf("counts: %+v", r)
	}

	sc = newScenario(t)
	sc.entries = append(sc.entries[:39], sc.entries[45:]...)
	expectProblem(t, sc.run(t), 40, "entries 40..45 are missing")

	sc = newScenario(t)
	sc.entries = sc.entries[1:]
	expectProblem(t, sc.run(t), 1, "entry 1 is missing")
}

func TestVerifierRepeatedEntry(t *testing.T) {
	sc := newScenario(t)
	sc.entries = slicesInsert(sc.entries, 20, sc.entries[19])
	expectProblem(t, sc.run(t), 20, "entry 20 is repeated")

	sc = newScenario(t)
	sc.entries[20], sc.entries[21] = sc.entries[21], sc.entries[20]
	expectProblem(t, sc.run(t), 21, "entry 21 is missing")

	sc = newScenario(t)
	sc.entries = slicesInsert(sc.entries, 30, sc.entries[9])
	expectProblem(t, sc.run(t), 10, "entry 10 is out of order (it follows entry 30)")

	sc = newScenario(t)
	sc.entries[0].Seq = 0
	expectProblem(t, sc.run(t), 1, "entry 1 has an invalid seq 0")
}

func slicesInsert(es []Entry, i int, e Entry) []Entry {
	out := append([]Entry(nil), es[:i]...)
	out = append(out, e)
	return append(out, es[i:]...)
}

func TestVerifierCutTail(t *testing.T) {
	sc := newScenario(t)
	sc.entries = sc.entries[:80]
	r := sc.run(t)
	expectProblem(t, r, 81, "the log ends at 80 but a checkpoint was signed at size 100: entries 81..100 were removed")
	if r.Entries != 80 || r.Checkpoints != 3 {
		t.Errorf("counts: %+v", r)
	}

	sc = newScenario(t)
	sc.entries = sc.entries[:99]
	expectProblem(t, sc.run(t), 100, "entry 100 was removed")

	sc = newScenario(t)
	sc.entries = nil
	expectProblem(t, sc.run(t), 1, "the log ends at 0 but a checkpoint was signed at size 100: entries 1..100 were removed")
}

func TestVerifierForgedCheckpoint(t *testing.T) {
	// The attacker rewrites entry 60 with all hashes and replaces the
	// checkpoint at 100 with one signed by its own key.
	sc := newScenario(t)
	attacker := testSigner(t, "consentd")
	sc.entries[59].Data = []byte("rewritten")
	sc.entries[59].LeafHash = LeafHash(sc.entries[59].Data)
	forgedLog := &memLog{}
	for _, e := range sc.entries {
		forgedLog.append(t, e.Data)
	}
	sc.signed[1] = sign(t, attacker, forgedLog.checkpoint(t, sc.origin, 100))
	r := sc.run(t)
	expectProblem(t, r, 0, "checkpoint 2 of 3 (claiming size 100) is not validly signed by "+sc.s.KeyID())
	if r.Checkpoints != 2 || r.Entries != 100 {
		t.Errorf("counts: %+v", r)
	}

	// A real checkpoint with its body edited.
	sc = newScenario(t)
	sc.signed[0] = strings.Replace(sc.signed[0], "\n50\n", "\n51\n", 1)
	expectProblem(t, sc.run(t), 0, "checkpoint 1 of 3 (claiming size 51) is not validly signed")

	// Garbage.
	sc = newScenario(t)
	sc.signed = append(sc.signed, "garbage", "")
	expectProblem(t, sc.run(t), 0, "checkpoint 4 of 5 is not validly signed")

	// A forged checkpoint does not hide an entry problem: both are named.
	sc = newScenario(t)
	sc.signed[1] = sign(t, attacker, sc.log.checkpoint(t, sc.origin, 100))
	sc.entries[3].Data[0] ^= 1
	r = sc.run(t)
	expectProblem(t, r, 4, "entry 4 was altered")
	if !strings.Contains(r.Problem, "not validly signed") {
		t.Errorf("Problem = %q does not name the forged checkpoint", r.Problem)
	}
}

func TestVerifierWrongOrigin(t *testing.T) {
	sc := newScenario(t)
	sc.signed = append(sc.signed, sign(t, sc.s, sc.log.checkpoint(t, Origin("ws2"), 100)))
	expectProblem(t, sc.run(t), 0, `checkpoint 4 of 4 (size 100) is for log "consentd/ws2", not "consentd/ws1"`)
}

func TestVerifierConflictingCheckpoints(t *testing.T) {
	sc := newScenario(t)
	// A duplicate is fine.
	sc.signed = append(sc.signed, sc.signed[0])
	if r := sc.run(t); !r.OK || r.Checkpoints != 3 {
		t.Fatalf("duplicate checkpoint: %+v", r)
	}
	// Two roots at one size is a fork.
	sc.signed = append(sc.signed, sign(t, sc.s, Checkpoint{Origin: sc.origin, Size: 50, Root: LeafHash(nil)}))
	r := sc.run(t)
	expectProblem(t, r, 0, "checkpoints with different roots were signed at size 50")
	if r.Checkpoints != 2 {
		t.Errorf("Checkpoints = %d, want 2", r.Checkpoints)
	}
}

func TestVerifierBadArguments(t *testing.T) {
	s := testSigner(t, "consentd")
	if _, err := NewVerifier("", s.PublicKey(), nil); err == nil {
		t.Error("empty origin accepted")
	}
	if _, err := NewVerifier("o", "nope", nil); err == nil {
		t.Error("bad public key accepted")
	}
}

func TestVerifierAddDoesNotAllocate(t *testing.T) {
	s := testSigner(t, "consentd")
	v, err := NewVerifier("o", s.PublicKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	data := entryData(1)
	lh := LeafHash(data)
	seq := int64(0)
	allocs := testing.AllocsPerRun(10000, func() {
		seq++
		v.Add(Entry{Seq: seq, Data: data, LeafHash: lh})
	})
	if allocs != 0 {
		t.Errorf("Add allocates %v times per entry", allocs)
	}
	if r := v.Report(); !r.OK {
		t.Errorf("report: %+v", r)
	}
}

func BenchmarkVerifierAdd(b *testing.B) {
	s := testSigner(b, "consentd")
	v, err := NewVerifier("o", s.PublicKey(), nil)
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 256)
	rand.Read(data)
	lh := LeafHash(data)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		v.Add(Entry{Seq: int64(i) + 1, Data: data, LeafHash: lh})
	}
	b.StopTimer()
	if r := v.Report(); !r.OK || r.Entries != int64(b.N) {
		b.Fatalf("report: %+v", r)
	}
}
