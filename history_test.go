package consentd_test

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// day returns midnight UTC of a day in 2025.
func day(month time.Month, d int) time.Time { return time.Date(2025, month, d, 0, 0, 0, 0, time.UTC) }

// lw is a logged write of status captured at captured, entry seq recorded at.
func lw(seq int64, typ string, status consentd.Status, captured, at time.Time) consentd.LoggedWrite {
	return consentd.LoggedWrite{Seq: seq, At: at, Type: typ, State: &consentd.LoggedConsent{Status: status, CapturedAt: captured}}
}

// TestInEffect covers the two times of docs/decisions.md: as_of is valid
// time (captured_at), known_at is transaction time (the entry's at).
func TestInEffect(t *testing.T) {
	// Imported on 1 June: opted in on 1 March. Recorded on 10 June: an
	// opt-out captured on 1 May. Recorded on 20 June: an opt-in captured on
	// 1 February, older than the stored state (superseded).
	history := []consentd.LoggedWrite{
		lw(3, consentd.LogConsentChanged, consentd.OptedIn, day(3, 1), day(6, 1)),
		lw(7, consentd.LogConsentChanged, consentd.OptedOut, day(5, 1), day(6, 10)),
		lw(9, consentd.LogConsentSuperseded, consentd.OptedIn, day(2, 1), day(6, 20)),
	}
	tests := []struct {
		name    string
		times   consentd.Times
		wantSeq int64 // 0: none in effect
	}{
		{"now", consentd.Times{}, 7},
		{"as of April: the March opt-in, though imported later", consentd.Times{AsOf: day(4, 1)}, 3},
		{"as of June: the May opt-out, recorded later", consentd.Times{AsOf: day(6, 1)}, 7},
		{"as of the opt-out's captured_at", consentd.Times{AsOf: day(5, 1)}, 7},
		{"as of mid February: the superseded write was in effect then", consentd.Times{AsOf: day(2, 15)}, 9},
		{"as of January: nothing captured yet", consentd.Times{AsOf: day(1, 1)}, 0},
		{"known at 5 June: the import only", consentd.Times{KnownAt: day(6, 5)}, 3},
		{"known at the opt-out's recording", consentd.Times{KnownAt: day(6, 10)}, 7},
		{"known at 31 May: nothing recorded", consentd.Times{KnownAt: day(5, 31)}, 0},
		{"as of June, known at 5 June: we believed opted in", consentd.Times{AsOf: day(6, 1), KnownAt: day(6, 5)}, 3},
		{"as of mid February, known at 15 June: nothing then", consentd.Times{AsOf: day(2, 15), KnownAt: day(6, 15)}, 0},
		{"as of mid February, known at 20 June", consentd.Times{AsOf: day(2, 15), KnownAt: day(6, 20)}, 9},
	}
	for _, tt := range tests {
		// Feeding order must not matter.
		for _, order := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 2, 0}} {
			f := consentd.InEffect{Times: tt.times}
			for _, i := range order {
				f.Add(history[i])
			}
			w, ok := f.Result()
			if tt.wantSeq == 0 {
				if ok {
					t.Errorf("InEffect(%s) = entry %d; want none", tt.name, w.Seq)
				}
				_, err := f.Consent("jane@example.com", consentd.ChannelType{ID: "newsletter:email"})
				if code := consentd.ErrorCode(err); code != consentd.ENOTINEFFECT {
					t.Errorf("InEffect(%s).Consent() = %v; want %s", tt.name, err, consentd.ENOTINEFFECT)
				}
				continue
			}
			if !ok || w.Seq != tt.wantSeq {
				t.Errorf("InEffect(%s) = entry %d, %v; want entry %d", tt.name, w.Seq, ok, tt.wantSeq)
				continue
			}
			c, err := f.Consent("jane@example.com", consentd.ChannelType{ID: "newsletter:email", Purpose: "newsletter", Channel: "email"})
			if err != nil || c.Seq != w.Seq || c.ProvedBy == nil || c.ProvedBy.Seq != w.Seq || c.ProvedBy.Type != w.Type ||
				!c.RecordedAt.Equal(w.At) || c.ID != "jane@example.com#newsletter:email" || c.Status != w.State.Status {
				t.Errorf("InEffect(%s).Consent() = %+v, %v; want the state of entry %d", tt.name, c, err, w.Seq)
			}
		}
	}
	var none consentd.InEffect
	if _, err := none.Consent("jane@example.com", consentd.ChannelType{ID: "newsletter:email"}); consentd.ErrorCode(err) != consentd.ENOTFOUND {
		t.Errorf("InEffect(no writes).Consent() = %v; want %s", err, consentd.ENOTFOUND)
	}
}

// TestInEffectTies: at equal captured_at the more restrictive status is in
// effect, and of equal writes the earliest recorded.
func TestInEffectTies(t *testing.T) {
	t0 := day(3, 1)
	tests := []struct {
		name    string
		writes  []consentd.LoggedWrite
		wantSeq int64
	}{
		{"opted_out beats opted_in", []consentd.LoggedWrite{
			lw(1, consentd.LogConsentChanged, consentd.OptedIn, t0, t0), lw(2, consentd.LogConsentChanged, consentd.OptedOut, t0, t0)}, 2},
		{"opted_out beats pending", []consentd.LoggedWrite{
			lw(1, consentd.LogConsentChanged, consentd.OptedOut, t0, t0), lw(2, consentd.LogConsentSuperseded, consentd.Pending, t0, t0)}, 1},
		{"pending beats opted_in", []consentd.LoggedWrite{
			lw(1, consentd.LogConsentChanged, consentd.OptedIn, t0, t0), lw(2, consentd.LogConsentChanged, consentd.Pending, t0, t0)}, 2},
		{"the earliest of equal writes", []consentd.LoggedWrite{
			lw(4, consentd.LogConsentUnchanged, consentd.OptedIn, t0, t0), lw(1, consentd.LogConsentChanged, consentd.OptedIn, t0, t0)}, 1},
	}
	for _, tt := range tests {
		var f consentd.InEffect
		for _, w := range tt.writes {
			f.Add(w)
		}
		if w, ok := f.Result(); !ok || w.Seq != tt.wantSeq {
			t.Errorf("InEffect(%s) = entry %d, %v; want entry %d", tt.name, w.Seq, ok, tt.wantSeq)
		}
	}
}

// TestInEffectMatchesApply: for random histories, the write in effect known
// at K (no as_of) is the state that Apply leaves after the writes recorded
// up to K, in the order they were recorded: known_at alone answers the
// state the consent had at K.
func TestInEffectMatchesApply(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	statuses := []consentd.Status{consentd.OptedIn, consentd.OptedOut, consentd.Pending}
	for round := 0; round < 500; round++ {
		n := 1 + rng.IntN(8)
		var history []consentd.LoggedWrite
		var cur *consentd.Consent
		var states []int64 // seq of the stored state after each write
		for i := 0; i < n; i++ {
			w := consentd.ConsentWrite{Status: statuses[rng.IntN(3)], CapturedAt: day(1, 1).Add(time.Duration(rng.IntN(4)) * time.Hour)}
			seq := int64(i + 1)
			applied, outcome := consentd.Apply(cur, &w)
			typ := consentd.LogConsentChanged
			if !applied {
				typ = consentd.LogConsentSuperseded
				if outcome == consentd.Unchanged {
					typ = consentd.LogConsentUnchanged
				}
			} else {
				cur = &consentd.Consent{Status: w.Status, CapturedAt: w.CapturedAt, Seq: seq}
			}
			history = append(history, lw(seq, typ, w.Status, w.CapturedAt, day(6, 1).Add(time.Duration(seq)*time.Minute)))
			states = append(states, cur.Seq)
		}
		for k := range history {
			f := consentd.InEffect{Times: consentd.Times{KnownAt: history[k].At}}
			for _, i := range rng.Perm(n) {
				f.Add(history[i])
			}
			if w, ok := f.Result(); !ok || w.Seq != states[k] || w.Type != consentd.LogConsentChanged {
				t.Fatalf("round %d: InEffect(known at entry %d) = entry %d (%s), %v; Apply stored entry %d", round, k+1, w.Seq, w.Type, ok, states[k])
			}
		}
	}
}

func TestParseLoggedWrite(t *testing.T) {
	t0 := day(3, 1)
	changed := &consentd.LogEntry{Seq: 5, At: t0, Type: consentd.LogConsentChanged, Subject: "x#newsletter:email", Actor: "a",
		Before: &consentd.LoggedConsent{Status: consentd.OptedIn, CapturedAt: t0.Add(-time.Hour), Version: 1},
		After:  &consentd.LoggedConsent{Status: consentd.OptedOut, CapturedAt: t0, Version: 2, Source: consentd.Source{Type: "api"}}}
	superseded := &consentd.LogEntry{Seq: 6, At: t0, Type: consentd.LogConsentSuperseded, Subject: "x#newsletter:email", Actor: "a",
		Before: &consentd.LoggedConsent{Status: consentd.OptedOut, CapturedAt: t0, Version: 2},
		Write:  &consentd.LoggedConsent{Status: consentd.OptedIn, CapturedAt: t0.Add(-2 * time.Hour)}}
	suppression := &consentd.LogEntry{Seq: 7, At: t0, Type: consentd.LogSuppressionAdded, Subject: "x#*", Actor: "a", After: consentd.Suppression{ID: "sup_1"}}
	tests := []struct {
		name    string
		entry   *consentd.LogEntry
		ok      bool
		status  consentd.Status
		version int64
	}{
		{"changed: its after", changed, true, consentd.OptedOut, 2},
		{"superseded: its write", superseded, true, consentd.OptedIn, 0},
		{"another type", suppression, false, "", 0},
	}
	for _, tt := range tests {
		// Both leaf versions: the JSON entry, and a version 2 leaf's view.
		v1, err := json.Marshal(tt.entry)
		if err != nil {
			t.Fatal(err)
		}
		enc, err := consentd.EncodeEntry(tt.entry)
		if err != nil {
			t.Fatal(err)
		}
		v2, err := consentd.EntryView(enc.Leaf, enc.Evidence)
		if err != nil {
			t.Fatal(err)
		}
		for _, view := range [][]byte{v1, v2} {
			w, ok, err := consentd.ParseLoggedWrite(view)
			if err != nil || ok != tt.ok {
				t.Errorf("ParseLoggedWrite(%s) = %+v, %v, %v; want ok %v", tt.name, w, ok, err, tt.ok)
				continue
			}
			if ok && (w.Seq != tt.entry.Seq || !w.At.Equal(t0) || w.Type != tt.entry.Type || w.State.Status != tt.status || w.State.Version != tt.version) {
				t.Errorf("ParseLoggedWrite(%s) = %+v %+v; want seq %d, %s version %d", tt.name, w, w.State, tt.entry.Seq, tt.status, tt.version)
			}
		}
	}
	for _, bad := range []string{`not json`, `{"seq":1,"type":"consent.changed"}`} {
		if _, _, err := consentd.ParseLoggedWrite([]byte(bad)); err == nil || errors.Is(err, consentd.ErrNoState) {
			t.Errorf("ParseLoggedWrite(%s) = %v; want an error other than ErrNoState", bad, err)
		}
	}
	// Erased version 1 leaves and altered ones hold no state: readers skip them.
	for _, stateless := range []string{`{"seq":1,"type":"consent.changed","evidence":"erased"}`, `{"seq":1,"type":"consent.superseded","evidence":"unreadable"}`} {
		if _, ok, err := consentd.ParseLoggedWrite([]byte(stateless)); ok || !errors.Is(err, consentd.ErrNoState) {
			t.Errorf("ParseLoggedWrite(%s) = %v, %v; want ErrNoState", stateless, ok, err)
		}
	}
}

// TestSubjectFold: entries ordered by subject are emitted one subject at a
// time, each with its write in effect; subjects with none are skipped.
func TestSubjectFold(t *testing.T) {
	view := func(seq int64, subject string, status consentd.Status, captured time.Time) []byte {
		b, err := json.Marshal(&consentd.LogEntry{Seq: seq, At: day(6, 1), Type: consentd.LogConsentChanged, Subject: subject, Actor: "a",
			After: &consentd.LoggedConsent{Status: status, CapturedAt: captured, Version: 1}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	other, _ := json.Marshal(&consentd.LogEntry{Seq: 9, At: day(6, 1), Type: consentd.LogSuppressionAdded, Subject: "b#*", After: consentd.Suppression{ID: "sup_1"}})
	var got []int64
	f := consentd.SubjectFold{Times: consentd.Times{AsOf: day(4, 1)}, Emit: func(subject string, w consentd.LoggedWrite) error {
		got = append(got, w.Seq)
		return nil
	}}
	for _, e := range []struct {
		subject string
		view    []byte
	}{
		{"a#newsletter:email", view(1, "a#newsletter:email", consentd.OptedIn, day(3, 1))},
		{"a#newsletter:email", view(4, "a#newsletter:email", consentd.OptedOut, day(5, 1))},
		{"a#newsletter:email", []byte(`{"seq":5,"type":"consent.changed","evidence":"unreadable"}`)},
		{"b#*", other},
		{"b#newsletter:email", view(2, "b#newsletter:email", consentd.OptedIn, day(5, 1))}, // not in effect in April
		{"c#newsletter:email", view(3, "c#newsletter:email", consentd.OptedOut, day(2, 1))},
	} {
		if err := f.Add(e.subject, e.view); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != 1 || got[1] != 3 {
		t.Errorf("SubjectFold emitted entries %v; want [1 3]", got)
	}
}

func TestParseHashedConsentID(t *testing.T) {
	h := consentd.ContactPointHash([]byte("secret"), consentd.KindEmail, "jane@example.com")
	tests := []struct {
		subject string
		ok      bool
		ct      string
	}{
		{consentd.HashedConsentID(h, "newsletter:email"), true, "newsletter:email"},
		{consentd.HashedConsentID(h, "*"), false, ""},
		{"newsletter", false, ""},
		{"short#newsletter:email", false, ""},
		{"!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!#newsletter:email", false, ""},
	}
	for _, tt := range tests {
		got, ct, ok := consentd.ParseHashedConsentID(tt.subject)
		if ok != tt.ok || ct != tt.ct || ok && got != h {
			t.Errorf("ParseHashedConsentID(%q) = %x, %q, %v; want %v, %q", tt.subject, got, ct, ok, tt.ok, tt.ct)
		}
	}
}
