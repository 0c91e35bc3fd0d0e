package consentd_test

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

func leafEntries() []*consentd.LogEntry {
	at := time.Date(2026, 11, 2, 10, 0, 0, 123456789, time.UTC)
	confirmed := at.Add(time.Minute)
	before := &consentd.LoggedConsent{Status: consentd.OptedIn, CapturedAt: at.Add(-time.Hour), Version: 1,
		Source: consentd.Source{Type: "form", Name: "signup-page", Details: json.RawMessage(`{"form":"v3"}`)}, PartyID: "crm-42",
		Proof: &consentd.Proof{IP: "203.0.113.9", UserAgent: "Mozilla/5.0", ConfirmedAt: &confirmed}, Origin: "crm"}
	after := &consentd.LoggedConsent{Status: consentd.OptedOut, CapturedAt: at, Version: 2, Source: consentd.Source{Type: "unsubscribe_link"},
		Reason: "too many mails", Jurisdiction: "DE"}
	subject := consentd.HashedConsentID([32]byte{1, 2, 3}, "newsletter:email")
	return []*consentd.LogEntry{
		{Seq: 1, At: at, Type: consentd.LogConsentChanged, Subject: subject, After: before, Actor: "key:k1"},
		{Seq: 2, At: at, Type: consentd.LogConsentChanged, Subject: subject, Before: before, After: after, Actor: "page"},
		{Seq: 3, At: at, Type: consentd.LogConsentSuperseded, Subject: subject, Before: after, Write: before, Actor: "import:imp_1"},
		{Seq: 4, At: at, Type: consentd.LogConsentChanged, Subject: subject, After: &consentd.LoggedConsent{Status: consentd.Pending,
			CapturedAt: at, Version: 3, Source: consentd.Source{Type: "api"}}, Actor: "key:k1"},
		{Seq: 300, At: at, Type: consentd.LogSuppressionAdded, Subject: consentd.HashedConsentID([32]byte{9}, "*"),
			After: consentd.Suppression{ID: "sup_1", Kind: consentd.KindEmail, Reason: consentd.SuppressComplaint, Note: "called us", CreatedAt: at}, Actor: "key:k1"},
		{Seq: 301, At: at, Type: consentd.LogSuppressionLifted, Subject: consentd.HashedConsentID([32]byte{9}, "*"),
			Before: consentd.Suppression{ID: "sup_2", Kind: consentd.KindPhone, Channel: "sms", Reason: consentd.SuppressSMSStop, CreatedAt: at}, Actor: "key:k1"},
		{Seq: 70000, At: at, Type: consentd.LogPurposeChanged, Subject: "newsletter", After: &consentd.Purpose{ID: "newsletter", Name: "Newsletter"}, Actor: "key:k1"},
		{Seq: 70001, At: at, Type: consentd.LogPurposeDeleted, Subject: "newsletter", Before: (*consentd.Purpose)(nil), Actor: "key:k1"},
		{Seq: 70002, At: at, Type: consentd.LogRequestReceived, Subject: "req_1", After: map[string]any{"type": "erase"}, Actor: "key:k1"},
		{Seq: 70003, At: at, Type: "test", Subject: "x", Actor: "test"},
	}
}

// TestLeafRoundTrip: the view of an encoded entry is the entry's JSON
// encoding, the leaf carries no evidence, and the evidence matches the
// commitment.
func TestLeafRoundTrip(t *testing.T) {
	var sizes []int
	for _, e := range leafEntries() {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		enc, err := consentd.EncodeEntry(e)
		if err != nil {
			t.Fatalf("EncodeEntry(%d): %v", e.Seq, err)
		}
		sizes = append(sizes, len(enc.Leaf))
		got, err := consentd.EntryView(enc.Leaf, enc.Evidence)
		if err != nil {
			t.Fatalf("EntryView(%d): %v", e.Seq, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("EntryView(%d) =\n%s\nwant\n%s", e.Seq, got, want)
		}
		for _, secret := range []string{"203.0.113.9", "Mozilla", "crm-42", "too many mails", "called us", "Newsletter"} {
			if bytes.Contains(enc.Leaf, []byte(secret)) {
				t.Errorf("leaf %d holds %q", e.Seq, secret)
			}
		}
		if err := consentd.CheckEvidence(enc.Leaf, enc.Evidence, enc.Opening); err != nil {
			t.Errorf("CheckEvidence(%d): %v", e.Seq, err)
		}
		if seq, ok := consentd.LeafSeq(enc.Leaf); !ok || seq != e.Seq {
			t.Errorf("LeafSeq(%d) = %d, %v", e.Seq, seq, ok)
		}
		if len(enc.Evidence) > 0 {
			bad := bytes.Replace(enc.Evidence, []byte(`"`), []byte(`'`), 1)
			if consentd.CheckEvidence(enc.Leaf, bad, enc.Opening) == nil {
				t.Errorf("CheckEvidence(%d) accepts altered evidence", e.Seq)
			}
			if consentd.CheckEvidence(enc.Leaf, enc.Evidence, make([]byte, consentd.OpeningSize)) == nil {
				t.Errorf("CheckEvidence(%d) accepts another opening", e.Seq)
			}
			erased, err := consentd.EntryView(enc.Leaf, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(erased), `"evidence":"erased"`) || strings.Contains(string(erased), "203.0.113.9") {
				t.Errorf("erased view of %d: %s", e.Seq, erased)
			}
		} else if consentd.CheckEvidence(enc.Leaf, []byte("{}"), nil) == nil {
			t.Errorf("CheckEvidence(%d) accepts evidence for a leaf that commits to none", e.Seq)
		}
	}
	sort.Ints(sizes)
	t.Logf("leaf sizes %v (median %d bytes)", sizes, sizes[len(sizes)/2])
}

// TestDecodeLeafRefuses: truncated leaves, trailing bytes and unknown
// codes do not decode.
func TestDecodeLeafRefuses(t *testing.T) {
	enc, err := consentd.EncodeEntry(leafEntries()[1])
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(enc.Leaf); i++ {
		if _, err := consentd.DecodeLeaf(enc.Leaf[:i]); err == nil {
			t.Errorf("DecodeLeaf of %d of %d bytes succeeds", i, len(enc.Leaf))
		}
	}
	if _, err := consentd.DecodeLeaf(append(bytes.Clone(enc.Leaf), 0)); err == nil {
		t.Error("DecodeLeaf accepts trailing bytes")
	}
	if _, err := consentd.DecodeLeaf([]byte(`{"seq":1}`)); err == nil {
		t.Error("DecodeLeaf accepts a version 1 leaf")
	}
	if v, err := consentd.EntryView([]byte(`{"seq":1}`), nil); err != nil || string(v) != `{"seq":1}` {
		t.Errorf("EntryView of a version 1 leaf = %s, %v", v, err)
	}
}

func BenchmarkEncodeEntry(b *testing.B) {
	e := leafEntries()[1]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := consentd.EncodeEntry(e); err != nil {
			b.Fatal(err)
		}
	}
}

// TestStoredSubject: stored subjects sort like the hashes and read back
// as they were; other subjects are stored as they are.
func TestStoredSubject(t *testing.T) {
	for i := range 2000 {
		var h [32]byte
		binary.BigEndian.PutUint64(h[:], uint64(i)*0x9e3779b97f4a7c15>>3)
		h[8] = byte(i)
		s := consentd.HashedConsentID(h, "newsletter:email")
		st := consentd.StoredSubject(s)
		if got := consentd.SubjectFromStored(st); got != s || len(st) != len(s) {
			t.Fatalf("SubjectFromStored(StoredSubject(%q)) = %q", s, got)
		}
	}
	hashes := make([][32]byte, 500)
	for i := range hashes {
		rand.Read(hashes[i][:])
	}
	sort.Slice(hashes, func(i, j int) bool { return bytes.Compare(hashes[i][:], hashes[j][:]) < 0 })
	for i := 1; i < len(hashes); i++ {
		a, b := consentd.StoredSubject(consentd.HashedConsentID(hashes[i-1], "x")), consentd.StoredSubject(consentd.HashedConsentID(hashes[i], "x"))
		if a >= b {
			t.Fatalf("stored subjects out of hash order: %q >= %q", a, b)
		}
	}
	for _, s := range []string{"newsletter", "req_123", "", strings.Repeat("a", 43) + "!x", strings.Repeat("é", 30) + "#x"} {
		if consentd.StoredSubject(s) != s || consentd.SubjectFromStored(s) != s {
			t.Errorf("StoredSubject(%q) changed it", s)
		}
	}
	lo, hi := consentd.SubjectRange(hashes[7])
	for _, ct := range []string{"*", "newsletter:email", "a"} {
		if st := consentd.StoredSubject(consentd.HashedConsentID(hashes[7], ct)); st < lo || st >= hi {
			t.Errorf("%q is outside SubjectRange [%q, %q)", st, lo, hi)
		}
	}
	if st := consentd.StoredSubject(consentd.HashedConsentID(hashes[8], "*")); st >= lo && st < hi {
		t.Errorf("another hash's subject is inside SubjectRange")
	}
}
