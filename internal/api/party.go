package api

import (
	"context"
	"net/http"

	"github.com/consentd/consentd"
)

type partyInput struct {
	ContactPoints []consentd.PartyContactPoint `json:"contact_points"`
	ExternalIDs   map[string]string            `json:"external_ids,omitempty" max:"256"`
	Language      string                       `json:"language,omitempty" max:"35" doc:"the person's language, a BCP 47 tag such as de or pt-BR (stored canonical); pages, mails and texts use it when a consent records none"`
}

type suppressionList struct {
	Suppressions []*consentd.Suppression `json:"suppressions"`
}

func (s *Server) putParty(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	var in partyInput
	if err := decode(r, maxBody, &in); err != nil {
		return err
	}
	p := &consentd.Party{ID: r.PathValue("id"), ContactPoints: in.ContactPoints, ExternalIDs: in.ExternalIDs, Language: in.Language}
	if p.ContactPoints == nil {
		p.ContactPoints = []consentd.PartyContactPoint{}
	}
	if err := s.DB.PutParty(r.Context(), k.WorkspaceID, p, actor(k)); err != nil {
		return err
	}
	writeJSON(w, 200, p)
	return nil
}

func (s *Server) getParty(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	p, err := s.DB.Party(r.Context(), k.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, p)
	return nil
}

func (s *Server) partyConsents(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	cs, err := s.DB.PartyConsents(r.Context(), k.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, consentList{Consents: cs})
	return nil
}

func (s *Server) listSuppressions(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	ss, err := s.DB.Suppressions(r.Context(), k.WorkspaceID)
	if err != nil {
		return err
	}
	writeJSON(w, 200, suppressionList{Suppressions: ss})
	return nil
}

func (s *Server) postSuppression(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	var in consentd.SuppressionInput
	if err := decode(r, maxBody, &in); err != nil {
		return err
	}
	sup, err := s.Suppress(r.Context(), k, in)
	if err != nil {
		return err
	}
	writeJSON(w, 201, sup)
	return nil
}

// Suppress adds a suppression as POST /v1/suppressions does, for key k
// (the operator console passes its session's key): the input's text
// checked as the API's bodies are, erasure refused to an agent key (it is
// a data-subject request), the store's validation and write, and after an
// erasure the cleanup that follows one.
func (s *Server) Suppress(ctx context.Context, k *consentd.APIKey, in consentd.SuppressionInput) (*consentd.Suppression, error) {
	if err := checkInput(&in); err != nil {
		return nil, err
	}
	if in.Reason == consentd.SuppressErased && k.Role == consentd.RoleAgent {
		return nil, consentd.Errorf(consentd.EFORBIDDEN, "erasure is a data-subject request: an agent key may suppress, not erase")
	}
	sup, err := s.DB.AddSuppression(ctx, k.WorkspaceID, in, actor(k))
	if err != nil {
		return nil, err
	}
	if sup.Reason == consentd.SuppressErased {
		s.afterErasure(ctx, k.WorkspaceID)
	}
	return sup, nil
}

func (s *Server) deleteSuppression(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	if err := s.LiftSuppression(r.Context(), k, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(204)
	return nil
}

// LiftSuppression lifts (deletes, logging suppression.lifted) the
// suppression id as DELETE /v1/suppressions/{id} does, for key k.
// ENOTFOUND when the workspace has no such suppression.
func (s *Server) LiftSuppression(ctx context.Context, k *consentd.APIKey, id string) error {
	return s.DB.DeleteSuppression(ctx, k.WorkspaceID, id, actor(k))
}
