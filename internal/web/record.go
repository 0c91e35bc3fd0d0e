package web

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/i18n"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/signedlink"
)

// The person's record: every consent of the contact points the preference
// center shows, as a page to read (GET /p/{token}/record) and as a JSON
// download whose consents each carry their receipt (GET
// /p/{token}/record.json), the same receipt GET /v1/consents/{id}/receipt
// answers, so that anyone can check offline that the log holds the entry.
//
// Both answer a preference link's token, and a record token
// (signedlink.Record): a read-only token the double opt-in page hands out
// after a confirmation, which the preference center itself refuses.

// Receipts builds the receipt of a consent: api.Server.Receipt, the code
// behind GET /v1/consents/{id}/receipt.
type Receipts interface {
	Receipt(ctx context.Context, wsID, id string) (*ledger.Receipt, error)
}

// RecordFormat names the JSON download's format and version.
const RecordFormat = "consentd-record/v1"

// recordView is the data of record.html.
type recordView struct {
	Intro         string // who keeps the record, and when it was made
	Generated     string
	JSONURL       string // relative to the page
	BackURL       string // the preference center, relative; "" for a record token
	VerifyText    string
	ContactPoints []*recordCPView
}

type recordCPView struct {
	Heading  string // "Messages to j•••@example.com"
	Masked   string
	Consents []*recordRowView
}

type recordRowView struct {
	Heading            string // the purpose, topic and channel
	PurposeDescription string
	TopicDescription   string
	Status             string
	Captured           string
	Confirmed          string // when a double opt-in confirmed it
	Source             string
	Language           string // the language the person read, by its own name; "" when not recorded
	LanguageTag        string
	TextSHA256         string // of the text the person read; "" when not recorded
	Seq                string // the log entry's number
}

// recordFile is the JSON download.
type recordFile struct {
	Format    string `json:"format"`
	Workspace string `json:"workspace"`
	// Language is the language of the download's texts (how_to_verify,
	// names, descriptions); its values (ids, times) are never translated.
	Language      string          `json:"language"`
	GeneratedAt   time.Time       `json:"generated_at"`
	HowToVerify   string          `json:"how_to_verify"`
	ContactPoints []*recordFileCP `json:"contact_points"`
}

type recordFileCP struct {
	ContactPoint string               `json:"contact_point"` // masked, as on the page
	Kind         string               `json:"kind"`
	Consents     []*recordFileConsent `json:"consents"`
}

type recordFileConsent struct {
	ChannelType        string            `json:"channel_type"`
	Purpose            string            `json:"purpose"`
	PurposeName        string            `json:"purpose_name,omitempty"`
	PurposeDescription string            `json:"purpose_description,omitempty"`
	Topic              string            `json:"topic,omitempty"`
	TopicName          string            `json:"topic_name,omitempty"`
	TopicDescription   string            `json:"topic_description,omitempty"`
	Channel            string            `json:"channel"`
	Status             consentd.Status   `json:"status"`
	CapturedAt         time.Time         `json:"captured_at"`
	RecordedAt         time.Time         `json:"recorded_at"`
	ConfirmedAt        *time.Time        `json:"confirmed_at,omitempty"`
	Source             consentd.Source   `json:"source"`
	Language           string            `json:"language,omitempty"`    // the proof's: the language the person read
	Text               string            `json:"text,omitempty"`        // the proof's: the exact text the person read
	TextSHA256         string            `json:"text_sha256,omitempty"` // the proof's: hex SHA-256 of text
	Seq                int64             `json:"seq"`
	Receipt            *ledger.Receipt   `json:"receipt,omitempty"`
	NoReceipt          string            `json:"no_receipt,omitempty"`
	consent            *consentd.Consent // the stored consent, whose receipt the download carries
}

// verifyRecord checks the token of a record request: a preference link's
// or a record token.
func (s *Server) verifyRecord(r *http.Request) (*link, bool) {
	if l, ok := s.verify(r, signedlink.Preferences); ok {
		return l, true
	}
	return s.verify(r, signedlink.Record)
}

// loadRecord reads the workspace's brand and every consent of the
// contact points a link reaches (those the preference center shows),
// sorted by purpose, topic and channel, with names and descriptions in
// the language chosen for r.
func (s *Server) loadRecord(ctx context.Context, r *http.Request, l *link) (*recordFile, *pageCtx, error) {
	ws := l.claims.Workspace
	cps, _, err := s.DB.LinkedContactPoints(ctx, ws, l.hash)
	if err != nil {
		return nil, nil, err
	}
	cat, err := s.DB.Catalog(ctx, ws)
	if err != nil {
		return nil, nil, err
	}
	curs := make([]map[string]*consentd.Consent, len(cps))
	var all []*consentd.Consent
	for i, cp := range cps {
		if curs[i], err = s.consentsOf(ctx, ws, cp); err != nil {
			return nil, nil, err
		}
		all = append(all, values(curs[i])...)
	}
	pc, w, err := s.pageFor(ctx, r, ws, l.hash, all)
	if err != nil {
		return nil, nil, err
	}
	lang := pc.Lang()
	f := &recordFile{Format: RecordFormat, Workspace: w.Name, Language: lang, GeneratedAt: s.Now().UTC(),
		HowToVerify: pc.T("page.record.verify"), ContactPoints: []*recordFileCP{}}
	for i, cp := range cps {
		fc := &recordFileCP{ContactPoint: mask(cp.Kind, cp.Value), Kind: string(cp.Kind), Consents: []*recordFileConsent{}}
		for _, c := range curs[i] {
			rc := &recordFileConsent{ChannelType: c.ChannelType, Purpose: c.Purpose, Topic: c.Topic, Channel: c.Channel, Status: c.Status,
				CapturedAt: c.CapturedAt.UTC(), RecordedAt: c.RecordedAt.UTC(), Source: c.Source, Seq: c.Seq, consent: c}
			if p := cat.Purposes[c.Purpose]; p != nil {
				rc.PurposeName, rc.PurposeDescription = p.NameIn(lang), p.DescriptionIn(lang)
			}
			if t := cat.Topics[c.Topic]; c.Topic != "" && t != nil {
				rc.TopicName, rc.TopicDescription = t.NameIn(lang), t.DescriptionIn(lang)
			}
			if c.Proof != nil {
				rc.Language, rc.Text, rc.TextSHA256 = c.Proof.Language, c.Proof.Text, c.Proof.TextSHA256
				if c.Proof.ConfirmedAt != nil {
					at := c.Proof.ConfirmedAt.UTC()
					rc.ConfirmedAt = &at
				}
			}
			fc.Consents = append(fc.Consents, rc)
		}
		slices.SortFunc(fc.Consents, func(a, b *recordFileConsent) int {
			if c := cmpName(a.PurposeName, a.Purpose, b.PurposeName, b.Purpose); c != 0 {
				return c
			}
			if c := cmpName(a.TopicName, a.Topic, b.TopicName, b.Topic); c != 0 {
				return c
			}
			return strings.Compare(a.Channel, b.Channel)
		})
		f.ContactPoints = append(f.ContactPoints, fc)
	}
	return f, pc, nil
}

// recordPage (GET /p/{token}/record) shows the person's record.
func (s *Server) recordPage(w http.ResponseWriter, r *http.Request) {
	l, ok := s.verifyRecord(r)
	if !s.admit(w, r, ok) {
		return
	}
	f, pc, err := s.loadRecord(r.Context(), r, l)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	L := pc.L
	v := recordView{Intro: pc.T("page.record.intro", "sender", pc.sender(), "time", L.DateTime(f.GeneratedAt)),
		JSONURL: pc.keep("record.json"), VerifyText: f.HowToVerify}
	if l.claims.Kind == signedlink.Preferences {
		v.BackURL = pc.keep("../" + l.token)
	}
	for _, fc := range f.ContactPoints {
		cv := &recordCPView{Masked: fc.ContactPoint, Heading: pc.T("page.prefs.messages_to", "address", fc.ContactPoint)}
		for _, c := range fc.Consents {
			name := orID(c.PurposeName, c.Purpose)
			if c.Topic != "" {
				name = pc.T("page.record.purpose_topic", "purpose", name, "topic", orID(c.TopicName, c.Topic))
			}
			row := &recordRowView{Heading: pc.T("page.record.consent_heading", "name", name, "channel", channelLabel(L, c.Channel)),
				PurposeDescription: c.PurposeDescription, TopicDescription: c.TopicDescription, Status: statusText(L, c.Status),
				Captured: L.DateTime(c.CapturedAt), Source: sourceText(L, c.Source), TextSHA256: c.TextSHA256,
				Seq: pc.T("page.record.seq", "seq", L.Number(c.Seq))}
			if c.Language != "" {
				row.LanguageTag, row.Language = c.Language, c.Language
				if tag, ok := i18n.Canonical(c.Language); ok {
					row.LanguageTag, row.Language = tag, i18n.Get(tag).T("lang.name")
				}
			}
			if c.ConfirmedAt != nil {
				row.Confirmed = L.DateTime(*c.ConfirmedAt)
			}
			cv.Consents = append(cv.Consents, row)
		}
		v.ContactPoints = append(v.ContactPoints, cv)
	}
	s.render(w, r, http.StatusOK, "record", pc, v)
}

// recordJSON (GET /p/{token}/record.json) downloads the record with a
// receipt for each consent.
func (s *Server) recordJSON(w http.ResponseWriter, r *http.Request) {
	l, ok := s.verifyRecord(r)
	if !s.admit(w, r, ok) {
		return
	}
	ctx := r.Context()
	f, pc, err := s.loadRecord(ctx, r, l)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if s.Receipts == nil {
		s.fail(w, r, consentd.Errorf(consentd.EINTERNAL, "record download: no receipt maker configured"))
		return
	}
	for _, fc := range f.ContactPoints {
		for _, c := range fc.Consents {
			rc, err := s.Receipts.Receipt(ctx, l.claims.Workspace, c.consent.ID)
			switch {
			case consentd.ErrorCode(err) == consentd.ELEAFERASED:
				c.NoReceipt = pc.T("page.record.no_receipt")
			case err != nil:
				s.fail(w, r, err)
				return
			default:
				c.Receipt = rc
			}
		}
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="consent-record.json"`)
	w.WriteHeader(http.StatusOK)
	w.Write(append(b, '\n'))
}

func orID(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

// statusText names a consent's status for people.
func statusText(l *i18n.Locale, st consentd.Status) string {
	switch st {
	case consentd.OptedIn, consentd.OptedOut, consentd.Pending:
		return l.T("page.status." + string(st))
	}
	return string(st)
}

// sourceText says for people where a consent came from: "The preference
// center (preference_center)". The name in brackets is the source's own,
// not translated.
func sourceText(l *i18n.Locale, src consentd.Source) string {
	what := src.Type
	if i18n.Has("source." + src.Type) {
		what = l.T("source." + src.Type)
	}
	if src.Name != "" {
		return l.T("source.named", "source", what, "name", isolate(l, src.Name))
	}
	return what
}
