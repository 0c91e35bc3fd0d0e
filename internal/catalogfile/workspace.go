package catalogfile

import (
	"context"
	"fmt"
	"net/http"
	"reflect"

	"github.com/consentd/consentd"
)

// planWorkspace adds the change of the workspace's brand to plan: the
// fields the file gives that differ from the stored ones (after putting
// them in their stored form, so "DE" and "de" are the same), and the logo
// when logo_file's SHA-256 differs from the stored logo's. Everything is
// checked first: a bad value or image fails the plan.
func planWorkspace(ctx context.Context, st Store, wsID string, fw *Workspace, o Options, plan *Plan) error {
	ws, err := st.Workspace(ctx, wsID)
	if err != nil {
		return err
	}
	in := consentd.WorkspaceUpdate{SenderName: clonePtr(fw.SenderName), DefaultLanguage: clonePtr(fw.DefaultLanguage),
		AccentColor: clonePtr(fw.AccentColor), PrivacyURL: clonePtr(fw.PrivacyURL), Footer: clonePtr(fw.Footer), PublicURL: clonePtr(fw.PublicURL)}
	if fw.Texts != nil {
		t := make(map[string]map[string]string, len(*fw.Texts))
		for lang, m := range *fw.Texts {
			t[lang] = cloneMap(m)
		}
		in.Texts = &t
	}
	if err := in.ValidateBrand(); err != nil {
		return fmt.Errorf("workspace: %s", message(err))
	}
	var u consentd.WorkspaceUpdate
	var d []string
	for _, f := range []struct {
		name string
		want *string
		cur  string
		dst  **string
	}{
		{"sender_name", in.SenderName, ws.SenderName, &u.SenderName},
		{"default_language", in.DefaultLanguage, ws.DefaultLanguage, &u.DefaultLanguage},
		{"accent_color", in.AccentColor, ws.AccentColor, &u.AccentColor},
		{"privacy_url", in.PrivacyURL, ws.PrivacyURL, &u.PrivacyURL},
		{"footer", in.Footer, ws.Footer, &u.Footer},
		{"public_url", in.PublicURL, ws.PublicURL, &u.PublicURL},
	} {
		if f.want != nil && *f.want != f.cur {
			d = append(d, fmt.Sprintf("%s: %s -> %s", f.name, show(f.cur), show(*f.want)))
			*f.dst = f.want
		}
	}
	if in.Texts != nil && !sameTexts(*in.Texts, ws.Texts) {
		d = append(d, fmt.Sprintf("texts: %s -> %s", show(ws.Texts), show(*in.Texts)))
		u.Texts = in.Texts
	}
	var logo []byte
	var logoType string
	if fw.LogoFile != "" {
		if o.ReadFile == nil {
			return fmt.Errorf("workspace: logo_file %s: files cannot be read here", fw.LogoFile)
		}
		if logo, err = o.ReadFile(fw.LogoFile); err != nil {
			return fmt.Errorf("workspace: logo_file: %w", err)
		}
		// The type is read from the bytes, not the name: a PNG, JPEG, GIF
		// or WebP file is recognized by its signature (SVG is not one).
		logoType = http.DetectContentType(logo)
		info, err := consentd.CheckLogo(logoType, logo)
		if err != nil {
			return fmt.Errorf("workspace: logo_file %s: %s", fw.LogoFile, consentd.ErrorMessage(err))
		}
		if fw.LogoSHA256 != "" && fw.LogoSHA256 != info.SHA256 {
			return fmt.Errorf("workspace: logo_file %s has SHA-256 %s, not the logo_sha256 %s the file gives", fw.LogoFile, info.SHA256, fw.LogoSHA256)
		}
		cur := ""
		if ws.Logo != nil {
			cur = ws.Logo.SHA256
		}
		if cur == info.SHA256 {
			logo = nil
		} else {
			d = append(d, fmt.Sprintf("logo: %s -> %s (%s, %dx%d)", show(cur), show(info.SHA256), logoType, info.Width, info.Height))
		}
	}
	if len(d) == 0 {
		plan.Unchanged++
		return nil
	}
	plan.Changes = append(plan.Changes, &Change{Kind: "workspace", ID: ws.Name, Op: Update, Diff: d,
		apply: func(ctx context.Context, st Store, wsID, actor string) error {
			if u != (consentd.WorkspaceUpdate{}) {
				if _, err := st.UpdateWorkspace(ctx, wsID, u, actor); err != nil {
					return err
				}
			}
			if logo != nil {
				if _, err := st.SetLogo(ctx, wsID, logoType, logo, actor); err != nil {
					return err
				}
			}
			return nil
		}})
	return nil
}

// sameTexts reports whether two sets of text overrides are the same, no
// overrides and an empty set alike.
func sameTexts(a, b map[string]map[string]string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
