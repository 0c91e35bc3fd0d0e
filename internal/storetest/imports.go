package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// testImports checks the import jobs: one import per (format, options,
// file hash), batches that write consents through the write path with
// their rejects and progress, erased contact points skipped, rejects in
// line order, unfinished imports across workspaces, and the export now and
// as of a time.
func testImports(t *testing.T, s Store) {
	e := newEnv(t, s, "imports")
	other := newEnv(t, s, "imports-other")
	spec := consentd.ImportSpec{Format: "native", SHA256: strings.Repeat("ab", 32), Size: 10, Name: "f.csv"}

	t.Run("create finds the same import", func(t *testing.T) {
		im, created, err := s.CreateImport(e.ctx, e.ws, spec)
		if err != nil || !created || im.State != consentd.ImportQueued || !strings.HasPrefix(im.ID, "imp_") {
			t.Fatalf("CreateImport() = %+v, %v, %v; want a new queued import", im, created, err)
		}
		again, created, err := s.CreateImport(e.ctx, e.ws, spec)
		if err != nil || created || again.ID != im.ID {
			t.Fatalf("CreateImport() again = %+v, %v, %v; want %s, not created", again, created, err, im.ID)
		}
		opt := spec
		opt.Purpose = "newsletter"
		if x, created, err := s.CreateImport(e.ctx, e.ws, opt); err != nil || !created || x.ID == im.ID {
			t.Fatalf("CreateImport(other options) = %+v, %v, %v; want a new import", x, created, err)
		}
		if x, created, err := s.CreateImport(other.ctx, other.ws, spec); err != nil || !created || x.ID == im.ID {
			t.Fatalf("CreateImport(other workspace) = %+v, %v, %v; want a new import", x, created, err)
		}
		if _, err := s.Import(other.ctx, other.ws, im.ID); consentd.ErrorCode(err) != consentd.ENOTFOUND {
			t.Errorf("Import(other workspace) = %v; want not_found", err)
		}
		_, _, err = s.CreateImport(e.ctx, e.ws, consentd.ImportSpec{Format: "native", SHA256: "short"})
		wantCode(t, "CreateImport(bad hash)", err, consentd.EINVALID)
	})

	t.Run("list, newest first, by page", func(t *testing.T) {
		// The workspace has the two imports made above; the other one its own.
		var ids []string
		var last time.Time
		token := ""
		for page := 0; page < 3; page++ {
			ims, next, err := s.Imports(e.ctx, e.ws, consentd.ImportFilter{Limit: 1, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, im := range ims {
				if !last.IsZero() && im.CreatedAt.After(last) {
					t.Errorf("Imports() lists %s, created %s, after one created %s", im.ID, im.CreatedAt, last)
				}
				last = im.CreatedAt
				ids = append(ids, im.ID)
			}
			if token = next; token == "" {
				break
			}
		}
		if len(ids) != 2 || ids[0] == ids[1] || token != "" {
			t.Errorf("Imports() by pages of 1 = %v (next %q); want the workspace's two imports", ids, token)
		}
		if ims, _, err := s.Imports(other.ctx, other.ws, consentd.ImportFilter{}); err != nil || len(ims) != 1 {
			t.Errorf("Imports(other workspace) = %d, %v; want its one import", len(ims), err)
		}
		_, _, err := s.Imports(e.ctx, e.ws, consentd.ImportFilter{PageToken: "not a token"})
		wantCode(t, "Imports(bad token)", err, consentd.EINVALID)
	})

	t.Run("batch", func(t *testing.T) {
		im, _, err := s.CreateImport(e.ctx, e.ws, spec)
		if err != nil {
			t.Fatal(err)
		}
		// Running from the start, while the file is read and sorted.
		if err := s.StartImport(e.ctx, e.ws, im.ID); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Import(e.ctx, e.ws, im.ID); err != nil || got.State != consentd.ImportRunning || got.StartedAt == nil || got.Committed != 0 {
			t.Errorf("Import() after StartImport = %+v, %v; want running, started, nothing committed", got, err)
		}
		wantCode(t, "StartImport(unknown)", s.StartImport(e.ctx, e.ws, "imp_nothere"), consentd.ENOTFOUND)
		if _, err := s.AddSuppression(e.ctx, e.ws, consentd.SuppressionInput{ContactPoint: "gone@x.test", Reason: consentd.SuppressErased}, "test"); err != nil {
			t.Fatal(err)
		}
		old := e.t0.Add(-24 * time.Hour)
		size := e.logSize()
		writes := []consentd.ConsentWrite{
			cw("Imp1@X.test", "newsletter", "opted_in", old),                 // line 2: created
			cw("imp1@x.test", "newsletter", "opted_in", old),                 // line 3: unchanged
			cw("imp1@x.test", "newsletter", "opted_in", old.Add(-1)),         // line 4: superseded
			cw("gone@x.test", "newsletter", "opted_in", old),                 // line 5: erased, skipped
			cw("not an address", "newsletter", "opted_in", old),              // line 6: rejected
			cw("imp2@x.test", "nope", "opted_in", old),                       // line 7: rejected
			cw("imp2@x.test", "newsletter", "opted_out", old),                // line 9: created
			cw("imp1@x.test", "newsletter", "opted_out", old.Add(time.Hour)), // line 10: changed
		}
		for i := range writes {
			writes[i].Source = consentd.Source{Type: consentd.SourceImport, Name: "f.csv"}
		}
		lines := []int64{2, 3, 4, 5, 6, 7, 9, 10}
		progress := consentd.ImportProgress{Counts: consentd.ImportCounts{Rows: 10, Skipped: 1}, SkipReasons: map[string]int64{"status not set": 1}, Committed: 10}
		readerRejects := []consentd.ImportReject{{Line: 8, Code: "invalid_time", Reason: "captured_at is not a time", Raw: []string{"a", "b"}}}
		res, err := s.ImportBatch(e.ctx, e.ws, im.ID, writes, lines, readerRejects, progress, "import:"+im.ID)
		if err != nil {
			t.Fatalf("ImportBatch() = %v", err)
		}
		wantOutcomes := []consentd.Outcome{consentd.Created, consentd.Unchanged, consentd.Superseded, "", "", "", consentd.Created, consentd.Changed}
		for i, w := range wantOutcomes {
			if res[i].Outcome != w || (w == "") != (res[i].Err != nil) {
				t.Errorf("result %d = %s, %v; want %q", i, res[i].Outcome, res[i].Err, w)
			}
		}
		got, err := s.Import(e.ctx, e.ws, im.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := consentd.ImportCounts{Rows: 10, Created: 2, Changed: 1, Unchanged: 1, Superseded: 1, Skipped: 2, Rejected: 3}
		if got.ImportCounts != want || got.Committed != 10 || got.State != consentd.ImportRunning || got.StartedAt == nil {
			t.Errorf("Import() = %+v; want counts %+v, committed 10, running", got, want)
		}
		if got.SkipReasons["erased"] != 1 || got.SkipReasons["status not set"] != 1 {
			t.Errorf("skip reasons = %v; want erased 1, status not set 1", got.SkipReasons)
		}
		// Written through the write path: logged (5 writes applied or
		// not), captured_at kept, actor import:<id>.
		if n := e.logSize() - size; n != 5 {
			t.Errorf("log grew by %d; want 5 (created, unchanged, superseded, created, changed)", n)
		}
		c := e.consent("imp1@x.test#newsletter:email")
		if c.Status != consentd.OptedOut || !c.CapturedAt.Equal(old.Add(time.Hour)) {
			t.Errorf("consent = %s at %v; want opted_out at %v", c.Status, c.CapturedAt, old.Add(time.Hour))
		}
		entries := e.entries()
		if last := decode(t, entries[len(entries)-1]); last.Actor != "import:"+im.ID {
			t.Errorf("actor = %q; want import:%s", last.Actor, im.ID)
		}
		if _, err := s.Consent(e.ctx, e.ws, "gone@x.test#newsletter:email", time.Time{}); consentd.ErrorCode(err) != consentd.ENOTFOUND {
			t.Errorf("Consent(erased) = %v; want not_found: an import never resurrects it", err)
		}
		var rejects []consentd.ImportReject
		err = s.ImportRejects(e.ctx, e.ws, im.ID, func(r *consentd.ImportReject) error { rejects = append(rejects, *r); return nil })
		if err != nil {
			t.Fatal(err)
		}
		if len(rejects) != 3 || rejects[0].Line != 6 || rejects[0].Code != consentd.EINVALIDCONTACTPOINT ||
			rejects[1].Line != 7 || rejects[1].Code != consentd.EUNKNOWNPURPOSE || rejects[2].Line != 8 || len(rejects[2].Raw) != 2 {
			t.Errorf("rejects = %+v; want lines 6 (invalid_contact_point), 7 (unknown_purpose), 8 (the reader's, with raw)", rejects)
		}
		if err := s.ImportRejects(other.ctx, other.ws, im.ID, func(*consentd.ImportReject) error { return nil }); consentd.ErrorCode(err) != consentd.ENOTFOUND {
			t.Errorf("ImportRejects(other workspace) = %v; want not_found", err)
		}
		if _, err := s.ImportBatch(other.ctx, other.ws, im.ID, nil, nil, nil, consentd.ImportProgress{}, "x"); consentd.ErrorCode(err) != consentd.ENOTFOUND {
			t.Errorf("ImportBatch(other workspace) = %v; want not_found", err)
		}

		refs, err := s.UnfinishedImports(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !hasRef(refs, e.ws, im.ID) {
			t.Errorf("UnfinishedImports() = %v; want %s among them", refs, im.ID)
		}
		if err := s.FinishImport(e.ctx, e.ws, im.ID, consentd.ImportSucceeded, ""); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Import(e.ctx, e.ws, im.ID); got.State != consentd.ImportSucceeded || got.FinishedAt == nil {
			t.Errorf("after FinishImport: %+v; want succeeded with finished_at", got)
		}
		if refs, _ := s.UnfinishedImports(e.ctx); hasRef(refs, e.ws, im.ID) {
			t.Errorf("UnfinishedImports() still lists %s after it finished", im.ID)
		}
		wantCode(t, "FinishImport(unknown)", s.FinishImport(e.ctx, e.ws, "imp_none", consentd.ImportFailed, "x"), consentd.ENOTFOUND)
	})

	t.Run("export", func(t *testing.T) {
		x := newEnv(t, s, "export")
		at := x.t0
		x.mustWrite(cw("a@x.test", "newsletter", "opted_in", at), topic(cw("b@x.test", "newsletter", "opted_in", at), "weekly"))
		time.Sleep(2 * time.Millisecond) // the log's clock must move between the two states
		mid := time.Now().UTC()
		time.Sleep(2 * time.Millisecond)
		x.mustWrite(cw("a@x.test", "newsletter", "opted_out", at.Add(time.Minute)), cw("c@x.test", "promo", "opted_in", at))
		export := func(knownAt time.Time) map[string]consentd.Status {
			out := map[string]consentd.Status{}
			err := s.ExportConsents(x.ctx, x.ws, consentd.Times{KnownAt: knownAt}, func(c *consentd.Consent) error {
				if c.ContactPoint == "" || c.Purpose == "" || c.Channel == "" {
					t.Errorf("exported consent %+v lacks contact point, purpose or channel", c)
				}
				out[c.ID] = c.Status
				return nil
			})
			if err != nil {
				t.Fatalf("ExportConsents(known at %v) = %v", knownAt, err)
			}
			return out
		}
		now := export(time.Time{})
		want := map[string]consentd.Status{"a@x.test#newsletter:email": consentd.OptedOut, "b@x.test#weekly:email": consentd.OptedIn, "c@x.test#promo:email": consentd.OptedIn}
		if !sameStatuses(now, want) {
			t.Errorf("export now = %v; want %v", now, want)
		}
		then := export(mid)
		want = map[string]consentd.Status{"a@x.test#newsletter:email": consentd.OptedIn, "b@x.test#weekly:email": consentd.OptedIn}
		if !sameStatuses(then, want) {
			t.Errorf("export known at %v = %v; want %v", mid, then, want)
		}
		if got := export(time.Time{}); len(got) != 3 {
			t.Errorf("export again = %v", got)
		}
		// Another workspace's export sees none of it.
		n := 0
		if err := s.ExportConsents(other.ctx, other.ws, consentd.Times{}, func(*consentd.Consent) error { n++; return nil }); err != nil || n != 0 {
			t.Errorf("ExportConsents(other workspace) = %d consents, %v; want none", n, err)
		}
	})
}

func hasRef(refs []consentd.ImportRef, ws, id string) bool {
	for _, r := range refs {
		if r.WorkspaceID == ws && r.ID == id {
			return true
		}
	}
	return false
}

func sameStatuses(a, b map[string]consentd.Status) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
