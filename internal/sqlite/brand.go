package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/consentd/consentd"
)

// workspaceColumns are the columns scanWorkspace reads, in its order: the
// settings, the brand and the logo's description (never its bytes), the
// contact point secret and the creation time.
const workspaceColumns = `id, name, default_region, sms_sender_name, sms_help_text,
	sender_name, default_language, accent_color, privacy_url, footer, public_url, texts,
	logo_type, logo_sha256, logo_width, logo_height, COALESCE(length(logo), 0), secret, created_at`

// scanWorkspace reads a row of workspaceColumns into ws and secret.
func scanWorkspace(row interface{ Scan(...any) error }, ws *consentd.Workspace, secret *[]byte) error {
	var texts string
	var created int64
	var logo consentd.Logo
	if err := row.Scan(&ws.ID, &ws.Name, &ws.DefaultRegion, &ws.SMSSenderName, &ws.SMSHelpText,
		&ws.SenderName, &ws.DefaultLanguage, &ws.AccentColor, &ws.PrivacyURL, &ws.Footer, &ws.PublicURL, &texts,
		&logo.ContentType, &logo.SHA256, &logo.Width, &logo.Height, &logo.Size, secret, &created); err != nil {
		return err
	}
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
		ws.Logo = &logo
	}
	return nil
}

// updateBrand writes the brand fields u sets.
func (tx *Tx) updateBrand(id string, u *consentd.WorkspaceUpdate) error {
	for _, f := range []struct {
		col string
		v   *string
	}{
		{"sender_name", u.SenderName}, {"default_language", u.DefaultLanguage}, {"accent_color", u.AccentColor},
		{"privacy_url", u.PrivacyURL}, {"footer", u.Footer}, {"public_url", u.PublicURL},
	} {
		if f.v == nil {
			continue
		}
		if _, err := tx.ExecContext(tx.ctx, `UPDATE workspaces SET `+f.col+` = ? WHERE id = ?`, *f.v, id); err != nil {
			return err
		}
	}
	if u.Texts != nil {
		texts := *u.Texts
		if texts == nil {
			texts = map[string]map[string]string{}
		}
		if _, err := tx.ExecContext(tx.ctx, `UPDATE workspaces SET texts = ? WHERE id = ?`, mustJSON(texts), id); err != nil {
			return err
		}
	}
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
	err := db.write(ctx, func(tx *Tx) error {
		var res sql.Result
		var err error
		if logo == nil {
			res, err = tx.ExecContext(tx.ctx, `UPDATE workspaces SET logo = NULL, logo_type = '', logo_sha256 = '', logo_width = 0, logo_height = 0 WHERE id = ?`, wsID)
		} else {
			res, err = tx.ExecContext(tx.ctx, `UPDATE workspaces SET logo = ?, logo_type = ?, logo_sha256 = ?, logo_width = ?, logo_height = ? WHERE id = ?`,
				data, logo.ContentType, logo.SHA256, logo.Width, logo.Height, wsID)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return consentd.Errorf(consentd.ENOTFOUND, "no workspace with this id")
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
	err := db.r.QueryRowContext(ctx, `SELECT logo_type, logo_sha256, logo_width, logo_height, logo FROM workspaces WHERE id = ? AND logo IS NOT NULL`, wsID).
		Scan(&l.ContentType, &l.SHA256, &l.Width, &l.Height, &data)
	if err != nil {
		return nil, nil, notFound(err, "logo")
	}
	l.Size = len(data)
	l.URL = consentd.LogoURL(wsID, l.SHA256)
	return &l, data, nil
}

// logWorkspace logs the workspace's settings as tx left them
// (workspace.changed) and marks them changed.
func (tx *Tx) logWorkspace(id, actor string) error {
	var ws consentd.Workspace
	var secret []byte
	if err := scanWorkspace(tx.QueryRowContext(tx.ctx, `SELECT `+workspaceColumns+` FROM workspaces WHERE id = ?`, id), &ws, &secret); err != nil {
		return notFound(err, "workspace")
	}
	if _, err := tx.appendLog(id, &consentd.LogEntry{Type: consentd.LogWorkspaceChanged, Subject: id, After: ws, Actor: actor}); err != nil {
		return err
	}
	tx.changed(id)
	return nil
}
