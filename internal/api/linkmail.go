package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/i18n"
	"github.com/consentd/consentd/internal/mail"
	"github.com/consentd/consentd/internal/openapi"
	"github.com/consentd/consentd/internal/signedlink"
)

// LinkMailLifetime is how long a mailed preference link works: long
// enough to be read after a holiday, short enough that an old mailbox does
// not hold a working key to the person's preferences for years.
const LinkMailLifetime = 30 * 24 * time.Hour

// linkSendInput is the body of POST /v1/links:send.
type linkSendInput struct {
	ContactPoint string `json:"contact_point" max:"1024" doc:"the e-mail address to mail the link to; normalized and stored, and the job names only its hash"`
}

// linkSendAnswer is the answer of POST /v1/links:send.
type linkSendAnswer struct {
	JobID string `json:"job_id" doc:"the link_mail job that sends the mail (GET /v1/jobs lists it; a failed one can be retried)"`
}

// linkMailer is the mail path of mailed preference links: the double
// opt-in mail's sender and From.
type linkMailer struct {
	sender mail.Sender
	from   string
}

// EnableLinkMail makes link_mail jobs (RunLinkMailJob) send through
// sender, the sender of the double opt-in mail, with From from (""
// for mail.DefaultFrom). Until it is called they fail and are retried.
func (s *Server) EnableLinkMail(sender mail.Sender, from string) {
	s.linkMail.Store(&linkMailer{sender: sender, from: from})
}

// linkSendRoutes is POST /v1/links:send, the writers' as POST /v1/links is.
func (s *Server) linkSendRoutes() []route {
	op := openapi.Operation{Method: "POST", Path: "/v1/links:send", Tags: []string{"links"},
		Summary: "Mail a person a signed link to their preference page (30 days valid), through a durable link_mail job",
		Request: linkSendInput{}, Response: linkSendAnswer{}, Status: http.StatusAccepted}
	return []route{{op, writers, func(w http.ResponseWriter, r *http.Request, k *consentd.APIKey) error {
		var in linkSendInput
		if err := decode(r, maxBody, &in); err != nil {
			return err
		}
		id, err := s.SendPreferenceLink(r.Context(), k, in.ContactPoint)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusAccepted, linkSendAnswer{JobID: id})
		return nil
	}}}
}

// SendPreferenceLink queues the mail of a signed preference link to the
// e-mail address contactPoint, for key k, and returns the job's id
// (POST /v1/links:send answers it; the operator console's "send a
// preference link" calls it). The address is normalized and its plaintext
// stored as a link's is; the job names only its hash, so that job lists
// show no address, and an erasure before the send leaves nothing to mail.
// EINVALIDCONTACTPOINT for no or a bad address, ECONFLICT for an erased
// one or one suppressed on e-mail (a suppression added before the job
// runs stops it too), EINTERNAL when the server has no signed links.
func (s *Server) SendPreferenceLink(ctx context.Context, k *consentd.APIKey, contactPoint string) (string, error) {
	if err := checkInput(&linkSendInput{ContactPoint: contactPoint}); err != nil {
		return "", err
	}
	if strings.TrimSpace(contactPoint) == "" {
		return "", consentd.FieldErrorf(consentd.EINVALIDCONTACTPOINT, "contact_point", "contact_point is required")
	}
	if s.links.Load() == nil {
		return "", consentd.Errorf(consentd.EINTERNAL, "signed links are not configured on this server")
	}
	cp, hash, err := s.DB.PutContactPoint(ctx, k.WorkspaceID, consentd.KindEmail, contactPoint)
	if err != nil {
		return "", err
	}
	if sup, err := s.mailSuppressed(ctx, k.WorkspaceID, cp); err != nil {
		return "", err
	} else if sup != nil {
		return "", consentd.FieldErrorf(consentd.ECONFLICT, "contact_point", "the address is suppressed (%s, %s): no mail goes to it", sup.Reason, channelWords(sup.Channel))
	}
	nonce := make([]byte, 8)
	rand.Read(nonce)
	ref := base64.RawURLEncoding.EncodeToString(hash[:]) + "." + hex.EncodeToString(nonce)
	id, err := s.DB.EnqueueJob(ctx, k.WorkspaceID, consentd.JobKindLinkMail, ref, consentd.ConfirmationJobMaxAttempts)
	if err != nil {
		return "", err
	}
	s.nudge()
	return id, nil
}

// RunLinkMailJob mails the preference link a link_mail job names (its Ref
// is the address's hash and a nonce): a link signed now, valid for
// LinkMailLifetime, to the address stored for the hash, in the person's
// recorded language (else the workspace's default, else English), from
// the workspace's sender name, with its brand. An address erased
// since is not mailed (the job succeeds and says so). A relay's refusal of
// the address fails the job at once; other failures are retried by the
// runner. Errors mask the address.
func (s *Server) RunLinkMailJob(ctx context.Context, j *consentd.Job) (string, error) {
	hashText, _, _ := strings.Cut(j.Ref, ".")
	b, err := base64.RawURLEncoding.DecodeString(hashText)
	if err != nil || len(b) != 32 {
		return "", permanentError{fmt.Errorf("link_mail job %s: ref is not a contact point hash", j.ID)}
	}
	links, m := s.links.Load(), s.linkMail.Load()
	if links == nil || m == nil {
		return "", fmt.Errorf("link mail is not configured on this server")
	}
	kind, cp, err := s.DB.ContactPointByHash(ctx, j.WorkspaceID, [32]byte(b))
	switch {
	case consentd.ErrorCode(err) == consentd.ENOTFOUND:
		return "the contact point was erased: not sent", nil
	case err != nil:
		return "", fmt.Errorf("read the contact point: %w", err)
	case kind != consentd.KindEmail:
		return "", permanentError{fmt.Errorf("link_mail job %s: not an e-mail address", j.ID)}
	}
	if sup, err := s.mailSuppressed(ctx, j.WorkspaceID, cp); err != nil {
		return "", err
	} else if sup != nil {
		return "the address was suppressed (" + string(sup.Reason) + "): not sent", nil
	}
	ws, err := s.DB.Workspace(ctx, j.WorkspaceID)
	if err != nil {
		return "", fmt.Errorf("read workspace: %w", err)
	}
	now := s.Now()
	token, err := links.keys.Sign(signedlink.Claims{Kind: signedlink.Preferences, Workspace: j.WorkspaceID, Hash: hashText,
		CPKind: string(kind), IssuedAt: now.Unix(), ExpiresAt: now.Add(LinkMailLifetime).Unix()})
	if err != nil {
		return "", fmt.Errorf("sign the link: %w", err)
	}
	lang := i18n.Choose("", s.recordedLanguage(ctx, j.WorkspaceID, cp), "", ws.DefaultLanguage)
	// The link is at the workspace's own public URL when it has one.
	link := ws.LinkBase(links.base) + "/p/" + token
	var logo *consentd.Logo
	var logoData []byte
	if ws.Logo != nil {
		if logo, logoData, err = s.DB.Logo(ctx, j.WorkspaceID); err != nil && consentd.ErrorCode(err) != consentd.ENOTFOUND {
			return "", fmt.Errorf("read the logo: %w", err)
		}
	}
	msg, err := preferenceLinkMail(ws, lang, link, time.Unix(now.Add(LinkMailLifetime).Unix(), 0), logo, logoData)
	if err != nil {
		return "", fmt.Errorf("build the preference link mail: %w", err)
	}
	msg.From, msg.To, msg.Date = m.from, cp, now
	err = m.sender.Send(ctx, msg)
	if err != nil {
		masked := strings.ReplaceAll(err.Error(), cp, consentd.MaskContactPoint(cp))
		if mail.Permanent(err) {
			return "", permanentError{fmt.Errorf("preference link mail refused: %s", masked)}
		}
		return "", fmt.Errorf("preference link mail not sent: %s", masked)
	}
	return "sent", nil
}

// preferenceLinkMail is the mail of a preference link in lang (a shipped
// language), from the workspace's sender name, with its brand: the text
// and HTML of one mail.Letter, every sentence from mail.json.
// The logo, when the workspace has one, is carried inline (never
// hotlinked).
func preferenceLinkMail(ws *consentd.Workspace, lang, link string, until time.Time, logo *consentd.Logo, logoData []byte) (mail.Message, error) {
	loc := i18n.Get(lang).With(ws.Texts[lang])
	sender := ws.Sender()
	l := &mail.Letter{
		Lang: loc.Lang, Dir: loc.Dir,
		Title:    loc.T("mail.link.subject", "who", sender),
		Greeting: loc.T("mail.greeting"),
		Before:   []string{loc.T("mail.link.intro", "who", sender)},
		Button:   loc.T("mail.link.button"),
		Link:     link,
		Fallback: loc.T("mail.link_fallback"),
		After:    []string{loc.T("mail.link.expires", "date", loc.DateTime(until)), loc.T("mail.link.ignore")},
		Sender:   sender, Accent: ws.AccentColor,
		PrivacyLabel: loc.T("mail.privacy"), PrivacyURL: ws.PrivacyURL, Footer: ws.Footer,
	}
	var inline []mail.Inline
	if logo != nil {
		inline = append(inline, l.WithLogo(logo.ContentType, logoData, loc.T("confirm.logo_alt", "sender", sender)))
	}
	html, err := l.HTML()
	if err != nil {
		return mail.Message{}, err
	}
	return mail.Message{FromName: sender, Subject: l.Title, Text: l.Text(), HTML: html, Inline: inline, Language: loc.Lang}, nil
}

// recordedLanguage is the language recorded for the address cp: its
// newest consent's that records one, else its party's
// (consentd.RecordedLanguage); "" when none is, or they cannot be read
// (the mail then goes in the workspace's default language).
func (s *Server) recordedLanguage(ctx context.Context, wsID, cp string) string {
	consents, _, err := s.DB.ListConsents(ctx, wsID, consentd.ConsentFilter{ContactPoint: cp, Limit: 100})
	if err != nil {
		return ""
	}
	var party *consentd.Party
	for _, c := range consents {
		if c.PartyID != "" {
			if p, err := s.DB.Party(ctx, wsID, c.PartyID); err == nil {
				party = p
			}
			break
		}
	}
	return consentd.RecordedLanguage(consents, party)
}

// mailSuppressed returns a suppression that stops mail to the e-mail
// address cp: one on every channel or on an e-mail channel; nil when none.
func (s *Server) mailSuppressed(ctx context.Context, wsID, cp string) (*consentd.Suppression, error) {
	sups, err := s.DB.Suppressions(ctx, wsID)
	if err != nil {
		return nil, fmt.Errorf("list suppressions: %w", err)
	}
	for _, sup := range sups {
		if sup.ContactPoint == cp && (sup.Channel == "" || consentd.KindOf(sup.Channel) == consentd.KindEmail) {
			return sup, nil
		}
	}
	return nil, nil
}

// channelWords names a suppression's channel: "every channel" for none.
func channelWords(ch string) string {
	if ch == "" {
		return "every channel"
	}
	return ch
}
