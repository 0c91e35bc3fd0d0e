package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/doi"
	"github.com/consentd/consentd/internal/signedlink"
)

// csrfKind is the kind of the preference center's CSRF tokens, and
// csrfLifetime how long a rendered form can be submitted.
const (
	csrfKind     = "csrf"
	csrfLifetime = 12 * time.Hour
)

// preferencesView is the data of preferences.html.
type preferencesView struct {
	Lang          string // the hidden form field: the page's language
	Heading       string // names the sender
	CSRF          string
	Notice        string
	Error         string
	GPC           *gpcView // nil unless the request sent Sec-GPC: 1
	ContactPoints []*cpView
	// RecordURL is the person's record (record.go), relative to the page:
	// the same token, so it reaches nothing the page does not.
	RecordURL string
	// AllText is what "unsubscribe from all" does: the proof's text of its
	// opt-outs.
	AllText string
}

// gpcView says what a Global Privacy Control signal did.
type gpcView struct {
	Purposes []string // names of the sale_or_share purposes, now opted out
	Text     string   // what the signal did: the proof's text of its opt-outs
	None     string   // that nothing else changed, when no purpose is sale_or_share
}

type cpView struct {
	Heading  string // "Messages to j•••@example.com"
	Masked   string
	Blocked  []string // why messages to the address are blocked, if they are
	Purposes []*purposeView
}

type purposeView struct {
	ID          string // element id of the description
	Name        string
	Description string
	Rows        []*rowView
	TopicsNote  string // "Sent only while ... is ticked:"
	Topics      []*topicView
}

type topicView struct {
	ID          string // element id of the description
	Name        string
	Description string
	Rows        []*rowView
}

// rowView is one channel type of one contact point: a checkbox, or a line
// saying it is always sent (disabled enforcement).
type rowView struct {
	ID  string // element id
	Key string // form value: "<contact point index>/<channel type id>"
	// Label is the checkbox's label: the statement the person agrees to
	// by ticking it, which with the description (DescID) is the proof's
	// text of the choice; for a fixed row, the channel's name.
	Label  string
	DescID string // element id of the purpose's or topic's description; "" without one
	Text   string // the proof's text: Label, and the description on a line of its own

	Checked bool
	Fixed   bool // disabled enforcement: always sent, no choice
	GPCOff  bool // off because the browser sends GPC: no choice here
	Note    string

	pending     string // the note of a pending consent, in the page's language
	cp          int
	ct          consentd.ChannelType
	cur         *consentd.Consent // nil when there is no record
	saleOrShare bool              // of a sale_or_share purpose itself (not a topic)
}

// person is what the preference center shows: the link's contact point and
// those of its parties, their suppressions, and a row per channel type.
type person struct {
	ws   string
	cps  []consentd.PartyContactPoint
	sups []*consentd.Suppression
	pc   *pageCtx
	view preferencesView
	rows map[string]*rowView
}

// checked is whether a channel type is on: the decision rules for one
// record without suppressions (docs/decisions.md, the decision).
func checked(cur *consentd.Consent, e consentd.Enforcement) bool {
	var st consentd.Status
	if cur != nil {
		st = cur.Status
	}
	switch st {
	case consentd.OptedIn:
		return true
	case consentd.OptedOut:
		return false
	}
	return e == consentd.NonRestrictive
}

func (row *rowView) set(cur *consentd.Consent) {
	row.cur = cur
	row.Checked = checked(cur, row.ct.Enforcement)
	switch {
	case cur != nil && cur.Status == consentd.Pending && row.Note == "":
		row.Note = row.pending
	case (cur == nil || cur.Status != consentd.Pending) && row.Note == row.pending:
		row.Note = ""
	}
}

// loadPerson reads everything the preference center shows for a link, in
// the language chosen for r.
func (s *Server) loadPerson(ctx context.Context, r *http.Request, l *link) (*person, error) {
	ws := l.claims.Workspace
	cps, sups, err := s.DB.LinkedContactPoints(ctx, ws, l.hash)
	if err != nil {
		return nil, err
	}
	cat, err := s.DB.Catalog(ctx, ws)
	if err != nil {
		return nil, err
	}
	curs := make([]map[string]*consentd.Consent, len(cps))
	var all []*consentd.Consent
	for i, cp := range cps {
		if curs[i], err = s.consentsOf(ctx, ws, cp); err != nil {
			return nil, err
		}
		all = append(all, values(curs[i])...)
	}
	pc, _, err := s.pageFor(ctx, r, ws, l.hash, all)
	if err != nil {
		return nil, err
	}
	lang := pc.Lang()
	p := &person{ws: ws, cps: cps, sups: sups, pc: pc, rows: map[string]*rowView{}}
	p.view.Lang = lang
	p.view.Heading = pc.T("page.prefs.heading", "sender", pc.sender())
	p.view.AllText = pc.T("page.prefs.all.text", "sender", pc.sender())
	purposes := make([]*consentd.Purpose, 0, len(cat.Purposes))
	for _, pu := range cat.Purposes {
		purposes = append(purposes, pu)
	}
	slices.SortFunc(purposes, func(a, b *consentd.Purpose) int {
		return cmpName(a.NameIn(lang), a.ID, b.NameIn(lang), b.ID)
	})
	topics := make([]*consentd.Topic, 0, len(cat.Topics))
	for _, t := range cat.Topics {
		topics = append(topics, t)
	}
	slices.SortFunc(topics, func(a, b *consentd.Topic) int { return cmpName(a.NameIn(lang), a.ID, b.NameIn(lang), b.ID) })
	descs := 0
	descID := func(desc string) string {
		if desc == "" {
			return ""
		}
		descs++
		return fmt.Sprintf("d%d", descs)
	}
	for i, cp := range cps {
		cur := curs[i]
		masked := mask(cp.Kind, cp.Value)
		v := &cpView{Masked: masked, Heading: pc.T("page.prefs.messages_to", "address", masked)}
		for _, sup := range sups {
			if sup.ContactPoint == cp.Value && sup.Kind == cp.Kind {
				v.Blocked = append(v.Blocked, suppressionText(pc.L, sup))
			}
		}
		// row is the checkbox of channel type ct, under the purpose or
		// topic name with description desc (element id descID).
		row := func(ct consentd.ChannelType, saleOrShare bool, name, desc, descID string) *rowView {
			r := &rowView{ID: fmt.Sprintf("c%d", len(p.rows)), Key: fmt.Sprintf("%d/%s", i, ct.ID),
				Fixed: ct.Enforcement == consentd.Disabled, cp: i, ct: ct, saleOrShare: saleOrShare, pending: pc.T("page.prefs.pending")}
			if r.Fixed {
				r.Label = channelLabel(pc.L, ct.Channel)
			} else {
				r.Label = pc.T("page.prefs.statement", "sender", pc.sender(), "name", name, "channel", channelBy(pc.L, ct.Channel), "address", masked)
				r.DescID, r.Text = descID, r.Label
				if desc != "" {
					r.Text += "\n" + desc
				}
			}
			r.set(cur[ct.ID])
			if r.Fixed {
				r.Note = pc.T("page.prefs.fixed")
			}
			p.rows[r.Key] = r
			return r
		}
		for _, pu := range purposes {
			var channels []string
			for _, ch := range sortedChannels(pu) {
				if consentd.KindOf(ch) == cp.Kind {
					channels = append(channels, ch)
				}
			}
			if len(channels) == 0 {
				continue
			}
			pv := &purposeView{Name: pu.NameIn(lang), Description: pu.DescriptionIn(lang)}
			pv.ID = descID(pv.Description)
			for _, ch := range channels {
				ct, err := cat.Resolve(pu.ID, "", ch)
				if err != nil {
					return nil, err
				}
				pv.Rows = append(pv.Rows, row(ct, pu.SaleOrShare, pv.Name, pv.Description, pv.ID))
			}
			for _, t := range topics {
				if t.Purpose != pu.ID {
					continue
				}
				tv := &topicView{Name: t.NameIn(lang), Description: t.DescriptionIn(lang)}
				tv.ID = descID(tv.Description)
				for _, ch := range channels {
					ct, err := cat.Resolve(pu.ID, t.ID, ch)
					if err != nil {
						return nil, err
					}
					tv.Rows = append(tv.Rows, row(ct, false, tv.Name, tv.Description, tv.ID))
				}
				pv.Topics = append(pv.Topics, tv)
			}
			if len(pv.Topics) > 0 {
				pv.TopicsNote = pc.T("page.prefs.topics_note", "name", pv.Name)
			}
			v.Purposes = append(v.Purposes, pv)
		}
		p.view.ContactPoints = append(p.view.ContactPoints, v)
	}
	return p, nil
}

// consentsOf returns a contact point's consents by channel type.
func (s *Server) consentsOf(ctx context.Context, ws string, cp consentd.PartyContactPoint) (map[string]*consentd.Consent, error) {
	out := map[string]*consentd.Consent{}
	f := consentd.ConsentFilter{ContactPoint: cp.Value, Limit: 1000}
	for {
		cs, next, err := s.DB.ListConsents(ctx, ws, f)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			// The filter matches the address as any kind; keep this kind's.
			if consentd.KindOf(c.Channel) == cp.Kind {
				out[c.ChannelType] = c
			}
		}
		if next == "" {
			return out, nil
		}
		f.PageToken = next
	}
}

func cmpName(an, aid, bn, bid string) int {
	if c := strings.Compare(strings.ToLower(an), strings.ToLower(bn)); c != 0 {
		return c
	}
	return strings.Compare(aid, bid)
}

func sortedChannels(p *consentd.Purpose) []string {
	chs := make([]string, 0, len(p.Channels))
	for ch := range p.Channels {
		chs = append(chs, ch)
	}
	slices.Sort(chs)
	return chs
}

// digest binds a CSRF token to the link token and to the contact points
// the form was rendered for, whose indexes its fields use.
func (p *person) digest(token string) string {
	h := sha256.New()
	h.Write([]byte(token))
	for _, cp := range p.cps {
		h.Write([]byte{0})
		h.Write([]byte(cp.Kind))
		h.Write([]byte{':'})
		h.Write([]byte(cp.Value))
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// csrf returns a new CSRF token for the form of p reached through l.
//
// The scheme: there are no cookies and no sessions. The form's hidden
// field "csrf" holds a token signed with the link keyring (so it verifies
// on every replica and survives restarts, and rotates with the link keys)
// whose claims are the digest of the link token and the contact points
// shown, and an expiry of csrfLifetime. A POST must carry both the link
// token (in its path) and a CSRF token that verifies and names the same
// digest: a double submit of the signed link token. A cross-site form post
// is refused before that by http.CrossOriginProtection (Sec-Fetch-Site or
// Origin), which unlike the one-click unsubscribe the preference center
// can afford: only its own page posts to it.
func (s *Server) csrf(l *link, p *person) (string, error) {
	now := s.Now()
	return s.Links.Sign(signedlink.Claims{Kind: csrfKind, Workspace: l.claims.Workspace, Hash: l.claims.Hash,
		Extra: p.digest(l.token), IssuedAt: now.Unix(), ExpiresAt: now.Add(csrfLifetime).Unix()})
}

func (s *Server) checkCSRF(l *link, p *person, got string) bool {
	c, err := s.Links.Verify(got, s.Now())
	return err == nil && c.Kind == csrfKind && c.Workspace == l.claims.Workspace &&
		hmac.Equal([]byte(c.Extra), []byte(p.digest(l.token)))
}

// preferencesPage (GET and HEAD /p/{token}) shows the preference center.
// It changes nothing, but for a Sec-GPC: 1 header, which it records.
func (s *Server) preferencesPage(w http.ResponseWriter, r *http.Request) {
	l, ok := s.verify(r, signedlink.Preferences)
	if !s.admit(w, r, ok) {
		return
	}
	p, err := s.loadPerson(r.Context(), r, l)
	if err == nil {
		err = s.honorGPC(r, p)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.renderPreferences(w, r, http.StatusOK, l, p)
}

// savePreferences (POST /p/{token}) saves the checkboxes, or with
// action=unsubscribe_all, unsubscribes from everything shown and blocks
// marketing to every contact point shown.
func (s *Server) savePreferences(w http.ResponseWriter, r *http.Request) {
	if err := s.cop.Check(r); err != nil {
		s.render(w, r, http.StatusForbidden, "crossorigin", nil, nil)
		return
	}
	l, ok := s.verify(r, signedlink.Preferences)
	if !s.admit(w, r, ok) {
		return
	}
	if !s.parseForm(w, r) {
		return
	}
	ctx := r.Context()
	p, err := s.loadPerson(ctx, r, l)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !s.checkCSRF(l, p, r.PostForm.Get("csrf")) {
		p.view.Error = p.pc.T("page.prefs.stale")
		s.renderPreferences(w, r, http.StatusForbidden, l, p)
		return
	}
	// A Sec-GPC: 1 header writes only on a POST that passed the CSRF
	// check: a refused POST changes nothing.
	if err := s.honorGPC(r, p); err != nil {
		s.fail(w, r, err)
		return
	}
	if r.PostForm.Get("action") == "unsubscribe_all" {
		if err := s.unsubscribeAll(r, p); err != nil {
			s.fail(w, r, err)
			return
		}
		if p, err = s.loadPerson(ctx, r, l); err == nil {
			err = s.honorGPC(r, p)
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		p.view.Notice = p.pc.T("page.prefs.all.done")
		s.renderPreferences(w, r, http.StatusOK, l, p)
		return
	}
	on := map[string]bool{}
	for _, k := range r.PostForm["on"] {
		on[k] = true
	}
	var rows []*rowView
	var writes []consentd.ConsentWrite
	seen := map[string]bool{}
	for _, k := range r.PostForm["shown"] {
		row := p.rows[k]
		if row == nil || seen[k] || row.Fixed || row.GPCOff || on[k] == row.Checked {
			continue // not on the page, or not to change
		}
		seen[k] = true
		status := consentd.OptedOut
		if on[k] {
			status = consentd.OptedIn
		}
		rows = append(rows, row)
		writes = append(writes, p.write(row, status, consentd.SourcePreferenceCenter, "preference_center", s.Now(), s.proof(r, formPreferences, p.pc.Lang(), row.Text)))
	}
	confirm, err := s.writeRowsConfirm(r, p, rows, writes)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p.view.Notice = p.pc.T("page.prefs.saved")
	if confirm {
		p.view.Notice = p.pc.T("page.prefs.saved_confirm")
	}
	s.renderPreferences(w, r, http.StatusOK, l, p)
}

func (s *Server) renderPreferences(w http.ResponseWriter, r *http.Request, status int, l *link, p *person) {
	var err error
	if p.view.CSRF, err = s.csrf(l, p); err != nil {
		s.fail(w, r, err)
		return
	}
	p.view.RecordURL = p.pc.keep(l.token + "/record")
	s.render(w, r, status, "preferences", p.pc, p.view)
}

// write is the consent write that sets row to status, captured now, or
// just after a stored consent captured later than now (a source's clock
// ahead of ours): the person acts now, after it. It changes the log only
// when it changes the status (OnlyOnChange): a resent or doubled form
// writes nothing.
func (p *person) write(row *rowView, status consentd.Status, source, name string, now time.Time, proof *consentd.Proof) consentd.ConsentWrite {
	at := now.UTC()
	switch {
	case status == consentd.OptedOut:
		at = optOutTime(row.cur, now)
	case row.cur != nil && !row.cur.CapturedAt.Before(at):
		at = row.cur.CapturedAt.Add(time.Microsecond)
	}
	return consentd.ConsentWrite{ContactPoint: p.cps[row.cp].Value, ChannelType: row.ct.ID, Status: status, CapturedAt: at,
		Source: consentd.Source{Type: source, Name: name}, Proof: proof, OnlyOnChange: true}
}

// writeRows writes in one transaction and sets each row to the state
// stored after its write.
func (s *Server) writeRows(r *http.Request, p *person, rows []*rowView, writes []consentd.ConsentWrite) error {
	_, err := s.writeRowsConfirm(r, p, rows, writes)
	return err
}

// writeRowsConfirm is writeRows through doi.Write, the API's path: an
// opt-in whose purpose needs double opt-in is stored pending and a
// confirmation is issued (its mail queued). It reports whether one was.
func (s *Server) writeRowsConfirm(r *http.Request, p *person, rows []*rowView, writes []consentd.ConsentWrite) (bool, error) {
	if len(writes) == 0 {
		return false, nil
	}
	res, confs, err := doi.Write(r.Context(), s.DB, p.ws, writes, actorPreferences)
	if err != nil {
		return false, fmt.Errorf("preferences: write: %w", err)
	}
	confirm := false
	for i, rr := range res {
		if rr.Err != nil {
			return false, rr.Err
		}
		rows[i].set(rr.Consent)
		confirm = confirm || confs[i] != nil
	}
	if confirm && s.JobsNudge != nil {
		s.JobsNudge()
	}
	return confirm, nil
}

// honorGPC records a Sec-GPC: 1 header as an opt-out (source gpc) of every
// channel type of the purposes flagged sale_or_share, where the stored
// state is not one already, and turns those rows' checkboxes off. GPC is
// a "do not sell or share" signal (the California rules), not an opt-out
// of everything; the page says what it did.
func (s *Server) honorGPC(r *http.Request, p *person) error {
	if strings.TrimSpace(r.Header.Get("Sec-GPC")) != "1" {
		return nil
	}
	g := &gpcView{}
	var rows []*rowView
	for _, cv := range p.view.ContactPoints {
		for _, pv := range cv.Purposes {
			for _, row := range pv.Rows {
				if !row.saleOrShare || row.Fixed {
					continue
				}
				if !slices.Contains(g.Purposes, pv.Name) {
					g.Purposes = append(g.Purposes, pv.Name)
				}
				row.GPCOff = true
				row.Note = p.pc.T("page.gpc.row")
				if row.cur == nil || row.cur.Status != consentd.OptedOut {
					rows = append(rows, row)
				}
			}
		}
	}
	if len(g.Purposes) > 0 {
		g.Text = p.pc.T("page.gpc.off", "purposes", strings.Join(g.Purposes, p.pc.T("page.list_separator")))
	} else {
		g.Text, g.None = p.pc.T("page.gpc.recorded"), p.pc.T("page.gpc.none")
	}
	var writes []consentd.ConsentWrite
	for _, row := range rows {
		writes = append(writes, p.write(row, consentd.OptedOut, consentd.SourceGPC, "global_privacy_control", s.Now(), s.proof(r, formPreferences, p.pc.Lang(), g.Text)))
	}
	p.view.GPC = g
	return s.writeRows(r, p, rows, writes)
}

// unsubscribeAll opts out of every channel type shown that is not opted
// out already, and adds a do_not_contact suppression (all channels) to
// every contact point shown that has none: that also covers purposes made
// later.
func (s *Server) unsubscribeAll(r *http.Request, p *person) error {
	var rows []*rowView
	var writes []consentd.ConsentWrite
	for _, row := range p.rows {
		if !row.Fixed && (row.cur == nil || row.cur.Status != consentd.OptedOut) {
			rows = append(rows, row)
		}
	}
	slices.SortFunc(rows, func(a, b *rowView) int { return strings.Compare(a.Key, b.Key) })
	for _, row := range rows {
		writes = append(writes, p.write(row, consentd.OptedOut, consentd.SourcePreferenceCenter, "unsubscribe_all", s.Now(), s.proof(r, formPreferences, p.pc.Lang(), p.view.AllText)))
	}
	if err := s.writeRows(r, p, rows, writes); err != nil {
		return err
	}
	for _, in := range consentd.DoNotContactInputs(p.cps, "unsubscribe from all (preference center)") {
		if slices.ContainsFunc(p.sups, func(sup *consentd.Suppression) bool {
			return sup.ContactPoint == in.ContactPoint && sup.Kind == in.Kind && sup.Reason == consentd.SuppressDoNotContact && sup.Channel == ""
		}) {
			continue
		}
		if _, err := s.DB.AddSuppression(r.Context(), p.ws, in, actorPreferences); err != nil {
			return fmt.Errorf("unsubscribe from all: suppress: %w", err)
		}
	}
	return nil
}
