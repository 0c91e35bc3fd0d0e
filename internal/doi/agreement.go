package doi

import (
	"context"
	"encoding/base64"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/signedlink"
)

// agreement is what a confirmation asks the person to agree to, as the
// confirmation mail and the confirmation page state it: who asks, for
// what (the purpose and the topic, with their descriptions), by which
// channel, to which address, and when it was asked.
type agreement struct {
	Who                string // the workspace's name
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

// timeFormat is how the mail and the page write times.
const timeFormat = "2 January 2006, 15:04:05 MST"

func showTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// agreementOf describes f with the catalog cat and the workspace's name.
// ok is false when the catalog no longer offers f's channel type: the
// names are then derived from its id.
func agreementOf(f *consentd.Confirmation, cat *consentd.Catalog, who string) (a agreement, ok bool) {
	a = agreement{Who: who, Address: f.ContactPoint, Requested: showTime(f.IssuedAt), Expires: showTime(f.ExpiresAt)}
	name, ct, ok := subscriptionName(cat, f.ChannelType)
	if !ok {
		name = f.ChannelType
		if i := strings.LastIndexByte(name, ':'); i > 0 {
			name, ct.Channel = name[:i], name[i+1:]
		}
		a.Name, a.Purpose, a.Channel = name, name, channelName(ct.Channel)
		return a, false
	}
	a.Name, a.Channel = name, channelName(ct.Channel)
	if p := cat.Purposes[ct.Purpose]; p != nil {
		a.Purpose, a.PurposeDescription = p.Name, p.Description
	}
	if t := cat.Topics[ct.Topic]; ct.Topic != "" && t != nil {
		a.Topic, a.TopicDescription = t.Name, t.Description
	}
	return a, true
}

// workspaceName is the name of who asks, for the mail and the page.
func workspaceName(ctx context.Context, db Store, wsID string) (string, error) {
	w, err := db.Workspace(ctx, wsID)
	if err != nil {
		return "", err
	}
	return w.Name, nil
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
