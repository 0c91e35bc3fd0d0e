package console

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
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
// methods GET /v1/requests, GET /v1/jobs, POST /v1/jobs/{id}:retry and
// GET /v1/webhooks use. Every backend the API serves implements it
// (internal/sqlite, internal/postgres); a Store that does not answers the
// screen with a 404.
type queueStore interface {
	Requests(ctx context.Context, wsID string, f consentd.RequestFilter) ([]*consentd.Request, string, error)
	Jobs(ctx context.Context, wsID string, f consentd.JobFilter) ([]*consentd.Job, string, error)
	RetryJob(ctx context.Context, wsID, id string) (*consentd.Job, error)
	Webhooks(ctx context.Context, wsID string) ([]*consentd.Webhook, error)
	LogSize(ctx context.Context, wsID string) (int64, error)
}

// retriers may queue a failed job again: the API's set for
// POST /v1/jobs/{id}:retry (internal/api "writers"). The tests compare it
// with the API's document.
var retriers = []consentd.Role{consentd.RoleAdmin, consentd.RoleWrite}

// maxQueuePages bounds how many pages of 1000 the screen reads of each
// list, so that a huge backlog cannot make one page load unbounded.
const maxQueuePages = 10

// mountQueues registers the queues screen and its retry form, and parses
// its template. Its stylesheet (templates/queues.css) is allowed by its
// hash on this screen's pages only.
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
	s.mux.HandleFunc("POST /admin/retry-job", s.retryJob)
}

// queuesPage is the queues screen: data-subject requests still pending,
// jobs retrying or failed, and the webhooks.
type queuesPage struct {
	Style    template.CSS
	Requests []requestRow
	Pending  int
	Overdue  int
	Jobs     []jobRow
	Webhooks []webhookRow
	LogSize  int64
	CanRetry bool // the role may retry a failed job
	CSRF     string
	Notice   string
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
	RunAt       string
	Failed      bool
}

type webhookRow struct {
	ID             string
	URL            string
	Disabled       bool
	DisabledReason string
	Lag            int64 // log entries not yet delivered or skipped
	Failures       int
	NextAttemptAt  string
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
	p.CanRetry = hasRole(retriers, v.role)
	p.CSRF = v.csrf
	if r.URL.Query().Get("done") == "retried" {
		p.Notice = "The job is queued again, with its attempts reset; it runs shortly."
	}
	p.Style = style
	w.Header().Set("Content-Security-Policy", csp)
	s.render(w, r, http.StatusOK, "queues", op, p)
}

// readQueues reads the three queues of workspace ws as they are now.
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
			Received: rq.ReceivedAt.UTC().Format(time.RFC3339), Due: rq.DueAt.UTC().Format(time.RFC3339)}
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
					continue // queued for its first run, or after a retry: nothing wrong
				}
				p.Jobs = append(p.Jobs, jobRow{ID: j.ID, Kind: j.Kind, State: j.State, Attempts: j.Attempts, MaxAttempts: j.MaxAttempts,
					LastError: j.LastError, RunAt: j.RunAt.UTC().Format(time.RFC3339), Failed: j.State == consentd.JobFailed})
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
		row := webhookRow{ID: wh.ID, URL: wh.URL, Disabled: wh.Disabled, DisabledReason: wh.DisabledReason,
			Lag: max(size-wh.Position, 0), Failures: wh.Failures}
		if !wh.NextAttemptAt.IsZero() {
			row.NextAttemptAt = wh.NextAttemptAt.UTC().Format(time.RFC3339)
		}
		p.Webhooks = append(p.Webhooks, row)
	}
	return p, nil
}

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

// retryJob answers POST /admin/retry-job: a failed job is queued again,
// with its attempts reset, by the store's RetryJob as
// POST /v1/jobs/{id}:retry does (a request's job makes its request
// pending again). The job runner picks it up at its next poll.
func (s *Server) retryJob(w http.ResponseWriter, r *http.Request) {
	v, op, ok := s.signedIn(w, r)
	if !ok || !s.postForm(w, r, v, op) {
		return
	}
	if !hasRole(retriers, v.role) {
		s.message(w, r, http.StatusForbidden, op, "Not allowed", "A "+string(v.role)+" key may not retry a job: sign in with a write or admin key.")
		return
	}
	db, ok := s.DB.(queueStore)
	if !ok {
		s.message(w, r, http.StatusNotFound, op, "Not found", "This server's store has no queues to show.")
		return
	}
	_, err := db.RetryJob(r.Context(), v.workspace, r.PostForm.Get("job"))
	switch consentd.ErrorCode(err) {
	case "":
	case consentd.ENOTFOUND:
		s.message(w, r, http.StatusNotFound, op, "No such job", "The job was not found.")
		return
	case consentd.ECONFLICT:
		s.message(w, r, http.StatusConflict, op, "Not failed", "Only a failed job can be retried, and this one is not failed (any more). Reload the queues to see it as it is now.")
		return
	default:
		s.fail(w, r, op, fmt.Errorf("retry job: %w", err))
		return
	}
	http.Redirect(w, r, "/admin/queues?done=retried", http.StatusSeeOther)
}
