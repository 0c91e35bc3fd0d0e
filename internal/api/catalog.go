package api

import (
	"encoding/json"
	"net/http"

	"github.com/consentd/consentd"
)

// purposeInput is the writable part of a purpose.
type purposeInput struct {
	ID           string                             `json:"id" max:"64"`
	Name         string                             `json:"name" max:"200"`
	Description  string                             `json:"description,omitempty" max:"1000" doc:"what the messages are, for the people who get them"`
	Names        map[string]string                  `json:"names,omitempty" max:"200" doc:"the name per shipped language (en, de, fr, es, ar): pages and mails in that language show it instead of name"`
	Descriptions map[string]string                  `json:"descriptions,omitempty" max:"1000" doc:"the description per shipped language"`
	Type         consentd.PurposeType               `json:"type" enum:"commercial,transactional,tracking"`
	Channels     map[string]consentd.ChannelSetting `json:"channels" max:"64"`
	DoubleOptIn  consentd.DoubleOptIn               `json:"double_opt_in,omitempty" max:"16" doc:"\"never\", \"always\" or a list of jurisdictions"`
	SaleOrShare  bool                               `json:"sale_or_share,omitempty"`
	ExternalIDs  map[string]string                  `json:"external_ids,omitempty" max:"256"`
}

func (in *purposeInput) purpose() *consentd.Purpose {
	return &consentd.Purpose{ID: in.ID, Name: in.Name, Description: in.Description, Names: in.Names, Descriptions: in.Descriptions, Type: in.Type, Channels: in.Channels, DoubleOptIn: in.DoubleOptIn, SaleOrShare: in.SaleOrShare, ExternalIDs: in.ExternalIDs}
}

type purposeList struct {
	Purposes []*consentd.Purpose `json:"purposes"`
}

type topicInput struct {
	ID                 string            `json:"id" max:"64"`
	Purpose            string            `json:"purpose" max:"64"`
	Name               string            `json:"name" max:"200"`
	Description        string            `json:"description,omitempty" max:"1000" doc:"what the messages are, for the people who get them"`
	Names              map[string]string `json:"names,omitempty" max:"200" doc:"the name per shipped language (en, de, fr, es, ar)"`
	Descriptions       map[string]string `json:"descriptions,omitempty" max:"1000" doc:"the description per shipped language"`
	ExternalIDs        map[string]string `json:"external_ids,omitempty" max:"256"`
	ChannelExternalIDs map[string]string `json:"channel_external_ids,omitempty" max:"256"`
}

func (in *topicInput) topic() *consentd.Topic {
	return &consentd.Topic{ID: in.ID, Purpose: in.Purpose, Name: in.Name, Description: in.Description, Names: in.Names, Descriptions: in.Descriptions, ExternalIDs: in.ExternalIDs, ChannelExternalIDs: in.ChannelExternalIDs}
}

type topicList struct {
	Topics []*consentd.Topic `json:"topics"`
}

type channelTypeList struct {
	ChannelTypes []consentd.ChannelType `json:"channel_types"`
}

func actor(k *consentd.APIKey) string { return "key:" + k.ID }

func (s *Server) getWorkspace(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	ws, err := s.DB.Workspace(r.Context(), k.WorkspaceID)
	if err != nil {
		return err
	}
	writeJSON(w, 200, ws)
	return nil
}

func (s *Server) patchWorkspace(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	var u consentd.WorkspaceUpdate
	if err := decode(r, maxBody, &u); err != nil {
		return err
	}
	ws, err := s.DB.UpdateWorkspace(r.Context(), k.WorkspaceID, u, actor(k))
	if err != nil {
		return err
	}
	writeJSON(w, 200, ws)
	return nil
}

func (s *Server) listPurposes(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	cat, err := s.DB.Catalog(r.Context(), k.WorkspaceID)
	if err != nil {
		return err
	}
	out := purposeList{Purposes: []*consentd.Purpose{}}
	for _, id := range sortedIDs(cat.Purposes) {
		out.Purposes = append(out.Purposes, cat.Purposes[id])
	}
	writeJSON(w, 200, out)
	return nil
}

func (s *Server) createPurpose(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	var in purposeInput
	if err := decode(r, maxBody, &in); err != nil {
		return err
	}
	p := in.purpose()
	if err := s.DB.PutPurpose(r.Context(), k.WorkspaceID, p, true, actor(k)); err != nil {
		return err
	}
	writeJSON(w, 201, p)
	return nil
}

func (s *Server) getPurpose(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	cat, err := s.DB.Catalog(r.Context(), k.WorkspaceID)
	if err != nil {
		return err
	}
	p := cat.Purposes[r.PathValue("id")]
	if p == nil {
		return consentd.Errorf(consentd.ENOTFOUND, "purpose not found")
	}
	writeJSON(w, 200, p)
	return nil
}

func (s *Server) patchPurpose(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	cat, err := s.DB.Catalog(r.Context(), k.WorkspaceID)
	if err != nil {
		return err
	}
	old := cat.Purposes[r.PathValue("id")]
	if old == nil {
		return consentd.Errorf(consentd.ENOTFOUND, "purpose not found")
	}
	var in purposeInput
	if err := mergePatch(r, purposeInput{ID: old.ID, Name: old.Name, Description: old.Description, Names: old.Names, Descriptions: old.Descriptions, Type: old.Type, Channels: old.Channels, DoubleOptIn: old.DoubleOptIn, SaleOrShare: old.SaleOrShare, ExternalIDs: old.ExternalIDs}, &in); err != nil {
		return err
	}
	if in.ID != old.ID {
		return consentd.FieldErrorf(consentd.EINVALID, "id", "a purpose's id cannot change")
	}
	p := in.purpose()
	if err := s.DB.PutPurpose(r.Context(), k.WorkspaceID, p, false, actor(k)); err != nil {
		return err
	}
	writeJSON(w, 200, p)
	return nil
}

// mergePatch applies an RFC 7396 JSON merge patch from the body to the JSON
// form of cur and decodes the result into out, a fresh value: cur (which may
// share maps with the cached catalog) is never written.
func mergePatch(r *http.Request, cur, out any) error {
	var patch map[string]any
	if err := decode(r, maxBody, &patch); err != nil {
		return err
	}
	b, err := json.Marshal(cur)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return err
	}
	merged, err := json.Marshal(merge(doc, patch))
	if err != nil {
		return err
	}
	return decodeBytes(merged, out)
}

func merge(doc, patch map[string]any) map[string]any {
	for k, pv := range patch {
		if pv == nil {
			delete(doc, k)
			continue
		}
		pm, ok := pv.(map[string]any)
		dm, ok2 := doc[k].(map[string]any)
		if ok && !ok2 {
			dm, ok2 = map[string]any{}, true
		}
		if ok && ok2 {
			doc[k] = merge(dm, pm)
		} else {
			doc[k] = pv
		}
	}
	return doc
}

func (s *Server) deletePurpose(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	if err := s.DB.DeletePurpose(r.Context(), k.WorkspaceID, r.PathValue("id"), actor(k)); err != nil {
		return err
	}
	w.WriteHeader(204)
	return nil
}

func (s *Server) listTopics(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	cat, err := s.DB.Catalog(r.Context(), k.WorkspaceID)
	if err != nil {
		return err
	}
	out := topicList{Topics: []*consentd.Topic{}}
	for _, id := range sortedIDs(cat.Topics) {
		out.Topics = append(out.Topics, cat.Topics[id])
	}
	writeJSON(w, 200, out)
	return nil
}

func (s *Server) createTopic(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	var in topicInput
	if err := decode(r, maxBody, &in); err != nil {
		return err
	}
	t := in.topic()
	if err := s.DB.PutTopic(r.Context(), k.WorkspaceID, t, true, actor(k)); err != nil {
		return err
	}
	writeJSON(w, 201, t)
	return nil
}

func (s *Server) getTopic(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	cat, err := s.DB.Catalog(r.Context(), k.WorkspaceID)
	if err != nil {
		return err
	}
	t := cat.Topics[r.PathValue("id")]
	if t == nil {
		return consentd.Errorf(consentd.ENOTFOUND, "topic not found")
	}
	writeJSON(w, 200, t)
	return nil
}

func (s *Server) patchTopic(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	cat, err := s.DB.Catalog(r.Context(), k.WorkspaceID)
	if err != nil {
		return err
	}
	old := cat.Topics[r.PathValue("id")]
	if old == nil {
		return consentd.Errorf(consentd.ENOTFOUND, "topic not found")
	}
	var in topicInput
	if err := mergePatch(r, topicInput{ID: old.ID, Purpose: old.Purpose, Name: old.Name, Description: old.Description, Names: old.Names, Descriptions: old.Descriptions, ExternalIDs: old.ExternalIDs, ChannelExternalIDs: old.ChannelExternalIDs}, &in); err != nil {
		return err
	}
	if in.ID != old.ID {
		return consentd.FieldErrorf(consentd.EINVALID, "id", "a topic's id cannot change")
	}
	t := in.topic()
	if err := s.DB.PutTopic(r.Context(), k.WorkspaceID, t, false, actor(k)); err != nil {
		return err
	}
	writeJSON(w, 200, t)
	return nil
}

func (s *Server) deleteTopic(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	if err := s.DB.DeleteTopic(r.Context(), k.WorkspaceID, r.PathValue("id"), actor(k)); err != nil {
		return err
	}
	w.WriteHeader(204)
	return nil
}

func (s *Server) listChannelTypes(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	cat, err := s.DB.Catalog(r.Context(), k.WorkspaceID)
	if err != nil {
		return err
	}
	out := channelTypeList{ChannelTypes: cat.ChannelTypes()}
	if out.ChannelTypes == nil {
		out.ChannelTypes = []consentd.ChannelType{}
	}
	writeJSON(w, 200, out)
	return nil
}
