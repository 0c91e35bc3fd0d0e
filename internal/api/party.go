package api

import (
	"net/http"

	"github.com/consentd/consentd"
)

type partyInput struct {
	ContactPoints []consentd.PartyContactPoint `json:"contact_points"`
	ExternalIDs   map[string]string            `json:"external_ids,omitempty" max:"256"`
}

type suppressionList struct {
	Suppressions []*consentd.Suppression `json:"suppressions"`
}

func (s *Server) putParty(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	var in partyInput
	if err := decode(r, maxBody, &in); err != nil {
		return err
	}
	p := &consentd.Party{ID: r.PathValue("id"), ContactPoints: in.ContactPoints, ExternalIDs: in.ExternalIDs}
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
	if in.Reason == consentd.SuppressErased && k.Role == consentd.RoleAgent {
		return consentd.Errorf(consentd.EFORBIDDEN, "erasure is a data-subject request: an agent key may suppress, not erase")
	}
	sup, err := s.DB.AddSuppression(r.Context(), k.WorkspaceID, in, actor(k))
	if err != nil {
		return err
	}
	if sup.Reason == consentd.SuppressErased {
		s.afterErasure(r.Context(), k.WorkspaceID)
	}
	writeJSON(w, 201, sup)
	return nil
}

func (s *Server) deleteSuppression(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	if err := s.DB.DeleteSuppression(r.Context(), k.WorkspaceID, r.PathValue("id"), actor(k)); err != nil {
		return err
	}
	w.WriteHeader(204)
	return nil
}
