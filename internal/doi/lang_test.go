package doi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"html"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/doi"
)

// brandWorkspace gives e's workspace the brand of "Beispiel GmbH" (sender
// name, accent colour, privacy policy, footer), with default language
// defaultLang, and German, French, Spanish and Arabic names and
// descriptions for the purpose news.
func (e *env) brandWorkspace(defaultLang string) {
	e.t.Helper()
	sender, accent, privacy, footer := "Beispiel GmbH", "#6a1b9a", "https://beispiel.example/datenschutz", "Beispiel GmbH, Hauptstraße 1, 10115 Berlin"
	if _, err := e.db.UpdateWorkspace(e.ctx, e.ws, consentd.WorkspaceUpdate{SenderName: &sender, AccentColor: &accent,
		PrivacyURL: &privacy, Footer: &footer, DefaultLanguage: &defaultLang}, "admin"); err != nil {
		e.t.Fatal(err)
	}
	cat, err := e.db.Catalog(e.ctx, e.ws)
	if err != nil {
		e.t.Fatal(err)
	}
	p := *cat.Purposes["news"]
	p.Names = map[string]string{"de": "Produktneuigkeiten", "fr": "Nouveautés produits", "es": "Novedades de productos", "ar": "أخبار المنتجات"}
	p.Descriptions = map[string]string{"de": "Was es Neues in unseren Produkten gibt, zweimal im Monat.",
		"fr": "Les nouveautés de nos produits, deux fois par mois.", "es": "Las novedades de nuestros productos, dos veces al mes.",
		"ar": "الجديد في منتجاتنا، مرتين في الشهر."}
	if err := e.db.PutPurpose(e.ctx, e.ws, &p, false, "admin"); err != nil {
		e.t.Fatal(err)
	}
}

// optInLang is optIn with the language of the signup page in the proof.
func (e *env) optInLang(cp, lang string, at time.Time) map[string]any {
	e.t.Helper()
	proof := map[string]any{"ip": "203.0.113.7", "user_agent": "SignupForm/1.0", "form_version": "signup-v3"}
	if lang != "" {
		proof["language"] = lang
	}
	b, _ := json.Marshal(map[string]any{"contact_point": cp, "channel": "email", "purpose": "news", "status": "opted_in",
		"captured_at": at, "jurisdiction": "DE", "source": map[string]any{"type": "form", "name": "signup"}, "proof": proof})
	return e.api("POST", "/v1/consents", string(b), 201)
}

var statementRE = regexp.MustCompile(`<p class="statement">([^<]*)</p>`)

// TestGermanConfirmationOverSMTP: a pending consent asked for on a German
// page gets a German confirmation mail, received by a real SMTP server: a
// multipart/alternative of text and HTML, from the sender's name, with the
// German purpose name and description and the brand's accent colour; its
// link opens the German page, and confirming there records the language
// and the statement the page showed in the opt-in's proof.
func TestGermanConfirmationOverSMTP(t *testing.T) {
	e := newEnv(t, "")
	e.brandWorkspace("")
	logo := testPNG(t)
	if _, err := e.db.SetLogo(e.ctx, e.ws, "image/png", logo, "admin"); err != nil {
		t.Fatal(err)
	}
	e.run()
	const cp = "erika.mustermann@example.com"
	e.optInLang(cp, "de", time.Now().Add(-time.Minute))
	got := e.smtp.Wait(t, 1, 10*time.Second)
	parsed := parseMessage(t, got[0].Data)
	h, text, htmlPart := parsed.header, parsed.text, parsed.html
	// The logo is carried in the mail, shown by cid:, never fetched.
	if len(parsed.images) != 1 {
		t.Errorf("the mail has %d inline images; want the logo", len(parsed.images))
	}
	for cid, img := range parsed.images {
		if img.contentType != "image/png" || !bytes.Equal(img.data, logo) || !strings.Contains(htmlPart, `src="cid:`+cid+`" alt="Logo von Beispiel GmbH"`) {
			t.Errorf("inline image %s (%s, %d bytes) is not the logo the HTML shows:\n%s", cid, img.contentType, len(img.data), htmlPart)
		}
	}
	if strings.Contains(htmlPart, "/brand/") || strings.Contains(htmlPart, "<img src=\"http") {
		t.Errorf("the HTML part hotlinks an image:\n%s", htmlPart)
	}
	if mt, _, _ := mime.ParseMediaType(h.Get("Content-Type")); mt != "multipart/alternative" {
		t.Errorf("Content-Type %q; want multipart/alternative", h.Get("Content-Type"))
	}
	if h.Get("Content-Language") != "de" {
		t.Errorf("Content-Language %q; want de", h.Get("Content-Language"))
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil || subject != "Bitte bestätigen Sie Ihr Abonnement: Produktneuigkeiten" {
		t.Errorf("Subject = %q, %v", subject, err)
	}
	if from, err := h.AddressList("From"); err != nil || len(from) != 1 || from[0].Name != "Beispiel GmbH" || from[0].Address != "consent@example.org" {
		t.Errorf("From = %v, %v; want \"Beispiel GmbH\" <consent@example.org>", from, err)
	}
	for name, body := range map[string]string{"text": text, "html": html.UnescapeString(htmlPart)} {
		for _, want := range []string{"Guten Tag", "Bitte bestätigen Sie", "Produktneuigkeiten", "Was es Neues in unseren Produkten gibt, zweimal im Monat.",
			"Beispiel GmbH", "per E-Mail", cp, "Sie können sich jederzeit abmelden.", "ignorieren Sie diese Nachricht",
			"Beispiel GmbH, Hauptstraße 1, 10115 Berlin", "https://beispiel.example/datenschutz", "Dezember"} {
			if !strings.Contains(body, want) {
				t.Errorf("the %s part does not say %q:\n%s", name, want, body)
			}
		}
		if strings.Contains(body, "Product News") || strings.Contains(body, "Please confirm") {
			t.Errorf("the %s part has English words:\n%s", name, body)
		}
	}
	if !strings.Contains(htmlPart, "background:#6a1b9a") || !strings.Contains(htmlPart, `<html lang="de" dir="ltr">`) {
		t.Errorf("the HTML part lacks the accent colour on its button or its language:\n%s", htmlPart)
	}
	link := linkRE.FindString(text)
	if !strings.Contains(htmlPart, `href="`+html.EscapeString(link)+`"`) {
		t.Errorf("the HTML part does not link to %s", link)
	}

	// The link opens the German page. Its statement is what the proof
	// records.
	status, page := e.visit("GET", link)
	shown := page
	if status != 200 || !strings.Contains(page, `<html lang="de" dir="ltr">`) || !strings.Contains(page, "Bestätigen Sie Ihr Abonnement") ||
		!strings.Contains(page, "Produktneuigkeiten") || !strings.Contains(page, ">Bestätigen</button>") {
		t.Fatalf("GET link = %d; want the German confirmation page:\n%s", status, page)
	}
	if !strings.Contains(page, "background:#6a1b9a") || !strings.Contains(page, "Datenschutzerklärung") || !strings.Contains(page, "Beispiel GmbH") {
		t.Errorf("the page lacks the brand (accent colour, privacy link, sender):\n%s", page)
	}
	if !strings.Contains(page, `<img class="logo" src="/brand/`+e.ws+`/logo/`) || !strings.Contains(page, `alt="Logo von Beispiel GmbH"`) {
		t.Errorf("the page does not show the logo consentd serves:\n%s", page)
	}
	m := statementRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the page has no statement:\n%s", page)
	}
	sentence := html.UnescapeString(m[1])
	wantText := sentence + "\nWas es Neues in unseren Produkten gibt, zweimal im Monat."
	if !strings.HasPrefix(sentence, "Beispiel GmbH bittet Sie zu bestätigen, dass Sie Produktneuigkeiten per E-Mail an e***@e***.com erhalten möchten") {
		t.Errorf("statement %q", sentence)
	}

	status, page = e.visitForm(link, url.Values{"lang": {"de"}})
	if status != 200 || !strings.Contains(page, "Vielen Dank: Ihr Abonnement ist bestätigt") || !strings.Contains(page, `lang="de"`) {
		t.Fatalf("POST link = %d; want the German confirmed page:\n%s", status, page)
	}
	c := e.consent(cp)
	if c.Status != consentd.OptedIn || c.Proof == nil {
		t.Fatalf("after confirming: %s, proof %+v", c.Status, c.Proof)
	}
	sum := sha256.Sum256([]byte(c.Proof.Text))
	if c.Proof.Language != "de" || c.Proof.Text != wantText || c.Proof.TextSHA256 != hex.EncodeToString(sum[:]) || c.Proof.ConfirmedAt == nil {
		t.Errorf("proof language %q text %q sha256 %q confirmed_at %v; want de, %q and its SHA-256", c.Proof.Language, c.Proof.Text, c.Proof.TextSHA256, c.Proof.ConfirmedAt, wantText)
	}
	// Every line of the recorded text is on the page the person saw.
	for _, line := range strings.Split(c.Proof.Text, "\n") {
		if !strings.Contains(html.UnescapeString(shown), line) {
			t.Errorf("the recorded line %q is not on the page", line)
		}
	}
}

// testPNG is a small logo: 40 × 20 px of the accent colour.
func testPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 40, 20))
	for y := 0; y < 20; y++ {
		for x := 0; x < 40; x++ {
			img.Set(x, y, color.RGBA{0x6a, 0x1b, 0x9a, 0xff})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// visitForm posts form to link as the page's form does.
func (e *env) visitForm(link string, form url.Values) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", link, strings.NewReader(form.Encode()))
	req.Header.Set("User-Agent", "PhoneBrowser/9.1")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestMailLanguage: the confirmation mail's language is the request's
// (proof.language), else the person's recorded language (their other
// consents, their party), else the workspace's default, else English.
func TestMailLanguage(t *testing.T) {
	for _, c := range []struct {
		name        string
		request     string // proof.language of the opt-in asking
		earlier     string // proof.language of an earlier consent of the address
		party       string // the party's language
		wsDefault   string
		wantLang    string
		wantSubject string
	}{
		{"request", "fr", "de", "es", "es", "fr", "Veuillez confirmer votre abonnement\u00a0: Nouveautés produits"},
		{"recorded consent", "", "es", "", "de", "es", "Confirme su suscripción: Novedades de productos"},
		{"party", "", "", "ar", "de", "ar", "يُرجى تأكيد اشتراكك: أخبار المنتجات"},
		{"workspace default", "", "", "", "de", "de", "Bitte bestätigen Sie Ihr Abonnement: Produktneuigkeiten"},
		{"unshipped request, default", "ja", "", "", "de", "de", "Bitte bestätigen Sie Ihr Abonnement: Produktneuigkeiten"},
		{"regional request", "de-AT", "", "", "", "de", "Bitte bestätigen Sie Ihr Abonnement: Produktneuigkeiten"},
		{"English fallback", "", "", "", "", "en", "Please confirm your subscription to Product News"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, "")
			e.brandWorkspace(c.wsDefault)
			const cp = "kim@example.com"
			if c.party != "" {
				if err := e.db.PutParty(e.ctx, e.ws, &consentd.Party{ID: "kim", Language: c.party}, "admin"); err != nil {
					t.Fatal(err)
				}
			}
			// An earlier consent of the address, on another purpose.
			e.api("POST", "/v1/purposes", `{"id":"service","name":"Service","type":"transactional","channels":{"email":{}}}`, 201)
			proof := map[string]any{}
			if c.earlier != "" {
				proof["language"] = c.earlier
			}
			b, _ := json.Marshal(map[string]any{"contact_point": cp, "channel": "email", "purpose": "service", "status": "opted_in",
				"captured_at": time.Now().Add(-time.Hour), "source": map[string]any{"type": "form", "name": "signup"}, "party_id": "kim", "proof": proof})
			e.api("POST", "/v1/consents", string(b), 201)
			b, _ = json.Marshal(map[string]any{"contact_point": cp, "channel": "email", "purpose": "news", "status": "opted_in",
				"captured_at": time.Now().Add(-time.Minute), "jurisdiction": "DE", "source": map[string]any{"type": "form", "name": "signup"},
				"party_id": "kim", "proof": map[string]any{"language": c.request}})
			e.api("POST", "/v1/consents", string(b), 201)
			if n, err := e.sendDue(); n != 1 || err != nil {
				t.Fatalf("sendDue() = %d, %v", n, err)
			}
			h, _, _ := parseParts(t, e.smtp.Messages()[0].Data)
			subject, _ := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
			if h.Get("Content-Language") != c.wantLang || subject != c.wantSubject {
				t.Errorf("Content-Language %q, Subject %q; want %s, %q", h.Get("Content-Language"), subject, c.wantLang, c.wantSubject)
			}
			f := confirmationOf(t, e, cp)
			if got := doi.Language(e.ctx, e.db, mustWorkspace(t, e), f, "", ""); got != c.wantLang {
				t.Errorf("Language() = %s; want %s", got, c.wantLang)
			}
			// The page: an explicit ?lang= wins; the browser's language
			// only when nothing is recorded.
			if got := doi.Language(e.ctx, e.db, mustWorkspace(t, e), f, "es", "fr"); got != "es" {
				t.Errorf("Language(explicit es) = %s", got)
			}
			want := c.wantLang
			if c.request == "" && c.earlier == "" && c.party == "" {
				want = "fr"
			}
			if c.request == "ja" {
				want = "fr" // an unshipped request names no language
			}
			if got := doi.Language(e.ctx, e.db, mustWorkspace(t, e), f, "", "fr-CH,fr;q=0.9"); got != want {
				t.Errorf("Language(Accept-Language fr) = %s; want %s", got, want)
			}
		})
	}
}

func mustWorkspace(t *testing.T, e *env) *consentd.Workspace {
	t.Helper()
	ws, err := e.db.Workspace(e.ctx, e.ws)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// confirmationOf is the confirmation the mail to cp links to.
func confirmationOf(t *testing.T, e *env, cp string) *consentd.Confirmation {
	t.Helper()
	for _, m := range e.smtp.Messages() {
		_, text, _ := parseParts(t, m.Data)
		if l := linkRE.FindString(text); l != "" && strings.Contains(strings.Join(m.To, ","), cp) {
			f, err := e.db.Confirmation(e.ctx, e.ws, e.claims(l).Nonce)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no mail to %s", cp)
	return nil
}

// TestSMSConfirmationInGerman: the double opt-in text of a number asked
// for on a German page is German, names the German purpose name, and
// links to the workspace's own public URL.
func TestSMSConfirmationInGerman(t *testing.T) {
	e := newEnv(t, "")
	e.brandWorkspace("")
	public, sender := "https://consent.beispiel.example", "Beispiel"
	if _, err := e.db.UpdateWorkspace(e.ctx, e.ws, consentd.WorkspaceUpdate{PublicURL: &public, SMSSenderName: &sender}, "admin"); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"contact_point": "+49 151 12345678", "channel": "sms", "purpose": "news", "status": "opted_in",
		"captured_at": time.Now().Add(-time.Minute), "jurisdiction": "DE", "source": map[string]any{"type": "form", "name": "signup"},
		"proof": map[string]any{"language": "de"}})
	e.api("POST", "/v1/consents", string(b), 201)
	js, _, err := e.db.Jobs(e.ctx, e.ws, consentd.JobFilter{Limit: 10})
	if err != nil || len(js) != 1 || js[0].Kind != consentd.JobKindConfirmationSMS {
		t.Fatalf("jobs = %+v, %v; want the confirmation_sms job", js, err)
	}
	f, err := e.db.Confirmation(e.ctx, e.ws, js[0].Ref)
	if err != nil {
		t.Fatal(err)
	}
	x := &doi.Texter{DB: e.db, Links: e.links, PublicURL: e.srv.URL}
	text, err := x.Body(e.ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(text, "Beispiel: Bitte bestätigen Sie SMS zu Produktneuigkeiten: https://consent.beispiel.example/c/") ||
		!strings.HasSuffix(text, " Antworten Sie STOP zum Abmelden.") {
		t.Errorf("Body() = %q; want the German text with the link at the workspace's public URL", text)
	}
}

// TestPageLanguageChoice: ?lang= on the page wins over the recorded
// language and is kept by its form, so that the confirmation records the
// language the person read; a page that names no confirmation follows
// Accept-Language.
func TestPageLanguageChoice(t *testing.T) {
	e := newEnv(t, "")
	e.brandWorkspace("")
	const cp = "jean@example.com"
	e.optInLang(cp, "de", time.Now().Add(-time.Minute))
	if n, err := e.sendDue(); n != 1 || err != nil {
		t.Fatalf("sendDue() = %d, %v", n, err)
	}
	_, text, _ := parseParts(t, e.smtp.Messages()[0].Data)
	link := linkRE.FindString(text)
	// The browser's language does not override the recorded one.
	if _, page := e.visit("GET", link, "Accept-Language", "es"); !strings.Contains(page, `<html lang="de"`) {
		t.Errorf("GET with Accept-Language es: want the recorded German page:\n%s", page)
	}
	_, page := e.visit("GET", link+"?lang=fr")
	if !strings.Contains(page, `<html lang="fr" dir="ltr">`) || !strings.Contains(page, `<input type="hidden" name="lang" value="fr">`) ||
		!strings.Contains(page, "Nouveautés produits") {
		t.Fatalf("GET ?lang=fr: want the French page keeping fr in its form:\n%s", page)
	}
	sentence := html.UnescapeString(statementRE.FindStringSubmatch(page)[1])
	if status, page := e.visitForm(link, url.Values{"lang": {"fr"}}); status != 200 || !strings.Contains(page, "Merci\u00a0: votre abonnement est confirmé") {
		t.Fatalf("POST lang=fr = %d:\n%s", status, page)
	}
	if c := e.consent(cp); c.Proof.Language != "fr" || !strings.HasPrefix(c.Proof.Text, sentence+"\n") {
		t.Errorf("proof language %q text %q; want fr and %q", c.Proof.Language, c.Proof.Text, sentence)
	}
	// An invalid link: the browser's language.
	status, page := e.visit("GET", e.srv.URL+"/c/not-a-token", "Accept-Language", "ar,en;q=0.5")
	if status != 404 || !strings.Contains(page, `<html lang="ar" dir="rtl">`) || !strings.Contains(page, "هذا الرابط غير صالح") {
		t.Errorf("invalid link with Accept-Language ar = %d:\n%s", status, page)
	}
}
