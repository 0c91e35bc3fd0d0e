package api_test

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/mail"
	"github.com/consentd/consentd/internal/mail/mailtest"
)

// TestPreferenceLinkMailLanguage: the preference link mail is in the
// address's recorded language (here Spanish, from its consent's proof),
// from the workspace's sender name, multipart/alternative with the brand's
// accent colour, and links to the workspace's own public URL; an address
// with no recorded language gets the workspace's default (German).
func TestPreferenceLinkMailLanguage(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		write := e.a.key(consentd.RoleWrite)
		relay := mailtest.Start(t, "", "")
		sender, err := mail.Open(relay.URL(), "")
		if err != nil {
			t.Fatal(err)
		}
		e.startRunnerWith(sender, nil)
		name, lang, accent, public := "Beispiel GmbH", "de", "#6a1b9a", "https://consent.beispiel.example/"
		if _, err := e.store.UpdateWorkspace(t.Context(), e.a.id, consentd.WorkspaceUpdate{SenderName: &name, DefaultLanguage: &lang,
			AccentColor: &accent, PublicURL: &public}, "admin"); err != nil {
			t.Fatal(err)
		}
		e.must("POST", "/v1/purposes", e.a.key(consentd.RoleAdmin), map[string]any{"id": "news", "name": "News", "type": "commercial",
			"channels": map[string]any{"email": map[string]any{}}}, 201)
		e.must("POST", "/v1/consents", write, map[string]any{"contact_point": "ana@example.com", "channel": "email", "purpose": "news",
			"status": "opted_in", "captured_at": time.Now().Add(-time.Hour), "source": map[string]any{"type": "form", "name": "signup"},
			"proof": map[string]any{"language": "es"}}, 201)
		for i, c := range []struct{ cp, lang, subject, words string }{
			{"ana@example.com", "es", "Sus preferencias en Beispiel GmbH", "Este es el enlace a sus preferencias"},
			{"max@example.com", "de", "Ihre Einstellungen bei Beispiel GmbH", "Hier ist der Link zu Ihren Einstellungen"},
		} {
			e.must("POST", "/v1/links:send", write, map[string]any{"contact_point": c.cp}, 202)
			msgs := relay.Wait(t, i+1, 10*time.Second)
			m, err := netmail.ReadMessage(bytes.NewReader(msgs[i].Data))
			if err != nil {
				t.Fatal(err)
			}
			subject, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
			from, _ := m.Header.AddressList("From")
			if subject != c.subject || m.Header.Get("Content-Language") != c.lang || len(from) != 1 || from[0].Name != "Beispiel GmbH" {
				t.Errorf("%s: Subject %q, Content-Language %q, From %v; want %q, %s, Beispiel GmbH", c.cp, subject, m.Header.Get("Content-Language"), from, c.subject, c.lang)
			}
			mt, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
			if mt != "multipart/alternative" {
				t.Fatalf("%s: Content-Type %s; want multipart/alternative", c.cp, mt)
			}
			parts := map[string]string{}
			r := multipart.NewReader(m.Body, params["boundary"])
			for {
				p, err := r.NextPart()
				if err != nil {
					break
				}
				b, _ := io.ReadAll(p)
				ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
				parts[ct] = string(b)
			}
			for _, ct := range []string{"text/plain", "text/html"} {
				if !strings.Contains(parts[ct], c.words) || !strings.Contains(parts[ct], "https://consent.beispiel.example/p/") {
					t.Errorf("%s: the %s part lacks %q or the link at the workspace's public URL:\n%s", c.cp, ct, c.words, parts[ct])
				}
			}
			if !strings.Contains(parts["text/html"], "background:#6a1b9a") {
				t.Errorf("%s: the HTML part lacks the accent colour", c.cp)
			}
		}
	})
}
