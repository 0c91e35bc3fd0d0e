package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/doi"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/openapi"
)

// writeAnswer is a consent as a write left it, with what the write did.
type writeAnswer struct {
	*consentd.Consent
	Applied      bool                `json:"applied"`
	Outcome      consentd.Outcome    `json:"outcome" enum:"created,changed,unchanged,superseded"`
	Confirmation *confirmationAnswer `json:"confirmation,omitempty" doc:"set when the write was an opt-in that needs double opt-in: it is stored as pending, and a confirmation link goes to the contact point"`
}

// confirmationAnswer says where a double opt-in confirmation goes.
type confirmationAnswer struct {
	SentTo    string    `json:"sent_to" doc:"the contact point, masked (j***@e***.com)"`
	ExpiresAt time.Time `json:"expires_at" doc:"the link is refused after this; the consent stays pending"`
}

type batchWrite struct {
	Consents []consentd.ConsentWrite `json:"consents"`
}

// batchItem is one result of a batch: the answer, or the problem.
type batchItem struct {
	*writeAnswer
	Error *Problem `json:"error,omitempty"`
}

type batchWriteAnswer struct {
	Results []batchItem `json:"results"`
}

type consentList struct {
	Consents      []*consentd.Consent `json:"consents"`
	NextPageToken string              `json:"next_page_token,omitempty"`
}

type logPage struct {
	Entries []consentd.LogRecord `json:"entries"`
	Next    int64                `json:"next,omitempty" doc:"pass as after= to read on"`
}

// MaxBatch is the most consents one batch may write.
const MaxBatch = 10000

func (s *Server) postConsent(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	var in consentd.ConsentWrite
	if err := decode(r, maxBody, &in); err != nil {
		return err
	}
	res, confs, err := s.writeConsents(r.Context(), k.WorkspaceID, []consentd.ConsentWrite{in}, actor(k))
	if err != nil {
		return err
	}
	if res[0].Err != nil {
		return res[0].Err
	}
	status := 200
	if res[0].Outcome == consentd.Created {
		status = 201
	}
	writeJSON(w, status, writeAnswer{res[0].Consent, res[0].Applied, res[0].Outcome, confs[0]})
	return nil
}

func (s *Server) postConsentBatch(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	var in batchWrite
	var writes []consentd.ConsentWrite
	err := decodeBatch(w, r, maxBatchBody, batchBody{Field: "consents", MaxItems: MaxBatch,
		TooMany: fmt.Sprintf("a batch holds at most %d consents", MaxBatch), Head: &in,
		Item: func(raw []byte) error {
			var cw consentd.ConsentWrite
			if err := decodeBytes(raw, &cw); err != nil {
				return err
			}
			writes = append(writes, cw)
			return nil
		}})
	if err != nil {
		return err
	}
	in.Consents = writes
	res, confs, err := s.writeConsents(r.Context(), k.WorkspaceID, in.Consents, actor(k))
	if err != nil {
		return err
	}
	out := batchWriteAnswer{Results: make([]batchItem, len(res))}
	for i, r := range res {
		if r.Err != nil {
			p := problemOf(r.Err)
			out.Results[i].Error = &p
		} else {
			out.Results[i].writeAnswer = &writeAnswer{r.Consent, r.Applied, r.Outcome, confs[i]}
		}
	}
	writeJSON(w, 200, out)
	return nil
}

// WriteConsents is the API's write path for other callers (the automation
// runner): the double opt-in hold (an opt-in that needs confirmation is
// stored pending), the store's write, and the confirmations of the held
// writes. Each result's Err is that item's refusal.
func (s *Server) WriteConsents(ctx context.Context, wsID string, writes []consentd.ConsentWrite, actor string) ([]consentd.WriteResult, error) {
	res, _, err := s.writeConsents(ctx, wsID, writes, actor)
	return res, err
}

// writeConsents holds, writes and issues confirmations (doi.Write, the
// preference center's path too); writes may be changed in place (held
// opt-ins become pending).
func (s *Server) writeConsents(ctx context.Context, wsID string, writes []consentd.ConsentWrite, actor string) ([]consentd.WriteResult, []*confirmationAnswer, error) {
	res, confs, err := doi.Write(ctx, s.DB, wsID, writes, actor)
	if err != nil {
		return nil, nil, err
	}
	out := make([]*confirmationAnswer, len(res))
	issued := false
	for i, f := range confs {
		if f != nil {
			out[i] = &confirmationAnswer{SentTo: consentd.MaskContactPoint(res[i].Consent.ContactPoint), ExpiresAt: f.ExpiresAt}
			issued = true
		}
	}
	if issued {
		s.nudge() // a confirmation queued its message
	}
	return res, out, nil
}

func (s *Server) listConsents(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	q := r.URL.Query()
	f := consentd.ConsentFilter{ContactPoint: q.Get("contact_point"), PartyID: q.Get("party_id"), Purpose: q.Get("purpose"),
		Channel: q.Get("channel"), Status: consentd.Status(q.Get("status")), PageToken: q.Get("page_token")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			return consentd.FieldErrorf(consentd.EINVALID, "limit", "limit is a number from 1 to 1000")
		}
		f.Limit = n
	}
	return s.writeConsentList(w, r, k, f)
}

// consentSearch is the body of POST /v1/consents:search: a filter whose
// limit, when given, is 1 to 1000 (a pointer, so that 0 is refused rather
// than read as absent).
type consentSearch struct {
	consentd.ConsentFilter
	Limit *int `json:"limit,omitempty" min:"1" max:"1000" doc:"1 to 1000, default 100"`
}

func (s *Server) searchConsents(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	var in consentSearch
	if err := decode(r, maxBody, &in); err != nil {
		return err
	}
	f := in.ConsentFilter
	if in.Limit != nil {
		f.Limit = *in.Limit
	}
	return s.writeConsentList(w, r, k, f)
}

func (s *Server) writeConsentList(w http.ResponseWriter, r *http.Request, k *consentd.APIKey, f consentd.ConsentFilter) error {
	cs, next, err := s.DB.ListConsents(r.Context(), k.WorkspaceID, f)
	if err != nil {
		return err
	}
	writeJSON(w, 200, consentList{Consents: cs, NextPageToken: next})
	return nil
}

func (s *Server) getConsent(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	at, err := queryTimes(r.URL.Query())
	if err != nil {
		return err
	}
	c, err := s.DB.ConsentAt(r.Context(), k.WorkspaceID, r.PathValue("id"), at)
	if err != nil {
		return err
	}
	writeJSON(w, 200, c)
	return nil
}

// timesQuery documents the query parameters that queryTimes reads.
func timesQuery() []openapi.Param {
	return []openapi.Param{
		{Name: "as_of", Description: "RFC 3339 time (valid time): the write in effect then by captured_at, as everything recorded says; 404 not_in_effect when none was"},
		{Name: "known_at", Description: "RFC 3339 time (transaction time): only what was recorded at or before it; with as_of, what was believed then about as_of"},
	}
}

// queryTimes reads as_of and known_at. It returns EINVALIDTIME naming the
// field that is not an RFC 3339 time.
func queryTimes(q url.Values) (consentd.Times, error) {
	var at consentd.Times
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"as_of", &at.AsOf}, {"known_at", &at.KnownAt}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return at, consentd.FieldErrorf(consentd.EINVALIDTIME, p.name, "%s must be an RFC 3339 time such as 2026-03-14T12:00:00Z", p.name)
		}
		*p.dst = t
	}
	return at, nil
}

func (s *Server) consentHistory(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	h, err := s.History(r.Context(), k.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, logPage{Entries: h})
	return nil
}

// History returns a consent's log entries, oldest first, as
// GET /v1/consents/{id}/history answers them; the operator console shows
// them under each consent. ENOTFOUND when the consent has none.
func (s *Server) History(ctx context.Context, wsID, id string) ([]consentd.LogRecord, error) {
	h, err := s.DB.ConsentHistory(ctx, wsID, id)
	if err != nil {
		return nil, err
	}
	if len(h) == 0 {
		return nil, consentd.Errorf(consentd.ENOTFOUND, "no log entries for this consent")
	}
	return h, nil
}

func (s *Server) consentReceipt(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	rc, err := s.Receipt(r.Context(), k.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Add("Vary", "Accept")
	if prefers(r, tlogProofType, "application/json") {
		w.Header().Set("Content-Type", tlogProofType)
		w.WriteHeader(200)
		w.Write(rc.TLogProof())
		return nil
	}
	writeJSON(w, 200, rc)
	return nil
}

// Receipt builds the receipt of a consent: its latest log entry with an
// inclusion proof, a signed checkpoint and, when the write carried them,
// its evidence. GET /v1/consents/{id}/receipt answers it; the operator
// console offers it for download. ENOTFOUND when the consent has no log
// entries; ELEAFERASED when its latest entry was erased with its address.
func (s *Server) Receipt(ctx context.Context, wsID, id string) (*ledger.Receipt, error) {
	h, err := s.DB.ConsentHistory(ctx, wsID, id)
	if err != nil {
		return nil, err
	}
	if len(h) == 0 {
		return nil, consentd.Errorf(consentd.ENOTFOUND, "no log entries for this consent")
	}
	last := h[len(h)-1]
	if len(last.Leaf) == 0 {
		return nil, consentd.Errorf(consentd.ELEAFERASED, "the consent's latest log entry %d was erased with its address: the log keeps its hash, and no receipt can show its content", last.Seq)
	}
	rc, err := ledger.ReceiptFor(ctx, s.Ledger, s.Signer, wsID, last.Seq, last.Leaf)
	if err != nil {
		return nil, err
	}
	if len(last.Evidence) > 0 || len(last.Opening) > 0 {
		if err := rc.SetEvidence(last.Evidence, last.Opening); err != nil {
			return nil, err
		}
	}
	return rc, nil
}

func (s *Server) getLog(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	q := r.URL.Query()
	after, limit := int64(0), 100
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return consentd.FieldErrorf(consentd.EINVALID, "after", "after is a log sequence number")
		}
		after = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return consentd.FieldErrorf(consentd.EINVALID, "limit", "limit is a number from 1 to 1000")
		}
		limit = n
	}
	entries, err := s.DB.Log(r.Context(), k.WorkspaceID, after, limit)
	if err != nil {
		return err
	}
	page := logPage{Entries: entries}
	if len(entries) == limit {
		page.Next = entries[len(entries)-1].Seq
	}
	writeJSON(w, 200, page)
	return nil
}

func (s *Server) verifyLog(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	rep, err := s.VerifyLog(r.Context(), k.WorkspaceID)
	if err != nil {
		return err
	}
	writeJSON(w, 200, rep)
	return nil
}

// checkpointAnswer is a signed checkpoint with the key that signed it.
type checkpointAnswer struct {
	Checkpoint string `json:"checkpoint" doc:"C2SP signed note"`
	Origin     string `json:"origin"`
	Size       int64  `json:"size"`
	Root       string `json:"root"`
	KeyID      string `json:"key_id" doc:"the key that signed the checkpoint: <name>+<8 hex digits of the note key hash>"`
	PublicKey  string `json:"public_key" doc:"note verifier key of the key that signed, under the name it signed with"`
}

// checkpointAnswer opens a signed checkpoint with the server's key ring and
// names the key that signed it.
func (s *Server) checkpointAnswer(signed string) (checkpointAnswer, error) {
	cp, by, err := s.Signer.Ring().Open(signed)
	if err != nil {
		return checkpointAnswer{}, err
	}
	return checkpointAnswer{Checkpoint: signed, Origin: cp.Origin, Size: cp.Size, Root: cp.Root.String(), KeyID: by.KeyID, PublicKey: by.PublicKey}, nil
}

func (s *Server) postCheckpoint(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	signed, _, err := ledger.SignCheckpoint(r.Context(), s.Ledger, s.Signer, k.WorkspaceID)
	if err != nil {
		return err
	}
	a, err := s.checkpointAnswer(signed)
	if err != nil {
		return err
	}
	writeJSON(w, 201, a)
	return nil
}

func (s *Server) latestCheckpoint(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	signed, _, err := s.DB.LatestCheckpoint(r.Context(), k.WorkspaceID)
	if err != nil {
		return err
	}
	a, err := s.checkpointAnswer(signed)
	if err != nil {
		return err
	}
	writeJSON(w, 200, a)
	return nil
}
