package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
)

// date returns midnight UTC of a day in 2025.
func date(month time.Month, day int) time.Time {
	return time.Date(2025, month, day, 0, 0, 0, 0, time.UTC)
}

// timesHistory writes the history of the two-times cases: jane and max
// imported today, opted in on 1 March 2025 (entry h[0]); jane's opt-out
// captured on 1 May, recorded later (h[1]); later still, jane's opt-in
// captured on 1 February, older than the stored state (h[2], superseded).
// It returns jane's three entries with their recording times, which
// strictly increase.
func timesHistory(e *env) []logEntry {
	e.t.Helper()
	jane := func(status string, at time.Time) consentd.ConsentWrite {
		w := cw("jane@example.com", "newsletter", status, at)
		w.Reason = "as written on the form" // evidence, beside the leaf
		return w
	}
	e.mustWrite(jane("opted_in", date(3, 1)), cw("max@example.com", "newsletter", "opted_in", date(3, 1)))
	time.Sleep(2 * time.Millisecond) // the log's clock moves between the three recordings
	e.mustWrite(jane("opted_out", date(5, 1)))
	time.Sleep(2 * time.Millisecond)
	if res := e.mustWrite(jane("opted_in", date(2, 1))); res[0].Outcome != consentd.Superseded {
		e.t.Fatalf("the February opt-in = %s; want superseded", res[0].Outcome)
	}
	recs, err := e.s.ConsentHistory(e.ctx, e.ws, "jane@example.com#newsletter:email")
	if err != nil || len(recs) != 3 {
		e.t.Fatalf("ConsentHistory() = %d entries, %v; want 3", len(recs), err)
	}
	h := make([]logEntry, len(recs))
	for i, r := range recs {
		h[i] = decode(e.t, r)
	}
	if !h[0].At.Before(h[1].At) || !h[1].At.Before(h[2].At) {
		e.t.Fatalf("entries recorded at %v, %v, %v; the test needs them apart", h[0].At, h[1].At, h[2].At)
	}
	return h
}

// testTimes covers the two times of docs/decisions.md: as_of is valid
// time (the write in effect by captured_at, as everything recorded says),
// known_at is transaction time (only the entries recorded by then).
func testTimes(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	const id = "jane@example.com#newsletter:email"
	h := timesHistory(e)
	before := func(t time.Time) time.Time { return t.Add(-time.Nanosecond) }
	tests := []struct {
		name    string
		at      consentd.Times
		status  consentd.Status
		entry   int // index into h of the proving entry
		version int64
		code    string // the error code instead
	}{
		{"as of April: the March opt-in, imported today", consentd.Times{AsOf: date(4, 1)}, consentd.OptedIn, 0, 1, ""},
		{"as of June: the May opt-out, recorded later", consentd.Times{AsOf: date(6, 1)}, consentd.OptedOut, 1, 2, ""},
		{"as of the opt-out's captured_at", consentd.Times{AsOf: date(5, 1)}, consentd.OptedOut, 1, 2, ""},
		{"as of mid February: the superseded write was in effect", consentd.Times{AsOf: date(2, 15)}, consentd.OptedIn, 2, 0, ""},
		{"as of January: no write captured yet", consentd.Times{AsOf: date(1, 1)}, "", 0, 0, consentd.ENOTINEFFECT},
		{"known at the import", consentd.Times{KnownAt: h[0].At}, consentd.OptedIn, 0, 1, ""},
		{"known just before the opt-out was recorded", consentd.Times{KnownAt: before(h[1].At)}, consentd.OptedIn, 0, 1, ""},
		{"known at the opt-out", consentd.Times{KnownAt: h[1].At}, consentd.OptedOut, 1, 2, ""},
		{"known now", consentd.Times{KnownAt: time.Now()}, consentd.OptedOut, 1, 2, ""},
		{"known before anything was recorded", consentd.Times{KnownAt: before(h[0].At)}, "", 0, 0, consentd.ENOTINEFFECT},
		{"as of June, as believed before the opt-out was recorded", consentd.Times{AsOf: date(6, 1), KnownAt: before(h[1].At)}, consentd.OptedIn, 0, 1, ""},
		{"as of mid February, known before that write was recorded", consentd.Times{AsOf: date(2, 15), KnownAt: h[1].At}, "", 0, 0, consentd.ENOTINEFFECT},
		{"as of mid February, known since", consentd.Times{AsOf: date(2, 15), KnownAt: h[2].At}, consentd.OptedIn, 2, 0, ""},
	}
	for _, tt := range tests {
		got, err := s.ConsentAt(e.ctx, e.ws, id, tt.at)
		if tt.code != "" {
			wantCode(t, "ConsentAt("+tt.name+")", err, tt.code)
			continue
		}
		want := h[tt.entry]
		if err != nil || got.Status != tt.status || got.Version != tt.version || got.Seq != want.Seq || got.ID != id || got.ChannelType != "newsletter:email" ||
			got.ProvedBy == nil || got.ProvedBy.Seq != want.Seq || got.ProvedBy.Type != want.Type || !got.RecordedAt.Equal(want.At) ||
			got.Source.Name != "signup" || got.Reason != "as written on the form" { // the reason is evidence, put back
			t.Errorf("ConsentAt(%s) = %+v (proved by %+v), %v; want %s version %d proved by entry %d (%s)", tt.name, got, provedBy(got), err, tt.status, tt.version, want.Seq, want.Type)
		}
	}
	// The zero times: the stored state, as Consent answers it.
	if got, err := s.ConsentAt(e.ctx, e.ws, id, consentd.Times{}); err != nil || got.Status != consentd.OptedOut || got.Version != 2 || got.ProvedBy != nil {
		t.Errorf("ConsentAt(no times) = %+v, %v; want the stored state, opted_out version 2", got, err)
	}
	// Consent's asOf is valid time too.
	if got, err := s.Consent(e.ctx, e.ws, id, date(4, 1)); err != nil || got.Status != consentd.OptedIn || got.Seq != h[0].Seq {
		t.Errorf("Consent(as of April) = %+v, %v; want the March opt-in", got, err)
	}
	_, err := s.ConsentAt(e.ctx, e.ws, "nobody@example.com#newsletter:email", consentd.Times{AsOf: date(6, 1)})
	wantCode(t, "ConsentAt(never written)", err, consentd.ENOTFOUND)
	_, err = s.ConsentAt(e.ctx, e.ws, "jane@example.com#nothere:email", consentd.Times{AsOf: date(6, 1)})
	wantCode(t, "ConsentAt(unknown channel type)", err, consentd.EUNKNOWNCHANNELTYPE)
}

func provedBy(c *consentd.Consent) *consentd.LogRef {
	if c == nil {
		return nil
	}
	return c.ProvedBy
}

// testExportTimes: the export at the two times answers what ConsentAt
// answers, for every consent.
func testExportTimes(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	h := timesHistory(e)
	const jane, max = "jane@example.com#newsletter:email", "max@example.com#newsletter:email"
	export := func(at consentd.Times) map[string]*consentd.Consent {
		out := map[string]*consentd.Consent{}
		err := s.ExportConsents(e.ctx, e.ws, at, func(c *consentd.Consent) error {
			if c.ContactPoint == "" || c.Purpose == "" || c.Channel == "" {
				t.Errorf("exported consent %+v lacks contact point, purpose or channel", c)
			}
			if _, dup := out[c.ID]; dup {
				t.Errorf("ExportConsents(%v) gave %s twice", at, c.ID)
			}
			out[c.ID] = c
			return nil
		})
		if err != nil {
			t.Fatalf("ExportConsents(%v) = %v", at, err)
		}
		return out
	}
	type want map[string]int64 // consent id -> seq of the proving entry
	tests := []struct {
		name string
		at   consentd.Times
		want want
	}{
		{"now", consentd.Times{}, want{jane: h[1].Seq, max: h[0].Seq + 1}},
		{"as of April", consentd.Times{AsOf: date(4, 1)}, want{jane: h[0].Seq, max: h[0].Seq + 1}},
		{"as of June", consentd.Times{AsOf: date(6, 1)}, want{jane: h[1].Seq, max: h[0].Seq + 1}},
		{"as of mid February", consentd.Times{AsOf: date(2, 15)}, want{jane: h[2].Seq}},
		{"as of January", consentd.Times{AsOf: date(1, 1)}, want{}},
		{"known at the import", consentd.Times{KnownAt: h[0].At}, want{jane: h[0].Seq, max: h[0].Seq + 1}},
		{"known before anything", consentd.Times{KnownAt: h[0].At.Add(-time.Nanosecond)}, want{}},
		{"as of June, known before the opt-out", consentd.Times{AsOf: date(6, 1), KnownAt: h[1].At.Add(-time.Nanosecond)}, want{jane: h[0].Seq, max: h[0].Seq + 1}},
	}
	for _, tt := range tests {
		got := export(tt.at)
		if len(got) != len(tt.want) {
			t.Errorf("export %s = %d consents; want %d", tt.name, len(got), len(tt.want))
		}
		for id, seq := range tt.want {
			c := got[id]
			if c == nil || c.Seq != seq {
				t.Errorf("export %s: %s = %+v; want the state of entry %d", tt.name, id, c, seq)
				continue
			}
			if tt.at.IsZero() {
				continue
			}
			one, err := s.ConsentAt(e.ctx, e.ws, id, tt.at)
			if err != nil || one.Status != c.Status || !one.CapturedAt.Equal(c.CapturedAt) || one.Seq != c.Seq {
				t.Errorf("export %s: %s = %s seq %d; ConsentAt answers %+v, %v", tt.name, id, c.Status, c.Seq, one, err)
			}
		}
	}
	// An erased address leaves the export at any time.
	if _, err := s.AddSuppression(e.ctx, e.ws, consentd.SuppressionInput{ContactPoint: "max@example.com", Reason: consentd.SuppressErased}, "test"); err != nil {
		t.Fatal(err)
	}
	if got := export(consentd.Times{AsOf: date(4, 1)}); len(got) != 1 || got[jane] == nil {
		t.Errorf("export as of April after max was erased = %v; want jane only", got)
	}
}

// testStateReplay: after writes of every kind the log's replay matches the
// stored consents and suppressions. (Run checks this after every case too;
// RunTampered checks that a row changed behind the log's back shows.)
func testStateReplay(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	stateFixture(e)
	rep, err := ledger.VerifyState(e.ctx, s, e.ws)
	if err != nil || rep.Differences != 0 || rep.Consents != 4 || rep.Suppressions != 2 {
		t.Errorf("VerifyState() = %+v, %v; want 4 consents and 2 suppressions, no difference", rep, err)
	}
	r, err := ledger.Verify(e.ctx, s, s, newSigner(t).PublicKey(), e.ws)
	if err != nil || !r.OK || r.State == nil || r.State.Consents != 4 {
		t.Errorf("Verify() = %+v, %v; want OK with the replay's report", r, err)
	}
	empty, err := s.CreateWorkspace(e.ctx, "empty")
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := ledger.VerifyState(e.ctx, s, empty.ID); err != nil || rep.Differences != 0 || rep.Consents != 0 {
		t.Errorf("VerifyState(empty workspace) = %+v, %v; want nothing", rep, err)
	}
}

// stateFixture writes the state the replay cases compare: jane opted in,
// then out (and a superseded and an unchanged write); bob opted in to a
// topic; carl pending; a hard bounce on bounce@, a do-not-contact on jane,
// and a lifted complaint on old@.
func stateFixture(e *env) map[string]*consentd.Suppression {
	e.t.Helper()
	e.mustWrite(cw("jane@example.com", "newsletter", "opted_in", e.t0), topic(cw("bob@example.com", "newsletter", "opted_in", e.t0), "weekly"))
	e.mustWrite(cw("jane@example.com", "newsletter", "opted_out", e.t0.Add(time.Minute)), cw("carl@example.com", "newsletter", "pending", e.t0))
	e.mustWrite(cw("jane@example.com", "newsletter", "opted_in", e.t0), cw("jane@example.com", "newsletter", "opted_out", e.t0.Add(time.Minute)))
	e.mustWrite(cw("jane@example.com", "promo", "opted_in", e.t0))
	sups := map[string]*consentd.Suppression{}
	for _, in := range []consentd.SuppressionInput{
		{ContactPoint: "bounce@example.com", Channel: "email", Reason: consentd.SuppressHardBounce},
		{ContactPoint: "jane@example.com", Reason: consentd.SuppressDoNotContact},
		{ContactPoint: "old@example.com", Reason: consentd.SuppressComplaint},
	} {
		sup, err := e.s.AddSuppression(e.ctx, e.ws, in, "test")
		if err != nil {
			e.t.Fatalf("AddSuppression(%s) = %v", in.ContactPoint, err)
		}
		sups[in.ContactPoint] = sup
	}
	if err := e.s.DeleteSuppression(e.ctx, e.ws, sups["old@example.com"].ID, "test"); err != nil {
		e.t.Fatal(err)
	}
	return sups
}

// Exec runs one statement directly on a backend's database, behind the
// store's back, as someone with write access to it could: placeholders
// are $1, $2 ... ($1 is always the workspace id). It returns the number of
// rows changed.
type Exec func(ctx context.Context, query string, args ...any) (int64, error)

// RunTampered runs the tampering cases of the log's replay: each opens a
// new store and an Exec on its database, writes a state, changes a row of
// it directly, and checks that the replay names that row.
func RunTampered(t *testing.T, open func(t *testing.T) (Store, Exec)) {
	runTamperedTiles(t, open)
	// The consent columns, to copy a row into another key.
	const cols = `purpose_id, topic_id, channel, status, captured_at, recorded_at, version, source, reason, party_id, jurisdiction, proof, origin, seq`
	const supCols = `workspace_id, id, cp_hash, kind, channel, reason, note, created_at, seq`
	type hashes struct{ jane, bounce, old, nobody []byte }
	cases := []struct {
		name   string
		query  string
		args   func(h hashes, sups map[string]*consentd.Suppression) []any
		table  string // "": no difference
		id     func(h hashes, sups map[string]*consentd.Suppression) string
		kind   string
		detail string
	}{
		{name: "untouched"},
		{
			name:  "consent status edited",
			query: `UPDATE consents SET status = 'opted_in' WHERE workspace_id = $1 AND cp_hash = $2 AND channel_type = 'newsletter:email'`,
			args:  func(h hashes, _ map[string]*consentd.Suppression) []any { return []any{h.jane} },
			table: "consents", kind: "changed", detail: "status is opted_in, the log says opted_out",
			id: func(h hashes, _ map[string]*consentd.Suppression) string { return hashedID(h.jane, "newsletter:email") },
		},
		{
			name:  "consent captured_at edited",
			query: `UPDATE consents SET captured_at = captured_at + 1000 WHERE workspace_id = $1 AND cp_hash = $2 AND channel_type = 'newsletter:email'`,
			args:  func(h hashes, _ map[string]*consentd.Suppression) []any { return []any{h.jane} },
			table: "consents", kind: "changed", detail: "captured_at is",
			id: func(h hashes, _ map[string]*consentd.Suppression) string { return hashedID(h.jane, "newsletter:email") },
		},
		{
			name:  "consent version and seq edited",
			query: `UPDATE consents SET version = version + 1, seq = seq + 1 WHERE workspace_id = $1 AND cp_hash = $2 AND channel_type = 'promo:email'`,
			args:  func(h hashes, _ map[string]*consentd.Suppression) []any { return []any{h.jane} },
			table: "consents", kind: "changed", detail: "version is 2, the log says 1; seq is",
			id: func(h hashes, _ map[string]*consentd.Suppression) string { return hashedID(h.jane, "promo:email") },
		},
		{
			name:  "consent row deleted",
			query: `DELETE FROM consents WHERE workspace_id = $1 AND cp_hash = $2 AND channel_type = 'newsletter:email'`,
			args:  func(h hashes, _ map[string]*consentd.Suppression) []any { return []any{h.jane} },
			table: "consents", kind: "missing", detail: "no stored row",
			id: func(h hashes, _ map[string]*consentd.Suppression) string { return hashedID(h.jane, "newsletter:email") },
		},
		{
			name: "consent row added for a contact point the log has",
			query: `INSERT INTO consents (workspace_id, cp_hash, channel_type, ` + cols + `)
				SELECT workspace_id, cp_hash, 'analytics:email', ` + cols + ` FROM consents WHERE workspace_id = $1 AND cp_hash = $2 AND channel_type = 'newsletter:email'`,
			args:  func(h hashes, _ map[string]*consentd.Suppression) []any { return []any{h.jane} },
			table: "consents", kind: "extra", detail: "no log entry writes this consent",
			id: func(h hashes, _ map[string]*consentd.Suppression) string { return hashedID(h.jane, "analytics:email") },
		},
		{
			name: "consent row added for a contact point the log never named",
			query: `INSERT INTO consents (workspace_id, cp_hash, channel_type, ` + cols + `)
				SELECT workspace_id, $3, channel_type, ` + cols + ` FROM consents WHERE workspace_id = $1 AND cp_hash = $2 AND channel_type = 'newsletter:email'`,
			args:  func(h hashes, _ map[string]*consentd.Suppression) []any { return []any{h.jane, h.nobody} },
			table: "consents", kind: "extra", detail: "no log entry writes this consent",
			id: func(h hashes, _ map[string]*consentd.Suppression) string {
				return hashedID(h.nobody, "newsletter:email")
			},
		},
		{
			name:  "suppression deleted",
			query: `DELETE FROM suppressions WHERE workspace_id = $1 AND id = $2`,
			args: func(_ hashes, sups map[string]*consentd.Suppression) []any {
				return []any{sups["bounce@example.com"].ID}
			},
			table: "suppressions", kind: "missing", detail: "no stored row",
			id: func(_ hashes, sups map[string]*consentd.Suppression) string { return sups["bounce@example.com"].ID },
		},
		{
			name:  "suppression reason edited",
			query: `UPDATE suppressions SET reason = 'complaint' WHERE workspace_id = $1 AND id = $2`,
			args: func(_ hashes, sups map[string]*consentd.Suppression) []any {
				return []any{sups["jane@example.com"].ID}
			},
			table: "suppressions", kind: "changed", detail: `reason is "complaint", the log says "do_not_contact"`,
			id: func(_ hashes, sups map[string]*consentd.Suppression) string { return sups["jane@example.com"].ID },
		},
		{
			name:  "suppression added for a contact point the log has",
			query: `INSERT INTO suppressions (` + supCols + `) VALUES ($1, 'sup_forged', $2, 'email', '', 'do_not_contact', '', 0, 1)`,
			args:  func(h hashes, _ map[string]*consentd.Suppression) []any { return []any{h.bounce} },
			table: "suppressions", kind: "extra", detail: "no suppression with this id",
			id: func(hashes, map[string]*consentd.Suppression) string { return "sup_forged" },
		},
		{
			name:  "suppression added for a contact point the log never named",
			query: `INSERT INTO suppressions (` + supCols + `) VALUES ($1, 'sup_forged', $2, 'email', '', 'do_not_contact', '', 0, 1)`,
			args:  func(h hashes, _ map[string]*consentd.Suppression) []any { return []any{h.nobody} },
			table: "suppressions", kind: "extra", detail: "no log entry suppresses its contact point",
			id: func(hashes, map[string]*consentd.Suppression) string { return "sup_forged" },
		},
		{
			name:  "lifted suppression put back",
			query: `INSERT INTO suppressions (` + supCols + `) VALUES ($1, $3, $2, 'email', '', 'complaint', '', 0, 1)`,
			args: func(h hashes, sups map[string]*consentd.Suppression) []any {
				return []any{h.old, sups["old@example.com"].ID}
			},
			table: "suppressions", kind: "extra", detail: "no suppression with this id",
			id: func(_ hashes, sups map[string]*consentd.Suppression) string { return sups["old@example.com"].ID },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, exec := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close() = %v", err)
				}
			})
			e := newEnv(t, s, "test")
			sups := stateFixture(e)
			secret, err := s.WorkspaceSecret(e.ctx, e.ws)
			if err != nil {
				t.Fatal(err)
			}
			hash := func(cp string) []byte {
				h := consentd.ContactPointHash(secret, consentd.KindEmail, cp)
				return h[:]
			}
			h := hashes{jane: hash("jane@example.com"), bounce: hash("bounce@example.com"), old: hash("old@example.com"), nobody: hash("nobody@example.com")}
			if tc.query != "" {
				n, err := exec(e.ctx, tc.query, append([]any{e.ws}, tc.args(h, sups)...)...)
				if err != nil || n != 1 {
					t.Fatalf("%s = %d rows, %v; want 1 row changed", tc.query, n, err)
				}
			}
			rep, err := ledger.Verify(e.ctx, s, s, newSigner(t).PublicKey(), e.ws)
			if err != nil {
				t.Fatalf("Verify() = %v", err)
			}
			if tc.table == "" {
				if !rep.OK || rep.State == nil || rep.State.Differences != 0 {
					t.Errorf("Verify(untouched) = %+v; want OK", rep)
				}
				return
			}
			if rep.OK || rep.State == nil || rep.State.Differences != 1 || len(rep.State.First) != 1 {
				t.Fatalf("Verify() = %+v (state %+v); want broken with one difference", rep, rep.State)
			}
			d := rep.State.First[0]
			if d.Table != tc.table || d.ID != tc.id(h, sups) || d.Kind != tc.kind || !strings.Contains(d.Detail, tc.detail) {
				t.Errorf("difference = %+v; want %s row %s %s, detail with %q", d, tc.table, tc.id(h, sups), tc.kind, tc.detail)
			}
			if !strings.Contains(rep.Problem, d.ID) {
				t.Errorf("Verify().Problem = %q; want it to name %s", rep.Problem, d.ID)
			}
		})
	}
}

func hashedID(hash []byte, channelType string) string {
	return consentd.HashedConsentID([32]byte(hash), channelType)
}

// checkState fails t when the log's replay of any workspace differs from
// the stored rows: every write path keeps them in step.
func checkState(t *testing.T, s Store) {
	ctx := context.Background()
	wss, err := s.Workspaces(ctx)
	if err != nil {
		t.Errorf("Workspaces() = %v", err)
		return
	}
	for _, ws := range wss {
		rep, err := ledger.VerifyState(ctx, s, ws.ID)
		if err != nil || rep.Differences != 0 {
			t.Errorf("VerifyState(%s) after the case = %+v, %v; want the stored rows as the log says", ws.Name, rep, err)
		}
	}
}
