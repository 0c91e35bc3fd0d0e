package api

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/i18n"
	"github.com/consentd/consentd/internal/openapi"
	"github.com/consentd/consentd/internal/reqcheck"
)

// logoTypes are the media types a logo may have (consentd.CheckLogo).
var logoTypes = []string{"image/png", "image/jpeg", "image/gif", "image/webp"}

// textList answers GET /v1/texts.
type textList struct {
	Languages []string    `json:"languages" doc:"the shipped languages, English (the fallback) first: default_language and the languages of texts overrides take these"`
	Texts     []textEntry `json:"texts" doc:"every text the public pages, mails and texts show, by key"`
}

// textEntry is one text: its shipped wording per language and the
// workspace's overrides of it.
type textEntry struct {
	Key          string            `json:"key" doc:"the key to override in PATCH /v1/workspace texts.<language>.<key>"`
	Placeholders []string          `json:"placeholders,omitempty" doc:"the {names} the code fills in this text; an override may use these and no others"`
	Shipped      map[string]string `json:"shipped" doc:"language → the shipped text"`
	Overrides    map[string]string `json:"overrides,omitempty" doc:"language → this workspace's override, which pages and mails show instead"`
}

// brandRoutes are the routes of the workspace's texts and logo.
func (s *Server) brandRoutes() []route {
	op := func(method, path, summary string) openapi.Operation {
		return openapi.Operation{Method: method, Path: path, Summary: summary, Tags: []string{"workspace"}}
	}
	put := op("PUT", "/v1/workspace/logo", "Upload the workspace's logo: the raw image as the body (PNG, JPEG, GIF or WebP; at most 256 KiB and 2048x2048 pixels)")
	put.RequestTypes, put.Response = logoTypes, consentd.Workspace{}
	put.Errors = []int{415}
	del := op("DELETE", "/v1/workspace/logo", "Remove the workspace's logo")
	del.Response = consentd.Workspace{}
	texts := op("GET", "/v1/texts", "Every text of the public pages, mails and texts: its key, placeholders, shipped wording per language and this workspace's overrides")
	texts.Response = textList{}
	return []route{
		{texts, readers, s.getTexts},
		{put, admins, s.putLogo},
		{del, admins, s.deleteLogo},
	}
}

func (s *Server) getTexts(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	ws, err := s.DB.Workspace(r.Context(), k.WorkspaceID)
	if err != nil {
		return err
	}
	out := textList{Languages: i18n.Supported, Texts: []textEntry{}}
	for _, key := range i18n.Keys() {
		e := textEntry{Key: key, Shipped: map[string]string{}}
		for _, lang := range i18n.Supported {
			if t, ok := i18n.Text(lang, key); ok {
				e.Shipped[lang] = t
			}
			if o, ok := ws.Texts[lang][key]; ok {
				if e.Overrides == nil {
					e.Overrides = map[string]string{}
				}
				e.Overrides[lang] = o
			}
		}
		en, _ := i18n.Text(i18n.Fallback, key)
		for _, p := range i18n.Placeholders(en) {
			if n := len(e.Placeholders); n == 0 || e.Placeholders[n-1] != p {
				e.Placeholders = append(e.Placeholders, p)
			}
		}
		out.Texts = append(out.Texts, e)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) putLogo(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		mt = ""
	}
	// The declared length first: a body over the limit is not read.
	if r.ContentLength > consentd.MaxLogoBytes {
		return consentd.FieldErrorf(consentd.ETOOLARGE, "body", "the logo is %d bytes; at most %d (256 KiB)", r.ContentLength, consentd.MaxLogoBytes)
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, consentd.MaxLogoBytes))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return consentd.FieldErrorf(consentd.ETOOLARGE, "body", "the logo is more than %d bytes (256 KiB)", consentd.MaxLogoBytes)
	case err != nil:
		return consentd.Errorf(consentd.EMALFORMED, "reading the body: %v", err)
	}
	ws, err := s.DB.SetLogo(r.Context(), k.WorkspaceID, mt, data, actor(k))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ws)
	return nil
}

func (s *Server) deleteLogo(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	ws, err := s.DB.SetLogo(r.Context(), k.WorkspaceID, "", nil, actor(k))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ws)
	return nil
}

// logoPath is the public route of logos: consentd.LogoURL makes its
// paths.
const logoPath = "/brand/{workspace_id}/logo/{sha256}"

// logoOp documents the public logo route.
func logoOp() openapi.Operation {
	return openapi.Operation{Method: "GET", Path: logoPath, OperationID: "getLogo", Tags: []string{"workspace"},
		Summary: "A workspace's logo, as uploaded",
		Description: "Public (no API key): the public pages and mails show it. The path names the logo's SHA-256, so the answer never changes " +
			"and may be cached for a year; the hash of a logo that was replaced or removed answers 404. The image is served with its own type, " +
			"nosniff and a Content-Security-Policy that lets it run nothing.",
		ResponseTypes: logoTypes,
		Query: []openapi.Param{{Name: "workspace_id", In: "path", Description: "the workspace's id"},
			{Name: "sha256", In: "path", Description: "the logo's SHA-256 in hex, as in the workspace's logo.url"}},
		Errors: []int{400, 404}}
}

// serveLogo answers the public logo route: the exact bytes of the
// workspace's current logo when the path names its hash, else 404.
func (s *Server) serveLogo(w http.ResponseWriter, r *http.Request) {
	if err := reqcheck.PathValues(r, "workspace_id", "sha256"); err != nil {
		s.writeError(w, r, err)
		return
	}
	info, data, err := s.DB.Logo(r.Context(), r.PathValue("workspace_id"))
	if err == nil && info.SHA256 != r.PathValue("sha256") {
		err = consentd.Errorf(consentd.ENOTFOUND, "logo not found")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", info.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(data)))
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin") // mail clients load it from elsewhere
	h.Set("ETag", `"`+info.SHA256+`"`)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(data)
	}
}
