package web

import (
	"context"
	"net/http"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/signedlink"
)

// Form versions recorded in the proof of a consent.
const (
	formOneClick    = "rfc8058-one-click"
	formUnsubscribe = "consentd-unsubscribe-page/1"
	formPreferences = "consentd-preference-center/1"
)

// unsubscribeView is the data of unsubscribe.html and unsubscribed.html,
// in the page's language.
type unsubscribeView struct {
	Title     string
	Statement string // the question the page asks: the proof's text of the opt-out
	Already   string // the notice that the address is already opted out; "" when not
	Button    string
	Done      string // unsubscribed.html: what the opt-out did
	Lang      string // the hidden form field: the page's language
}

// target is what an unsubscribe link points at.
type target struct {
	cp      consentd.PartyContactPoint
	ct      consentd.ChannelType
	name    string            // the purpose's or topic's name, in the page's language
	current *consentd.Consent // nil when there is no record
	pc      *pageCtx
}

func (t *target) view() unsubscribeView {
	pc := t.pc
	masked, by := mask(t.cp.Kind, t.cp.Value), channelBy(pc.L, t.ct.Channel)
	v := unsubscribeView{
		Title:     pc.T("page.unsubscribe.title", "name", t.name),
		Statement: pc.T("page.unsubscribe.statement", "name", t.name, "channel", by, "sender", pc.sender(), "address", masked),
		Button:    pc.T("page.unsubscribe.button", "address", masked, "name", t.name),
		Done:      pc.T("page.unsubscribed.text", "name", t.name, "channel", by, "sender", pc.sender(), "address", masked),
		Lang:      pc.Lang(),
	}
	if t.current != nil && t.current.Status == consentd.OptedOut {
		v.Already = pc.T("page.unsubscribe.already", "name", t.name)
	}
	return v
}

// target loads the contact point, channel type and current consent of an
// unsubscribe link, and chooses the page's language: r's explicit choice,
// the contact point's recorded language, Accept-Language, the
// workspace's default.
func (s *Server) target(ctx context.Context, r *http.Request, l *link) (*target, error) {
	ws := l.claims.Workspace
	cps, _, err := s.DB.LinkedContactPoints(ctx, ws, l.hash)
	if err != nil {
		return nil, err
	}
	cat, err := s.DB.Catalog(ctx, ws)
	if err != nil {
		return nil, err
	}
	t := &target{cp: cps[0]}
	if t.ct, err = cat.ResolveID(l.claims.ChannelType); err != nil {
		return nil, err
	}
	if consentd.KindOf(t.ct.Channel) != t.cp.Kind {
		return nil, consentd.Errorf(consentd.ENOTFOUND, "the link's channel type does not take its contact point")
	}
	cur, err := s.consentsOf(ctx, ws, t.cp)
	if err != nil {
		return nil, err
	}
	t.current = cur[t.ct.ID]
	if t.pc, _, err = s.pageFor(ctx, r, ws, l.hash, values(cur)); err != nil {
		return nil, err
	}
	lang := t.pc.Lang()
	t.name = cat.Purposes[t.ct.Purpose].NameIn(lang)
	if t.ct.Topic != "" {
		t.name = cat.Topics[t.ct.Topic].NameIn(lang)
	}
	return t, nil
}

// values is the consents of a map, in no order.
func values(m map[string]*consentd.Consent) []*consentd.Consent {
	out := make([]*consentd.Consent, 0, len(m))
	for _, c := range m {
		out = append(out, c)
	}
	return out
}

// unsubscribePage (GET and HEAD /u/{token}) shows the button. It changes
// nothing: mail scanners follow links.
func (s *Server) unsubscribePage(w http.ResponseWriter, r *http.Request) {
	l, ok := s.verify(r, signedlink.Unsubscribe)
	if !s.admit(w, r, ok) {
		return
	}
	t, err := s.target(r.Context(), r, l)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "unsubscribe", t.pc, t.view())
}

// unsubscribe (POST /u/{token}) opts out at once: RFC 8058 one-click, a
// body List-Unsubscribe=One-Click (urlencoded or multipart) sent by a mail
// client from its own origin with no cookie, or the page's button, which
// posts the same. Any POST with a valid token unsubscribes: a link scanner
// does not POST. A replay is answered the same and changes nothing: the
// write repeats the stored opt-out's captured_at, so it is "unchanged".
// A valid POST is never rate limited. The proof records the page's
// language and its statement: the page's button posts the same field as a
// mail client's one-click, so either records what the page says the
// opt-out does.
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) {
	l, ok := s.verify(r, signedlink.Unsubscribe)
	if !ok {
		s.admit(w, r, false)
		return
	}
	if !s.parseForm(w, r) {
		return
	}
	form, name := formUnsubscribe, "unsubscribe_page"
	if r.PostForm.Get("List-Unsubscribe") == "One-Click" {
		form, name = formOneClick, "one_click"
	}
	ctx := r.Context()
	t, err := s.target(ctx, r, l)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	captured := optOutTime(t.current, s.Now())
	res, err := s.DB.WriteConsents(ctx, l.claims.Workspace, []consentd.ConsentWrite{{
		ContactPoint: t.cp.Value, ChannelType: t.ct.ID, Status: consentd.OptedOut, CapturedAt: captured,
		Source: consentd.Source{Type: consentd.SourceUnsubscribeLink, Name: name}, Proof: s.proof(r, form, t.pc.Lang(), t.view().Statement),
		OnlyOnChange: true, // a replay, or a concurrent duplicate, writes nothing
	}}, actorUnsubscribe)
	if err == nil {
		err = res[0].Err
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "unsubscribed", t.pc, t.view())
}

// optOutTime is the captured_at of an opt-out over the stored consent cur
// (nil when none): now; or, when cur is already an opt-out, its own
// captured_at, so that the write is "unchanged" and a replay changes
// nothing; or, when cur was captured later than now (a source's clock
// ahead of ours), cur's captured_at, where an opt-out wins the tie.
func optOutTime(cur *consentd.Consent, now time.Time) time.Time {
	now = now.UTC()
	if cur != nil && (cur.Status == consentd.OptedOut || cur.CapturedAt.After(now)) {
		return cur.CapturedAt
	}
	return now
}
