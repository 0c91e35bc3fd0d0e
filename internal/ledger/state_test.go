package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// memState is a snapshot held in memory: the sorted, paged reads that the
// backends answer with SQL, so that the replay's paging is tested at every
// page size. The conformance suite runs the replay on the real backends.
type memState struct {
	entries      []consentd.SubjectEntry // by subject, then seq
	consents     []consentd.StoredConsent
	suppressions []consentd.StoredSuppression
}

func (m *memState) StateSnapshot(ctx context.Context, wsID string, fn func(consentd.StateReader) error) error {
	return fn(m)
}

func (m *memState) SubjectEntries(ctx context.Context, subject string, seq int64, limit int) ([]consentd.SubjectEntry, error) {
	var out []consentd.SubjectEntry
	for _, e := range m.entries {
		if (e.Subject > subject || e.Subject == subject && e.Seq > seq) && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *memState) Consents(ctx context.Context, keys []consentd.ConsentKey) ([]consentd.StoredConsent, error) {
	var out []consentd.StoredConsent
	for _, c := range m.consents {
		if slices.Contains(keys, c.ConsentKey) {
			out = append(out, c)
		}
	}
	return out, nil
}

func (m *memState) Suppressions(ctx context.Context, hashes [][32]byte) ([]consentd.StoredSuppression, error) {
	var out []consentd.StoredSuppression
	for _, s := range m.suppressions {
		if slices.Contains(hashes, s.Hash) {
			out = append(out, s)
		}
	}
	return out, nil
}

func keyCompare(a, b consentd.ConsentKey) int {
	if c := bytes.Compare(a.Hash[:], b.Hash[:]); c != 0 {
		return c
	}
	return strings.Compare(a.ChannelType, b.ChannelType)
}

func (m *memState) ConsentsAfter(ctx context.Context, after *consentd.ConsentKey, limit int) ([]consentd.StoredConsent, error) {
	sorted := slices.SortedFunc(slices.Values(m.consents), func(a, b consentd.StoredConsent) int { return keyCompare(a.ConsentKey, b.ConsentKey) })
	var out []consentd.StoredConsent
	for _, c := range sorted {
		if (after == nil || keyCompare(c.ConsentKey, *after) > 0) && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

func (m *memState) SuppressionsAfter(ctx context.Context, id string, limit int) ([]consentd.StoredSuppression, error) {
	sorted := slices.SortedFunc(slices.Values(m.suppressions), func(a, b consentd.StoredSuppression) int { return strings.Compare(a.ID, b.ID) })
	var out []consentd.StoredSuppression
	for _, s := range sorted {
		if s.ID > id && len(out) < limit {
			out = append(out, s)
		}
	}
	return out, nil
}

func (m *memState) Logged(ctx context.Context, subjects []string) ([]string, error) {
	var out []string
	for _, s := range subjects {
		if slices.ContainsFunc(m.entries, func(e consentd.SubjectEntry) bool { return e.Subject == s }) {
			out = append(out, s)
		}
	}
	return out, nil
}

// newMemState builds the log and the rows the write path would store: for
// each of n contact points, writes of two channel types (changed,
// superseded and unchanged ones) and a suppression added, and for every
// third one lifted again.
func newMemState(t *testing.T, n int) *memState {
	t.Helper()
	m := &memState{}
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	var seq int64
	add := func(e *consentd.LogEntry) int64 {
		seq++
		e.Seq, e.At = seq, t0.Add(time.Duration(seq)*time.Second)
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		m.entries = append(m.entries, consentd.SubjectEntry{Subject: e.Subject, Seq: seq, View: b})
		return seq
	}
	for i := range n {
		hash := consentd.ContactPointHash([]byte("secret"), consentd.KindEmail, fmt.Sprintf("user%d@example.com", i))
		for _, ct := range []string{"newsletter:email", "promo:email"} {
			subject := consentd.HashedConsentID(hash, ct)
			first := &consentd.LoggedConsent{Status: consentd.OptedIn, CapturedAt: t0, Version: 1}
			add(&consentd.LogEntry{Type: consentd.LogConsentChanged, Subject: subject, After: first})
			last := &consentd.LoggedConsent{Status: consentd.OptedOut, CapturedAt: t0.Add(time.Hour), Version: 2}
			s := add(&consentd.LogEntry{Type: consentd.LogConsentChanged, Subject: subject, Before: first, After: last})
			add(&consentd.LogEntry{Type: consentd.LogConsentSuperseded, Subject: subject, Before: last,
				Write: &consentd.LoggedConsent{Status: consentd.OptedIn, CapturedAt: t0.Add(-time.Hour)}})
			add(&consentd.LogEntry{Type: consentd.LogConsentUnchanged, Subject: subject, Before: last, Write: last})
			m.consents = append(m.consents, consentd.StoredConsent{ConsentKey: consentd.ConsentKey{Hash: hash, ChannelType: ct},
				Status: last.Status, CapturedAt: last.CapturedAt, Version: 2, Seq: s})
		}
		sup := consentd.Suppression{ID: fmt.Sprintf("sup_%03d", i), Kind: consentd.KindEmail, Reason: consentd.SuppressDoNotContact}
		s := add(&consentd.LogEntry{Type: consentd.LogSuppressionAdded, Subject: consentd.HashedConsentID(hash, "*"), After: sup})
		if i%3 == 0 {
			add(&consentd.LogEntry{Type: consentd.LogSuppressionLifted, Subject: consentd.HashedConsentID(hash, "*"), Before: sup})
		} else {
			m.suppressions = append(m.suppressions, consentd.StoredSuppression{Hash: hash, ID: sup.ID, Kind: sup.Kind, Reason: sup.Reason, Seq: s})
		}
	}
	slices.SortFunc(m.entries, func(a, b consentd.SubjectEntry) int {
		if c := strings.Compare(a.Subject, b.Subject); c != 0 {
			return c
		}
		return int(a.Seq - b.Seq)
	})
	return m
}

// TestVerifyStatePages: the replay finds the same differences whatever
// the page size, so subjects split across pages are replayed whole.
func TestVerifyStatePages(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(m *memState)
		diffs  int64
		kinds  []string // of the differences, in the order found
	}{
		{"untouched", func(*memState) {}, 0, nil},
		{"a status edited", func(m *memState) { m.consents[3].Status = consentd.OptedIn }, 1, []string{"changed"}},
		{"a consent deleted", func(m *memState) { m.consents = slices.Delete(m.consents, 5, 6) }, 1, []string{"missing"}},
		{"a consent added", func(m *memState) {
			c := m.consents[0]
			c.ChannelType = "orders:email"
			m.consents = append(m.consents, c)
		}, 1, []string{"extra"}},
		{"a suppression deleted, another added", func(m *memState) {
			m.suppressions[0].ID = "sup_forged"
		}, 2, []string{"missing", "extra"}},
		{"every row gone", func(m *memState) { m.consents, m.suppressions = nil, nil }, 2*7 + 4, nil},
		{"an entry without state: its consent is skipped", func(m *memState) {
			m.consents[0].Status = consentd.OptedIn // not compared
			for i, e := range m.entries {
				if e.Subject == m.consents[0].Subject() {
					m.entries[i].View = []byte(fmt.Sprintf(`{"seq":%d,"type":"consent.unchanged","evidence":"unreadable"}`, e.Seq))
					break
				}
			}
		}, 0, nil},
	}
	for _, tt := range tests {
		var first StateReport
		for _, page := range []int{1, 2, 3, 5, 500} {
			m := newMemState(t, 7)
			tt.tamper(m)
			rep, err := verifyState(t.Context(), m, "ws", page)
			if err != nil {
				t.Fatalf("%s: verifyState(page %d) = %v", tt.name, page, err)
			}
			skipped := int64(0)
			if strings.Contains(tt.name, "skipped") {
				skipped = 1
			}
			if rep.Differences != tt.diffs || rep.Consents != 14-skipped || rep.Suppressions != 7-3 || rep.Skipped != skipped {
				t.Errorf("%s: verifyState(page %d) = %+v; want %d differences, 14 consents, 4 suppressions", tt.name, page, rep, tt.diffs)
			}
			var kinds []string
			for _, d := range rep.First {
				kinds = append(kinds, d.Kind)
			}
			if tt.kinds != nil && !slices.Equal(kinds, tt.kinds) {
				t.Errorf("%s: verifyState(page %d) differences %v; want %v", tt.name, page, rep.First, tt.kinds)
			}
			if page == 1 {
				first = rep
			} else if !reflect.DeepEqual(rep, first) {
				t.Errorf("%s: verifyState(page %d) = %+v; with pages of 1: %+v", tt.name, page, rep, first)
			}
		}
	}
}
