package doi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/i18n"
)

// languageStore is what the language of a confirmation needs beyond
// Store: the contact point's other consents and the party of the pending
// consent. Both backends have it; a Store without it goes by the
// confirmation's own request and the workspace's default.
type languageStore interface {
	ListConsents(ctx context.Context, wsID string, f consentd.ConsentFilter) ([]*consentd.Consent, string, error)
	Party(ctx context.Context, wsID, id string) (*consentd.Party, error)
}

// recordedLanguage is the language recorded for the person f asks: the
// language of the request that made the consent pending (f's proof) when
// it is near a shipped one, else
// consentd.RecordedLanguage of the contact point's consents and the
// pending consent's party, else "". A failure to read them is not an
// error: the language falls back to the workspace's default.
func recordedLanguage(ctx context.Context, db Store, f *consentd.Confirmation) string {
	if f.Proof != nil {
		if _, ok := i18n.Match(f.Proof.Language); ok {
			return f.Proof.Language
		}
	}
	ls, ok := db.(languageStore)
	if !ok || f.ContactPoint == "" {
		return ""
	}
	consents, _, err := ls.ListConsents(ctx, f.WorkspaceID, consentd.ConsentFilter{ContactPoint: f.ContactPoint, Limit: 100})
	if err != nil {
		return ""
	}
	var party *consentd.Party
	for _, c := range consents {
		if c.ChannelType == f.ChannelType && c.PartyID != "" {
			if p, err := ls.Party(ctx, f.WorkspaceID, c.PartyID); err == nil {
				party = p
			}
			break
		}
	}
	return consentd.RecordedLanguage(consents, party)
}

// Language returns the language of confirmation f in workspace ws, for its
// message and page: the request's language (the pending consent's
// proof.language), else the person's recorded language, else the
// workspace's default, else English. The page passes the person's explicit
// choice (?lang=) and the browser's Accept-Language, which stands in only
// when nothing is recorded.
func Language(ctx context.Context, db Store, ws *consentd.Workspace, f *consentd.Confirmation, explicit, acceptLanguage string) string {
	def := ""
	if ws != nil {
		def = ws.DefaultLanguage
	}
	return i18n.Choose(explicit, recordedLanguage(ctx, db, f), acceptLanguage, def)
}

// localeOf is the locale of lang with the workspace's overrides of its
// texts.
func localeOf(ws *consentd.Workspace, lang string) *i18n.Locale {
	loc := i18n.Get(lang)
	if ws != nil {
		loc = loc.With(ws.Texts[loc.Lang])
	}
	return loc
}

// textSHA256 is the hex SHA-256 of the text a person agreed to, for the
// proof.
func textSHA256(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}
