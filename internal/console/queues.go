package console

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/consentd/consentd"
)

// queueStore is what the queues screen reads and writes beyond Store: the
// methods GET /v1/requests, GET /v1/jobs, GET /v1/webhooks (and its
// deliveries), GET /v1/imports, GET /v1/inbound/sms and
// POST /v1/inbound/sms/{id}:resolve use. Every backend the API serves
// implements it (internal/sqlite, internal/postgres); a Store that does not
// answers the screen with a 404.
type queueStore interface {
	Requests(ctx context.Context, wsID string, f consentd.RequestFilter) ([]*consentd.Request, string, error)
	Jobs(ctx context.Context, wsID string, f consentd.JobFilter) ([]*consentd.Job, string, error)
	Webhooks(ctx context.Context, wsID string) ([]*consentd.Webhook, error)
	WebhookDeliveries(ctx context.Context, wsID, id string, f consentd.DeliveryFilter) ([]*consentd.WebhookDelivery, string, error)
	LogSize(ctx context.Context, wsID string) (int64, error)
	Imports(ctx context.Context, wsID string, f consentd.ImportFilter) ([]*consentd.Import, string, error)
	InboundMessages(ctx context.Context, wsID string, f consentd.InboundFilter) ([]*consentd.InboundMessage, string, error)
	ResolveInboundMessage(ctx context.Context, wsID, id string, r consentd.InboundResolution, actor string) (*consentd.InboundResult, error)
}

// queueActions are the API's own code for the queues' actions that do
// more than one store call (api.Server has them; the console asks its
// Receipts for them, as the log screen does for the verification):
// POST /v1/jobs/{id}:retry, which also wakes the job runner;
// PATCH /v1/webhooks/{id}, whose disabled: false resumes a webhook; and
// GET /v1/imports/{id}/rejects.
type queueActions interface {
	RetryJob(ctx context.Context, wsID, id string) (*consentd.Job, error)
	UpdateWebhook(ctx context.Context, wsID, id string, u consentd.WebhookUpdate, actor string) (*consentd.Webhook, error)
	WriteImportRejects(ctx context.Context, w http.ResponseWriter, wsID, id string) error
}

// Role sets of the queues' actions, the API's: retrying a job and
// resolving an SMS reply are for writers (internal/api "writers"),
// changing a webhook for admins ("admins"). The tests compare them with
// the API's document.
var (
	writers = []consentd.Role{consentd.RoleAdmin, consentd.RoleWrite}
	admins  = []consentd.Role{consentd.RoleAdmin}
)

// maxQueuePages bounds how many pages of 1000 the screen reads of each
// list, so that a huge backlog cannot make one page load unbounded.
const maxQueuePages = 10

// maxImports is how many of the newest imports the screen shows.
const maxImports = 50

// deliveriesScanned is how many of a webhook's newest delivery attempts
// are searched for its last error.
const deliveriesScanned = 100

// mountQueues registers the queues screen and its actions, and parses its
// template. Its stylesheet (templates/queues.css) is allowed by its hash
// on this screen's pages only.
func (s *Server) mountQueues() {
	s.pages["queues"] = template.Must(template.New("layout.html").ParseFS(files, "templates/layout.html", "templates/queues.html"))
	css, err := files.ReadFile("templates/queues.css")
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(css)
	style := template.CSS(css)
	csp := strings.Replace(s.csp, "style-src ", "style-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"' ", 1)
	s.mux.HandleFunc("GET /admin/queues", func(w http.ResponseWriter, r *http.Request) { s.queues(w, r, style, csp) })
	s.mux.HandleFunc("POST /admin/retry-job", s.retryJob)           // queueactions.go
	s.mux.HandleFunc("POST /admin/resume-webhook", s.resumeWebhook) // queueactions.go
	s.mux.HandleFunc("POST /admin/resolve-sms", s.resolveSMS)       // queueactions.go
	s.mux.HandleFunc("GET /admin/import-rejects", s.importRejects)  // queueactions.go
}

// queuesPage is the queues screen: data-subject requests still pending,
// jobs retrying or failed, the webhooks, the imports and the SMS replies
// waiting for review.
type queuesPage struct {
	Style      template.CSS
	Requests   []requestRow
	Pending    int
	Overdue    int
	Jobs       []jobRow
	Webhooks   []webhookRow
	LogSize    int64
	Imports    []importRow
	Replies    []replyRow
	CanRetry   bool // the role may retry a failed job
	CanResume  bool // the role may resume a disabled webhook
	CanResolve bool // the role may resolve an SMS reply
	CSRF       string
	Notice     string
}

type requestRow struct {
	ID         string
	Type       string
	Regulation string
	Received   string
	Due        string
	Class      string // due-early, due-half, due-late or overdue
	Left       string // the days left, or overdue by, in words
}

type jobRow struct {
	ID          string
	Kind        string
	State       consentd.JobState
	Attempts    int
	MaxAttempts int
	LastError   string
	Input       string // what the job works on: the record of a rule job, or its ref
	Fields      string // a rule job's record fields, as JSON
	RunAt       string
	Failed      bool
	Retried     bool // queued again by a retry, not yet run: its error is the failed run's
}

type webhookRow struct {
	ID             string
	URL            string
	State          string // active, failing or disabled
	DisabledReason string
	Lag            int64  // log entries not yet delivered or skipped
	Retrying       string // failed attempts at the next event, and the next try, in words
	LastError      string // the newest failed attempt's error, "" when none is kept
	LastErrorAt    string
}

type importRow struct {
	ID       string
	Name     string
	Format   string
	State    consentd.ImportState
	Progress string // in words
	consentd.ImportCounts
	Started  string
	Finished string
	Error    string
}

type replyRow struct {
	ID       string
	From     string
	Text     string
	Received string
	Provider string
}

// notices are the sentences shown after an action, by its ?done= value.
var notices = map[string]string{
	"retried":       "The job is queued again, with its attempts reset; it runs now.",
	"resumed":       "The webhook is enabled again: it resumes delivery where it stopped.",
	"dismissed":     "The SMS reply is marked reviewed; nothing else was changed.",
	"sms-opted-out": "The SMS reply is marked reviewed and its number opted out of texts, as a STOP reply does.",
}

// queues answers GET /admin/queues, with the screen's stylesheet and the
// CSP that allows it.
func (s *Server) queues(w http.ResponseWriter, r *http.Request, style template.CSS, csp string) {
	v, op, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	db, ok := s.DB.(queueStore)
	if !ok {
		s.message(w, r, http.StatusNotFound, op, "Not found", "This server's store has no queues to show.")
		return
	}
	p, err := s.readQueues(r.Context(), db, v.workspace)
	if err != nil {
		s.fail(w, r, op, err)
		return
	}
	_, acts := s.Receipts.(queueActions)
	p.CanRetry = acts && hasRole(writers, v.role)
	p.CanResume = acts && hasRole(admins, v.role)
	p.CanResolve = hasRole(writers, v.role)
	p.CSRF = v.csrf
	p.Notice = notices[r.URL.Query().Get("done")]
	p.Style = style
	w.Header().Set("Content-Security-Policy", csp)
	s.render(w, r, http.StatusOK, "queues", op, p)
}

// readQueues reads the queues of workspace ws as they are now.
func (s *Server) readQueues(ctx context.Context, db queueStore, ws string) (*queuesPage, error) {
	now := s.Now()
	p := &queuesPage{}
	var reqs []*consentd.Request
	token := ""
	for range maxQueuePages {
		rs, next, err := db.Requests(ctx, ws, consentd.RequestFilter{State: consentd.RequestPending, Limit: 1000, PageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list requests: %w", err)
		}
		reqs = append(reqs, rs...)
		if token = next; token == "" {
			break
		}
	}
	sort.SliceStable(reqs, func(i, j int) bool { return reqs[i].DueAt.Before(reqs[j].DueAt) })
	for _, rq := range reqs {
		row := requestRow{ID: rq.ID, Type: rq.Type, Regulation: strings.ToUpper(rq.Regulation),
			Received: stamp(rq.ReceivedAt), Due: stamp(rq.DueAt)}
		row.Class, row.Left = dueState(rq.ReceivedAt, rq.DueAt, now)
		p.Pending++
		if row.Class == "overdue" {
			p.Overdue++
		}
		p.Requests = append(p.Requests, row)
	}

	// Retrying jobs are queued again after a failed run (they carry its
	// error); failed ones are out of attempts and wait for a retry.
	for _, state := range []consentd.JobState{consentd.JobQueued, consentd.JobFailed} {
		token := ""
		for range maxQueuePages {
			js, next, err := db.Jobs(ctx, ws, consentd.JobFilter{State: state, Limit: 1000, PageToken: token})
			if err != nil {
				return nil, fmt.Errorf("list %s jobs: %w", state, err)
			}
			for _, j := range js {
				if j.State == consentd.JobQueued && j.LastError == "" {
					continue // queued for its first run: nothing wrong
				}
				p.Jobs = append(p.Jobs, newJobRow(j))
			}
			if token = next; token == "" {
				break
			}
		}
	}

	size, err := db.LogSize(ctx, ws)
	if err != nil {
		return nil, fmt.Errorf("read log size: %w", err)
	}
	p.LogSize = size
	whs, err := db.Webhooks(ctx, ws)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	for _, wh := range whs {
		row := webhookRow{ID: wh.ID, URL: wh.URL, State: "active", DisabledReason: wh.DisabledReason, Lag: wh.Lag(size)}
		switch {
		case wh.Disabled:
			row.State = "disabled"
		case wh.Failures > 0:
			row.State = "failing"
		}
		if wh.Failures > 0 {
			row.Retrying = plural(wh.Failures, "failed attempt") + " at the next event"
			if !wh.NextAttemptAt.IsZero() && !wh.Disabled {
				row.Retrying += "; next try " + stamp(wh.NextAttemptAt)
			}
		}
		ds, _, err := db.WebhookDeliveries(ctx, ws, wh.ID, consentd.DeliveryFilter{Limit: deliveriesScanned})
		if err != nil {
			return nil, fmt.Errorf("list deliveries of a webhook: %w", err)
		}
		for _, d := range ds { // newest first
			if !d.Succeeded() {
				row.LastError, row.LastErrorAt = d.Error, stamp(d.At)
				if row.LastError == "" {
					row.LastError = "the endpoint answered " + strconv.Itoa(d.StatusCode) + " " + http.StatusText(d.StatusCode)
				}
				break
			}
		}
		p.Webhooks = append(p.Webhooks, row)
	}

	ims, _, err := db.Imports(ctx, ws, consentd.ImportFilter{Limit: maxImports})
	if err != nil {
		return nil, fmt.Errorf("list imports: %w", err)
	}
	for _, im := range ims {
		row := importRow{ID: im.ID, Name: im.Name, Format: im.Format, State: im.State, ImportCounts: im.ImportCounts, Error: im.Error}
		if im.StartedAt != nil {
			row.Started = stamp(*im.StartedAt)
		}
		if im.FinishedAt != nil {
			row.Finished = stamp(*im.FinishedAt)
		}
		row.Progress = importProgress(im)
		p.Imports = append(p.Imports, row)
	}

	token = ""
	for range maxQueuePages {
		ms, next, err := db.InboundMessages(ctx, ws, consentd.InboundFilter{State: consentd.InboundReview, Limit: 1000, PageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list SMS replies: %w", err)
		}
		for _, m := range ms {
			p.Replies = append(p.Replies, replyRow{ID: m.ID, From: m.From, Text: m.Text, Received: stamp(m.ReceivedAt), Provider: m.Provider})
		}
		if token = next; token == "" {
			break
		}
	}
	return p, nil
}

// newJobRow shows a job: a rule job's input is its record (type, id, the
// change, and its fields as JSON); another job's is what it works on.
func newJobRow(j *consentd.Job) jobRow {
	row := jobRow{ID: j.ID, Kind: j.Kind, State: j.State, Attempts: j.Attempts, MaxAttempts: j.MaxAttempts,
		LastError: j.LastError, RunAt: stamp(j.RunAt), Failed: j.State == consentd.JobFailed,
		Retried: j.State == consentd.JobQueued && j.Attempts == 0}
	switch {
	case j.Input != nil:
		row.Input = j.Input.Type + " " + j.Input.ID + " (" + string(j.Input.Change) + ")"
		if b, err := json.Marshal(j.Input.Fields); err == nil && len(j.Input.Fields) > 0 {
			row.Fields = string(b)
		}
	case j.Ref != "":
		row.Input = j.Ref
	}
	return row
}

// importProgress says how far an import got. The file's row count is not
// known before it is read to the end, so a running import shows the rows
// done so far against the file's size.
func importProgress(im *consentd.Import) string {
	switch im.State {
	case consentd.ImportQueued:
		return "waiting to start (" + plural64(im.Size, "byte") + ")"
	case consentd.ImportRunning:
		return plural64(im.Rows, "row") + " done so far, of a file of " + plural64(im.Size, "byte")
	case consentd.ImportSucceeded:
		return "all " + plural64(im.Rows, "row") + " done"
	default:
		return plural64(im.Rows, "row") + " done before it stopped"
	}
}

// stamp is a time as the screen shows it: UTC, to the second.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// dueState classes a pending request by the share of its time still left
// (from receipt to due date): more than 75% is due-early, more than 25%
// due-half, the rest due-late, and past the due date overdue. It also says
// it in words, so that the colour is never the only sign.
func dueState(received, due, now time.Time) (class, words string) {
	left := due.Sub(now)
	if left < 0 {
		// A request overdue by an hour is overdue by a day: rounded up.
		days := int((-left + 24*time.Hour - 1) / (24 * time.Hour))
		return "overdue", "overdue by " + plural(days, "day")
	}
	class = "due-late"
	if total := due.Sub(received); total > 0 {
		switch share := float64(left) / float64(total); {
		case share > 0.75:
			class = "due-early"
		case share > 0.25:
			class = "due-half"
		}
	}
	days := int(left / (24 * time.Hour))
	if days == 0 {
		return class, "less than a day left"
	}
	return class, plural(days, "day") + " left"
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

func plural64(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.FormatInt(n, 10) + " " + word + "s"
}
