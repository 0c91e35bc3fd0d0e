package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/consentd/consentd"
)

// personActions is what the person page reads and does through the API's
// own code (api.Server has it): a consent's log entries, adding and
// lifting a suppression, filing a data-subject request, and mailing a
// preference link, each as the API route does it. The console asks its
// Receipts for it; a console without it shows no history and refuses the
// actions.
type personActions interface {
	History(ctx context.Context, wsID, id string) ([]consentd.LogRecord, error)
	Suppress(ctx context.Context, k *consentd.APIKey, in consentd.SuppressionInput) (*consentd.Suppression, error)
	LiftSuppression(ctx context.Context, k *consentd.APIKey, id string) error
	FileRequest(ctx context.Context, k *consentd.APIKey, in consentd.RequestInput) (*consentd.Request, error)
	SendPreferenceLink(ctx context.Context, k *consentd.APIKey, contactPoint string) (string, error)
}

// requestReader reads one data-subject request, to show the one just
// filed (GET /v1/requests/{id}'s store method).
type requestReader interface {
	Request(ctx context.Context, wsID, id string) (*consentd.Request, error)
}

// suppressReasons are the reasons the console offers. Erasure is not one:
// it deletes the address, and is filed as a data-subject request (erase)
// so that it is tracked, due and reported as one.
var suppressReasons = []consentd.SuppressionReason{consentd.SuppressDoNotContact, consentd.SuppressHardBounce, consentd.SuppressComplaint, consentd.SuppressSMSStop}

// historyRow is one log entry of a consent.
type historyRow struct {
	Seq        int64
	Type       string // changed, superseded (a later capture won) or unchanged
	Status     consentd.Status
	CapturedAt string
	RecordedAt string
	Source     string
	Actor      string
}

// historyTypes says each consent entry type in a word.
var historyTypes = map[string]string{
	consentd.LogConsentChanged:    "changed",
	consentd.LogConsentSuperseded: "not applied: a later capture stands",
	consentd.LogConsentUnchanged:  "not applied: no change",
}

// history reads a consent's log entries through the API's History, oldest
// first. An entry whose content was erased shows its number and time only.
func (s *Server) history(ctx context.Context, acts personActions, wsID, id string) ([]historyRow, error) {
	recs, err := acts.History(ctx, wsID, id)
	if consentd.ErrorCode(err) == consentd.ENOTFOUND {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	var out []historyRow
	for _, rec := range recs {
		w, ok, err := consentd.ParseLoggedWrite(rec.Entry)
		switch {
		case errors.Is(err, consentd.ErrNoState):
			out = append(out, historyRow{Seq: rec.Seq, Type: "content erased", RecordedAt: w.At.UTC().Format(time.RFC3339)})
			continue
		case err != nil:
			return nil, fmt.Errorf("read log entry %d: %w", rec.Seq, err)
		case !ok:
			continue // not a write of the consent
		}
		var e struct {
			Actor string `json:"actor"`
		}
		if err := json.Unmarshal(rec.Entry, &e); err != nil {
			return nil, fmt.Errorf("read log entry %d: %w", rec.Seq, err)
		}
		out = append(out, historyRow{Seq: w.Seq, Type: historyTypes[w.Type], Status: w.State.Status, CapturedAt: w.State.CapturedAt.UTC().Format(time.RFC3339),
			RecordedAt: w.At.UTC().Format(time.RFC3339), Source: source(w.State.Source), Actor: e.Actor})
	}
	return out, nil
}

// mountPersonActions registers the person page's actions beyond opting
// out: suppress, lift a suppression, file a data-subject request, mail a
// preference link. Each has the API route's role set: suppressing is an
// agent's act ("agents", console.go), lifting a suppression an admin's
// (DELETE /v1/suppressions/{id}: "admins", queues.go), filing a
// data-subject request and mailing a preference link a writer's
// (POST /v1/requests, POST /v1/links:send: "writers", queues.go); the
// tests compare them with the API's document.
func (s *Server) mountPersonActions() {
	s.mux.HandleFunc("POST /admin/suppress", s.suppress)
	s.mux.HandleFunc("POST /admin/lift-suppression", s.liftSuppression)
	s.mux.HandleFunc("POST /admin/request", s.fileRequest)
	s.mux.HandleFunc("POST /admin/send-link", s.sendLink)
}

// act starts an action of the person page: signed in, the form read with
// its CSRF token, the role one of set, and the API's code at hand. It
// answers (403, 404 or 400) and returns ok false otherwise.
func (s *Server) act(w http.ResponseWriter, r *http.Request, set []consentd.Role, what string) (*session, *operator, personActions, *consentd.APIKey, bool) {
	v, op, ok := s.allowedForm(w, r, set, what)
	if !ok {
		return nil, nil, nil, nil, false
	}
	acts, found := s.Receipts.(personActions)
	if !found {
		s.message(w, r, http.StatusNotFound, op, "Not found", "This server cannot "+what+" from the console.")
		return nil, nil, nil, nil, false
	}
	return v, op, acts, &consentd.APIKey{ID: v.keyID, WorkspaceID: v.workspace, Role: v.role}, true
}

// refuse answers an error of the API's code: what the person's input got
// wrong as 400 (404 not found, 403 forbidden, 409 conflict) with the
// API's message, anything else as a 500.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, op *operator, err error) {
	status := http.StatusBadRequest
	switch consentd.ErrorCode(err) {
	case consentd.EINTERNAL:
		s.fail(w, r, op, err)
		return
	case consentd.ENOTFOUND:
		status = http.StatusNotFound
	case consentd.EFORBIDDEN:
		status = http.StatusForbidden
	case consentd.ECONFLICT:
		status = http.StatusConflict
	}
	s.message(w, r, status, op, "Not done", "Nothing was changed: "+consentd.ErrorMessage(err)+".")
}

// backTo redirects to the person page of the search q with a notice.
func backTo(w http.ResponseWriter, r *http.Request, q string, notice url.Values) {
	notice.Set("q", q)
	http.Redirect(w, r, "/admin/person?"+notice.Encode(), http.StatusSeeOther)
}

// suppress answers POST /admin/suppress: a suppression of the contact
// point, on one channel or every channel, with one of suppressReasons and
// a note, by the API's Suppress.
func (s *Server) suppress(w http.ResponseWriter, r *http.Request) {
	_, op, acts, k, ok := s.act(w, r, agents, "suppress a contact point")
	if !ok {
		return
	}
	f := r.PostForm
	reason := consentd.SuppressionReason(f.Get("reason"))
	if !slices.Contains(suppressReasons, reason) {
		s.message(w, r, http.StatusBadRequest, op, "Not done", "Nothing was changed: choose a reason of the list (to erase an address, start an erase request).")
		return
	}
	if strings.TrimSpace(f.Get("contact_point")) == "" {
		s.message(w, r, http.StatusBadRequest, op, "Not done", "Nothing was changed: the form names no contact point.")
		return
	}
	in := consentd.SuppressionInput{ContactPoint: f.Get("contact_point"), Kind: consentd.ContactPointKind(f.Get("kind")), Channel: f.Get("channel"), Reason: reason, Note: strings.TrimSpace(f.Get("note"))}
	if _, err := acts.Suppress(r.Context(), k, in); err != nil {
		s.refuse(w, r, op, err)
		return
	}
	backTo(w, r, f.Get("q"), url.Values{"done": {"suppressed"}})
}

// liftSuppression answers POST /admin/lift-suppression: the API's
// LiftSuppression of the suppression the form names.
func (s *Server) liftSuppression(w http.ResponseWriter, r *http.Request) {
	_, op, acts, k, ok := s.act(w, r, admins, "lift a suppression")
	if !ok {
		return
	}
	id := r.PostForm.Get("suppression")
	if id == "" {
		s.message(w, r, http.StatusBadRequest, op, "Not done", "Nothing was changed: the form names no suppression.")
		return
	}
	if err := acts.LiftSuppression(r.Context(), k, id); err != nil {
		s.refuse(w, r, op, err)
		return
	}
	backTo(w, r, r.PostForm.Get("q"), url.Values{"done": {"lifted"}})
}

// fileRequest answers POST /admin/request: a data-subject request for the
// party or the contact point the form names, by the API's FileRequest,
// which sets its due date by the regulation. received_on, when given, is
// the day the person made it (a date, midnight UTC).
func (s *Server) fileRequest(w http.ResponseWriter, r *http.Request) {
	_, op, acts, k, ok := s.act(w, r, writers, "start a data-subject request")
	if !ok {
		return
	}
	f := r.PostForm
	in := consentd.RequestInput{Type: f.Get("type"), Regulation: f.Get("regulation"), PartyID: f.Get("party_id"),
		ContactPoint: f.Get("contact_point"), Kind: consentd.ContactPointKind(f.Get("kind")), Reference: strings.TrimSpace(f.Get("reference"))}
	if d := f.Get("received_on"); d != "" {
		t, err := time.Parse(time.DateOnly, d)
		if err != nil {
			s.message(w, r, http.StatusBadRequest, op, "Not done", "Nothing was changed: the day received is not a date.")
			return
		}
		in.ReceivedAt = t
	}
	req, err := acts.FileRequest(r.Context(), k, in)
	if err != nil {
		s.refuse(w, r, op, err)
		return
	}
	backTo(w, r, f.Get("q"), url.Values{"done": {"request"}, "request": {req.ID}})
}

// sendLink answers POST /admin/send-link: the API's SendPreferenceLink
// queues the mail of a signed preference link to the address.
func (s *Server) sendLink(w http.ResponseWriter, r *http.Request) {
	_, op, acts, k, ok := s.act(w, r, writers, "send a preference link")
	if !ok {
		return
	}
	id, err := acts.SendPreferenceLink(r.Context(), k, r.PostForm.Get("contact_point"))
	if err != nil {
		s.refuse(w, r, op, err)
		return
	}
	backTo(w, r, r.PostForm.Get("q"), url.Values{"done": {"link-sent"}, "job": {id}})
}

// filedRequest is the data-subject request just filed, for the notice.
type filedRequest struct {
	ID         string
	Type       string
	Regulation string
	Due        string
	Left       string
}

// notice says what the action the page comes back from did.
func (s *Server) notice(ctx context.Context, p *personPage, q url.Values, wsID string) error {
	switch q.Get("done") {
	case "opted-out":
		p.Notice = "Opted out. The decisions below are as they are now."
	case "suppressed":
		p.Notice = "Suppressed. The decisions below are as they are now."
	case "lifted":
		p.Notice = "Suppression lifted. The decisions below are as they are now."
	case "link-sent":
		p.Notice = "A preference link is on its way by mail (job " + q.Get("job") + "). If the mail cannot be sent, the queues screen lists the job."
	case "request":
		db, ok := s.DB.(requestReader)
		if !ok {
			p.Notice = "Data-subject request " + q.Get("request") + " filed."
			return nil
		}
		req, err := db.Request(ctx, wsID, q.Get("request"))
		if consentd.ErrorCode(err) == consentd.ENOTFOUND {
			return nil
		} else if err != nil {
			return fmt.Errorf("read request: %w", err)
		}
		_, left := dueState(req.ReceivedAt, req.DueAt, s.Now())
		p.Filed = &filedRequest{ID: req.ID, Type: req.Type, Regulation: strings.ToUpper(req.Regulation), Due: req.DueAt.UTC().Format(time.DateOnly), Left: left}
	}
	return nil
}

// requestForm is a data-subject request form: for a party, or for one
// contact point; Key keeps its field ids apart from the page's others.
type requestForm struct {
	Key          string
	PartyID      string
	ContactPoint string
	Kind         consentd.ContactPointKind
	CSRF, Q      string
	Types        []string
	Regulations  []string
}

// requestForms sets the page's data-subject request forms: one for the
// party searched for, else one for each contact point.
func (p *personPage) requestForms() {
	form := func(key string) *requestForm {
		return &requestForm{Key: key, CSRF: p.CSRF, Q: p.Q, Types: []string{consentd.RequestWithdraw, consentd.RequestErase, consentd.RequestAccess},
			Regulations: []string{consentd.RegulationGDPR, consentd.RegulationCCPA}}
	}
	if p.PartyID != "" {
		p.PartyRequest = form("party")
		p.PartyRequest.PartyID = p.PartyID
		return
	}
	for i := range p.Points {
		f := form(fmt.Sprint(i))
		f.ContactPoint, f.Kind = p.Points[i].Value, p.Points[i].Kind
		p.Points[i].Request = f
	}
}
