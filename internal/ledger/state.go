package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/consentd/consentd"
)

// This file replays a workspace's log and compares the result with the
// stored consents and suppressions, the rows that decisions are warmed
// from (docs/log-format.md). A valid tree proves the log was not
// rewritten; only the replay shows a row that was edited, deleted or added
// behind the log's back.
//
// Memory stays flat: the log is read in subject order (its subject index),
// one subject replayed at a time, and the stored rows of a page of
// subjects are probed by key. Rows whose subject the log never names are
// found by a second pass over the tables, probing the log by subject.

// StateSource is what the replay needs of a backend: a reader over one
// snapshot of a workspace, so that a write committed meanwhile cannot show
// as a difference.
type StateSource interface {
	StateSnapshot(ctx context.Context, wsID string, fn func(consentd.StateReader) error) error
}

// StateReport is the outcome of the replay.
type StateReport struct {
	Consents     int64             `json:"consents" doc:"consents that the replay of the log compared with the stored rows"`
	Suppressions int64             `json:"suppressions" doc:"suppressions in effect after the replay, compared with the stored rows"`
	Differences  int64             `json:"differences" doc:"stored rows that differ from the replay: edited, deleted or added behind the log's back"`
	Skipped      int64             `json:"skipped,omitempty" doc:"consents and contact points not compared because an entry of theirs holds no readable state: a version 1 leaf erased with its address, or an altered leaf (which the tree check names)"`
	First        []StateDifference `json:"first,omitempty" doc:"the first differences found, at most 10"`
}

// StateDifference is one stored row that differs from the replay.
type StateDifference struct {
	Table  string `json:"table" enum:"consents,suppressions"`
	ID     string `json:"id" doc:"the consent in hashed form (<contact point hash>#<channel type>), or the suppression id"`
	Kind   string `json:"kind" enum:"missing,extra,changed" doc:"missing: the log has it and the table not; extra: a row the log does not have; changed: the fields named in detail differ"`
	Detail string `json:"detail"`
	Seq    int64  `json:"seq,omitempty" doc:"the log entry that the replayed state comes from"`
}

// String describes d on one line.
func (d StateDifference) String() string {
	return fmt.Sprintf("%s row %s %s: %s", d.Table, d.ID, d.Kind, d.Detail)
}

// Problem describes the differences in one line; "" when there are none.
func (r StateReport) Problem() string {
	switch {
	case r.Differences == 0:
		return ""
	case r.Differences == 1:
		return "1 stored row differs from the replay of the log: " + r.First[0].String()
	}
	return fmt.Sprintf("%d stored rows differ from the replay of the log, first: %s", r.Differences, r.First[0])
}

// Limits of the replay: rows per page, differences named in the report.
const (
	statePage      = 500
	stateFirstDiff = 10
)

// VerifyState replays the workspace's log and compares it with the stored
// consents (status, captured_at, version, seq) and suppressions (contact
// point hash, kind, channel, reason, seq), in one snapshot.
func VerifyState(ctx context.Context, src StateSource, wsID string) (StateReport, error) {
	return verifyState(ctx, src, wsID, statePage)
}

// verifyState is VerifyState reading pages of size page.
func verifyState(ctx context.Context, src StateSource, wsID string, page int) (StateReport, error) {
	var rep StateReport
	err := src.StateSnapshot(ctx, wsID, func(r consentd.StateReader) error {
		p := &replay{ctx: ctx, r: r, rep: &rep, page: page}
		if err := p.forward(); err != nil {
			return err
		}
		return p.reverse()
	})
	if err != nil {
		return StateReport{}, fmt.Errorf("replay the log: %w", err)
	}
	return rep, nil
}

// Verify is VerifyLog and VerifyState in one report: the log is broken
// when its tree is or when a stored row differs from its replay.
func Verify(ctx context.Context, st Store, src StateSource, publicKey, wsID string) (Report, error) {
	rep, err := VerifyLog(ctx, st, publicKey, wsID)
	if err != nil {
		return Report{}, err
	}
	sr, err := VerifyState(ctx, src, wsID)
	if err != nil {
		return Report{}, err
	}
	rep.State = &sr
	if p := sr.Problem(); p != "" {
		if rep.Problem == "" {
			rep.Problem = p
		} else {
			rep.Problem += " (also: " + p + ")"
		}
		rep.OK = false
	}
	return rep, nil
}

// replay is one run of VerifyState.
type replay struct {
	ctx  context.Context
	r    consentd.StateReader
	rep  *StateReport
	page int // rows per read

	// The subject being replayed: a consent's writes fold into the one in
	// effect; a contact point's suppressions are added and lifted by id.
	subject    string
	fold       consentd.InEffect
	sups       map[string]loggedSuppression
	unreadable bool // an entry of the subject holds no state

	// Replayed subjects whose stored rows are yet to be read, in subject
	// order, which is the order their differences are reported in.
	queue []replayed
}

// loggedSuppression is a suppression as its suppression.added entry
// records it.
type loggedSuppression struct {
	consentd.Suppression
	seq int64
}

// replayed is one subject's state after the replay: a consent's write in
// effect (sups nil), or the suppressions in effect on a contact point.
type replayed struct {
	key   consentd.ConsentKey
	write consentd.LoggedWrite
	hash  [32]byte
	sups  map[string]loggedSuppression
}

// forward reads the log in subject order and compares each replayed
// subject with its stored rows, a page at a time.
func (p *replay) forward() error {
	var subject string
	var seq int64
	for {
		entries, err := p.r.SubjectEntries(p.ctx, subject, seq, p.page)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.Subject != p.subject {
				p.finish()
				p.subject = e.Subject
			}
			if err := p.add(e); err != nil {
				return err
			}
		}
		if len(entries) < p.page {
			p.finish()
			return p.compare()
		}
		subject, seq = entries[len(entries)-1].Subject, entries[len(entries)-1].Seq
		if err := p.compare(); err != nil {
			return err
		}
	}
}

// add replays one entry of the current subject.
func (p *replay) add(e consentd.SubjectEntry) error {
	w, ok, err := consentd.ParseLoggedWrite(e.View)
	switch {
	case errors.Is(err, consentd.ErrNoState):
		p.unreadable = true
		return nil
	case err != nil:
		return err
	case ok:
		p.fold.Add(w)
		return nil
	}
	var v struct {
		Type     string                `json:"type"`
		Before   *consentd.Suppression `json:"before"`
		After    *consentd.Suppression `json:"after"`
		Evidence string                `json:"evidence"`
	}
	if err := json.Unmarshal(e.View, &v); err != nil {
		return fmt.Errorf("log entry %d: %w", e.Seq, err)
	}
	if p.sups == nil {
		p.sups = map[string]loggedSuppression{}
	}
	switch {
	case v.Type == consentd.LogSuppressionAdded && v.After != nil:
		p.sups[v.After.ID] = loggedSuppression{*v.After, e.Seq}
	case v.Type == consentd.LogSuppressionLifted && v.Before != nil:
		delete(p.sups, v.Before.ID)
	case v.Evidence == consentd.EvidenceErased || v.Evidence == consentd.EvidenceUnreadable:
		p.unreadable = true
	default:
		return fmt.Errorf("log entry %d (%s) records no suppression", e.Seq, v.Type)
	}
	return nil
}

// finish queues the current subject's replayed state for comparison.
func (p *replay) finish() {
	w, ok := p.fold.Result()
	sups, unreadable := p.sups, p.unreadable
	p.fold.Reset()
	p.sups, p.unreadable = nil, false
	switch {
	case p.subject == "":
		return
	case unreadable:
		// Without every entry's state the replay cannot say what the
		// row should hold.
		p.rep.Skipped++
		return
	}
	if hash, ct, isConsent := consentd.ParseHashedConsentID(p.subject); isConsent && ok {
		p.queue = append(p.queue, replayed{key: consentd.ConsentKey{Hash: hash, ChannelType: ct}, write: w})
	} else if hash, ok := suppressionSubject(p.subject); ok && sups != nil {
		p.queue = append(p.queue, replayed{hash: hash, sups: sups})
	}
}

// suppressionSubject returns the contact point hash of a suppression
// entry's subject (HashedConsentID(hash, "*")).
func suppressionSubject(subject string) ([32]byte, bool) {
	h, ok := strings.CutSuffix(subject, "#*")
	if !ok {
		return [32]byte{}, false
	}
	hash, _, ok := consentd.ParseHashedConsentID(h + "#x")
	return hash, ok
}

// compare reads the stored rows of the queued subjects and compares.
func (p *replay) compare() error {
	var keys []consentd.ConsentKey
	var hashes [][32]byte
	for _, q := range p.queue {
		if q.sups == nil {
			keys = append(keys, q.key)
		} else {
			hashes = append(hashes, q.hash)
		}
	}
	consents := map[consentd.ConsentKey]consentd.StoredConsent{}
	if len(keys) > 0 {
		rows, err := p.r.Consents(p.ctx, keys)
		if err != nil {
			return err
		}
		for _, r := range rows {
			consents[r.ConsentKey] = r
		}
	}
	sups := map[[32]byte][]consentd.StoredSuppression{}
	if len(hashes) > 0 {
		rows, err := p.r.Suppressions(p.ctx, hashes)
		if err != nil {
			return err
		}
		for _, r := range rows {
			sups[r.Hash] = append(sups[r.Hash], r)
		}
	}
	for _, q := range p.queue {
		if q.sups == nil {
			p.rep.Consents++
			row, found := consents[q.key]
			p.compareConsent(q, row, found)
		} else {
			p.compareSuppressions(q, sups[q.hash])
		}
	}
	p.queue = p.queue[:0]
	return nil
}

// compareConsent compares a replayed consent with its stored row.
func (p *replay) compareConsent(c replayed, row consentd.StoredConsent, found bool) {
	id, w := c.key.Subject(), c.write
	if !found {
		p.differ(StateDifference{Table: "consents", ID: id, Kind: "missing", Seq: w.Seq,
			Detail: fmt.Sprintf("no stored row; the log's entry %d says %s captured %s", w.Seq, w.State.Status, w.State.CapturedAt.Format(time.RFC3339Nano))})
		return
	}
	var diffs []string
	if row.Status != w.State.Status {
		diffs = append(diffs, fmt.Sprintf("status is %s, the log says %s", row.Status, w.State.Status))
	}
	if !row.CapturedAt.Equal(w.State.CapturedAt) {
		diffs = append(diffs, fmt.Sprintf("captured_at is %s, the log says %s", row.CapturedAt.Format(time.RFC3339Nano), w.State.CapturedAt.Format(time.RFC3339Nano)))
	}
	if row.Version != w.State.Version {
		diffs = append(diffs, fmt.Sprintf("version is %d, the log says %d", row.Version, w.State.Version))
	}
	if row.Seq != w.Seq {
		diffs = append(diffs, fmt.Sprintf("seq is %d, the log says %d", row.Seq, w.Seq))
	}
	if w.Type != consentd.LogConsentChanged {
		// An honest log's write in effect is always the last one that
		// changed the state.
		diffs = append(diffs, fmt.Sprintf("the write in effect by the ordering rule is entry %d, logged as %s", w.Seq, w.Type))
	}
	if len(diffs) > 0 {
		p.differ(StateDifference{Table: "consents", ID: id, Kind: "changed", Seq: w.Seq, Detail: strings.Join(diffs, "; ")})
	}
}

// compareSuppressions compares the replayed suppressions of one contact
// point with its stored rows.
func (p *replay) compareSuppressions(s replayed, rows []consentd.StoredSuppression) {
	ids := make([]string, 0, len(s.sups))
	for id := range s.sups {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	stored := make(map[string]consentd.StoredSuppression, len(rows))
	for _, r := range rows {
		stored[r.ID] = r
	}
	for _, id := range ids {
		want := s.sups[id]
		p.rep.Suppressions++
		row, ok := stored[id]
		if !ok {
			p.differ(StateDifference{Table: "suppressions", ID: id, Kind: "missing", Seq: want.seq,
				Detail: fmt.Sprintf("no stored row; the log's entry %d added it (%s)", want.seq, want.Reason)})
			continue
		}
		var diffs []string
		for _, f := range []struct{ name, got, want string }{
			{"kind", string(row.Kind), string(want.Kind)},
			{"channel", row.Channel, want.Channel},
			{"reason", string(row.Reason), string(want.Reason)},
		} {
			if f.got != f.want {
				diffs = append(diffs, fmt.Sprintf("%s is %q, the log says %q", f.name, f.got, f.want))
			}
		}
		if row.Seq != want.seq {
			diffs = append(diffs, fmt.Sprintf("seq is %d, the log says %d", row.Seq, want.seq))
		}
		if len(diffs) > 0 {
			p.differ(StateDifference{Table: "suppressions", ID: id, Kind: "changed", Seq: want.seq, Detail: strings.Join(diffs, "; ")})
		}
	}
	slices.SortFunc(rows, func(a, b consentd.StoredSuppression) int { return strings.Compare(a.ID, b.ID) })
	for _, r := range rows {
		if _, ok := s.sups[r.ID]; !ok {
			p.differ(StateDifference{Table: "suppressions", ID: r.ID, Kind: "extra",
				Detail: fmt.Sprintf("no suppression with this id is in effect for its contact point after the log (%s)", r.Reason)})
		}
	}
}

// reverse finds the stored rows whose subject the log does not name at
// all, which the forward pass never reads.
func (p *replay) reverse() error {
	var after *consentd.ConsentKey
	for {
		rows, err := p.r.ConsentsAfter(p.ctx, after, p.page)
		if err != nil {
			return err
		}
		subjects := make([]string, len(rows))
		for i, r := range rows {
			subjects[i] = r.Subject()
		}
		logged, err := p.logged(subjects)
		if err != nil {
			return err
		}
		for i, r := range rows {
			if !logged[subjects[i]] {
				p.differ(StateDifference{Table: "consents", ID: subjects[i], Kind: "extra",
					Detail: fmt.Sprintf("no log entry writes this consent (stored: %s, version %d, seq %d)", r.Status, r.Version, r.Seq)})
			}
		}
		if len(rows) < p.page {
			break
		}
		after = &rows[len(rows)-1].ConsentKey
	}
	var id string
	for {
		rows, err := p.r.SuppressionsAfter(p.ctx, id, p.page)
		if err != nil {
			return err
		}
		subjects := make([]string, len(rows))
		for i, r := range rows {
			subjects[i] = consentd.HashedConsentID(r.Hash, "*")
		}
		logged, err := p.logged(subjects)
		if err != nil {
			return err
		}
		for i, r := range rows {
			if !logged[subjects[i]] {
				p.differ(StateDifference{Table: "suppressions", ID: r.ID, Kind: "extra",
					Detail: fmt.Sprintf("no log entry suppresses its contact point (stored: %s, seq %d)", r.Reason, r.Seq)})
			}
		}
		if len(rows) < p.page {
			return nil
		}
		id = rows[len(rows)-1].ID
	}
}

// logged returns which of subjects the log names.
func (p *replay) logged(subjects []string) (map[string]bool, error) {
	if len(subjects) == 0 {
		return nil, nil
	}
	uniq := slices.Clone(subjects)
	slices.Sort(uniq)
	uniq = slices.Compact(uniq)
	found, err := p.r.Logged(p.ctx, uniq)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(found))
	for _, s := range found {
		out[s] = true
	}
	return out, nil
}

// differ counts a difference and keeps the first few.
func (p *replay) differ(d StateDifference) {
	p.rep.Differences++
	if len(p.rep.First) < stateFirstDiff {
		p.rep.First = append(p.rep.First, d)
	}
}
