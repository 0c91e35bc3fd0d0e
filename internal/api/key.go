package api

import (
	"net/http"

	"github.com/consentd/consentd"
)

type keyInput struct {
	Role consentd.Role `json:"role" enum:"admin,write,check,read,agent"`
	Name string        `json:"name,omitempty" max:"200"`
}

type keyAnswer struct {
	consentd.APIKey
	Key string `json:"key" doc:"the secret, shown this once"`
}

type keyList struct {
	Keys []*consentd.APIKey `json:"keys"`
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	ks, err := s.DB.Keys(r.Context(), k.WorkspaceID)
	if err != nil {
		return err
	}
	writeJSON(w, 200, keyList{Keys: ks})
	return nil
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	var in keyInput
	if err := decode(r, maxBody, &in); err != nil {
		return err
	}
	nk, secret, err := s.DB.CreateKey(r.Context(), k.WorkspaceID, in.Role, in.Name, "")
	if err != nil {
		return err
	}
	writeJSON(w, 201, keyAnswer{*nk, secret})
	return nil
}

func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	if err := s.DB.DeleteKey(r.Context(), k.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	s.keys.Clear()
	w.WriteHeader(204)
	return nil
}
