package doi

import (
	"context"
	"encoding/base64"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/i18n"
	"github.com/consentd/consentd/internal/signedlink"
)

// agreement is what a confirmation asks the person to agree to, as the
// confirmation mail and the confirmation page state it, in the person's
// language: who asks, for what (the purpose and the topic, with their
// descriptions), by which channel, to which address, and when it was
// asked.
type agreement struct {
	Who                string // the workspace's sender name (default its name)
	Purpose            string
	PurposeDescription string
	Topic              string // "" for a purpose's own channel type
	TopicDescription   string
	Name               string // what the person subscribes to: the topic's name, or the purpose's
	Channel            string
	Address            string // the contact point: whole in the mail, masked on the page
	Requested          string // when the request was made (the confirmation was issued)
	Expires            string // until when the link works
}

// agreementOf describes f in the language of loc with the catalog cat and
// the name of who asks. ok is false when the catalog no longer offers f's
// channel type: the names are then derived from its id.
func agreementOf(f *consentd.Confirmation, cat *consentd.Catalog, who string, loc *i18n.Locale) (a agreement, ok bool) {
	a = agreement{Who: who, Address: f.ContactPoint, Requested: loc.DateTime(f.IssuedAt), Expires: loc.DateTime(f.ExpiresAt)}
	ct, err := cat.ResolveID(f.ChannelType)
	if err != nil || ct.ID != f.ChannelType {
		name := f.ChannelType
		if i := strings.LastIndexByte(name, ':'); i > 0 {
			name, ct.Channel = name[:i], name[i+1:]
		}
		a.Name, a.Purpose, a.Channel = name, name, channelName(loc, ct.Channel)
		return a, false
	}
	a.Channel = channelName(loc, ct.Channel)
	p := cat.Purposes[ct.Purpose]
	if p == nil {
		a.Name, a.Purpose = ct.Purpose, ct.Purpose
		return a, false
	}
	a.Purpose = p.NameIn(loc.Lang)
	a.PurposeDescription = p.DescriptionIn(loc.Lang)
	a.Name = a.Purpose
	if t := cat.Topics[ct.Topic]; ct.Topic != "" && t != nil {
		a.Topic = t.NameIn(loc.Lang)
		a.TopicDescription = t.DescriptionIn(loc.Lang)
		a.Name = a.Topic
	}
	return a, true
}

// statement is the agreement in words, as the confirmation page shows it
// and the proof of the confirmation records it (proof.text): the sentence
// of who asks to send what by which channel to which address, then the
// descriptions of the purpose and the topic shown with it. Lines are
// separated by "\n".
func (a agreement) statement(loc *i18n.Locale) string {
	lines := []string{a.sentence(loc)}
	for _, d := range []string{a.PurposeDescription, a.TopicDescription} {
		if d = strings.TrimSpace(d); d != "" {
			lines = append(lines, d)
		}
	}
	return strings.Join(lines, "\n")
}

// sentence is the first line of the statement.
func (a agreement) sentence(loc *i18n.Locale) string {
	return loc.T("confirm.statement", "who", a.Who, "name", a.Name, "channel", a.Channel, "address", a.Address)
}

// channelName is a channel as the person's language names it.
func channelName(loc *i18n.Locale, ch string) string {
	switch ch {
	case consentd.ChannelEmail, consentd.ChannelSMS, consentd.ChannelWhatsApp, consentd.ChannelVoice, consentd.ChannelPush:
		return loc.T("confirm.channel." + ch)
	}
	return ch
}

// RecordLinkLifetime is how long the link to the person's record, which
// the page shows after a confirmation, works. The page is not cached, so
// opening it again makes a new link.
const RecordLinkLifetime = 24 * time.Hour

// recordLink is the path, relative to the confirmation page (/c/{token}),
// of the person's record of consents (internal/web, /p/{token}/record),
// with a record token: it reads that record and changes nothing.
func (h *Handler) recordLink(f *consentd.Confirmation) (string, error) {
	now := h.Now()
	tok, err := h.Links.Sign(signedlink.Claims{Kind: signedlink.Record, Workspace: f.WorkspaceID,
		Hash: base64.RawURLEncoding.EncodeToString(f.CPHash[:]), CPKind: string(f.CPKind),
		IssuedAt: now.Unix(), ExpiresAt: now.Add(RecordLinkLifetime).Unix()})
	if err != nil {
		return "", err
	}
	return "../p/" + tok + "/record", nil
}

// workspaceOf reads the workspace f belongs to.
func workspaceOf(ctx context.Context, db Store, wsID string) (*consentd.Workspace, error) {
	return db.Workspace(ctx, wsID)
}
