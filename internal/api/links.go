package api

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/openapi"
	"github.com/consentd/consentd/internal/signedlink"
)

// DefaultPublicURL is where public links point when no public URL is
// configured: the default listen address.
const DefaultPublicURL = "http://127.0.0.1:8080"

// maxLinkLifetime bounds expires_in: ten years.
const maxLinkLifetime = 10 * 365 * 24 * time.Hour

// linkInput is the body of POST /v1/links.
type linkInput struct {
	Kind             string                    `json:"kind" enum:"unsubscribe,preferences"`
	ContactPoint     string                    `json:"contact_point" max:"1024" doc:"the address the link is for; normalized, stored, and never put in the URL"`
	ChannelType      string                    `json:"channel_type,omitempty" max:"256" doc:"own id (newsletter:email) or external id; required for unsubscribe links, optional for preference links (then list_unsubscribe is a one-click link for it)"`
	ContactPointKind consentd.ContactPointKind `json:"contact_point_kind,omitempty" enum:"email,phone,custom" doc:"how to normalize contact_point when no channel_type says it; default guessed: email with @, phone with a leading + or digit, custom otherwise"`
	ExpiresIn        int64                     `json:"expires_in,omitempty" doc:"seconds until the link stops working; default never"`
}

// linkAnswer is the answer of POST /v1/links.
type linkAnswer struct {
	URL                 string     `json:"url" doc:"<public URL>/u/<token> or /p/<token>"`
	Token               string     `json:"token"`
	ListUnsubscribe     string     `json:"list_unsubscribe" doc:"the List-Unsubscribe header value (RFC 2369): the one-click unsubscribe URL in angle brackets; for a preference link without channel_type, the preference page's URL"`
	ListUnsubscribePost string     `json:"list_unsubscribe_post,omitempty" doc:"the List-Unsubscribe-Post header value (RFC 8058), present when list_unsubscribe is a one-click link"`
	ChannelType         string     `json:"channel_type,omitempty" doc:"the channel type's own id"`
	ExpiresAt           *time.Time `json:"expires_at,omitempty"`
	// MessageRef is the value a sender attaches to the message under the
	// key "consentd" of the provider's metadata (SendGrid custom_args,
	// Postmark Metadata, Mailgun user variables) or in its X-Consentd-Ref
	// header (SES, raw reports), so that a complaint or
	// an unsubscribe the provider reports through a feed opts out of
	// this channel type (docs/feeds.md).
	MessageRef string `json:"message_ref,omitempty" doc:"put this under the key consentd in the provider's message metadata (SendGrid custom_args, Postmark Metadata, Mailgun user-variables) or in the message header X-Consentd-Ref (SES, raw ARF and DSN reports): a feed's complaint or unsubscribe then opts out of this channel type; present when the link names a channel type"`
}

// linkMaker signs the links of POST /v1/links.
type linkMaker struct {
	s    *Server
	keys *signedlink.Keyring
	base string // public URL without a trailing slash
}

// linkRoutes are the signed-link routes. POST /v1/links is always in the
// table (and the API document); until EnableLinks gives it the keyring and
// the public URL it answers that links are not configured.
func (s *Server) linkRoutes() []route {
	op := openapi.Operation{Method: "POST", Path: "/v1/links", Tags: []string{"links"},
		Summary: "Make a signed unsubscribe or preference link and its List-Unsubscribe headers",
		Request: linkInput{}, Response: linkAnswer{}}
	return []route{{op, writers, func(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
		l := s.links.Load()
		if l == nil {
			return consentd.Errorf(consentd.EINTERNAL, "signed links are not configured on this server")
		}
		return l.post(w, r, k)
	}}}
}

// EnableLinks makes POST /v1/links sign tokens with keys and build URLs on
// publicURL (scheme and host, optionally a path prefix; "" means
// DefaultPublicURL). The public pages themselves are internal/web's.
func (s *Server) EnableLinks(keys *signedlink.Keyring, publicURL string) error {
	if keys == nil {
		return fmt.Errorf("signed links: no keyring")
	}
	if publicURL == "" {
		publicURL = DefaultPublicURL
	}
	u, err := url.Parse(publicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("public URL %q: want an absolute http or https URL without query, fragment or credentials", publicURL)
	}
	s.links.Store(&linkMaker{s: s, keys: keys, base: strings.TrimRight(u.String(), "/")})
	return nil
}

func (l *linkMaker) post(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
	var in linkInput
	if err := decode(r, maxBody, &in); err != nil {
		return err
	}
	switch in.Kind {
	case signedlink.Unsubscribe, signedlink.Preferences:
	default:
		return consentd.FieldErrorf(consentd.EINVALID, "kind", "kind must be unsubscribe or preferences")
	}
	if strings.TrimSpace(in.ContactPoint) == "" {
		return consentd.FieldErrorf(consentd.EINVALIDCONTACTPOINT, "contact_point", "contact_point is required")
	}
	if in.ContactPointKind != "" && !in.ContactPointKind.Valid() {
		return consentd.FieldErrorf(consentd.EINVALID, "contact_point_kind", "contact_point_kind must be email, phone or custom")
	}
	if in.ExpiresIn < 0 || time.Duration(in.ExpiresIn)*time.Second > maxLinkLifetime {
		return consentd.FieldErrorf(consentd.EINVALID, "expires_in", "expires_in is a number of seconds from 1 to %d; leave it out for a link that does not expire", int64(maxLinkLifetime/time.Second))
	}
	ctx := r.Context()
	var ct consentd.ChannelType
	kind := in.ContactPointKind
	switch {
	case in.ChannelType != "":
		cat, err := l.s.DB.Catalog(ctx, k.WorkspaceID)
		if err != nil {
			return err
		}
		if ct, err = cat.ResolveID(in.ChannelType); err != nil {
			return err
		}
		if want := consentd.KindOf(ct.Channel); kind != "" && kind != want {
			return consentd.FieldErrorf(consentd.EINVALID, "contact_point_kind", "the channel type's channel takes %s contact points", want)
		}
		kind = consentd.KindOf(ct.Channel)
	case in.Kind == signedlink.Unsubscribe:
		return consentd.FieldErrorf(consentd.EINVALID, "channel_type", "channel_type is required for an unsubscribe link: it says what to unsubscribe from")
	case kind == "":
		kind = consentd.GuessKind("", in.ContactPoint)
	}
	_, hash, err := l.s.DB.PutContactPoint(ctx, k.WorkspaceID, kind, in.ContactPoint)
	if err != nil {
		return err
	}
	now := l.s.Now()
	c := signedlink.Claims{Kind: in.Kind, Workspace: k.WorkspaceID, Hash: base64.RawURLEncoding.EncodeToString(hash[:]),
		CPKind: string(kind), ChannelType: ct.ID, IssuedAt: now.Unix()}
	ans := linkAnswer{ChannelType: ct.ID}
	if in.ExpiresIn > 0 {
		c.ExpiresAt = now.Unix() + in.ExpiresIn
		exp := c.Expires()
		ans.ExpiresAt = &exp
	}
	if ans.Token, err = l.keys.Sign(c); err != nil {
		return err
	}
	// A workspace with its own public URL (its own domain) gets links
	// there; the others the server's.
	ws, err := l.s.DB.Workspace(ctx, k.WorkspaceID)
	if err != nil {
		return err
	}
	base := ws.LinkBase(l.base)
	ans.URL = linkURL(base, in.Kind, ans.Token)
	oneClick := true
	switch {
	case in.Kind == signedlink.Unsubscribe:
		ans.ListUnsubscribe = "<" + ans.URL + ">"
		ans.MessageRef = ans.Token
	case ct.ID != "":
		// A preference link for mail of one channel type: the header is a
		// one-click unsubscribe from that channel type.
		c.Kind = signedlink.Unsubscribe
		u, err := l.keys.Sign(c)
		if err != nil {
			return err
		}
		ans.ListUnsubscribe = "<" + linkURL(base, signedlink.Unsubscribe, u) + ">"
		ans.MessageRef = u
	default:
		ans.ListUnsubscribe = "<" + ans.URL + ">" // a page, not one-click
		oneClick = false
	}
	if oneClick {
		ans.ListUnsubscribePost = "List-Unsubscribe=One-Click"
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

// linkURL is the public URL of a token on base: /u/ for unsubscribe, /p/
// for preferences. Tokens are URL-safe base64 and dots.
func linkURL(base, kind, token string) string {
	if kind == signedlink.Unsubscribe {
		return base + "/u/" + token
	}
	return base + "/p/" + token
}

// url is the public URL of a token on the server's base URL.
func (l *linkMaker) url(kind, token string) string { return linkURL(l.base, kind, token) }
