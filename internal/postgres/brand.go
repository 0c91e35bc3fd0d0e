package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/consentd/consentd"
)

// workspaceColumns are the columns of workspaces w that scanWorkspace
// reads, in its order: the settings, the brand and the logo's description
// (never its bytes), the contact point secret and the creation time.
const workspaceColumns = `w.id, w.name, w.default_region, w.sms_sender_name, w.sms_help_text,
	w.sender_name, w.default_language, w.accent_color, w.privacy_url, w.footer, w.public_url, w.texts,
	w.logo_type, w.logo_sha256, w.logo_width, w.logo_height, COALESCE(octet_length(w.logo), 0), w.secret, w.created_at`

// workspaceDest returns the scan destinations of workspaceColumns, and a
// function that finishes ws once they are scanned.
func workspaceDest(ws *consentd.Workspace, secret *[]byte) ([]any, func() error) {
	var texts string
	var created int64
	logo := &consentd.Logo{}
	dest := []any{&ws.ID, &ws.Name, &ws.DefaultRegion, &ws.SMSSenderName, &ws.SMSHelpText,
		&ws.SenderName, &ws.DefaultLanguage, &ws.AccentColor, &ws.PrivacyURL, &ws.Footer, &ws.PublicURL, &texts,
		&logo.ContentType, &logo.SHA256, &logo.Width, &logo.Height, &logo.Size, secret, &created}
	return dest, func() error {
		ws.CreatedAt = fromNanos(created)
		ws.Texts = nil
		if texts != "" && texts != "{}" {
			if err := json.Unmarshal([]byte(texts), &ws.Texts); err != nil {
				return fmt.Errorf("workspace %s texts: %w", ws.ID, err)
			}
		}
		ws.Logo = nil
		if logo.SHA256 != "" {
			logo.URL = consentd.LogoURL(ws.ID, logo.SHA256)
			ws.Logo = logo
		}
		return nil
	}
}

// updateBrand queues the writes of the brand fields u sets.
func (tx *Tx) updateBrand(id string, u *consentd.WorkspaceUpdate) {
	for _, f := range []struct {
		col string
		v   *string
	}{
		{"sender_name", u.SenderName}, {"default_language", u.DefaultLanguage}, {"accent_color", u.AccentColor},
		{"privacy_url", u.PrivacyURL}, {"footer", u.Footer}, {"public_url", u.PublicURL},
	} {
		if f.v != nil {
			tx.queue(`UPDATE workspaces SET `+f.col+` = $1 WHERE id = $2`, *f.v, id)
		}
	}
	if u.Texts != nil {
		texts := *u.Texts
		if texts == nil {
			texts = map[string]map[string]string{}
		}
		tx.queue(`UPDATE workspaces SET texts = $1 WHERE id = $2`, mustJSON(texts), id)
	}
}

// logWorkspace logs the workspace's settings as tx left them
// (workspace.changed) and marks them changed.
func (tx *Tx) logWorkspace(id, actor string) error {
	var ws consentd.Workspace
	var secret []byte
	dest, finish := workspaceDest(&ws, &secret)
	if err := tx.QueryRow(tx.ctx, `SELECT `+workspaceColumns+` FROM workspaces w WHERE w.id = $1`, id).Scan(dest...); err != nil {
		return notFound(err, "workspace")
	}
	if err := finish(); err != nil {
		return err
	}
	if _, err := tx.appendLog(id, &consentd.LogEntry{Type: consentd.LogWorkspaceChanged, Subject: id, After: ws, Actor: actor}); err != nil {
		return err
	}
	tx.changed(id)
	return nil
}

// SetLogo replaces the workspace's logo with data of type contentType,
// checked by consentd.CheckLogo, or removes it when data is nil, and logs
// the change (workspace.changed, the logo described, not its bytes). It
// returns the workspace, ENOTFOUND, or CheckLogo's errors.
func (db *DB) SetLogo(ctx context.Context, wsID, contentType string, data []byte, actor string) (*consentd.Workspace, error) {
	var logo *consentd.Logo
	if data != nil {
		var err error
		if logo, err = consentd.CheckLogo(contentType, data); err != nil {
			return nil, err
		}
	}
	if _, err := db.currentWS(ctx, wsID); err != nil {
		return nil, err
	}
	err := db.write(ctx, wsID, func(tx *Tx) error {
		if logo == nil {
			tx.queue(`UPDATE workspaces SET logo = NULL, logo_type = '', logo_sha256 = '', logo_width = 0, logo_height = 0 WHERE id = $1`, wsID)
		} else {
			tx.queue(`UPDATE workspaces SET logo = $1, logo_type = $2, logo_sha256 = $3, logo_width = $4, logo_height = $5 WHERE id = $6`,
				data, logo.ContentType, logo.SHA256, logo.Width, logo.Height, wsID)
		}
		return tx.logWorkspace(wsID, actor)
	})
	if err != nil {
		return nil, err
	}
	return db.Workspace(ctx, wsID)
}

// Logo returns the description and bytes of the workspace's logo;
// ENOTFOUND when it has none.
func (db *DB) Logo(ctx context.Context, wsID string) (*consentd.Logo, []byte, error) {
	var l consentd.Logo
	var data []byte
	err := db.pool.QueryRow(ctx, `SELECT logo_type, logo_sha256, logo_width, logo_height, logo FROM workspaces WHERE id = $1 AND logo IS NOT NULL`, wsID).
		Scan(&l.ContentType, &l.SHA256, &l.Width, &l.Height, &data)
	if err != nil {
		return nil, nil, notFound(err, "logo")
	}
	l.Size = len(data)
	l.URL = consentd.LogoURL(wsID, l.SHA256)
	return &l, data, nil
}
