package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// This file checks the consent report's aggregate table against what it
// replaced: ConsentReport reads per-day counts that the database keeps on
// every change of a consent, and must answer what a grouped scan of the
// consents table answers, for any history of changes.

// ScanReport is the consent report computed by scanning the consents table
// (the SQL the backends ran before they kept counts), in the backend's
// dialect, on the same database: the oracle of the tests below.
type ScanReport func(ctx context.Context, wsID string, q consentd.ReportQuery) ([]consentd.ConsentReportRow, error)

// RunConsentCounts writes a random history of consent changes through
// every path that writes consents (single and batch writes, a batch large
// enough for the bulk path, imports of years-old history, out-of-order
// captured_at, double opt-in confirmations, SMS STOP, provider feed
// unsubscribes, withdraw and erase requests, erasure suppressions) and
// checks, every few changes and at the end, that ConsentReport equals the
// scan for every grouping and interval, over all time and over a month.
func RunConsentCounts(t *testing.T, open func(t *testing.T) (Store, ScanReport)) {
	s, scan := open(t)
	t.Cleanup(func() { s.Close() })
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 1))
	e := newEnv(t, s, "counts")
	other := newEnv(t, s, "counts-other")
	h := &countsHistory{e: e, rnd: rnd, now: time.Now().UTC()}

	// The bulk path first (more than 500 writes; PostgreSQL copies the new
	// rows in), then again over the same keys and new ones (upserts and
	// copies in one transaction).
	h.batch(600)
	h.check(scan, other)
	h.batch(700)
	h.check(scan, other)
	other.mustWrite(cw("o@example.com", "newsletter", "opted_in", other.t0))

	ops := []func(){
		func() { h.batch(1) },
		func() { h.batch(1 + rnd.IntN(30)) },
		h.outOfOrder,
		h.importHistory,
		h.confirm,
		h.smsStop,
		h.feedUnsubscribe,
		h.request,
		h.erase,
	}
	for i := range 120 {
		ops[rnd.IntN(len(ops))]()
		if i%20 == 19 {
			h.check(scan, other)
		}
	}
	h.check(scan, other)
}

// RunConsentCountsUpgrade writes consents, undoes the counts' migration
// with exec and the statements undo (a database from before it), opens
// the store again and checks that the migration's back-fill equals the
// scan, and that the triggers keep it so.
func RunConsentCountsUpgrade(t *testing.T, open func(t *testing.T) Store, exec Exec, scan ScanReport, undo []string) {
	s := open(t)
	e := newEnv(t, s, "backfill")
	h := &countsHistory{e: e, rnd: rand.New(rand.NewPCG(1, 2)), now: time.Now().UTC()}
	h.batch(300)
	h.importHistory()
	h.outOfOrder()
	h.erase()
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	for _, q := range undo {
		if _, err := exec(e.ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	h.e.s = open(t) // the migration back-fills the counts
	h.e.t = t
	t.Cleanup(func() { h.e.s.Close() })
	h.check(scan, nil)
	// The triggers are back.
	h.batch(50)
	h.check(scan, nil)
}

// countsHistory makes random consent changes in one workspace.
type countsHistory struct {
	e   *env
	rnd *rand.Rand
	now time.Time
	n   int // changes made, for unique ids
}

var countsCTs = []struct{ purpose, topic, channel string }{
	{"newsletter", "", "email"}, {"newsletter", "", "sms"}, {"newsletter", "", "whatsapp"}, {"newsletter", "weekly", "email"},
	{"newsletter", "weekly", "sms"}, {"promo", "", "email"}, {"promo", "deals", "email"}, {"analytics", "", "email"}, {"orders", "", "email"},
}

var (
	countsStatuses = []consentd.Status{consentd.OptedIn, consentd.OptedIn, consentd.OptedOut, consentd.Pending}
	countsSources  = []string{consentd.SourceForm, consentd.SourceAPI, consentd.SourcePreferenceCenter, consentd.SourceAgent}
	countsJurs     = []string{"", "DE", "FR", "US-CA"}
)

// cp returns one of a few hundred contact points of the channel: writes
// meet earlier ones often.
func (h *countsHistory) cp(channel string) string {
	i := h.rnd.IntN(400)
	if channel == "email" {
		return fmt.Sprintf("p%d@example.com", i)
	}
	return fmt.Sprintf("+49151%08d", 10000000+i)
}

// at returns a captured_at in the last three years (a fifth of them today).
func (h *countsHistory) at() time.Time {
	if h.rnd.IntN(5) == 0 {
		return h.now.Add(-time.Duration(h.rnd.Int64N(int64(time.Hour))))
	}
	return h.now.Add(-time.Duration(h.rnd.Int64N(int64(3 * 365 * 24 * time.Hour))))
}

func (h *countsHistory) write(at time.Time) consentd.ConsentWrite {
	ct := countsCTs[h.rnd.IntN(len(countsCTs))]
	return consentd.ConsentWrite{ContactPoint: h.cp(ct.channel), Channel: ct.channel, Purpose: ct.purpose, Topic: ct.topic,
		Status: countsStatuses[h.rnd.IntN(len(countsStatuses))], CapturedAt: at,
		Source: consentd.Source{Type: countsSources[h.rnd.IntN(len(countsSources))], Name: "test"}, Jurisdiction: countsJurs[h.rnd.IntN(len(countsJurs))]}
}

// batch writes n random writes in one call (item errors, such as an
// erased contact point, are part of the history).
func (h *countsHistory) batch(n int) {
	ws := make([]consentd.ConsentWrite, n)
	for i := range ws {
		ws[i] = h.write(h.at())
	}
	h.e.write(ws...)
}

// outOfOrder writes a consent, then an older write of it, then a newer
// one on another day.
func (h *countsHistory) outOfOrder() {
	w := h.write(h.at())
	h.e.write(w)
	old := w
	old.CapturedAt, old.Status = w.CapturedAt.Add(-48*time.Hour), consentd.OptedOut
	h.e.write(old) // superseded: the consent keeps its day and status
	newer := w
	newer.CapturedAt, newer.Status = w.CapturedAt.Add(49*time.Hour), countsStatuses[h.rnd.IntN(len(countsStatuses))]
	if newer.CapturedAt.After(h.now) {
		newer.CapturedAt = h.now
	}
	h.e.write(newer)
}

// importHistory imports a batch of history four to seven years old.
func (h *countsHistory) importHistory() {
	e := h.e
	h.n++
	spec := consentd.ImportSpec{Format: "native", SHA256: fmt.Sprintf("%064x", h.n), Size: 10, Name: "old.csv"}
	im, _, err := e.s.CreateImport(e.ctx, e.ws, spec)
	if err != nil {
		e.t.Fatalf("CreateImport() = %v", err)
	}
	if err := e.s.StartImport(e.ctx, e.ws, im.ID); err != nil {
		e.t.Fatalf("StartImport() = %v", err)
	}
	n := 1 + h.rnd.IntN(40)
	writes, lines := make([]consentd.ConsentWrite, n), make([]int64, n)
	for i := range writes {
		writes[i] = h.write(h.now.AddDate(-4-h.rnd.IntN(3), 0, -h.rnd.IntN(365)))
		writes[i].Source = consentd.Source{Type: consentd.SourceImport, Name: "old.csv"}
		lines[i] = int64(i + 2)
	}
	progress := consentd.ImportProgress{Counts: consentd.ImportCounts{Rows: int64(n)}, Committed: int64(n)}
	if _, err := e.s.ImportBatch(e.ctx, e.ws, im.ID, writes, lines, nil, progress, "import:"+im.ID); err != nil {
		e.t.Fatalf("ImportBatch() = %v", err)
	}
	if err := e.s.FinishImport(e.ctx, e.ws, im.ID, consentd.ImportSucceeded, ""); err != nil {
		e.t.Fatalf("FinishImport() = %v", err)
	}
}

// confirm writes a pending consent and confirms it (double opt-in).
func (h *countsHistory) confirm() {
	e := h.e
	w := h.write(h.at())
	w.Status = consentd.Pending
	res := e.write(w)
	if res[0].Err != nil || res[0].Consent == nil || res[0].Consent.Status != consentd.Pending {
		return // erased, or a newer write in effect
	}
	h.n++
	nonce := fmt.Sprintf("nonce%d", h.n)
	c := res[0].Consent
	if _, err := e.s.CreateConfirmations(e.ctx, e.ws, []consentd.ConfirmationInput{{ContactPoint: c.ContactPoint, ChannelType: c.ChannelType,
		ConsentVersion: c.Version, Nonce: nonce}}); err != nil {
		e.t.Fatalf("CreateConfirmations() = %v", err)
	}
	confirmer, ok := e.s.(interface {
		ConfirmConsent(ctx context.Context, wsID, nonce string, req consentd.ConfirmRequest, actor string) (*consentd.ConfirmResult, error)
	})
	if !ok {
		e.t.Fatalf("%T has no ConfirmConsent", e.s)
	}
	if _, err := confirmer.ConfirmConsent(e.ctx, e.ws, nonce, consentd.ConfirmRequest{IP: "192.0.2.1"}, "test"); err != nil {
		e.t.Fatalf("ConfirmConsent() = %v", err)
	}
}

// smsStop answers STOP from a number: its SMS consents opt out.
func (h *countsHistory) smsStop() {
	e := h.e
	h.n++
	if _, err := e.s.InboundSMS(e.ctx, e.ws, consentd.InboundSMS{From: h.cp("sms"), To: "12345", Text: "STOP", ReceivedAt: h.now.Add(-time.Minute),
		Provider: "twilio", MessageID: fmt.Sprintf("SM%d", h.n)}, "test"); err != nil {
		e.t.Fatalf("InboundSMS(STOP) = %v", err)
	}
}

// feedUnsubscribe applies a provider's unsubscribe event.
func (h *countsHistory) feedUnsubscribe() {
	h.n++
	h.e.applyFeed(consentd.FeedApply{FeedID: "sg", Acts: []consentd.FeedAct{
		h.e.feedAct(fmt.Sprintf("ev%d", h.n), consentd.FeedUnsubscribe, h.cp("email"), h.now.Add(-time.Minute))}})
}

// request runs a withdraw or erase request for a contact point.
func (h *countsHistory) request() {
	e := h.e
	typ := consentd.RequestWithdraw
	if h.rnd.IntN(2) == 0 {
		typ = consentd.RequestErase
	}
	r, err := e.s.CreateRequest(e.ctx, e.ws, consentd.RequestInput{Type: typ, ContactPoint: h.cp("email"), Regulation: consentd.RegulationGDPR}, "test")
	if err != nil {
		e.t.Fatalf("CreateRequest(%s) = %v", typ, err)
	}
	if _, err := e.s.ProcessRequest(e.ctx, e.ws, r.ID); err != nil {
		e.t.Fatalf("ProcessRequest(%s) = %v", typ, err)
	}
}

// erase suppresses a contact point as erased (its consents' proofs are
// blanked).
func (h *countsHistory) erase() {
	e := h.e
	if _, err := e.s.AddSuppression(e.ctx, e.ws, consentd.SuppressionInput{ContactPoint: h.cp("email"), Reason: consentd.SuppressErased}, "test"); err != nil &&
		consentd.ErrorCode(err) != consentd.ECONFLICT {
		e.t.Fatalf("AddSuppression(erased) = %v", err)
	}
}

// check compares ConsentReport with the scan in the history's workspace
// (and other's, when not nil), for every interval and grouping, over all
// time, over the 30 days around a random day, over the 12 whole months
// before that day's month and over the 400 days before it: the same rows
// in the same order.
func (h *countsHistory) check(scan ScanReport, other *env) {
	e := h.e
	e.t.Helper()
	today := time.Date(h.now.Year(), h.now.Month(), h.now.Day(), 0, 0, 0, 0, time.UTC)
	mid := today.AddDate(0, 0, -h.rnd.IntN(3*365))
	// Monthly reports read month rows for whole months and day rows for
	// partial ones: spans of whole months only, of whole months with
	// partial ends, and the 30 days above (no whole month, or one).
	month := time.Date(mid.Year(), mid.Month(), 1, 0, 0, 0, 0, time.UTC)
	spans := [][2]time.Time{{today.AddDate(-8, 0, 0), today.AddDate(0, 0, 1)}, {mid.AddDate(0, 0, -15), mid.AddDate(0, 0, 14)},
		{month.AddDate(-1, 0, 0), month.AddDate(0, 0, -1)}, {mid.AddDate(0, 0, -400), mid}}
	wss := []string{e.ws}
	if other != nil {
		wss = append(wss, other.ws)
	}
	for _, ws := range wss {
		for _, span := range spans {
			for _, interval := range consentd.ReportIntervals {
				for _, group := range append([]string{""}, consentd.ConsentReportGroupings...) {
					q := consentd.ReportQuery{From: span[0], To: span[1], Interval: interval, GroupBy: group}
					got, err := e.s.ConsentReport(e.ctx, ws, q)
					if err != nil {
						e.t.Fatalf("ConsentReport(%s, %s) = %v", interval, group, err)
					}
					want, err := scan(e.ctx, ws, q)
					if err != nil {
						e.t.Fatalf("scan(%s, %s) = %v", interval, group, err)
					}
					if !slices.Equal(got, want) {
						e.t.Fatalf("ConsentReport(%s..%s, %s, group %q) differs from the scan:\n%s", q.From.Format(time.DateOnly), q.To.Format(time.DateOnly),
							interval, group, rowsDiff(got, want))
					}
				}
			}
		}
	}
}

// rowsDiff lists the rows only one of got and want has, or says that the
// order differs.
func rowsDiff(got, want []consentd.ConsentReportRow) string {
	var b strings.Builder
	n := map[consentd.ConsentReportRow]int{}
	for _, r := range got {
		n[r]++
	}
	for _, r := range want {
		n[r]--
	}
	for r, c := range n {
		if c > 0 {
			fmt.Fprintf(&b, "  only in the report: %+v\n", r)
		} else if c < 0 {
			fmt.Fprintf(&b, "  only in the scan:   %+v\n", r)
		}
	}
	if b.Len() == 0 {
		return "  same rows, another order"
	}
	return b.String()
}
