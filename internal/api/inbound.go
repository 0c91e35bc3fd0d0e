package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/openapi"
)

// This file serves what people and agents send in to say no: SMS replies
// (POST /v1/inbound/sms and its review list), an agent's opt-out of a whole
// party (POST /v1/parties/{id}:opt-out-all), and data-subject requests
// (POST /v1/requests), which a request job carries out in the background
// (RunRequestJob).

type inboundList struct {
	Messages      []*consentd.InboundMessage `json:"messages"`
	NextPageToken string                     `json:"next_page_token,omitempty"`
}

type requestList struct {
	Requests      []*consentd.Request `json:"requests"`
	NextPageToken string              `json:"next_page_token,omitempty"`
}

// optOutAllInput is the optional body of an agent opt-out.
type optOutAllInput struct {
	Reason string `json:"reason,omitempty" max:"1000" doc:"why, as the agent was told; recorded on each consent"`
}

// optOutAllAnswer is every consent an agent opt-out wrote, and the
// do_not_contact suppression of each contact point.
type optOutAllAnswer struct {
	PartyID      string                  `json:"party_id"`
	Consents     []batchItem             `json:"consents"`
	Suppressions []*consentd.Suppression `json:"suppressions" doc:"a do_not_contact suppression (every channel) per contact point, which also covers purposes made later; one added before by the same act is answered again"`
}

// inboundRoutes are SMS replies, agent opt-out and data-subject requests.
func (s *Server) inboundRoutes() []route {
	id := []openapi.Param{{Name: "id", In: "path", Description: "the resource id, URL-escaped"}}
	page := []openapi.Param{limitParam, {Name: "page_token"}}
	op := func(method, path, summary, tag string, req, resp any, status int, q []openapi.Param, errs ...int) openapi.Operation {
		return openapi.Operation{Method: method, Path: path, Summary: summary, Tags: []string{tag}, Request: req, Response: resp, Status: status, Query: q, Errors: errs}
	}
	// The bodies that decodeOptional reads may be left out.
	optional := func(o openapi.Operation) openapi.Operation { o.RequestOptional = true; return o }
	return []route{
		{op("POST", "/v1/inbound/sms", "An SMS reply from a provider's webhook, read as a keyword alone (any case and punctuation): STOP, STOPALL, QUIT, END, REVOKE, OPT OUT, CANCEL, UNSUBSCRIBE block every text to the number; START, UNSTOP, YES lift that block and opt in again what STOP opted out, except that YES from a number with an SMS double opt-in waiting confirms it; HELP, INFO change nothing. Other text is kept for review. The answer's reply is the text to send back",
			"inbound", consentd.InboundSMS{}, consentd.InboundResult{}, 0, nil), writers, s.postInboundSMS},
		{op("GET", "/v1/inbound/sms", "Stored SMS replies, by default those waiting for review", "inbound", nil, inboundList{}, 0,
			append([]openapi.Param{{Name: "state", Enum: []string{"review", "resolved", "opted_out", "opted_in", "confirmed", "help", "all"}, Description: "default review"}}, page...)), readers, s.listInboundSMS},
		{optional(op("POST", "/v1/inbound/sms/{id}:resolve", "Mark an SMS reply reviewed; action opt_out opts the number out as a keyword does", "inbound",
			consentd.InboundResolution{}, consentd.InboundResult{}, 0, id)), writers, s.resolveInboundSMS},

		{optional(op("POST", "/v1/parties/{id}:opt-out-all", "Agent opt-out: opted_out on every channel type of every contact point of the party, whatever its state was, and a do_not_contact suppression of each contact point", "parties",
			optOutAllInput{}, optOutAllAnswer{}, 0, id)), agents, s.optOutAll},

		{op("POST", "/v1/requests", "File a data-subject request; a background job carries it out", "requests",
			consentd.RequestInput{}, consentd.Request{}, 201, nil), writers, s.postRequest},
		{op("GET", "/v1/requests", "List data-subject requests", "requests", nil, requestList{}, 0,
			append([]openapi.Param{{Name: "state", Enum: []string{"pending", "completed", "failed"}}}, page...)), readers, s.listRequests},
		{op("GET", "/v1/requests/{id}", "A data-subject request: its state, due date, result and errors", "requests",
			nil, consentd.Request{}, 0, id), readers, s.getRequest},
		{op("GET", "/v1/requests/{id}/report", "The report of a completed access request: what is held on its subject, as it is now", "requests",
			nil, consentd.AccessReport{}, 0, id, 409), readers, s.accessReport},
	}
}

// pathID returns the {id} of a route "…/{id}:<suffix>", which the mux
// registers on the whole segment; ENOTFOUND when the segment does not end
// in the suffix.
func pathID(r *http.Request, suffix string) (string, error) {
	id, ok := strings.CutSuffix(r.PathValue("id"), ":"+suffix)
	if !ok || id == "" {
		return "", consentd.Errorf(consentd.ENOTFOUND, "no such route")
	}
	return id, nil
}

// decodeOptional decodes a JSON body into v, strictly, when there is one:
// an empty body leaves v as it is.
func decodeOptional(r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return jsonError(err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	return decodeBytes(body, v)
}

// maxLimit is the largest page a list answers.
const maxLimit = 1000

// limitParam documents ?limit= (pageLimit reads it).
var limitParam = openapi.Param{Name: "limit", Type: "integer", Description: "1 to 1000, default 100", Minimum: ptr(1), Maximum: ptr(maxLimit)}

func ptr[T any](v T) *T { return &v }

// pageLimit reads ?limit= (1 to 1000; 0 when absent).
func pageLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		return 0, consentd.FieldErrorf(consentd.EINVALID, "limit", "limit is a number from 1 to 1000")
	}
	return n, nil
}

func (s *Server) postInboundSMS(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	var in consentd.InboundSMS
	if err := decode(r, maxBody, &in); err != nil {
		return err
	}
	res, err := s.DB.InboundSMS(r.Context(), k.WorkspaceID, in, actor(k))
	if err != nil {
		return err
	}
	writeJSON(w, 200, res)
	return nil
}

func (s *Server) listInboundSMS(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	ms, next, err := s.DB.InboundMessages(r.Context(), k.WorkspaceID, consentd.InboundFilter{State: q.Get("state"), Limit: limit, PageToken: q.Get("page_token")})
	if err != nil {
		return err
	}
	writeJSON(w, 200, inboundList{Messages: ms, NextPageToken: next})
	return nil
}

func (s *Server) resolveInboundSMS(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	id, err := pathID(r, "resolve")
	if err != nil {
		return err
	}
	var in consentd.InboundResolution
	if err := decodeOptional(r, &in); err != nil {
		return err
	}
	res, err := s.DB.ResolveInboundMessage(r.Context(), k.WorkspaceID, id, in, actor(k))
	if err != nil {
		return err
	}
	writeJSON(w, 200, res)
	return nil
}

// optOutAll writes opted_out, now, with source {type: agent, name: <key
// id>}, on every channel type of the catalog on the channels of each of
// the party's contact points' kind, in one transaction.
func (s *Server) optOutAll(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	id, err := pathID(r, "opt-out-all")
	if err != nil {
		return err
	}
	var in optOutAllInput
	if err := decodeOptional(r, &in); err != nil {
		return err
	}
	if len(in.Reason) > 1000 {
		return consentd.FieldErrorf(consentd.EINVALID, "reason", "reason is at most 1000 bytes")
	}
	p, err := s.DB.Party(r.Context(), k.WorkspaceID, id)
	if err != nil {
		return err
	}
	cat, err := s.DB.Catalog(r.Context(), k.WorkspaceID)
	if err != nil {
		return err
	}
	out := optOutAllAnswer{PartyID: p.ID, Consents: []batchItem{}, Suppressions: []*consentd.Suppression{}}
	writes := consentd.OptOutWrites(cat, p.ContactPoints, p.ID, consentd.Source{Type: consentd.SourceAgent, Name: k.ID}, in.Reason, s.Now().UTC())
	if len(writes) > 0 {
		res, err := s.DB.WriteConsents(r.Context(), k.WorkspaceID, writes, actor(k))
		if err != nil {
			return err
		}
		for _, wr := range res {
			if wr.Err != nil {
				p := problemOf(wr.Err)
				out.Consents = append(out.Consents, batchItem{Error: &p})
			} else {
				out.Consents = append(out.Consents, batchItem{writeAnswer: &writeAnswer{Consent: wr.Consent, Applied: wr.Applied, Outcome: wr.Outcome}})
			}
		}
	}
	// As the preference page's "unsubscribe from all": a do_not_contact
	// suppression per contact point also covers purposes made later, which
	// the opt-outs above cannot name. OnlyIfNone: a repeated opt-out-all
	// answers the suppression it added before.
	for _, sin := range consentd.DoNotContactInputs(p.ContactPoints, "agent opt-out-all") {
		sup, err := s.DB.AddSuppression(r.Context(), k.WorkspaceID, sin, actor(k))
		if err != nil {
			return fmt.Errorf("opt-out-all: suppress a contact point of party %s: %w", p.ID, err)
		}
		out.Suppressions = append(out.Suppressions, sup)
	}
	writeJSON(w, 200, out)
	return nil
}

func (s *Server) postRequest(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	var in consentd.RequestInput
	if err := decode(r, maxBody, &in); err != nil {
		return err
	}
	req, err := s.FileRequest(r.Context(), k, in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/requests/"+req.ID)
	writeJSON(w, 201, req)
	return nil
}

// FileRequest files a data-subject request as POST /v1/requests does, for
// key k: the input's text checked as the API's bodies are, the store's
// validation (type, regulation, party or contact point) and write, which
// sets the due date by the regulation (consentd.DueDate) and queues the
// job that carries it out; the job runner is woken.
func (s *Server) FileRequest(ctx context.Context, k *consentd.APIKey, in consentd.RequestInput) (*consentd.Request, error) {
	if err := checkInput(&in); err != nil {
		return nil, err
	}
	req, err := s.DB.CreateRequest(ctx, k.WorkspaceID, in, actor(k))
	if err != nil {
		return nil, err
	}
	s.nudge() // its job is queued
	return req, nil
}

func (s *Server) listRequests(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	rs, next, err := s.DB.Requests(r.Context(), k.WorkspaceID, consentd.RequestFilter{State: q.Get("state"), Limit: limit, PageToken: q.Get("page_token")})
	if err != nil {
		return err
	}
	writeJSON(w, 200, requestList{Requests: rs, NextPageToken: next})
	return nil
}

func (s *Server) getRequest(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	req, err := s.DB.Request(r.Context(), k.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, req)
	return nil
}

// accessReport is GET /v1/requests/{id}/report: the party, the consents
// with their history and the suppressions an access request found, read
// now (a contact point erased since is left out).
func (s *Server) accessReport(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	ctx, ws := r.Context(), k.WorkspaceID
	req, err := s.DB.Request(ctx, ws, r.PathValue("id"))
	if err != nil {
		return err
	}
	switch {
	case req.Type != consentd.RequestAccess:
		return consentd.Errorf(consentd.ENOTFOUND, "only an access request has a report; this is a %s request", req.Type)
	case req.State != consentd.RequestCompleted || req.Result == nil:
		return consentd.Errorf(consentd.ECONFLICT, "the request is %s: its report is there once it is completed", req.State)
	}
	rep := &consentd.AccessReport{Request: req, Consents: []*consentd.Consent{}, History: map[string][]consentd.LogRecord{},
		Suppressions: []*consentd.Suppression{}}
	if req.PartyID != "" {
		if rep.Party, err = s.DB.Party(ctx, ws, req.PartyID); err != nil && consentd.ErrorCode(err) != consentd.ENOTFOUND {
			return err
		}
	}
	for _, id := range req.Result.ConsentIDs {
		c, err := s.DB.Consent(ctx, ws, id, time.Time{})
		switch consentd.ErrorCode(err) {
		case "":
		case consentd.ENOTFOUND, consentd.EINVALIDCONTACTPOINT:
			continue // erased since: the id names a hash
		default:
			return err
		}
		if rep.History[id], err = s.DB.ConsentHistory(ctx, ws, id); err != nil {
			return err
		}
		rep.Consents = append(rep.Consents, c)
	}
	sups, err := s.DB.Suppressions(ctx, ws)
	if err != nil {
		return err
	}
	for _, sup := range sups {
		if slices.Contains(req.Result.SuppressionIDs, sup.ID) {
			rep.Suppressions = append(rep.Suppressions, sup)
		}
	}
	writeJSON(w, 200, rep)
	return nil
}

// requestBatch is how many pending requests one pass of the worker reads.
const requestBatch = 100

// permanentError fails a job at once (automation.Handler).
type permanentError struct{ error }

func (permanentError) Permanent() bool { return true }
func (e permanentError) Unwrap() error { return e.error }

// RunRequestJob carries out the data-subject request that a request job
// names (its Ref is the request id): filing a request queues its job in
// the same transaction, and the durable job queue (internal/automation)
// runs it, with leases, retries with backoff and a failure listing, on
// every replica. ProcessRequest does the request in one transaction, once,
// and records each failed attempt with the request; a request that is
// done already is answered as it is.
func (s *Server) RunRequestJob(ctx context.Context, j *consentd.Job) (string, error) {
	req, err := s.DB.ProcessRequest(ctx, j.WorkspaceID, j.Ref)
	if err != nil {
		if consentd.ErrorCode(err) == consentd.ENOTFOUND {
			return "", permanentError{fmt.Errorf("request %s not found", j.Ref)}
		}
		return "", fmt.Errorf("request %s: %w", j.Ref, err)
	}
	switch req.State {
	case consentd.RequestCompleted:
		if req.Type == consentd.RequestErase {
			s.afterErasure(ctx, j.WorkspaceID)
		}
		return "request " + req.Type + " completed", nil
	case consentd.RequestFailed:
		return "", permanentError{fmt.Errorf("request %s failed after %d attempts (see its errors)", req.ID, req.Attempts)}
	}
	return "", fmt.Errorf("request %s is still %s", req.ID, req.State)
}

// ProcessRequests carries out, at once, the pending requests whose next
// attempt is due, oldest first, and returns how many it completed: for
// tools and tests that need them done now; serve runs each request as a
// job (RunRequestJob), which then finds it completed. A request that
// fails is logged (its workspace and id, never a contact point) and tried
// again later; it does not stop the others.
func (s *Server) ProcessRequests(ctx context.Context) (int, error) {
	done := 0
	for {
		refs, err := s.DB.PendingRequests(ctx, s.Now(), requestBatch)
		if err != nil {
			return done, err
		}
		failed := 0
		for _, ref := range refs {
			if ctx.Err() != nil {
				return done, ctx.Err()
			}
			req, err := s.DB.ProcessRequest(ctx, ref.WorkspaceID, ref.ID)
			if err != nil {
				failed++
				if ctx.Err() == nil {
					s.Log.Error("data-subject request failed", "workspace", ref.WorkspaceID, "request", ref.ID, "code", consentd.ErrorCode(err), "err", err)
				}
				continue
			}
			if req.Type == consentd.RequestErase {
				s.afterErasure(ctx, ref.WorkspaceID)
			}
			done++
		}
		if len(refs) < requestBatch || failed > 0 {
			return done, nil
		}
	}
}

// afterErasure runs AfterErasure, when set, after an address was erased
// (an erase request, or an `erased` suppression); a failure is logged and
// the erasure stands.
func (s *Server) afterErasure(ctx context.Context, wsID string) {
	if s.AfterErasure == nil {
		return
	}
	if err := s.AfterErasure(ctx, wsID); err != nil && ctx.Err() == nil {
		s.Log.Error("after erasure", "workspace", wsID, "code", consentd.ErrorCode(err), "err", err)
	}
}
