package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

func testWriteOutcomes(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	const id = "jane@example.com#newsletter:email"
	before := time.Now()
	for i, c := range []struct {
		w       consentd.ConsentWrite
		applied bool
		outcome consentd.Outcome
		status  consentd.Status
		version int64
	}{
		{cw("jane@example.com", "newsletter", "opted_in", e.t0), true, consentd.Created, consentd.OptedIn, 1},
		{cw("jane@example.com", "newsletter", "opted_in", e.t0), false, consentd.Unchanged, consentd.OptedIn, 1},
		{cw("jane@example.com", "newsletter", "opted_out", e.t0.Add(-time.Minute)), false, consentd.Superseded, consentd.OptedIn, 1},
		{cw("jane@example.com", "newsletter", "opted_out", e.t0.Add(time.Minute)), true, consentd.Changed, consentd.OptedOut, 2},
		{cw("jane@example.com", "newsletter", "opted_in", e.t0.Add(2*time.Minute)), true, consentd.Changed, consentd.OptedIn, 3},
	} {
		size := e.logSize()
		r := e.mustWrite(c.w)[0]
		if r.Applied != c.applied || r.Outcome != c.outcome {
			t.Errorf("write %d = applied %v, %q; want %v, %q", i, r.Applied, r.Outcome, c.applied, c.outcome)
		}
		if r.Consent == nil || r.Consent.ID != id || r.Consent.Status != c.status || r.Consent.Version != c.version {
			t.Fatalf("write %d consent = %+v; want %s %s version %d", i, r.Consent, id, c.status, c.version)
		}
		if n := e.logSize(); n != size+1 {
			t.Errorf("write %d: log size %d -> %d; want one entry more", i, size, n)
		}
		if c.applied && r.Consent.Seq != size+1 {
			t.Errorf("write %d: consent seq %d; want %d, its log entry", i, r.Consent.Seq, size+1)
		}
	}
	c := e.consent(id)
	if c.Status != consentd.OptedIn || c.Version != 3 || !c.CapturedAt.Equal(e.t0.Add(2*time.Minute)) || c.ContactPoint != "jane@example.com" ||
		c.ChannelType != "newsletter:email" || c.Purpose != "newsletter" || c.Channel != "email" || c.Topic != "" ||
		c.Source.Type != consentd.SourceForm || c.Source.Name != "signup" || c.Seq != catalogEntries+5 ||
		c.RecordedAt.Before(before.Add(-time.Second)) || c.RecordedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("Consent(%q) = %+v; want opted_in version 3 captured at t0+2m, seq %d, recorded now", id, c, catalogEntries+5)
	}

	// Every field round-trips.
	confirmed := e.t0.Add(time.Second)
	full := consentd.ConsentWrite{ContactPoint: "full@example.com", Channel: "email", Purpose: "newsletter", Topic: "weekly",
		Status: consentd.OptedIn, CapturedAt: e.t0, Source: consentd.Source{Type: consentd.SourcePreferenceCenter, Name: "pc", Details: []byte(`{"page":"prefs"}`)},
		Reason: "asked", PartyID: "crm-42", Jurisdiction: "US-CA", Origin: "crm",
		Proof: &consentd.Proof{IP: "192.0.2.1", UserAgent: "ua", FormVersion: "v3", TextVersion: "t2", ConfirmedAt: &confirmed}}
	e.mustWrite(full)
	c = e.consent("full@example.com#weekly:email")
	if c.Topic != "weekly" || c.Purpose != "newsletter" || c.Reason != "asked" || c.PartyID != "crm-42" || c.Jurisdiction != "US-CA" ||
		c.Origin != "crm" || c.Source.Name != "pc" || string(c.Source.Details) != `{"page":"prefs"}` || c.Proof == nil ||
		c.Proof.IP != "192.0.2.1" || c.Proof.UserAgent != "ua" || c.Proof.FormVersion != "v3" || c.Proof.TextVersion != "t2" ||
		c.Proof.ConfirmedAt == nil || !c.Proof.ConfirmedAt.Equal(confirmed) {
		t.Errorf("Consent(full) = %+v (proof %+v); want every field as written", c, c.Proof)
	}
	// A later write without party keeps the party; without proof drops it.
	e.mustWrite(topic(cw("full@example.com", "newsletter", "opted_out", e.t0.Add(time.Minute)), "weekly"))
	c = e.consent("full@example.com#weekly:email")
	if c.PartyID != "crm-42" || c.Proof != nil || c.Reason != "" || c.Status != consentd.OptedOut {
		t.Errorf("Consent(full) after a write without party = %+v; want party crm-42 kept, proof and reason gone", c)
	}
}

func testNormalization(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	res := e.mustWrite(cw("Jane@Example.com ", "newsletter", "opted_in", e.t0), cw("jane@example.com", "newsletter", "opted_in", e.t0),
		cw("  JANE@EXAMPLE.COM", "newsletter", "opted_out", e.t0.Add(time.Second)))
	want := []consentd.Outcome{consentd.Created, consentd.Unchanged, consentd.Changed}
	for i, r := range res {
		if r.Outcome != want[i] || r.Consent.ID != "jane@example.com#newsletter:email" || r.Consent.ContactPoint != "jane@example.com" {
			t.Errorf("write %d = %q %+v; want %q on jane@example.com", i, r.Outcome, r.Consent, want[i])
		}
	}
	for _, id := range []string{"jane@example.com#newsletter:email", "Jane@Example.com #newsletter:email", "JANE@EXAMPLE.COM#0eBNEWSLETTEREMAIL"} {
		c, err := s.Consent(e.ctx, e.ws, id, time.Time{})
		if err != nil || c.ID != "jane@example.com#newsletter:email" || c.Status != consentd.OptedOut {
			t.Errorf("Consent(%q) = %+v, %v; want jane@example.com opted_out", id, c, err)
		}
	}
	if l, _, err := s.ListConsents(e.ctx, e.ws, consentd.ConsentFilter{}); err != nil || len(l) != 1 {
		t.Errorf("ListConsents() = %d consents, %v; want 1", len(l), err)
	}
	for _, cp := range []string{"+49 151 12345678", "+49 (151) 123-45678", "0049 151 12345678"} {
		e.mustWrite(on(cw(cp, "newsletter", "opted_in", e.t0), "sms"))
	}
	if h, err := s.ConsentHistory(e.ctx, e.ws, "+4915112345678#newsletter:sms"); err != nil || len(h) != 3 {
		t.Errorf("ConsentHistory(+4915112345678) = %d entries, %v; want the 3 writes of one number", len(h), err)
	}
	res = e.write(cw("not an address", "newsletter", "opted_in", e.t0), on(cw("12345", "newsletter", "opted_in", e.t0), "sms"))
	for i, r := range res {
		wantCode(t, fmt.Sprintf("write %d of a bad address", i), r.Err, consentd.EINVALIDCONTACTPOINT)
	}
}

// testOrderingPermutations writes the same four writes in every order, one
// call each and as one batch: each order ends in the same state, the one
// of the latest captured_at (opted_out winning the tie), and logs all four.
func testOrderingPermutations(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	writes := func(cp string) []consentd.ConsentWrite {
		return []consentd.ConsentWrite{
			cw(cp, "newsletter", "opted_in", e.t0),
			cw(cp, "newsletter", "opted_out", e.t0.Add(time.Minute)),
			cw(cp, "newsletter", "opted_in", e.t0.Add(2*time.Minute)),
			cw(cp, "newsletter", "opted_out", e.t0.Add(2*time.Minute)),
		}
	}
	for _, batch := range []bool{false, true} {
		for _, perm := range permutations(4) {
			cp := fmt.Sprintf("p%v-%v@example.com", batch, strings.Trim(strings.Join(strings.Fields(fmt.Sprint(perm)), ""), "[]"))
			w := writes(cp)
			ordered := make([]consentd.ConsentWrite, len(perm))
			for i, j := range perm {
				ordered[i] = w[j]
			}
			if batch {
				e.mustWrite(ordered...)
			} else {
				for _, w := range ordered {
					e.mustWrite(w)
				}
			}
			id := consentd.ConsentID(cp, "newsletter:email")
			c := e.consent(id)
			if c.Status != consentd.OptedOut || !c.CapturedAt.Equal(e.t0.Add(2*time.Minute)) {
				t.Errorf("order %v (batch %v): Consent() = %s at %v; want opted_out at t0+2m", perm, batch, c.Status, c.CapturedAt.Sub(e.t0))
			}
			h, err := s.ConsentHistory(e.ctx, e.ws, id)
			if err != nil || len(h) != 4 {
				t.Errorf("order %v (batch %v): ConsentHistory() = %d entries, %v; want 4", perm, batch, len(h), err)
				continue
			}
			var changed int64
			for _, typ := range types(t, h) {
				if typ == consentd.LogConsentChanged {
					changed++
				}
			}
			if c.Version != changed {
				t.Errorf("order %v (batch %v): version %d; want %d, the number of consent.changed entries", perm, batch, c.Version, changed)
			}
		}
	}
}

func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := slices.Insert(slices.Clone(p), i, n-1)
			out = append(out, q)
		}
	}
	return out
}

func testEqualCapturedAt(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	at := e.t0
	for _, c := range []struct {
		first, second string
		outcome       consentd.Outcome
		final         consentd.Status
	}{
		{"opted_in", "opted_out", consentd.Changed, consentd.OptedOut},
		{"opted_out", "opted_in", consentd.Superseded, consentd.OptedOut},
		{"pending", "opted_out", consentd.Changed, consentd.OptedOut},
		{"opted_out", "pending", consentd.Superseded, consentd.OptedOut},
		{"opted_in", "pending", consentd.Changed, consentd.Pending},
		{"pending", "opted_in", consentd.Superseded, consentd.Pending},
		{"opted_out", "opted_out", consentd.Unchanged, consentd.OptedOut},
	} {
		cp := c.first + "-" + c.second + "@example.com"
		e.mustWrite(cw(cp, "newsletter", c.first, at))
		r := e.mustWrite(cw(cp, "newsletter", c.second, at))[0]
		got := e.consent(cp + "#newsletter:email")
		if r.Outcome != c.outcome || got.Status != c.final {
			t.Errorf("%s then %s at one time = %q, %s; want %q, %s", c.first, c.second, r.Outcome, got.Status, c.outcome, c.final)
		}
	}
	// A replayed old import never undoes a newer opt-out.
	e.mustWrite(cw("replay@example.com", "newsletter", "opted_out", at))
	imp := cw("replay@example.com", "newsletter", "opted_in", at.Add(-24*time.Hour))
	imp.Source = consentd.Source{Type: consentd.SourceImport}
	if r := e.mustWrite(imp, imp)[1]; r.Applied || r.Outcome != consentd.Superseded || r.Consent.Status != consentd.OptedOut {
		t.Errorf("replayed import = %v %q %s; want superseded, opted_out kept", r.Applied, r.Outcome, r.Consent.Status)
	}
}

func testFutureCapturedAt(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	size := e.logSize()
	res := e.write(cw("future@example.com", "newsletter", "opted_in", time.Now().Add(time.Hour)),
		cw("future@example.com", "newsletter", "opted_out", time.Now().Add(consentd.MaxSkew+time.Minute)))
	for i, r := range res {
		wantCode(t, fmt.Sprintf("write %d in the future", i), r.Err, consentd.EFUTURECAPTUREDAT)
		if r.Consent != nil || r.Applied {
			t.Errorf("write %d in the future = %+v; want no consent", i, r)
		}
	}
	_, err := s.Consent(e.ctx, e.ws, "future@example.com#newsletter:email", time.Time{})
	wantCode(t, "Consent(written only in the future)", err, consentd.ENOTFOUND)
	if n := e.logSize(); n != size {
		t.Errorf("LogSize() = %d; want %d: a refused write is not logged", n, size)
	}
	// Within the skew allowance is accepted.
	e.mustWrite(cw("skew@example.com", "newsletter", "opted_in", time.Now().Add(time.Minute)))
	// A refused write after a stored one leaves it alone.
	e.mustWrite(cw("kept@example.com", "newsletter", "opted_in", e.t0))
	r := e.write(cw("kept@example.com", "newsletter", "opted_out", time.Now().Add(24*time.Hour)))[0]
	wantCode(t, "write in the future over a stored consent", r.Err, consentd.EFUTURECAPTUREDAT)
	if c := e.consent("kept@example.com#newsletter:email"); c.Status != consentd.OptedIn || c.Version != 1 {
		t.Errorf("Consent(kept) = %s version %d; want opted_in version 1", c.Status, c.Version)
	}
}

func testIdempotency(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	w := cw("same@example.com", "newsletter", "opted_in", e.t0)
	first := e.mustWrite(w)[0]
	for i := range 3 {
		r := e.mustWrite(w)[0]
		if r.Applied || r.Outcome != consentd.Unchanged || r.Consent.Version != 1 || r.Consent.Seq != first.Consent.Seq ||
			!r.Consent.RecordedAt.Equal(first.Consent.RecordedAt) {
			t.Errorf("repeat %d = %v %q %+v; want unchanged, the stored consent as it was", i, r.Applied, r.Outcome, r.Consent)
		}
	}
	h, err := s.ConsentHistory(e.ctx, e.ws, "same@example.com#newsletter:email")
	if got := types(t, h); err != nil || !slices.Equal(got, []string{consentd.LogConsentChanged, consentd.LogConsentUnchanged, consentd.LogConsentUnchanged, consentd.LogConsentUnchanged}) {
		t.Errorf("ConsentHistory() = %v, %v; want one changed and three unchanged", got, err)
	}
}

func testBatchItemErrors(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	size := e.logSize()
	ok := func(cp string) consentd.ConsentWrite { return cw(cp, "newsletter", "opted_in", e.t0) }
	bad := func(f func(*consentd.ConsentWrite)) consentd.ConsentWrite {
		w := ok("bad@example.com")
		f(&w)
		return w
	}
	writes := []consentd.ConsentWrite{
		ok("first@example.com"),
		bad(func(w *consentd.ConsentWrite) { w.ContactPoint = "not an address" }),
		bad(func(w *consentd.ConsentWrite) { w.ContactPoint = "" }),
		bad(func(w *consentd.ConsentWrite) { w.Purpose = "nothere" }),
		bad(func(w *consentd.ConsentWrite) { w.Topic = "nothere" }),
		bad(func(w *consentd.ConsentWrite) { w.Topic = "deals" }),
		bad(func(w *consentd.ConsentWrite) { w.Channel = "push" }),
		bad(func(w *consentd.ConsentWrite) { w.Channel, w.Purpose, w.ChannelType = "", "", "nothere:email" }),
		bad(func(w *consentd.ConsentWrite) { w.Status = "maybe" }),
		bad(func(w *consentd.ConsentWrite) { w.CapturedAt = time.Time{} }),
		bad(func(w *consentd.ConsentWrite) { w.CapturedAt = time.Now().Add(time.Hour) }),
		bad(func(w *consentd.ConsentWrite) { w.Source.Type = "fax" }),
		bad(func(w *consentd.ConsentWrite) { w.Jurisdiction = "Germany" }),
		bad(func(w *consentd.ConsentWrite) { w.PartyID = "a/b" }),
		ok("last@example.com"),
		ok("first@example.com"),
	}
	want := []string{"", consentd.EINVALIDCONTACTPOINT, consentd.EINVALIDCONTACTPOINT, consentd.EUNKNOWNPURPOSE, consentd.EUNKNOWNTOPIC,
		consentd.EUNKNOWNTOPIC, consentd.ECHANNELNOTOFFERED, consentd.EUNKNOWNCHANNELTYPE, consentd.EINVALIDSTATUS, consentd.EINVALIDTIME,
		consentd.EFUTURECAPTUREDAT, consentd.EINVALID, consentd.EINVALID, consentd.EINVALID, "", ""}
	res := e.write(writes...)
	for i, r := range res {
		wantCode(t, fmt.Sprintf("batch item %d", i), r.Err, want[i])
		if (r.Err != nil) != (r.Consent == nil) {
			t.Errorf("batch item %d = %+v; want a consent exactly when there is no error", i, r)
		}
	}
	if res[0].Outcome != consentd.Created || res[14].Outcome != consentd.Created || res[15].Outcome != consentd.Unchanged {
		t.Errorf("good items = %q, %q, %q; want created, created, unchanged", res[0].Outcome, res[14].Outcome, res[15].Outcome)
	}
	if n := e.logSize(); n != size+3 {
		t.Errorf("LogSize() = %d; want %d: the three good items only", n, size+3)
	}
	l, _, err := s.ListConsents(e.ctx, e.ws, consentd.ConsentFilter{})
	if err != nil || len(l) != 2 {
		t.Errorf("ListConsents() = %d, %v; want first and last only", len(l), err)
	}
	_, err = s.Consent(e.ctx, e.ws, "bad@example.com#newsletter:email", time.Time{})
	wantCode(t, "Consent(bad@example.com)", err, consentd.ENOTFOUND)
}

func testChannelTypeIDs(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	res := e.mustWrite(
		consentd.ConsentWrite{ContactPoint: "a@example.com", ChannelType: "0eBNEWSLETTEREMAIL", Status: consentd.OptedIn, CapturedAt: e.t0, Source: consentd.Source{Type: consentd.SourceSync}},
		consentd.ConsentWrite{ContactPoint: "a@example.com", ChannelType: "weekly:email", Status: consentd.OptedIn, CapturedAt: e.t0, Source: consentd.Source{Type: consentd.SourceSync}},
		consentd.ConsentWrite{ContactPoint: "a@example.com", ChannelType: "newsletter:email", Status: consentd.OptedIn, CapturedAt: e.t0, Source: consentd.Source{Type: consentd.SourceSync}},
	)
	if res[0].Consent.ID != "a@example.com#newsletter:email" || res[1].Consent.ID != "a@example.com#weekly:email" || res[1].Consent.Topic != "weekly" ||
		res[2].Outcome != consentd.Unchanged {
		t.Errorf("writes by channel type id = %+v, %+v, %q; want newsletter:email, weekly:email, unchanged", res[0].Consent, res[1].Consent, res[2].Outcome)
	}
	_, err := s.Consent(e.ctx, e.ws, "a@example.com#nothere:email", time.Time{})
	wantCode(t, "Consent(unknown channel type)", err, consentd.EUNKNOWNCHANNELTYPE)
	_, err = s.Consent(e.ctx, e.ws, "a@example.com", time.Time{})
	wantCode(t, "Consent(no #)", err, consentd.EINVALID)
	_, err = s.Consent(e.ctx, e.ws, "not an address#newsletter:email", time.Time{})
	wantCode(t, "Consent(bad address)", err, consentd.EINVALIDCONTACTPOINT)
	_, err = s.Consent(e.ctx, e.ws, "b@example.com#newsletter:email", time.Time{})
	wantCode(t, "Consent(no record)", err, consentd.ENOTFOUND)
}

// testPublicActs: a person's act on a public page (OnlyOnChange writes,
// OnlyIfNone suppressions) changes the log only when it changes a status.
// Replays with later captured_at and concurrent duplicates write nothing
// after the first: the check happens inside the write's transaction.
func testPublicActs(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	const id = "act@example.com#newsletter:email"
	e.mustWrite(cw("act@example.com", "newsletter", "opted_in", e.t0))
	optOut := func(at time.Time) consentd.ConsentWrite {
		w := cw("act@example.com", "newsletter", "opted_out", at)
		w.Source = consentd.Source{Type: consentd.SourceUnsubscribeLink, Name: "one_click"}
		w.OnlyOnChange = true
		return w
	}
	size := e.logSize()
	first := e.mustWrite(optOut(e.t0.Add(time.Minute)))[0]
	if !first.Applied || first.Outcome != consentd.Changed || e.logSize() != size+1 {
		t.Fatalf("first act = %v %q, log %d -> %d; want changed, one entry", first.Applied, first.Outcome, size, e.logSize())
	}
	// Replays, each captured later, one at a time and in one batch.
	for i := range 50 {
		r := e.mustWrite(optOut(e.t0.Add(time.Duration(i+2) * time.Minute)))[0]
		if r.Applied || r.Outcome != consentd.Unchanged || r.Consent == nil || r.Consent.Seq != first.Consent.Seq {
			t.Fatalf("replay %d = %v %q %+v; want unchanged with the stored consent of the first act", i, r.Applied, r.Outcome, r.Consent)
		}
	}
	e.mustWrite(optOut(e.t0.Add(time.Hour)), optOut(e.t0.Add(time.Hour+time.Second)))
	// Concurrent duplicates of a new act: exactly one applies.
	const n = 32
	var wg sync.WaitGroup
	var applied atomic.Int32
	for i := range n {
		wg.Go(func() {
			w := optOut(time.Now().UTC())
			w.Status = consentd.OptedIn
			res, err := s.WriteConsents(e.ctx, e.ws, []consentd.ConsentWrite{w}, "test")
			if err != nil || res[0].Err != nil {
				t.Errorf("concurrent act %d = %v, %v", i, err, res)
				return
			}
			if res[0].Applied {
				applied.Add(1)
			}
		})
	}
	wg.Wait()
	if got := e.logSize(); applied.Load() != 1 || got != size+2 {
		t.Errorf("%d concurrent acts applied %d times, log %d -> %d; want once, two entries in all", n, applied.Load(), size, got)
	}
	if c := e.consent(id); c.Status != consentd.OptedIn || c.Version != 3 {
		t.Errorf("consent after the acts = %s v%d; want opted_in v3", c.Status, c.Version)
	}
	// An API write is logged as before, even when it changes nothing.
	w := optOut(e.t0.Add(30 * time.Minute))
	w.Status, w.OnlyOnChange = consentd.OptedIn, false
	if r := e.mustWrite(w)[0]; r.Applied || e.logSize() != size+3 {
		t.Errorf("API write of the stored status = %v, log %d; want unchanged and logged", r.Applied, e.logSize())
	}

	// Suppressions: concurrent OnlyIfNone adds make one suppression.
	size = e.logSize()
	ids := make([]string, n)
	for i := range n {
		wg.Go(func() {
			sup, err := s.AddSuppression(e.ctx, e.ws, consentd.SuppressionInput{ContactPoint: "act@example.com", Kind: consentd.KindEmail,
				Reason: consentd.SuppressDoNotContact, Note: "unsubscribe from all", OnlyIfNone: true}, "test")
			if err != nil {
				t.Errorf("AddSuppression %d = %v", i, err)
				return
			}
			ids[i] = sup.ID
		})
	}
	wg.Wait()
	if got := e.logSize(); got != size+1 {
		t.Errorf("%d concurrent suppressions: log %d -> %d; want one entry", n, size, got)
	}
	for i := range ids {
		if ids[i] != ids[0] {
			t.Errorf("suppression %d = %q; want %q, the one added", i, ids[i], ids[0])
		}
	}
	sups, err := s.Suppressions(e.ctx, e.ws)
	if err != nil || len(sups) != 1 {
		t.Errorf("Suppressions() = %d, %v; want 1", len(sups), err)
	}
}
