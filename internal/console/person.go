package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/consentd/consentd"
)

// personPage is one person: the contact points found for the search, and
// for each its consents, decisions and suppressions.
type personPage struct {
	Q       string
	PartyID string // set when the search named a party
	Points  []pointView
	CanAct  bool // the role may opt out on the person's behalf, and suppress
	CanLift bool // the role may lift a suppression
	CanFile bool // the role may file a data-subject request and mail a preference link
	CSRF    string
	Notice  string
	Filed   *filedRequest // the data-subject request just filed

	Reasons      []consentd.SuppressionReason // what a suppression may be for
	PartyRequest *requestForm                 // the data-subject request form of the party searched for
}

type pointView struct {
	Value        string
	Kind         consentd.ContactPointKind
	PartyIDs     []string // parties the consents name
	Consents     []consentRow
	Decisions    []decisionRow
	Suppressions []*consentd.Suppression
	Channels     []string     // the catalog's channels of this kind, to suppress one
	Request      *requestForm // its data-subject request form, when no party was searched for
}

type consentRow struct {
	ID          string
	ChannelType string
	Purpose     string
	Channel     string
	Status      consentd.Status
	CapturedAt  string
	Source      string
	OptedOut    bool
	History     []historyRow // its log entries, oldest first
}

type decisionRow struct {
	Subject string // purpose name, and topic name
	Channel string
	Allowed bool
	Words   string
}

// person answers GET /admin/person?q=: q is a party id or a contact point.
func (s *Server) person(w http.ResponseWriter, r *http.Request) {
	v, op, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q == "" {
		s.render(w, r, http.StatusOK, "home", op, nil)
		return
	}
	p, err := s.lookUp(r, op.Workspace, q)
	if err != nil {
		s.fail(w, r, op, err)
		return
	}
	p.CanAct = hasRole(agents, v.role)
	p.CanLift = hasRole(admins, v.role)
	p.CanFile = hasRole(writers, v.role)
	p.CSRF = v.csrf
	p.Reasons = suppressReasons
	if p.CanFile {
		p.requestForms()
	}
	if err := s.notice(r.Context(), p, r.URL.Query(), op.Workspace.ID); err != nil {
		s.fail(w, r, op, err)
		return
	}
	status := http.StatusOK
	if len(p.Points) == 0 {
		status = http.StatusNotFound
	}
	s.render(w, r, status, "person", op, p)
}

// lookUp finds the person q names: the party of that id, else the contact
// point q is. A contact point with no consents is still shown (its
// decisions and suppressions say something) when q is one: normalized
// with the workspace's default region, or in a form an earlier release
// stored (consentd.NormalizeStored).
func (s *Server) lookUp(r *http.Request, ws *consentd.Workspace, q string) (*personPage, error) {
	ctx := r.Context()
	p := &personPage{Q: q}
	var cps []consentd.PartyContactPoint
	var consents []*consentd.Consent
	if consentd.ValidPartyID(q) {
		party, err := s.DB.Party(ctx, ws.ID, q)
		switch consentd.ErrorCode(err) {
		case "":
			p.PartyID = party.ID
			cps = party.ContactPoints
			if consents, err = s.DB.PartyConsents(ctx, ws.ID, q); err != nil {
				return nil, fmt.Errorf("read party consents: %w", err)
			}
		case consentd.ENOTFOUND:
		default:
			return nil, fmt.Errorf("read party: %w", err)
		}
	}
	if p.PartyID == "" {
		cs, _, err := s.DB.ListConsents(ctx, ws.ID, consentd.ConsentFilter{ContactPoint: q, Limit: 1000})
		if err != nil && consentd.ErrorCode(err) != consentd.EINVALIDCONTACTPOINT {
			return nil, fmt.Errorf("list consents: %w", err)
		}
		consents = cs
		for _, c := range cs {
			cps = append(cps, consentd.PartyContactPoint{Kind: consentd.KindOf(c.Channel), Value: c.ContactPoint})
		}
		if len(cs) == 0 {
			kind := guessKind(q)
			if cp, err := consentd.NormalizeStored(kind, q, ws.DefaultRegion); err == nil {
				cps = append(cps, consentd.PartyContactPoint{Kind: kind, Value: cp})
			}
		}
	}
	cat, err := s.DB.Catalog(ctx, ws.ID)
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	sups, err := s.DB.Suppressions(ctx, ws.ID)
	if err != nil {
		return nil, fmt.Errorf("list suppressions: %w", err)
	}
	acts, _ := s.Receipts.(personActions)
	actors := map[string]string{} // a log entry's actor "key:<id>" -> the key's name and role
	if acts != nil {
		keys, err := s.DB.Keys(ctx, ws.ID)
		if err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		for _, k := range keys {
			name := k.Name
			if name == "" {
				name = k.ID
			}
			actors["key:"+k.ID] = "key " + name + " (" + string(k.Role) + ")"
		}
	}
	seen := map[string]bool{}
	for _, cp := range cps {
		if cp.Value == "" || seen[cp.Value] {
			continue // erased, or listed already
		}
		seen[cp.Value] = true
		pv := pointView{Value: cp.Value, Kind: cp.Kind}
		parties := map[string]bool{}
		for _, c := range consents {
			if c.ContactPoint != cp.Value {
				continue
			}
			row := consentRow{ID: c.ID, ChannelType: c.ChannelType, Purpose: subject(cat, c.Purpose, c.Topic), Channel: c.Channel,
				Status: c.Status, CapturedAt: c.CapturedAt.UTC().Format(time.RFC3339), Source: source(c.Source), OptedOut: c.Status == consentd.OptedOut}
			if acts != nil {
				if row.History, err = s.history(ctx, acts, ws.ID, c.ID); err != nil {
					return nil, err
				}
				for i, h := range row.History {
					if name, ok := actors[h.Actor]; ok {
						row.History[i].Actor = name
					}
				}
			}
			pv.Consents = append(pv.Consents, row)
			if c.PartyID != "" && !parties[c.PartyID] && c.PartyID != p.PartyID {
				parties[c.PartyID] = true
				pv.PartyIDs = append(pv.PartyIDs, c.PartyID)
			}
		}
		for _, ct := range cat.ChannelTypes() {
			if consentd.KindOf(ct.Channel) != cp.Kind {
				continue
			}
			if !slices.Contains(pv.Channels, ct.Channel) {
				pv.Channels = append(pv.Channels, ct.Channel)
			}
			d, err := s.DB.Decide(ctx, ws.ID, &consentd.DecisionRequest{ContactPoint: cp.Value, Channel: ct.Channel, Purpose: ct.Purpose, Topic: ct.Topic})
			if err != nil {
				return nil, fmt.Errorf("decide %s: %w", ct.ID, err)
			}
			pv.Decisions = append(pv.Decisions, decisionRow{Subject: subject(cat, ct.Purpose, ct.Topic), Channel: ct.Channel, Allowed: d.Allowed, Words: decisionWords(d.Decision)})
		}
		for _, sup := range sups {
			if sup.ContactPoint == cp.Value {
				pv.Suppressions = append(pv.Suppressions, sup)
			}
		}
		if len(pv.Consents) == 0 && len(pv.Decisions) == 0 && len(pv.Suppressions) == 0 {
			continue // a search that names nothing known
		}
		p.Points = append(p.Points, pv)
	}
	sort.SliceStable(p.Points, func(i, j int) bool { return p.Points[i].Value < p.Points[j].Value })
	return p, nil
}

// guessKind reads a search as an e-mail address (it has an @), a phone
// number (it starts with + or a digit) or a custom contact point.
func guessKind(q string) consentd.ContactPointKind {
	switch {
	case strings.Contains(q, "@"):
		return consentd.KindEmail
	case q[0] == '+' || q[0] >= '0' && q[0] <= '9':
		return consentd.KindPhone
	}
	return consentd.KindCustom
}

// subject names a purpose, and its topic when there is one, by the
// catalog's names (the ids when the catalog no longer has them).
func subject(cat *consentd.Catalog, purpose, topic string) string {
	name := purpose
	if p := cat.Purposes[purpose]; p != nil {
		name = p.Name
	}
	if topic == "" {
		return name
	}
	if t := cat.Topics[topic]; t != nil {
		return name + " — " + t.Name
	}
	return name + " — " + topic
}

func source(src consentd.Source) string {
	if src.Name != "" {
		return src.Type + " (" + src.Name + ")"
	}
	return src.Type
}

// optOut answers POST /admin/opt-out: the signed-in operator opts one
// consent out on the person's behalf. The write is the store's, as the
// API's: source agent, the key as the actor, and OnlyOnChange so that a
// repeated press logs nothing new.
func (s *Server) optOut(w http.ResponseWriter, r *http.Request) {
	v, op, ok := s.allowedForm(w, r, agents, "opt anyone out")
	if !ok {
		return
	}
	id, q := r.PostForm.Get("consent"), r.PostForm.Get("q")
	c, err := s.DB.Consent(r.Context(), v.workspace, id, time.Time{})
	if consentd.ErrorCode(err) == consentd.ENOTFOUND {
		s.message(w, r, http.StatusNotFound, op, "No such consent", "The consent was not found; it may have been erased.")
		return
	} else if err != nil {
		s.fail(w, r, op, fmt.Errorf("read consent: %w", err))
		return
	}
	res, err := s.DB.WriteConsents(r.Context(), v.workspace, []consentd.ConsentWrite{{
		ContactPoint: c.ContactPoint, ChannelType: c.ChannelType, Status: consentd.OptedOut, CapturedAt: s.Now().UTC(),
		Source: consentd.Source{Type: consentd.SourceAgent, Name: "console"}, PartyID: c.PartyID, OnlyOnChange: true,
	}}, "key:"+v.keyID)
	if err == nil {
		err = res[0].Err
	}
	if err != nil {
		s.fail(w, r, op, fmt.Errorf("write opt-out: %w", err))
		return
	}
	http.Redirect(w, r, "/admin/person?"+url.Values{"q": {q}, "done": {"opted-out"}}.Encode(), http.StatusSeeOther)
}

// receipt answers GET /admin/receipt?consent=: the consent's receipt as the
// API builds it, as a JSON download.
func (s *Server) receipt(w http.ResponseWriter, r *http.Request) {
	v, op, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	rc, err := s.Receipts.Receipt(r.Context(), v.workspace, r.URL.Query().Get("consent"))
	switch consentd.ErrorCode(err) {
	case "":
	case consentd.ENOTFOUND, consentd.EINVALID:
		s.message(w, r, http.StatusNotFound, op, "No such consent", "There is no consent of this id.")
		return
	case consentd.ELEAFERASED:
		s.message(w, r, http.StatusGone, op, "Receipt erased", "The consent's latest log entry was erased with its address: no receipt can show its content.")
		return
	default:
		s.fail(w, r, op, fmt.Errorf("build receipt: %w", err))
		return
	}
	b, err := json.MarshalIndent(rc, "", "  ")
	if err != nil {
		s.fail(w, r, op, fmt.Errorf("encode receipt: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="consent-receipt-`+strconv.FormatInt(rc.Seq, 10)+`.json"`)
	w.Write(append(b, '\n'))
}
