package ledger

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func TestRotateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoint.key")
	s1, err := LoadOrCreateKey(path, "consentd")
	if err != nil {
		t.Fatal(err)
	}
	c1 := Checkpoint{Origin: Origin("ws1"), Size: 1, Root: LeafHash([]byte("a"))}
	signed1 := sign(t, s1, c1)

	s2, err := RotateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if ids := s2.KeyIDs(); len(ids) != 2 || ids[0] != s1.KeyID() || ids[1] != s2.KeyID() || s2.KeyID() == s1.KeyID() {
		t.Fatalf("KeyIDs after rotation = %q; want [%s, a new key]", ids, s1.KeyID())
	}
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "PRIVATE+KEY+consentd+") {
		t.Fatalf("key file after rotation has %d lines; want 2, the new key last, named consentd", len(lines))
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file after rotation: %v, %v; want mode 0600", fi.Mode(), err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("key directory holds %d files after rotation, want 1 (temporary or lock file left behind?)", len(ents))
	}

	// The reloaded ring is the same; the new key signs.
	s3, err := LoadOrCreateKey(path, "consentd")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s3.KeyIDs(), s2.KeyIDs()) || s3.PublicKeyRing() != s2.PublicKeyRing() {
		t.Errorf("reloaded ring %q; want %q", s3.KeyIDs(), s2.KeyIDs())
	}
	c2 := Checkpoint{Origin: Origin("ws1"), Size: 2, Root: LeafHash([]byte("b"))}
	signed2 := sign(t, s3, c2)

	// Both checkpoints open with the ring and name their signer; the old
	// key alone opens only the old one, the new key alone only the new.
	for _, tc := range []struct {
		signed string
		want   Checkpoint
		by     *Signer
	}{{signed1, c1, s1}, {signed2, c2, s3}} {
		got, by, err := s3.Ring().Open(tc.signed)
		if err != nil || got != tc.want {
			t.Errorf("Ring.Open = %+v, %v; want %+v", got, err, tc.want)
		}
		if want := keyIDFor(t, tc.by, c1.Origin); by.KeyID != want || by.PublicKey != originKey(t, tc.by, c1.Origin) {
			t.Errorf("Ring.Open signed by %+v; want key %s", by, want)
		}
		if _, err := OpenCheckpoint(tc.signed, s3.PublicKeyRing()); err != nil {
			t.Errorf("OpenCheckpoint(ring text) = %v", err)
		}
	}
	if _, err := OpenCheckpoint(signed2, s1.PublicKey()); err == nil {
		t.Error("a checkpoint of the new key opened with the old key alone")
	}
	if _, err := OpenCheckpoint(signed1, s3.PublicKey()); err == nil {
		t.Error("a checkpoint of the old key opened with the new key alone")
	}

	// A second rotation keeps both older keys.
	s4, err := RotateKey(path)
	if err != nil || len(s4.KeyIDs()) != 3 || !slices.Equal(s4.KeyIDs()[:2], s2.KeyIDs()) {
		t.Fatalf("second rotation: %v, %q", err, s4.KeyIDs())
	}

	// A lock file left behind stops a rotation, which changes nothing.
	before, _ := os.ReadFile(path)
	if err := os.WriteFile(path+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := RotateKey(path); err == nil || !strings.Contains(err.Error(), ".lock") {
		t.Errorf("RotateKey with a lock file present = %v; want an error naming it", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
		t.Error("RotateKey changed the key file although it was locked")
	}
	os.Remove(path + ".lock")

	// No key file: nothing to rotate.
	if _, err := RotateKey(filepath.Join(t.TempDir(), "none.key")); err == nil {
		t.Error("RotateKey of a missing key file succeeded")
	}
}

// A key file without a final newline, or with blank lines, is still a ring;
// a bad line is an error that names the line but not the key.
func TestKeyFileFormat(t *testing.T) {
	dir := t.TempDir()
	skey1, _, _ := note.GenerateKey(rand.Reader, "consentd")
	skey2, _, _ := note.GenerateKey(rand.Reader, "consentd")
	cases := []struct {
		name, text string
		keys       int
		err        string
	}{
		{"one key, no newline", skey1, 1, ""},
		{"one key", skey1 + "\n", 1, ""},
		{"two keys, blank lines", "\n" + skey1 + "\n\n" + skey2 + "\n", 2, ""},
		{"empty", "\n\n", 0, "holds no key"},
		{"garbage second line", skey1 + "\nPRIVATE+KEY+consentd+00000000+c2VjcmV0\n", 0, "line 2"},
		{"another name", skey1 + "\n" + strings.Replace(skey2, "+consentd+", "+other+", 1) + "\n", 0, "line 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := LoadOrCreateKey(path, "consentd")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("LoadOrCreateKey = %v; want an error containing %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "c2VjcmV0") {
					t.Errorf("error quotes the key file: %v", err)
				}
				return
			}
			if err != nil || len(s.KeyIDs()) != tc.keys {
				t.Fatalf("LoadOrCreateKey = %v, %v; want %d keys", s, err, tc.keys)
			}
			// Rotating appends on a line of its own.
			if _, err := RotateKey(path); err != nil {
				t.Fatal(err)
			}
			if s2, err := LoadOrCreateKey(path, "consentd"); err != nil || len(s2.KeyIDs()) != tc.keys+1 {
				t.Errorf("after rotation: %v, %v; want %d keys", s2, err, tc.keys+1)
			}
		})
	}
}

// Signing under the origin is a plain note signature: the same bytes
// note.NewSigner makes for a key of that name. And checkpoints signed under
// the key file's name, as consentd signed them before, still verify.
func TestSignUnderOrigin(t *testing.T) {
	s := testSigner(t, "consentd")
	k := s.newest()
	c := Checkpoint{Origin: Origin("ws_abc"), Size: 3, Root: LeafHash([]byte("r"))}
	signed := sign(t, s, c)

	// The same Ed25519 key as skey text named after the origin.
	pk, err := newPubKey(c.Origin, k.pub)
	if err != nil {
		t.Fatal(err)
	}
	skey := "PRIVATE+KEY+" + c.Origin + "+" + strings.Split(pk.vkey, "+")[1] + "+" +
		base64.StdEncoding.EncodeToString(append([]byte{algEd25519}, k.priv.Seed()...))
	ns, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	want, err := note.Sign(&note.Note{Text: string(c.Text())}, ns)
	if err != nil {
		t.Fatal(err)
	}
	if signed != string(want) {
		t.Errorf("Sign = %q; note.NewSigner under the origin signs %q", signed, want)
	}
	if _, err := note.Open([]byte(signed), note.VerifierList(mustVerifier(t, pk.vkey))); err != nil {
		t.Errorf("note.Open with the origin-named verifier key: %v", err)
	}

	// The old way: signed under the file's name.
	legacy, err := note.Sign(&note.Note{Text: string(c.Text())}, edSigner{name: k.name, hash: k.hash, priv: k.priv})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(legacy), "\n— consentd ") {
		t.Fatalf("legacy signature %q", legacy)
	}
	got, by, err := s.Ring().Open(string(legacy))
	if err != nil || got != c || by.KeyID != s.KeyID() || by.PublicKey != s.PublicKey() {
		t.Errorf("Ring.Open(legacy) = %+v, %+v, %v; want %+v signed by %s", got, by, err, c, s.KeyID())
	}

	// An origin that cannot be a key name is signed under the file's name.
	odd := Checkpoint{Origin: "two words", Size: 1, Root: LeafHash(nil)}
	if signed := sign(t, s, odd); !strings.Contains(signed, "\n— consentd ") {
		t.Errorf("checkpoint of origin %q signed as %q", odd.Origin, signed)
	} else if _, err := OpenCheckpoint(signed, s.PublicKey()); err != nil {
		t.Error(err)
	}

	// Rings in text form.
	for _, text := range []string{"", "  \n", "nope", s.PublicKey() + "\nnope"} {
		if _, err := ParseRing(text); err == nil {
			t.Errorf("ParseRing(%q) succeeded", text)
		}
	}
	if r, err := ParseRing(" " + s.PublicKey() + "\n\n" + pk.vkey + "\t"); err != nil || len(r.KeyIDs()) != 2 {
		t.Errorf("ParseRing(two keys) = %v, %v", r, err)
	}
	// The same key twice, or under its own name and the origin, is fine.
	if _, err := OpenCheckpoint(signed, s.PublicKey()+" "+s.PublicKey()+" "+pk.vkey); err != nil {
		t.Errorf("OpenCheckpoint with duplicate keys: %v", err)
	}
}

// A ring verifies a log signed partly before and partly after a rotation,
// and partly under the key file's name (before keys were named by origin).
func TestVerifierKeyRing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	old, err := LoadOrCreateKey(path, "consentd")
	if err != nil {
		t.Fatal(err)
	}
	origin := Origin("ws1")
	l := newLog(t, 60)
	k := old.newest()
	legacy, err := note.Sign(&note.Note{Text: string(l.checkpoint(t, origin, 10).Text())}, edSigner{name: k.name, hash: k.hash, priv: k.priv})
	if err != nil {
		t.Fatal(err)
	}
	signed := []string{string(legacy), sign(t, old, l.checkpoint(t, origin, 20))}
	ring, err := RotateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	signed = append(signed, sign(t, ring, l.checkpoint(t, origin, 60)))

	v, err := NewVerifier(origin, ring.PublicKeyRing(), signed)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range l.entries {
		v.Add(e)
	}
	v.CheckConsistency(l)
	r := v.Report()
	want := []string{old.KeyID(), keyIDFor(t, old, origin), keyIDFor(t, ring, origin)}
	if !r.OK || r.Checkpoints != 3 || !slices.Equal(r.KeyIDs, want) {
		t.Errorf("report = %+v; want OK, 3 checkpoints, keys %q", r, want)
	}

	// The newest key alone does not verify the older checkpoints.
	v, _ = NewVerifier(origin, ring.PublicKey(), signed)
	for _, e := range l.entries {
		v.Add(e)
	}
	expectProblem(t, v.Report(), 0, "checkpoint 1 of 3 (claiming size 10) is not validly signed by "+ring.KeyID())
}

// A checkpoint signed with the real key over a root the log never had is a
// fork: the log matches the checkpoints around it, so no entry is blamed,
// and the consistency check names the first pair that does not hold.
func TestVerifierForkedCheckpoint(t *testing.T) {
	sc := newScenario(t)
	forked := &memLog{}
	for _, e := range sc.log.entries[:29] {
		forked.append(t, e.Data)
	}
	forked.append(t, []byte("another entry 30"))
	sc.signed = append(sc.signed, sign(t, sc.s, forked.checkpoint(t, sc.origin, 30)))
	v, err := NewVerifier(sc.origin, sc.s.PublicKey(), sc.signed)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range sc.entries {
		v.Add(e)
	}
	r := v.Report()
	expectProblem(t, r, 0, "the checkpoint signed at size 30 does not match the log, but the later one at size 50 does")
	if r.BadPair != nil {
		t.Errorf("BadPair = %v before CheckConsistency", r.BadPair)
	}
	v.CheckConsistency(sc.log)
	r = v.Report()
	expectProblem(t, r, 0, "the checkpoints signed at sizes 10 and 30 are not consistent")
	if !slices.Equal(r.BadPair, []int64{10, 30}) || !strings.Contains(r.Problem, "forked") || r.Checkpoints != 4 {
		t.Errorf("report = %+v; want bad pair [10 30], the fork named, 4 checkpoints", r)
	}
}

// CheckConsistency reads the stored tree, which the entries never touch: a
// stored hash rewritten under the checkpoints is caught there.
func TestVerifierStoredTreeAltered(t *testing.T) {
	sc := newScenario(t)
	// Overwrite the stored hash of the subtree of entries 33..48 (level 4).
	sc.log.hashes[tlog.StoredHashIndex(4, 2)] = LeafHash([]byte("x"))
	r := sc.run(t)
	if !r.OK {
		t.Fatalf("the entries alone do not show it, yet the report is %+v", r)
	}
	v, _ := NewVerifier(sc.origin, sc.s.PublicKey(), sc.signed)
	for _, e := range sc.entries {
		v.Add(e)
	}
	v.CheckConsistency(sc.log)
	r = v.Report()
	expectProblem(t, r, 0, "sizes 10 and 50 are not consistent")
	if !slices.Equal(r.BadPair, []int64{10, 50}) || !strings.Contains(r.Problem, "the stored tree's root at size 50 is not the signed one") {
		t.Errorf("report = %+v", r)
	}

	// A cut log: pairs beyond its end are left to the cut's report.
	sc = newScenario(t)
	sc.entries = sc.entries[:60]
	v, _ = NewVerifier(sc.origin, sc.s.PublicKey(), sc.signed)
	for _, e := range sc.entries {
		v.Add(e)
	}
	v.CheckConsistency(sc.log)
	if r := v.Report(); r.BadPair != nil || !strings.Contains(r.Problem, "entries 61..100 were removed") {
		t.Errorf("cut log: %+v", r)
	}
}

func TestTLogProof(t *testing.T) {
	s := testSigner(t, "consentd")
	l := newLog(t, 21)
	cp := l.checkpoint(t, Origin("ws1"), 21)
	signed := sign(t, s, cp)
	for _, seq := range []int64{1, 2, 13, 21} {
		rc, err := NewReceipt(seq, l.entries[seq-1].Data, signed, cp, l, s.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		text := rc.TLogProof()
		wantStart := TLogProofHeader + "\nextra " + base64.StdEncoding.EncodeToString(rc.Leaf) + "\nindex " + strconv.FormatInt(seq-1, 10) + "\n"
		if !strings.HasPrefix(string(text), wantStart) || !strings.HasSuffix(string(text), "\n\n"+signed) {
			t.Fatalf("TLogProof =\n%s", text)
		}
		back, err := ParseTLogProof(text)
		if err != nil {
			t.Fatal(err)
		}
		if back.Seq != seq || back.TreeSize != 21 || !bytes.Equal(back.Leaf, rc.Leaf) || !slices.Equal(back.Proof, rc.Proof) || back.Checkpoint != signed || back.LeafHash != rc.LeafHash {
			t.Errorf("ParseTLogProof(TLogProof()) = %+v; want %+v", back, rc)
		}
		if err := VerifyReceipt(back, s.PublicKey()); err != nil {
			t.Errorf("VerifyReceipt(parsed) = %v", err)
		}
		if err := VerifyReceipt(back, ""); err == nil {
			t.Error("a tlog-proof verified without a key")
		}
	}

	rc, _ := NewReceipt(13, l.entries[12].Data, signed, cp, l, s.PublicKey())
	good := string(rc.TLogProof())
	lines := strings.Split(good, "\n")
	replaceLine := func(i int, with string) string {
		ls := slices.Clone(lines)
		ls[i] = with
		return strings.Join(ls, "\n")
	}
	malformed := map[string]string{
		"empty":            "",
		"other header":     strings.Replace(good, "tlog-proof@v1", "tlog-proof@v2", 1),
		"no extra":         strings.Join(slices.Delete(slices.Clone(lines), 1, 2), "\n"),
		"extra not base64": replaceLine(1, "extra !!"),
		"index missing":    replaceLine(2, "13"),
		"index leading 0":  replaceLine(2, "index 012"),
		"index negative":   replaceLine(2, "index -1"),
		"index too large":  replaceLine(2, "index 9223372036854775807"),
		"hash short":       replaceLine(3, "AAAA"),
		"no checkpoint":    strings.SplitAfter(good, "\n\n")[0],
		"no blank line":    strings.Join(lines[:4], "\n"),
		"bad checkpoint":   strings.SplitAfter(good, "\n\n")[0] + "garbage\n",
	}
	for name, text := range malformed {
		if _, err := ParseTLogProof([]byte(text)); err == nil {
			t.Errorf("ParseTLogProof(%s) succeeded", name)
		}
	}
	// Well-formed but tampered: parses, does not verify.
	other := LeafHash([]byte("other")).String()
	tampered := map[string]string{
		"extra":           replaceLine(1, "extra "+base64.StdEncoding.EncodeToString([]byte("forged"))),
		"index":           replaceLine(2, "index 11"),
		"proof hash":      replaceLine(3, other),
		"proof dropped":   strings.Join(slices.Delete(slices.Clone(lines), 3, 4), "\n"),
		"checkpoint root": strings.Replace(good, cp.Root.String(), other, 1),
		"checkpoint size": strings.Replace(good, "\n21\n", "\n22\n", 1),
	}
	for name, text := range tampered {
		rc, err := ParseTLogProof([]byte(text))
		if err != nil {
			t.Errorf("ParseTLogProof(%s) = %v", name, err)
			continue
		}
		if err := VerifyReceipt(rc, s.PublicKey()); err == nil {
			t.Errorf("tlog-proof with altered %s verified", name)
		}
	}
}

// A receipt of a version 2 leaf carries the entry's evidence and opening;
// VerifyReceipt checks them against the leaf's commitment.
func TestReceiptEvidence(t *testing.T) {
	s := testSigner(t, "consentd")
	at := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	l := &memLog{}
	var encs []consentd.EncodedEntry
	for seq := int64(1); seq <= 3; seq++ {
		enc, err := consentd.EncodeEntry(&consentd.LogEntry{Seq: seq, At: at, Type: consentd.LogConsentChanged, Subject: "s",
			After: &consentd.LoggedConsent{Status: consentd.OptedIn, CapturedAt: at, Version: seq,
				Source: consentd.Source{Type: "form", Name: "signup-page"}, PartyID: "crm-42"}, Actor: "key:k1"})
		if err != nil {
			t.Fatal(err)
		}
		l.append(t, enc.Leaf)
		encs = append(encs, enc)
	}
	cp := l.checkpoint(t, Origin("ws1"), 3)
	rc, err := NewReceipt(2, encs[1].Leaf, sign(t, s, cp), cp, l, s.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.SetEvidence(encs[1].Evidence, encs[1].Opening); err != nil {
		t.Fatal(err)
	}
	if err := rc.SetEvidence(encs[0].Evidence, encs[0].Opening); err == nil {
		t.Error("SetEvidence accepted another entry's evidence")
	}
	j, _ := json.Marshal(rc)
	var back Receipt
	if err := json.Unmarshal(j, &back); err != nil {
		t.Fatal(err)
	}
	if err := VerifyReceipt(&back, s.PublicKey()); err != nil || !bytes.Equal(back.Evidence, encs[1].Evidence) || !bytes.Equal(back.Opening, encs[1].Opening) {
		t.Fatalf("receipt with evidence after JSON: %v", err)
	}
	for name, f := range map[string]func(*Receipt){
		"evidence": func(rc *Receipt) {
			rc.Evidence[len(rc.Evidence)/2] ^= 1
		},
		"opening": func(rc *Receipt) { rc.Opening[0] ^= 1 },
		"swapped": func(rc *Receipt) { rc.Evidence, rc.Opening = encs[0].Evidence, encs[0].Opening },
	} {
		bad := back
		bad.Evidence, bad.Opening = bytes.Clone(back.Evidence), bytes.Clone(back.Opening)
		f(&bad)
		if err := VerifyReceipt(&bad, s.PublicKey()); err == nil {
			t.Errorf("receipt with altered %s verified", name)
		}
	}
	// Erased evidence: the receipt still proves the entry.
	erased := back
	erased.Evidence, erased.Opening = nil, nil
	if err := VerifyReceipt(&erased, s.PublicKey()); err != nil {
		t.Errorf("receipt without evidence: %v", err)
	}
	// The tlog-proof text carries the leaf only.
	p, err := ParseTLogProof(back.TLogProof())
	if err != nil || VerifyReceipt(p, s.PublicKey()) != nil || p.Evidence != nil {
		t.Errorf("tlog-proof of a receipt with evidence: %+v, %v", p, err)
	}
}
