package web

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/i18n"
)

// pageCtx is one response's language and the brand of its workspace.
//
// The language is chosen per request (i18n.Choose): the person's explicit
// choice on the page (a "lang" query parameter on GET, the form's hidden
// "lang" field on POST), else the language recorded with their consents
// or party, else the browser's Accept-Language, else the workspace's
// default. There is no cookie: every link and form of a page carries the
// explicit choice on.
type pageCtx struct {
	L *i18n.Locale // the language, with the workspace's text overrides
	// explicit is the person's own choice of language, "" when they made
	// none; links and forms carry it on.
	explicit string
	brand    *brandView // nil on a page without a workspace
	accent   string     // the workspace's accent colour, #rrggbb; "" for the default
}

// brandView is what the layout shows of a workspace's brand.
type brandView struct {
	Sender     string // who asks and keeps the record
	LogoURL    string // "" without a logo
	LogoWidth  int    // pixels, so that the page does not move as the logo loads
	LogoHeight int
	PrivacyURL string // "" without a privacy policy
	Footer     string
}

// langLink is one language of the page's language chooser.
type langLink struct {
	Lang    string // BCP 47 tag
	Dir     string // of its name
	Name    string // the language's name in itself: "Deutsch"
	URL     string // the same page in that language
	Current bool
}

// view is what the layout gets: the page's own data in Page.
type view struct {
	L         *i18n.Locale
	Style     template.HTML // style.css
	Accent    template.HTML // the workspace's accent colour, a second style element; "" for the default
	Brand     *brandView
	Languages []langLink // nil on pages without a workspace
	Page      any
}

func (pc *pageCtx) view(page any) view {
	v := view{L: pc.L, Brand: pc.brand, Page: page}
	if pc.brand != nil {
		for _, lang := range i18n.Supported {
			l := i18n.Get(lang)
			v.Languages = append(v.Languages, langLink{Lang: lang, Dir: l.Dir, Name: l.T("lang.name"),
				URL: "?lang=" + lang, Current: lang == pc.L.Lang})
		}
	}
	return v
}

// T is the text of key in the page's language. On a right-to-left page,
// each value put into the text is isolated (U+2068 ... U+2069), so that a
// left-to-right name or address inside an Arabic sentence keeps its own
// order and does not reorder the sentence's punctuation around it; the
// isolates are part of the text, so a proof's text is what the page
// shows, character for character.
func (pc *pageCtx) T(key string, args ...string) string {
	args = slices.Clone(args)
	for i := 1; i < len(args); i += 2 {
		args[i] = isolate(pc.L, args[i])
	}
	return pc.L.T(key, args...)
}

// Lang is the page's language.
func (pc *pageCtx) Lang() string { return pc.L.Lang }

// keep returns href with the explicit language choice added as its "lang"
// query parameter, when there is one: links keep the person's choice.
func (pc *pageCtx) keep(href string) string {
	if pc.explicit == "" {
		return href
	}
	return href + "?lang=" + url.QueryEscape(pc.explicit)
}

// sender is who asks for and keeps the record of a consent.
func (pc *pageCtx) sender() string {
	if pc.brand == nil {
		return ""
	}
	return pc.brand.Sender
}

// bare is the page context of a page without a workspace (an invalid
// link, a rate-limited request, a refused form): the browser's
// Accept-Language, no brand.
func bare(r *http.Request) *pageCtx {
	return &pageCtx{L: i18n.Get(i18n.Choose("", "", r.Header.Get("Accept-Language"), ""))}
}

// explicitLang is the person's explicit choice of language in r: the
// form's "lang" field on a POST, else the "lang" query parameter; ""
// when there is none, or it names no shipped language.
func explicitLang(r *http.Request) string {
	v := r.URL.Query().Get("lang")
	if r.Method == http.MethodPost && r.PostForm != nil && r.PostForm.Get("lang") != "" {
		v = r.PostForm.Get("lang")
	}
	if l, ok := i18n.Match(v); ok {
		return l
	}
	return ""
}

// accentRE is the only form of accent colour a page puts into its CSS.
var accentRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// accentCSS is the style element's text that sets the accent colour.
// The workspace's colour is checked for contrast with the light
// background only, so dark mode keeps the default's light accent.
func accentCSS(c string) string {
	return ":root{--accent:" + c + "}@media (prefers-color-scheme:dark){:root{--accent:#a8c7fa}}"
}

// pageFor chooses the language of a request to a workspace's page and
// applies the workspace's brand. consents are those of the link's contact
// points, whose newest recorded language is the person's; when none
// records one, the link's own contact point's (hash), which is also its
// party's.
func (s *Server) pageFor(ctx context.Context, r *http.Request, wsID string, hash [32]byte, consents []*consentd.Consent) (*pageCtx, *consentd.Workspace, error) {
	ws, err := s.DB.Workspace(ctx, wsID)
	if err != nil {
		return nil, nil, err
	}
	recorded := consentd.RecordedLanguage(consents, nil)
	if recorded == "" {
		recorded = s.DB.ContactPointLanguage(ctx, wsID, hash)
	}
	explicit := explicitLang(r)
	lang := i18n.Choose(explicit, recorded, r.Header.Get("Accept-Language"), ws.DefaultLanguage)
	return brandPage(ws, lang, explicit), ws, nil
}

// brandPage is the page context of workspace ws in lang: its text
// overrides, sender name (default the workspace's name), logo, accent
// colour, privacy policy and footer.
func brandPage(ws *consentd.Workspace, lang, explicit string) *pageCtx {
	pc := &pageCtx{L: i18n.Get(lang).With(ws.Texts[lang]), explicit: explicit}
	b := &brandView{Sender: ws.Sender(), PrivacyURL: safeURL(ws.PrivacyURL), Footer: ws.Footer}
	if ws.Logo != nil {
		b.LogoURL, b.LogoWidth, b.LogoHeight = ws.Logo.URL, ws.Logo.Width, ws.Logo.Height
	}
	if accentRE.MatchString(ws.AccentColor) {
		pc.accent = ws.AccentColor
	}
	pc.brand = b
	return pc
}

// safeURL is u when it is an http or https URL, else "": a privacy link
// never runs anything.
func safeURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return ""
	}
	return u
}
