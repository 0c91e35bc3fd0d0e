package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/openapi"
	"github.com/consentd/consentd/internal/rules"
)

// This file serves records (PUT /v1/records/{type}/{id}), which enqueue
// durable jobs for the rules that react to them, the rules themselves, and
// the jobs. internal/automation runs the jobs.

// AutomationStore is what records, rules and jobs need of a backend
// . Backends: automation.go.
type AutomationStore interface {
	// PutRule creates or replaces a rule by id and logs rule.changed; it
	// returns EINVALIDRULE for a rule that does not compile.
	PutRule(ctx context.Context, wsID string, r *consentd.Rule, actor string) error
	Rule(ctx context.Context, wsID, id string) (*consentd.Rule, error)
	Rules(ctx context.Context, wsID string) ([]*consentd.Rule, error)
	DeleteRule(ctx context.Context, wsID, id, actor string) error

	// PutRecord keeps the digest of a record's fields and, in the same
	// transaction, enqueues a job for each trigger matching the change it
	// found (created, updated; unchanged enqueues none).
	PutRecord(ctx context.Context, wsID string, rec consentd.Record, triggers []consentd.JobTrigger) (consentd.RecordChange, []*consentd.Job, error)

	Job(ctx context.Context, wsID, id string) (*consentd.Job, error)
	Jobs(ctx context.Context, wsID string, f consentd.JobFilter) ([]*consentd.Job, string, error)
	// ClaimJobs, across workspaces, takes due jobs and jobs whose lease
	// expired: running, locked for lease, attempts+1.
	ClaimJobs(ctx context.Context, lease time.Duration, limit int) ([]*consentd.Job, error)
	// NextJobAt: the earliest run_at of a queued job or locked_until of a
	// running one (zero: none).
	NextJobAt(ctx context.Context) (time.Time, error)
	FinishJob(ctx context.Context, wsID, id, result string) error
	FailJob(ctx context.Context, wsID, id, msg string, retryAt time.Time) error
	RetryJob(ctx context.Context, wsID, id string) (*consentd.Job, error)
	RetryFailedJobs(ctx context.Context, wsID string) (int, error)
	// PurgeJobInput deletes a job's input because it names an erased
	// address; a job that has not succeeded fails with reason.
	PurgeJobInput(ctx context.Context, wsID, id, reason string) error
	// Erased reports whether a contact point hash carries an `erased`
	// suppression.
	Erased(ctx context.Context, wsID string, hash [32]byte) (bool, error)
}

// maxRecordBody bounds a record PUT.
const maxRecordBody = 256 << 10

type ruleList struct {
	Rules []*consentd.Rule `json:"rules"`
}

type jobList struct {
	Jobs          []*consentd.Job `json:"jobs"`
	NextPageToken string          `json:"next_page_token,omitempty"`
}

// recordAnswer is what a record PUT did.
type recordAnswer struct {
	Type   string                `json:"type"`
	ID     string                `json:"id"`
	Change consentd.RecordChange `json:"change" enum:"created,updated,unchanged"`
	Jobs   []enqueuedJob         `json:"jobs"`
}

type enqueuedJob struct {
	ID     string    `json:"id"`
	RuleID string    `json:"rule_id"`
	RunAt  time.Time `json:"run_at"`
}

// recordFields documents a record body: any JSON object.
type recordFields map[string]any

// automationRoutes are records, rules and jobs.
// ruleInput documents the body of PUT /v1/rules/{id}, which putRule
// decodes as a consentd.Rule: the id may be left to the path, and the
// source is optional.
type ruleInput struct {
	consentd.Rule
	ID     string           `json:"id,omitempty" max:"64" doc:"the path's id when empty; must equal it otherwise"`
	Source *consentd.Source `json:"source,omitempty"`
}

func (s *Server) automationRoutes() []route {
	id := []openapi.Param{{Name: "id", In: "path", Description: "the resource id, URL-escaped"}}
	record := []openapi.Param{{Name: "type", In: "path", Description: "record type, e.g. contact or lead"}, {Name: "id", In: "path", Description: "the record's id in its system"},
		{Name: "origin", Description: "the system the record comes from; the consents its rules write carry it, so that a sync to that system does not echo them"}}
	op := func(method, path, summary, tag string, req, resp any, status int, q []openapi.Param) openapi.Operation {
		return openapi.Operation{Method: method, Path: path, Summary: summary, Tags: []string{tag}, Request: req, Response: resp, Status: status, Query: q}
	}
	return []route{
		{op("PUT", "/v1/records/{type}/{id}", "A CRM record (any JSON fields) created or updated: enqueues a job for each rule on its type and change; an unchanged record runs none",
			"automation", recordFields{}, recordAnswer{}, 0, record), writers, s.putRecord},

		{op("GET", "/v1/rules", "List rules", "automation", nil, ruleList{}, 0, nil), readers, s.listRules},
		{op("GET", "/v1/rules/{id}", "Get a rule", "automation", nil, consentd.Rule{}, 0, id), readers, s.getRule},
		{op("PUT", "/v1/rules/{id}", "Create or replace a rule; its CEL expressions are type-checked (invalid_rule names the field and position)", "automation",
			ruleInput{}, consentd.Rule{}, 0, id), admins, s.putRule},
		{op("DELETE", "/v1/rules/{id}", "Delete a rule; its queued jobs fail when they run", "automation", nil, nil, 204, id), admins, s.deleteRule},

		{op("GET", "/v1/jobs", "List jobs, by default the failed ones", "automation", nil, jobList{}, 0,
			[]openapi.Param{{Name: "state", Enum: []string{"queued", "running", "succeeded", "failed", "all"}, Description: "default failed"},
				limitParam, {Name: "page_token"}}), readers, s.listJobs},
		{op("GET", "/v1/jobs/{id}", "A job: its state, attempts, last error and input (cleared once it succeeded)", "automation", nil, consentd.Job{}, 0, id), readers, s.getJob},
		{op("POST", "/v1/jobs/{id}:retry", "Queue a failed job again, with its attempts reset", "automation", nil, consentd.Job{}, 0, id), writers, s.retryJob},
	}
}

// nudge tells the job runner that a job may be due.
func (s *Server) nudge() {
	if s.JobsNudge != nil {
		s.JobsNudge()
	}
}

func (s *Server) putRecord(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	rec := consentd.Record{Type: r.PathValue("type"), ID: r.PathValue("id"), Origin: r.URL.Query().Get("origin")}
	switch {
	case rec.Type == "" || len(rec.Type) > 100:
		return consentd.FieldErrorf(consentd.EINVALID, "type", "the record type is 1 to 100 bytes")
	case rec.ID == "" || len(rec.ID) > 200:
		return consentd.FieldErrorf(consentd.EINVALID, "id", "the record id is 1 to 200 bytes")
	case len(rec.Origin) > 100:
		return consentd.FieldErrorf(consentd.EINVALID, "origin", "origin is at most 100 bytes")
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxRecordBody))
	if err != nil {
		return jsonError(err)
	}
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
		return consentd.Errorf(consentd.EMALFORMED, "the body must be a JSON object of the record's fields")
	}
	if err := decodeBytes(body, &rec.Fields); err != nil {
		return err
	}
	if rec.Fields == nil {
		rec.Fields = map[string]any{}
	}
	rs, err := s.DB.Rules(r.Context(), k.WorkspaceID)
	if err != nil {
		return err
	}
	var triggers []consentd.JobTrigger
	for _, rule := range rs {
		if rule.On.Record != rec.Type {
			continue
		}
		t := consentd.JobTrigger{RuleID: rule.ID, Change: rule.On.Change, MaxAttempts: s.JobMaxAttempts}
		if p, err := rules.Compile(rule); err == nil {
			t.Change, t.Delay = p.Rule().On.Change, p.Delay()
		} else if len(t.Change) == 0 {
			// Stored, then made invalid by a newer consentd: enqueue at
			// once, so that the job fails where the operator sees it.
			t.Change = []consentd.RecordChange{consentd.RecordCreated, consentd.RecordUpdated}
		}
		triggers = append(triggers, t)
	}
	change, jobs, err := s.DB.PutRecord(r.Context(), k.WorkspaceID, rec, triggers)
	if err != nil {
		return err
	}
	out := recordAnswer{Type: rec.Type, ID: rec.ID, Change: change, Jobs: []enqueuedJob{}}
	for _, j := range jobs {
		out.Jobs = append(out.Jobs, enqueuedJob{ID: j.ID, RuleID: j.RuleID, RunAt: j.RunAt})
	}
	if len(jobs) > 0 {
		s.nudge()
	}
	writeJSON(w, 200, out)
	return nil
}

func (s *Server) listRules(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	rs, err := s.DB.Rules(r.Context(), k.WorkspaceID)
	if err != nil {
		return err
	}
	writeJSON(w, 200, ruleList{Rules: rs})
	return nil
}

func (s *Server) getRule(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	rule, err := s.DB.Rule(r.Context(), k.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, rule)
	return nil
}

func (s *Server) putRule(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	var rule consentd.Rule
	if err := decode(r, maxBody, &rule); err != nil {
		return err
	}
	if rule.ID == "" {
		rule.ID = r.PathValue("id")
	} else if rule.ID != r.PathValue("id") {
		return consentd.FieldErrorf(consentd.EINVALID, "id", "the body's id differs from the path's")
	}
	if _, err := rules.Compile(&rule); err != nil {
		return err
	}
	if err := s.DB.PutRule(r.Context(), k.WorkspaceID, &rule, actor(k)); err != nil {
		return err
	}
	writeJSON(w, 200, rule)
	return nil
}

func (s *Server) deleteRule(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	if err := s.DB.DeleteRule(r.Context(), k.WorkspaceID, r.PathValue("id"), actor(k)); err != nil {
		return err
	}
	w.WriteHeader(204)
	return nil
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := consentd.JobFilter{State: consentd.JobState(strings.TrimSpace(q.Get("state"))), Limit: limit, PageToken: q.Get("page_token")}
	switch f.State {
	case "":
		f.State = consentd.JobFailed
	case "all":
		f.State = ""
	}
	js, next, err := s.DB.Jobs(r.Context(), k.WorkspaceID, f)
	if err != nil {
		return err
	}
	writeJSON(w, 200, jobList{Jobs: js, NextPageToken: next})
	return nil
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	j, err := s.DB.Job(r.Context(), k.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, j)
	return nil
}

func (s *Server) retryJob(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	id, err := pathID(r, "retry")
	if err != nil {
		return err
	}
	j, err := s.RetryJob(r.Context(), k.WorkspaceID, id)
	if err != nil {
		return err
	}
	writeJSON(w, 200, j)
	return nil
}

// RetryJob queues a failed job again with its attempts reset, as
// POST /v1/jobs/{id}:retry does (a request's job makes its request pending
// again), and wakes the job runner so that it runs now rather than at the
// runner's next poll. ENOTFOUND when there is no such job, ECONFLICT when
// it is not failed.
func (s *Server) RetryJob(ctx context.Context, wsID, id string) (*consentd.Job, error) {
	j, err := s.DB.RetryJob(ctx, wsID, id)
	if err != nil {
		return nil, err
	}
	s.nudge()
	return j, nil
}
