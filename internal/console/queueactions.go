package console

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/consentd/consentd"
)

// The queues screen's actions. Each mirrors an API route: the same role
// set, and the same code (api.Server's method, or the store's when the
// route is a single store call). Each posts the session's CSRF token, and
// answers a form without the id it needs 400, changing nothing.

// actions returns the API's code for the queues' actions, or answers 403
// when this console has none (it serves without the API) and ok is false.
func (s *Server) actions(w http.ResponseWriter, r *http.Request, op *operator, what string) (queueActions, bool) {
	a, ok := s.Receipts.(queueActions)
	if !ok {
		s.message(w, r, http.StatusForbidden, op, "Not allowed", "This console cannot "+what+": use the API.")
	}
	return a, ok
}

// formID reads the form field name, a required id; false when it answered
// 400.
func (s *Server) formID(w http.ResponseWriter, r *http.Request, op *operator, name string) (string, bool) {
	id := r.PostForm.Get(name)
	if id == "" || len(id) > 200 {
		s.message(w, r, http.StatusBadRequest, op, "Bad request", "The form did not say which "+name+" to act on.")
		return "", false
	}
	return id, true
}

// retryJob answers POST /admin/retry-job: a failed job is queued again,
// with its attempts reset, and the job runner woken to run it now, by the
// API's RetryJob as POST /v1/jobs/{id}:retry does (a request's job makes
// its request pending again).
func (s *Server) retryJob(w http.ResponseWriter, r *http.Request) {
	v, op, ok := s.allowedForm(w, r, writers, "retry a job")
	if !ok {
		return
	}
	id, ok := s.formID(w, r, op, "job")
	if !ok {
		return
	}
	a, ok := s.actions(w, r, op, "retry a job")
	if !ok {
		return
	}
	_, err := a.RetryJob(r.Context(), v.workspace, id)
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

// resumeWebhook answers POST /admin/resume-webhook: a disabled webhook is
// enabled again and resumes delivery where it stopped, by the API's
// UpdateWebhook with disabled false, as PATCH /v1/webhooks/{id} does it
// (an admin's act). Resuming one that is not disabled changes nothing.
func (s *Server) resumeWebhook(w http.ResponseWriter, r *http.Request) {
	v, op, ok := s.allowedForm(w, r, admins, "change a webhook")
	if !ok {
		return
	}
	id, ok := s.formID(w, r, op, "webhook")
	if !ok {
		return
	}
	a, ok := s.actions(w, r, op, "resume a webhook")
	if !ok {
		return
	}
	enabled := false
	_, err := a.UpdateWebhook(r.Context(), v.workspace, id, consentd.WebhookUpdate{Disabled: &enabled}, "key:"+v.keyID)
	switch consentd.ErrorCode(err) {
	case "":
	case consentd.ENOTFOUND:
		s.message(w, r, http.StatusNotFound, op, "No such webhook", "The webhook was not found; it may have been deleted.")
		return
	case consentd.EINVALID:
		s.message(w, r, http.StatusUnprocessableEntity, op, "Not resumed", "The webhook cannot be resumed as it is: "+err.Error())
		return
	default:
		s.fail(w, r, op, fmt.Errorf("resume webhook: %w", err))
		return
	}
	http.Redirect(w, r, "/admin/queues?done=resumed", http.StatusSeeOther)
}

// resolveSMS answers POST /admin/resolve-sms: an SMS reply waiting for
// review is marked reviewed, with action dismiss (nothing to do) or
// opt_out (the reply meant stop: the number is opted out as a STOP reply
// does) and an optional note, by the store's ResolveInboundMessage as
// POST /v1/inbound/sms/{id}:resolve does.
func (s *Server) resolveSMS(w http.ResponseWriter, r *http.Request) {
	v, op, ok := s.allowedForm(w, r, writers, "resolve an SMS reply")
	if !ok {
		return
	}
	id, ok := s.formID(w, r, op, "reply")
	if !ok {
		return
	}
	db, ok := s.DB.(queueStore)
	if !ok {
		s.message(w, r, http.StatusNotFound, op, "Not found", "This server's store has no queues to show.")
		return
	}
	in := consentd.InboundResolution{Action: r.PostForm.Get("action"), Note: r.PostForm.Get("note")}
	if in.Action == "" {
		s.message(w, r, http.StatusBadRequest, op, "Bad request", "The form did not say what to do with the reply.")
		return
	}
	_, err := db.ResolveInboundMessage(r.Context(), v.workspace, id, in, "key:"+v.keyID)
	switch consentd.ErrorCode(err) {
	case "":
	case consentd.EINVALID:
		s.message(w, r, http.StatusBadRequest, op, "Bad request", "The reply was not resolved: "+err.Error())
		return
	case consentd.ENOTFOUND:
		s.message(w, r, http.StatusNotFound, op, "No such reply", "The SMS reply was not found.")
		return
	case consentd.ECONFLICT:
		s.message(w, r, http.StatusConflict, op, "Already reviewed", "This SMS reply is not waiting for review (any more). Reload the queues to see it as it is now.")
		return
	default:
		s.fail(w, r, op, fmt.Errorf("resolve SMS reply: %w", err))
		return
	}
	done := "dismissed"
	if in.Action == consentd.ResolveOptOut {
		done = "sms-opted-out"
	}
	http.Redirect(w, r, "/admin/queues?"+url.Values{"done": {done}}.Encode(), http.StatusSeeOther)
}

// importRejects answers GET /admin/import-rejects?import=: the import's
// rejected rows as a CSV download, written by the API's
// WriteImportRejects as GET /v1/imports/{id}/rejects answers them (any
// role that reads).
func (s *Server) importRejects(w http.ResponseWriter, r *http.Request) {
	v, op, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	if !hasRole(readers, v.role) {
		s.message(w, r, http.StatusForbidden, op, "Not allowed", aKey(v.role)+" may not read imports.")
		return
	}
	id := r.URL.Query().Get("import")
	if id == "" || len(id) > 200 {
		s.message(w, r, http.StatusBadRequest, op, "Bad request", "The address did not say which import's rejects to download.")
		return
	}
	a, ok := s.actions(w, r, op, "download an import's rejects")
	if !ok {
		return
	}
	// The name is set before the body is written, and taken back if the
	// import is not found.
	w.Header().Set("Content-Disposition", `attachment; filename="`+url.PathEscape(id)+`-rejects.csv"`)
	err := a.WriteImportRejects(r.Context(), w, v.workspace, id)
	if err != nil {
		w.Header().Del("Content-Disposition")
	}
	switch consentd.ErrorCode(err) {
	case "":
	case consentd.ENOTFOUND:
		s.message(w, r, http.StatusNotFound, op, "No such import", "There is no import of this id.")
	default:
		s.fail(w, r, op, fmt.Errorf("write import rejects: %w", err))
	}
}
