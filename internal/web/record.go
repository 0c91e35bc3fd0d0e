package web

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/consentd/consentd"
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

// Texts of the record, in one place for translation.
const (
	// recordVerifyText says how to check a receipt; the page and the JSON
	// download both carry it.
	recordVerifyText = "Each consent in the download carries a receipt: its entry in our tamper-evident log, exactly as it was written, " +
		"with a proof that the entry is in the log and a checkpoint of the log signed by our key. " +
		"To check one, save the consent's \"receipt\" object to a file and run: consentd receipt verify --public-key KEY receipt.json " +
		"(consentd is open source; KEY is our log's public key, which we give on request; the receipt also names the key that signed it under \"public_key\"). " +
		"A receipt that was changed in any way does not verify."
	recordNoReceipt = "No receipt: the log entry of this consent was erased with its address."
)

// recordView is the data of record.html.
type recordView struct {
	Workspace     string
	Generated     string
	JSONURL       string // relative to the page
	BackURL       string // the preference center, relative; "" for a record token
	VerifyText    string
	ContactPoints []*recordCPView
}

type recordCPView struct {
	Masked   string
	Consents []*recordRowView
}

type recordRowView struct {
	Purpose, PurposeDescription string
	Topic, TopicDescription     string
	Channel                     string
	Status                      string
	Captured                    string
	Confirmed                   string // when a double opt-in confirmed it
	Source                      string
	Seq                         int64
}

// recordFile is the JSON download.
type recordFile struct {
	Format        string          `json:"format"`
	Workspace     string          `json:"workspace"`
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

// loadRecord reads the workspace's name and every consent of the contact
// points a link reaches (those the preference center shows), sorted by
// purpose, topic and channel.
func (s *Server) loadRecord(ctx context.Context, l *link) (*recordFile, *consentd.Catalog, error) {
	ws := l.claims.Workspace
	w, err := s.DB.Workspace(ctx, ws)
	if err != nil {
		return nil, nil, err
	}
	cps, _, err := s.DB.LinkedContactPoints(ctx, ws, l.hash)
	if err != nil {
		return nil, nil, err
	}
	cat, err := s.DB.Catalog(ctx, ws)
	if err != nil {
		return nil, nil, err
	}
	f := &recordFile{Format: RecordFormat, Workspace: w.Name, GeneratedAt: s.Now().UTC(), HowToVerify: recordVerifyText, ContactPoints: []*recordFileCP{}}
	for _, cp := range cps {
		cur, err := s.consentsOf(ctx, ws, cp)
		if err != nil {
			return nil, nil, err
		}
		fc := &recordFileCP{ContactPoint: mask(cp.Kind, cp.Value), Kind: string(cp.Kind), Consents: []*recordFileConsent{}}
		for _, c := range cur {
			rc := &recordFileConsent{ChannelType: c.ChannelType, Purpose: c.Purpose, Topic: c.Topic, Channel: c.Channel, Status: c.Status,
				CapturedAt: c.CapturedAt.UTC(), RecordedAt: c.RecordedAt.UTC(), Source: c.Source, Seq: c.Seq, consent: c}
			if p := cat.Purposes[c.Purpose]; p != nil {
				rc.PurposeName, rc.PurposeDescription = p.Name, p.Description
			}
			if t := cat.Topics[c.Topic]; c.Topic != "" && t != nil {
				rc.TopicName, rc.TopicDescription = t.Name, t.Description
			}
			if c.Proof != nil && c.Proof.ConfirmedAt != nil {
				at := c.Proof.ConfirmedAt.UTC()
				rc.ConfirmedAt = &at
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
	return f, cat, nil
}

// recordPage (GET /p/{token}/record) shows the person's record.
func (s *Server) recordPage(w http.ResponseWriter, r *http.Request) {
	l, ok := s.verifyRecord(r)
	if !s.admit(w, r, ok) {
		return
	}
	f, _, err := s.loadRecord(r.Context(), l)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := recordView{Workspace: f.Workspace, Generated: showTime(f.GeneratedAt), JSONURL: "record.json", VerifyText: recordVerifyText}
	if l.claims.Kind == signedlink.Preferences {
		v.BackURL = "../" + l.token
	}
	for _, fc := range f.ContactPoints {
		cv := &recordCPView{Masked: fc.ContactPoint}
		for _, c := range fc.Consents {
			row := &recordRowView{Purpose: orID(c.PurposeName, c.Purpose), PurposeDescription: c.PurposeDescription,
				TopicDescription: c.TopicDescription, Channel: channelLabel(c.Channel), Status: statusText(c.Status),
				Captured: showTime(c.CapturedAt), Source: sourceText(c.Source), Seq: c.Seq}
			if c.Topic != "" {
				row.Topic = orID(c.TopicName, c.Topic)
			}
			if c.ConfirmedAt != nil {
				row.Confirmed = showTime(*c.ConfirmedAt)
			}
			cv.Consents = append(cv.Consents, row)
		}
		v.ContactPoints = append(v.ContactPoints, cv)
	}
	s.render(w, r, http.StatusOK, "record", v)
}

// recordJSON (GET /p/{token}/record.json) downloads the record with a
// receipt for each consent.
func (s *Server) recordJSON(w http.ResponseWriter, r *http.Request) {
	l, ok := s.verifyRecord(r)
	if !s.admit(w, r, ok) {
		return
	}
	ctx := r.Context()
	f, _, err := s.loadRecord(ctx, l)
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
				c.NoReceipt = recordNoReceipt
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

// showTime is a time as the pages show it.
func showTime(t time.Time) string { return t.UTC().Format("2 January 2006, 15:04:05 UTC") }

func orID(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

// statusText names a consent's status for people.
func statusText(st consentd.Status) string {
	switch st {
	case consentd.OptedIn:
		return "Yes: you agreed"
	case consentd.OptedOut:
		return "No: you declined or unsubscribed"
	case consentd.Pending:
		return "Waiting for your confirmation"
	}
	return string(st)
}

// sourceText says for people where a consent came from.
func sourceText(src consentd.Source) string {
	var what string
	switch src.Type {
	case consentd.SourceForm:
		what = "A form"
	case consentd.SourcePreferenceCenter:
		what = "The preference center"
	case consentd.SourceUnsubscribeLink:
		what = "An unsubscribe link"
	case consentd.SourceImport:
		what = "An import from another system"
	case consentd.SourceAPI, consentd.SourceSync:
		what = "Our systems"
	case consentd.SourceAgent:
		what = "Our staff, on your behalf"
	case consentd.SourceAutomation:
		what = "An automatic rule"
	case consentd.SourceDoubleOptIn:
		what = "Your confirmation"
	case consentd.SourceDSR:
		what = "Your data request"
	case consentd.SourceGPC:
		what = "Your browser's Global Privacy Control signal"
	case consentd.SourceProviderFeed:
		what = "Our mail or SMS provider"
	case consentd.SourceSMSKeyword:
		what = "Your text message reply"
	default:
		what = src.Type
	}
	if src.Name != "" {
		return what + " (" + src.Name + ")"
	}
	return what
}
