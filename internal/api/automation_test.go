package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/automation"
	"github.com/consentd/consentd/internal/doi"
	"github.com/consentd/consentd/internal/mail"
	"github.com/consentd/consentd/internal/smsout"
)

// startRunner runs the job runner on e as serve does (woken by the API,
// the env's clock), with backoff in milliseconds and 3 attempts for rule
// jobs: confirmation mail goes to an outbox folder, requests are carried
// out, and there is no SMS provider.
func (e *env) startRunner() *automation.Runner {
	e.t.Helper()
	outbox, err := mail.Open("", filepath.Join(e.t.TempDir(), "outbox"))
	if err != nil {
		e.t.Fatal(err)
	}
	return e.startRunnerWith(outbox, nil)
}

// startRunnerWith is startRunner with the mail and SMS senders given.
func (e *env) startRunnerWith(m mail.Sender, sms smsout.Sender) *automation.Runner {
	e.t.Helper()
	log := slog.New(slog.DiscardHandler)
	r := automation.New(e.store, e.api, log)
	r.Now, r.Base, r.Cap, r.Poll = e.now, time.Millisecond, 4*time.Millisecond, 10*time.Millisecond
	r.Handlers = map[string]automation.Handler{
		consentd.JobKindConfirmationMail: &doi.Mailer{DB: e.store, Links: e.links, Sender: m, PublicURL: e.srv.URL, Log: log, Now: e.now},
		consentd.JobKindConfirmationSMS:  &doi.Texter{DB: e.store, Links: e.links, Sender: sms, PublicURL: e.srv.URL, Now: e.now},
		consentd.JobKindRequest:          automation.HandlerFunc(e.api.RunRequestJob),
		consentd.JobKindLinkMail:         automation.HandlerFunc(e.api.RunLinkMailJob),
	}
	if m != nil {
		e.api.EnableLinkMail(m, "")
	}
	e.api.JobsNudge = r.Nudge
	e.api.JobMaxAttempts = 3
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	e.t.Cleanup(func() { cancel(); <-done }) // before the database closes
	return r
}

type jobJSON struct {
	ID          string    `json:"id"`
	RuleID      string    `json:"rule_id"`
	State       string    `json:"state"`
	Attempts    int       `json:"attempts"`
	MaxAttempts int       `json:"max_attempts"`
	RunAt       time.Time `json:"run_at"`
	LastError   string    `json:"last_error"`
	Result      string    `json:"result"`
	Input       *struct {
		Type       string         `json:"type"`
		ID         string         `json:"id"`
		Fields     map[string]any `json:"fields"`
		Origin     string         `json:"origin"`
		ReceivedAt time.Time      `json:"received_at"`
	} `json:"input"`
}

type recordJSON struct {
	Type   string `json:"type"`
	ID     string `json:"id"`
	Change string `json:"change"`
	Jobs   []struct {
		ID     string    `json:"id"`
		RuleID string    `json:"rule_id"`
		RunAt  time.Time `json:"run_at"`
	} `json:"jobs"`
}

// putRecord PUTs a record and decodes the answer.
func (e *env) putRecord(key, typ, id, query string, fields any) recordJSON {
	e.t.Helper()
	var a recordJSON
	e.must("PUT", "/v1/records/"+typ+"/"+url.PathEscape(id)+query, key, fields, 200).decode(e.t, &a)
	return a
}

// waitJob waits until the job is succeeded or failed and returns it. The
// deadline only bounds a broken test.
func (e *env) waitJob(key, id string) jobJSON {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var j jobJSON
		e.must("GET", "/v1/jobs/"+id, key, nil, 200).decode(e.t, &j)
		if j.State == "succeeded" || j.State == "failed" {
			return j
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %s still %s", id, j.State)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// oneJob waits for the record's only job.
func (e *env) oneJob(key string, a recordJSON) jobJSON {
	e.t.Helper()
	if len(a.Jobs) != 1 {
		e.t.Fatalf("record %s/%s: %d jobs; want 1", a.Type, a.ID, len(a.Jobs))
	}
	return e.waitJob(key, a.Jobs[0].ID)
}

type consentFull struct {
	Status       string          `json:"status"`
	PartyID      string          `json:"party_id"`
	Jurisdiction string          `json:"jurisdiction"`
	Origin       string          `json:"origin"`
	Source       consentd.Source `json:"source"`
	CapturedAt   time.Time       `json:"captured_at"`
}

func (e *env) consentOf(key, id string) (consentFull, int) {
	e.t.Helper()
	r := e.do("GET", consentPath(id), key, nil)
	var c consentFull
	if r.status == 200 {
		r.decode(e.t, &c)
	}
	return c, r.status
}

const dynamicsRule = `{"id":"contact-email-consent","on":{"record":"contact","change":["created","updated"]},
	"contact_point":"has(record.emailaddress1) ? record.emailaddress1 : record.Email","party":"record.contactid",
	"consents":[{"channel_type":"newsletter:email","status":"!record.donotemail && !record.donotbulkemail ? \"opted_in\" : \"opted_out\""}]}`

// TestRecordToConsentDynamics: the seed's Dynamics contact flow as a rule.
func TestRecordToConsentDynamics(t *testing.T) {
	e := newEnv(t)
	e.startRunner()
	admin, w, read := e.a.key(consentd.RoleAdmin), e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleRead)
	e.must("PUT", "/v1/rules/contact-email-consent", admin, dynamicsRule, 200)
	contact := map[string]any{"contactid": "C-1", "emailaddress1": "Jane@Example.com", "donotemail": false, "donotbulkemail": false, "fullname": "Jane Doe"}

	a := e.putRecord(w, "contact", "C-1", "", contact)
	if a.Change != "created" || a.Jobs[0].RuleID != "contact-email-consent" {
		t.Fatalf("PUT record = %+v; want created with the rule's job", a)
	}
	j := e.oneJob(read, a)
	if j.State != "succeeded" || j.Input != nil || !strings.Contains(j.Result, "created") {
		t.Fatalf("job = %+v; want succeeded, input cleared, a result", j)
	}
	c, status := e.consentOf(read, "jane@example.com#newsletter:email")
	if status != 200 || c.Status != "opted_in" || c.PartyID != "C-1" || c.Source.Type != "automation" || c.Source.Name != "contact-email-consent" {
		t.Fatalf("consent = %d %+v; want opted_in for party C-1 from the rule", status, c)
	}

	contact["donotemail"] = true
	a = e.putRecord(w, "contact", "C-1", "", contact)
	if a.Change != "updated" {
		t.Fatalf("PUT changed record = %+v; want updated", a)
	}
	if j := e.oneJob(read, a); j.State != "succeeded" {
		t.Fatalf("job = %+v", j)
	}
	if c, _ := e.consentOf(read, "jane@example.com#newsletter:email"); c.Status != "opted_out" {
		t.Fatalf("consent after donotemail = %+v; want opted_out", c)
	}

	size := e.logSize(read)
	a = e.putRecord(w, "contact", "C-1", "", contact)
	if a.Change != "unchanged" || len(a.Jobs) != 0 {
		t.Fatalf("PUT same record = %+v; want unchanged, no job", a)
	}
	// Another record type: no rule, no job.
	if a := e.putRecord(w, "account", "A-1", "", map[string]any{"name": "Acme"}); a.Change != "created" || len(a.Jobs) != 0 {
		t.Fatalf("PUT account = %+v; want created, no job", a)
	}
	if n := e.logSize(read); n != size {
		t.Errorf("the log grew by %d for records that run no rule", n-size)
	}
	// The other workspace sees neither the rule nor the jobs.
	if r := e.must("GET", "/v1/rules", e.b.key(consentd.RoleRead), nil, 200); strings.Contains(string(r.body), "contact-email-consent") {
		t.Errorf("workspace b sees a's rule: %s", r)
	}
	e.must("GET", "/v1/jobs/"+j.ID, e.b.key(consentd.RoleRead), nil, 404)
	if a := e.putRecord(e.b.key(consentd.RoleWrite), "contact", "C-1", "", contact); a.Change != "created" || len(a.Jobs) != 0 {
		t.Errorf("PUT in workspace b = %+v; want created, no job", a)
	}
}

const leadRule = `{"id":"lead-consent","on":{"record":"lead","change":["created"]},
	"when":"record.LeadSource != \"Marketing Cloud Form\"","delay":"1m",
	"contact_point":"record.Email","jurisdiction":"record.Country",
	"consents":[{"channel_type":"newsletter:email","status":"record.HasOptedOutOfEmail ? \"opted_out\" : \"opted_in\""}],
	"source":{"type":"sync","name":"salesforce lead flow"}}`

// TestLeadRuleScheduledPathAndDoubleOptIn: the seed's Salesforce lead flow:
// entry condition, a 1-minute scheduled path, and jurisdiction-aware
// opt-in (double opt-in for DE).
func TestLeadRuleScheduledPathAndDoubleOptIn(t *testing.T) {
	e := newEnv(t)
	e.startRunner()
	admin, w, read := e.a.key(consentd.RoleAdmin), e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleRead)
	e.must("PATCH", "/v1/purposes/newsletter", admin, `{"double_opt_in":["DE"]}`, 200)
	e.must("PUT", "/v1/rules/lead-consent", admin, leadRule, 200)
	lead := func(email, country, source string) map[string]any {
		return map[string]any{"Email": email, "Country": country, "LeadSource": source, "HasOptedOutOfEmail": false}
	}
	de := e.putRecord(w, "lead", "00Q1", "", lead("hans@example.de", "DE", "Web"))
	us := e.putRecord(w, "lead", "00Q2", "", lead("joe@example.com", "US", "Web"))
	mc := e.putRecord(w, "lead", "00Q3", "", lead("mc@example.com", "US", "Marketing Cloud Form"))
	for _, a := range []recordJSON{de, us, mc} {
		if len(a.Jobs) != 1 {
			t.Fatalf("PUT lead = %+v; want one job", a)
		}
		var j jobJSON
		e.must("GET", "/v1/jobs/"+a.Jobs[0].ID, read, nil, 200).decode(t, &j)
		if j.State != "queued" || j.Input == nil || j.Input.ReceivedAt.Add(time.Minute) != a.Jobs[0].RunAt {
			t.Fatalf("job %+v, run_at %v; want queued, a minute after the record arrived", j, a.Jobs[0].RunAt)
		}
	}
	// Before the minute: nothing ran.
	if n, err := automation.New(e.store, e.api, nil).RunOnce(t.Context()); err != nil || n != 0 {
		t.Fatalf("RunOnce before the delay = %d, %v; want 0", n, err)
	}
	if _, status := e.consentOf(read, "joe@example.com#newsletter:email"); status != 404 {
		t.Fatalf("a consent exists before the delay: %d", status)
	}
	e.clockSkew.Add(int64(time.Minute + time.Second))
	e.api.JobsNudge()

	if j := e.oneJob(read, de); j.State != "succeeded" || !strings.Contains(j.Result, "pending") {
		t.Fatalf("DE job = %+v; want succeeded, pending", j)
	}
	c, _ := e.consentOf(read, "hans@example.de#newsletter:email")
	if c.Status != "pending" || c.Jurisdiction != "DE" || c.Source.Type != "sync" {
		t.Errorf("DE consent = %+v; want pending (double opt-in), DE", c)
	}
	if confs := e.confirmationJobs(e.a); len(confs) != 1 || confs[0] != "hans@example.de newsletter:email" {
		t.Errorf("confirmations queued = %q; want one to hans@example.de", confs)
	}
	if j := e.oneJob(read, us); j.State != "succeeded" {
		t.Fatalf("US job = %+v", j)
	}
	if c, _ := e.consentOf(read, "joe@example.com#newsletter:email"); c.Status != "opted_in" || c.Jurisdiction != "US" {
		t.Errorf("US consent = %+v; want opted_in", c)
	}
	if j := e.oneJob(read, mc); j.State != "succeeded" || j.Result != "condition false" {
		t.Fatalf("Marketing Cloud Form job = %+v; want succeeded, condition false", j)
	}
	if _, status := e.consentOf(read, "mc@example.com#newsletter:email"); status != 404 {
		t.Errorf("Marketing Cloud Form lead wrote a consent: %d", status)
	}
	// Updates do not trigger a created-only rule.
	if a := e.putRecord(w, "lead", "00Q2", "", lead("joe@example.com", "US", "Phone")); a.Change != "updated" || len(a.Jobs) != 0 {
		t.Errorf("PUT updated lead = %+v; want updated, no job", a)
	}
}

// TestFailedJobsRetry: a bad expression at run time and a missing purpose
// fail their jobs after the retries, with error and input; fixing the rule
// or the catalog and retrying succeeds.
func TestFailedJobsRetry(t *testing.T) {
	e := newEnv(t)
	e.startRunner()
	admin, w, read := e.a.key(consentd.RoleAdmin), e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleRead)
	e.must("PUT", "/v1/rules/needs-email", admin, `{"id":"needs-email","on":{"record":"contact"},"contact_point":"record.Email",
		"consents":[{"channel_type":"newsletter:email","status":"\"opted_in\""}]}`, 200)
	e.must("PUT", "/v1/rules/promo", admin, `{"id":"promo","on":{"record":"prospect"},"contact_point":"record.Email",
		"consents":[{"channel_type":"promo:email","status":"\"opted_in\""}]}`, 200)

	bad := e.oneJob(read, e.putRecord(w, "contact", "C-9", "", map[string]any{"mail": "ann@example.com"}))
	if bad.State != "failed" || bad.Attempts != 3 || bad.MaxAttempts != 3 || !strings.Contains(bad.LastError, "needs-email") ||
		!strings.Contains(bad.LastError, "contact_point") || bad.Input == nil || bad.Input.Fields["mail"] != "ann@example.com" {
		t.Fatalf("job = %+v; want failed after 3 attempts, naming rule and field, input kept", bad)
	}
	missing := e.oneJob(read, e.putRecord(w, "prospect", "P-1", "", map[string]any{"Email": "bo@example.com"}))
	if missing.State != "failed" || !strings.Contains(missing.LastError, "promo:email") {
		t.Fatalf("job = %+v; want failed naming the channel type", missing)
	}
	var list struct {
		Jobs []jobJSON `json:"jobs"`
	}
	e.must("GET", "/v1/jobs?state=failed", read, nil, 200).decode(t, &list)
	if len(list.Jobs) != 2 || list.Jobs[0].ID != bad.ID || list.Jobs[1].ID != missing.ID || list.Jobs[0].Input == nil {
		t.Fatalf("GET /v1/jobs?state=failed = %+v; want both, with input", list.Jobs)
	}
	e.must("GET", "/v1/jobs", read, nil, 200).decode(t, &list) // default: failed
	if len(list.Jobs) != 2 {
		t.Errorf("GET /v1/jobs = %d jobs; want the 2 failed", len(list.Jobs))
	}
	e.must("GET", "/v1/jobs?state=all&limit=1", read, nil, 200).decode(t, &list)
	if len(list.Jobs) != 1 {
		t.Errorf("GET /v1/jobs?limit=1 = %d jobs", len(list.Jobs))
	}
	if p := e.must("GET", "/v1/jobs?state=lost", read, nil, 422).problem(t); p.Code != consentd.EINVALID {
		t.Errorf("bad state: %+v", p)
	}

	// Fix the rule, retry: succeeded, on the record as it was.
	e.must("PUT", "/v1/rules/needs-email", admin, `{"id":"needs-email","on":{"record":"contact"},"contact_point":"has(record.Email) ? record.Email : record.mail",
		"consents":[{"channel_type":"newsletter:email","status":"\"opted_in\""}]}`, 200)
	var retried jobJSON
	e.must("POST", "/v1/jobs/"+bad.ID+":retry", w, nil, 200).decode(t, &retried)
	if retried.State != "queued" && retried.State != "running" || retried.Attempts != 0 {
		t.Errorf("retry answer = %+v; want queued, attempts 0", retried)
	}
	if j := e.waitJob(read, bad.ID); j.State != "succeeded" || j.Input != nil {
		t.Fatalf("retried job = %+v; want succeeded", j)
	}
	if c, _ := e.consentOf(read, "ann@example.com#newsletter:email"); c.Status != "opted_in" {
		t.Errorf("consent = %+v; want opted_in", c)
	}
	// Fix the catalog, retry.
	e.must("POST", "/v1/purposes", admin, `{"id":"promo","name":"Promotions","type":"commercial","channels":{"email":{}}}`, 201)
	e.must("POST", "/v1/jobs/"+missing.ID+":retry", w, nil, 200)
	if j := e.waitJob(read, missing.ID); j.State != "succeeded" {
		t.Fatalf("retried job = %+v; want succeeded", j)
	}
	// Only a failed job can be retried; unknown ids are 404; b cannot.
	if p := e.must("POST", "/v1/jobs/"+missing.ID+":retry", w, nil, 409).problem(t); p.Code != consentd.ECONFLICT {
		t.Errorf("retry of a succeeded job: %+v", p)
	}
	e.must("POST", "/v1/jobs/job_nope:retry", w, nil, 404)
	e.must("POST", "/v1/jobs/"+missing.ID+":nope", w, nil, 404)
	e.must("POST", "/v1/jobs/"+missing.ID+":retry", e.b.key(consentd.RoleWrite), nil, 404)

	// A job whose rule was deleted before it ran fails.
	e.must("PUT", "/v1/rules/later", admin, `{"id":"later","on":{"record":"visit"},"delay":"1m","contact_point":"record.Email",
		"consents":[{"channel_type":"newsletter:email","status":"\"opted_in\""}]}`, 200)
	a := e.putRecord(w, "visit", "V-1", "", map[string]any{"Email": "cy@example.com"})
	e.must("DELETE", "/v1/rules/later", admin, nil, 204)
	e.must("GET", "/v1/rules/later", read, nil, 404)
	e.clockSkew.Add(int64(time.Minute + time.Second))
	e.api.JobsNudge()
	if j := e.oneJob(read, a); j.State != "failed" || !strings.Contains(j.LastError, "does not exist") {
		t.Errorf("job of a deleted rule = %+v; want failed", j)
	}
}

// TestRecordOrigin: a record's origin tags the consents its rules write;
// a rule's own origin overrides it.
func TestRecordOrigin(t *testing.T) {
	e := newEnv(t)
	e.startRunner()
	admin, w, read := e.a.key(consentd.RoleAdmin), e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleRead)
	e.must("PUT", "/v1/rules/contact-email-consent", admin, dynamicsRule, 200)
	e.must("PUT", "/v1/rules/sf", admin, `{"id":"sf","on":{"record":"lead"},"contact_point":"record.Email","origin":"salesforce",
		"consents":[{"channel_type":"newsletter:email","status":"\"opted_in\""}]}`, 200)
	e.oneJob(read, e.putRecord(w, "contact", "C-1", "?origin=crm", map[string]any{"contactid": "C-1", "Email": "a@example.com", "donotemail": false, "donotbulkemail": false}))
	if c, _ := e.consentOf(read, "a@example.com#newsletter:email"); c.Origin != "crm" {
		t.Errorf("consent origin = %q; want crm (the record's)", c.Origin)
	}
	e.oneJob(read, e.putRecord(w, "lead", "L-1", "?origin=crm", map[string]any{"Email": "b@example.com"}))
	if c, _ := e.consentOf(read, "b@example.com#newsletter:email"); c.Origin != "salesforce" {
		t.Errorf("consent origin = %q; want salesforce (the rule's)", c.Origin)
	}
}

// TestRuleCompileErrors: a rule that does not compile is refused with
// invalid_rule naming the field and the position, and is not stored.
func TestRuleCompileErrors(t *testing.T) {
	e := newEnv(t)
	admin, read := e.a.key(consentd.RoleAdmin), e.a.key(consentd.RoleRead)
	base := func(edit func(m map[string]any)) map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(dynamicsRule), &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		return m
	}
	tests := []struct {
		name  string
		body  map[string]any
		field string
		pos   string
	}{
		{"syntax", base(func(m map[string]any) { m["when"] = `record.LeadSource ==` }), "when", "1:"},
		{"when not bool", base(func(m map[string]any) { m["when"] = `"yes"` }), "when", "1:1"},
		{"unknown variable", base(func(m map[string]any) { m["contact_point"] = `lead.Email` }), "contact_point", "1:1"},
		{"status not string", base(func(m map[string]any) {
			m["consents"] = []any{map[string]any{"channel_type": "newsletter:email", "status": "1 + 1"}}
		}), "consents[0].status", "1:1"},
		{"second consent", base(func(m map[string]any) {
			m["consents"] = []any{map[string]any{"channel_type": "newsletter:email", "status": `"opted_in"`},
				map[string]any{"channel_type": "newsletter:sms", "status": "record.x +\n  )"}}
		}), "consents[1].status", "2:3"},
		{"bad delay", base(func(m map[string]any) { m["delay"] = "soon" }), "delay", ""},
		{"no record type", base(func(m map[string]any) { m["on"] = map[string]any{} }), "on.record", ""},
		{"bad change", base(func(m map[string]any) { m["on"] = map[string]any{"record": "contact", "change": []string{"deleted"}} }), "on.change[0]", ""},
		{"no consents", base(func(m map[string]any) { m["consents"] = []any{} }), "consents", ""},
		{"bad source", base(func(m map[string]any) { m["source"] = map[string]any{"type": "telepathy"} }), "source.type", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := e.must("PUT", "/v1/rules/contact-email-consent", admin, tt.body, 422).problem(t)
			if p.Code != consentd.EINVALIDRULE || len(p.Fields) != 1 || p.Fields[0].Field != tt.field ||
				!strings.Contains(p.Detail, "contact-email-consent") || (tt.pos != "" && !strings.Contains(p.Detail, ": "+tt.pos)) {
				t.Errorf("problem = %+v; want invalid_rule on %s at %s", p, tt.field, tt.pos)
			}
			e.must("GET", "/v1/rules/contact-email-consent", read, nil, 404)
		})
	}
	if p := e.must("PUT", "/v1/rules/Bad%20Id", admin, base(func(m map[string]any) { delete(m, "id") }), 422).problem(t); p.Code != consentd.EINVALIDRULE {
		t.Errorf("bad id: %+v", p)
	}
	if p := e.must("PUT", "/v1/rules/other", admin, dynamicsRule, 422).problem(t); p.Code != consentd.EINVALID {
		t.Errorf("id mismatch: %+v", p)
	}
	e.must("GET", "/v1/rules", read, nil, 200)
	// Records: the body must be a JSON object.
	w := e.a.key(consentd.RoleWrite)
	for _, body := range []string{``, `[]`, `"x"`, `{"a":1} {"b":2}`, `{`} {
		if r := e.do("PUT", "/v1/records/contact/C-1", w, body); r.status != 400 {
			t.Errorf("PUT record %q = %s; want 400", body, r)
		}
	}
	if r := e.do("PUT", "/v1/records/contact/C-1?origin="+strings.Repeat("x", 101), w, `{}`); r.status != 422 {
		t.Errorf("PUT record with a long origin = %s; want 422", r)
	}
	// Rule changes are logged.
	e.must("PUT", "/v1/rules/contact-email-consent", admin, dynamicsRule, 200)
	e.must("DELETE", "/v1/rules/contact-email-consent", admin, nil, 204)
	var h struct {
		Entries []struct {
			Entry struct {
				Type  string `json:"type"`
				Actor string `json:"actor"`
			} `json:"entry"`
		} `json:"entries"`
	}
	e.must("GET", fmt.Sprintf("/v1/log?after=%d", e.logSize(read)-2), read, nil, 200).decode(t, &h)
	if len(h.Entries) != 2 || h.Entries[0].Entry.Type != "rule.changed" || h.Entries[1].Entry.Type != "rule.deleted" {
		t.Errorf("log = %+v; want rule.changed, rule.deleted", h.Entries)
	}
}

// TestErasureDeletesJobInputs: a failed job keeps its record's fields for
// a retry, until the address in them is erased.
func TestErasureDeletesJobInputs(t *testing.T) {
	e := newEnv(t)
	e.startRunner()
	e.api.AfterErasure = func(ctx context.Context, wsID string) error {
		_, err := automation.PurgeErased(ctx, e.store, wsID)
		return err
	}
	admin, w, read := e.a.key(consentd.RoleAdmin), e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleRead)
	e.must("PUT", "/v1/rules/needs-email", admin, `{"id":"needs-email","on":{"record":"contact"},"contact_point":"record.Email",
		"consents":[{"channel_type":"newsletter:email","status":"\"opted_in\""}]}`, 200)
	ann := e.oneJob(read, e.putRecord(w, "contact", "C-1", "", map[string]any{"mail": "Ann@Example.com"}))
	bo := e.oneJob(read, e.putRecord(w, "contact", "C-2", "", map[string]any{"mail": "bo@example.com"}))
	if ann.State != "failed" || ann.Input == nil || bo.State != "failed" || bo.Input == nil {
		t.Fatalf("jobs = %+v, %+v; want failed with their input", ann, bo)
	}
	e.must("POST", "/v1/suppressions", admin, `{"contact_point":"ann@example.com","reason":"erased"}`, 201)
	if j := e.waitJob(read, ann.ID); j.Input != nil || j.State != "failed" || j.LastError != automation.ErasedInput {
		t.Errorf("ann's job after erasure = %+v; want failed, input deleted", j)
	}
	if j := e.waitJob(read, bo.ID); j.Input == nil {
		t.Errorf("bo's job lost its input: %+v", j)
	}
}
