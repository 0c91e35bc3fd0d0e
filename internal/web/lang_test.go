package web_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
	xhtml "golang.org/x/net/html"
)

// htmlLang is the lang and dir attributes of a page's <html>.
var htmlLang = regexp.MustCompile(`<html lang="([^"]*)" dir="([^"]*)">`)

func pageLang(t *testing.T, p page) (lang, dir string) {
	t.Helper()
	m := htmlLang.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no <html lang dir> in %d page:\n%s", p.status, p.body)
	}
	if got := p.header.Get("Content-Language"); got != m[1] {
		t.Errorf("Content-Language %q; the page says %q", got, m[1])
	}
	return m[1], m[2]
}

// TestLanguageChoice: the pages speak the language of the person's
// explicit choice, else the one recorded with their consents, else their
// browser's, else English (the workspace's default being unset); links
// and forms keep an explicit choice; pages without a workspace follow
// Accept-Language only.
func TestLanguageChoice(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		withParty(t, e)
		l := e.link("preferences", "jane@example.com", "")
		u := e.link("unsubscribe", "jane@example.com", "newsletter:email")

		// Accept-Language.
		p := e.do("GET", l.URL, "", "", "Accept-Language", "de-DE,de;q=0.9,en;q=0.5")
		if lang, dir := pageLang(t, p); lang != "de" || dir != "ltr" {
			t.Errorf("de-DE: lang %s dir %s; want de ltr", lang, dir)
		}
		body := html.UnescapeString(p.body)
		for _, want := range []string{"Ihre Kommunikationseinstellungen", "Nachrichten an j•••@example.com", "Auswahl speichern", `<input type="hidden" name="lang" value="de">`} {
			if !strings.Contains(body, want) {
				t.Errorf("German page has no %q", want)
			}
		}
		if strings.Contains(body, "?lang=de\"") && strings.Contains(body, "/record?lang") {
			t.Errorf("the record link carries a language the person did not choose")
		}
		if p := e.do("GET", u.URL, "", "", "Accept-Language", "de-DE"); !strings.Contains(html.UnescapeString(p.body), "Keine Nachrichten zu „Newsletter“ von alpha mehr per E-Mail an j•••@example.com erhalten?") {
			t.Errorf("German unsubscribe page:\n%s", p.body)
		}

		// The explicit choice wins over Accept-Language, and every link
		// and form keeps it.
		p = e.do("GET", l.URL+"?lang=fr", "", "", "Accept-Language", "de")
		if lang, _ := pageLang(t, p); lang != "fr" {
			t.Errorf("?lang=fr over de: lang %s", lang)
		}
		body = html.UnescapeString(p.body)
		for _, want := range []string{"Vos préférences de communication", `/record?lang=fr"`, `<input type="hidden" name="lang" value="fr">`,
			`<a href="?lang=de" lang="de" hreflang="de" dir="ltr">Deutsch</a>`, `lang="fr" hreflang="fr" dir="ltr" aria-current="true">Français</a>`,
			`lang="ar" hreflang="ar" dir="rtl">العربية</a>`} {
			if !strings.Contains(body, want) {
				t.Errorf("French page has no %q", want)
			}
		}
		rec := e.do("GET", l.URL+"/record?lang=fr", "", "", "Accept-Language", "de")
		if lang, _ := pageLang(t, rec); lang != "fr" || !strings.Contains(rec.body, `href="record.json?lang=fr"`) || !strings.Contains(rec.body, `?lang=fr">Retour à vos préférences`) {
			t.Errorf("French record page: lang %s\n%s", lang, rec.body)
		}
		// A language not shipped is no choice: the browser's counts.
		if lang, _ := pageLang(t, e.do("GET", l.URL+"?lang=xx", "", "", "Accept-Language", "es")); lang != "es" {
			t.Errorf("?lang=xx over es: %s", lang)
		}

		// Nothing matches: the workspace's default, here unset: English.
		if lang, _ := pageLang(t, e.do("GET", l.URL, "", "", "Accept-Language", "ja")); lang != "en" {
			t.Errorf("ja: %s; want en", lang)
		}
		// The workspace's default, and its text overrides.
		if st := e.call("PATCH", "/v1/workspace", `{"default_language":"fr","texts":{"fr":{"page.prefs.save":"Enregistrer"}}}`, nil); st != 200 {
			t.Fatalf("PATCH /v1/workspace = %d", st)
		}
		p = e.do("GET", l.URL, "", "", "Accept-Language", "ja")
		if lang, _ := pageLang(t, p); lang != "fr" || !strings.Contains(p.body, ">Enregistrer</button>") {
			t.Errorf("ja with default fr: %s\n%s", lang, p.body)
		}
		if lang, _ := pageLang(t, e.do("GET", l.URL, "", "")); lang != "fr" {
			t.Errorf("no Accept-Language, default fr: %s", lang)
		}

		// Arabic is written right to left.
		p = e.do("GET", u.URL, "", "", "Accept-Language", "ar")
		if lang, dir := pageLang(t, p); lang != "ar" || dir != "rtl" {
			t.Errorf("ar: lang %s dir %s", lang, dir)
		}

		// The party's language, when no consent records one.
		if st := e.call("PUT", "/v1/parties/p1", `{"language":"fr","contact_points":[{"kind":"email","value":"jane@example.com"},{"kind":"phone","value":"+1 415 555 0123"}]}`, nil); st != 200 {
			t.Fatalf("PUT party = %d", st)
		}
		// The party alone (no consent names it) gives the language: the
		// link's contact point belongs to it.
		if lang, _ := pageLang(t, e.do("GET", l.URL, "", "", "Accept-Language", "de")); lang != "fr" {
			t.Errorf("party language fr through its contact points only, browser de: %s", lang)
		}
		pw, _ := json.Marshal(consentd.ConsentWrite{ContactPoint: "jane@example.com", ChannelType: "newsletter:email", Status: consentd.OptedIn,
			CapturedAt: time.Now().Add(-2 * time.Minute), Source: consentd.Source{Type: "api"}, PartyID: "p1"})
		e.api201("/v1/consents", string(pw))
		if lang, _ := pageLang(t, e.do("GET", l.URL, "", "", "Accept-Language", "de")); lang != "fr" {
			t.Errorf("party language fr, browser de: %s", lang)
		}

		// The recorded language: a consent whose proof says "es" makes the
		// pages Spanish for an English browser.
		body2, _ := json.Marshal(consentd.ConsentWrite{ContactPoint: "jane@example.com", ChannelType: "partners:email", Status: consentd.OptedIn,
			CapturedAt: time.Now().Add(-time.Minute), Source: consentd.Source{Type: "form"}, Proof: &consentd.Proof{Language: "es"}})
		e.api201("/v1/consents", string(body2))
		for _, link := range []string{l.URL, u.URL, l.URL + "/record"} {
			if lang, _ := pageLang(t, e.do("GET", link, "", "", "Accept-Language", "en-US,en")); lang != "es" {
				t.Errorf("recorded es, browser en: %s says %s", link[strings.LastIndex(link, "/"):], lang)
			}
		}
		// The explicit choice still wins over the recorded one.
		if lang, _ := pageLang(t, e.do("GET", l.URL+"?lang=de", "", "", "Accept-Language", "en")); lang != "de" {
			t.Errorf("?lang=de over recorded es: %s", lang)
		}

		// Pages without a workspace: Accept-Language only.
		inv := e.do("GET", l.URL+"x?lang=fr", "", "", "Accept-Language", "es-MX")
		if lang, _ := pageLang(t, inv); lang != "es" || inv.status != 404 || !strings.Contains(inv.body, "Este enlace no funciona") {
			t.Errorf("invalid link, es-MX: %d %s", inv.status, lang)
		}
	})
}

// describedText is the proof's text of a preference-center row: the
// checkbox's label, and on a line of its own each text its
// aria-describedby names (the subscription's description), but notes.
func describedText(t *testing.T, body, key string) string {
	t.Helper()
	doc, err := xhtml.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	text := func(n *xhtml.Node) string {
		var b strings.Builder
		for c := range n.Descendants() {
			if c.Type == xhtml.TextNode {
				b.WriteString(c.Data)
			}
		}
		return strings.TrimSpace(b.String())
	}
	byID := map[string]*xhtml.Node{}
	labels := map[string]string{}
	var box map[string]string
	for n := range doc.Descendants() {
		if n.Type != xhtml.ElementNode {
			continue
		}
		a := map[string]string{}
		for _, at := range n.Attr {
			a[at.Key] = at.Val
		}
		if a["id"] != "" {
			byID[a["id"]] = n
		}
		if n.Data == "label" {
			labels[a["for"]] = text(n)
		}
		if n.Data == "input" && a["type"] == "checkbox" && a["value"] == key {
			box = a
		}
	}
	if box == nil {
		t.Fatalf("no checkbox %s", key)
	}
	out := labels[box["id"]]
	for _, id := range strings.Fields(box["aria-describedby"]) {
		if !strings.HasSuffix(id, "-note") && byID[id] != nil {
			out += "\n" + text(byID[id])
		}
	}
	return out
}

// TestProofOfWords: an opt-in on the German preference center records in
// its proof the page's language and the statement shown for that row,
// with its SHA-256; the record download shows them, and its receipt (which
// commits the proof) verifies. The unsubscribe page records its
// statement too.
func TestProofOfWords(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		withParty(t, e)
		l := e.link("preferences", "jane@example.com", "")
		p := e.do("GET", l.URL, "", "", "Accept-Language", "de-DE")
		if lang, _ := pageLang(t, p); lang != "de" {
			t.Fatalf("lang %s", lang)
		}
		const key = "1/newsletter:sms"
		want := describedText(t, p.body, key)
		if want != "alpha darf mir „Newsletter“ per Textnachricht an +14•••••••23 senden.\nNews about our products, once a month." {
			t.Errorf("the German statement of %s is %q", key, want)
		}
		f := parseHTMLForm(t, p.body)
		v := f.values("save")
		v.Add("on", key)
		v.Set("lang", "de")
		if got := e.do("POST", l.URL, "application/x-www-form-urlencoded", v.Encode(), "Origin", e.srv.URL, "Accept-Language", "de-DE"); got.status != 200 ||
			!strings.Contains(got.body, "Ihre Auswahl ist gespeichert.") {
			t.Fatalf("POST = %d\n%s", got.status, got.body)
		}
		c := e.consent("+14155550123", "newsletter:sms")
		if c == nil || c.Status != consentd.OptedIn || c.Proof == nil {
			t.Fatalf("consent = %+v", c)
		}
		sum := sha256.Sum256([]byte(want))
		if c.Proof.Language != "de" || c.Proof.Text != want || c.Proof.TextSHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("proof = language %q text %q sha %q; want de, %q, %x", c.Proof.Language, c.Proof.Text, c.Proof.TextSHA256, want, sum)
		}

		// The record: the page shows the language and the hash; the
		// download the text too, with a receipt that verifies.
		rec := html.UnescapeString(e.do("GET", l.URL+"/record", "", "", "Accept-Language", "de").body)
		for _, s := range []string{"Sprache, in der Sie gelesen haben", ">Deutsch</dd>", hex.EncodeToString(sum[:])} {
			if !strings.Contains(rec, s) {
				t.Errorf("record page has no %q", s)
			}
		}
		dl := e.do("GET", l.URL+"/record.json?lang=de", "", "")
		var file struct {
			Language      string `json:"language"`
			HowToVerify   string `json:"how_to_verify"`
			ContactPoints []struct {
				Consents []struct {
					ChannelType string          `json:"channel_type"`
					CapturedAt  time.Time       `json:"captured_at"`
					Language    string          `json:"language"`
					Text        string          `json:"text"`
					TextSHA256  string          `json:"text_sha256"`
					Receipt     json.RawMessage `json:"receipt"`
				} `json:"consents"`
			} `json:"contact_points"`
		}
		if err := json.Unmarshal([]byte(dl.body), &file); err != nil {
			t.Fatalf("record.json: %v\n%s", err, dl.body)
		}
		if file.Language != "de" || !strings.Contains(file.HowToVerify, "consentd receipt verify") {
			t.Errorf("record.json language %q, how_to_verify %q", file.Language, file.HowToVerify)
		}
		found := false
		for _, cp := range file.ContactPoints {
			for _, fc := range cp.Consents {
				if fc.ChannelType != "newsletter:sms" {
					continue
				}
				found = true
				if fc.Language != "de" || fc.Text != want || fc.TextSHA256 != hex.EncodeToString(sum[:]) {
					t.Errorf("record.json consent: %q %q %q", fc.Language, fc.Text, fc.TextSHA256)
				}
				var rc ledger.Receipt
				if err := json.Unmarshal(fc.Receipt, &rc); err != nil || ledger.VerifyReceipt(&rc, e.signer.PublicKeyRing()) != nil {
					t.Errorf("the receipt does not verify: %v", err)
				}
				// The receipt's evidence, which its leaf commits to (checked
				// by VerifyReceipt), holds the proof with the text's hash.
				if !strings.Contains(string(rc.Evidence), hex.EncodeToString(sum[:])) || len(rc.Opening) == 0 {
					t.Errorf("the receipt's evidence does not carry the proof: %s", rc.Evidence)
				}
			}
		}
		if !found {
			t.Errorf("record.json has no newsletter:sms")
		}

		// The unsubscribe page, in French: its statement is the proof's text.
		u := e.link("unsubscribe", "jane@example.com", "newsletter:email")
		up := e.do("GET", u.URL+"?lang=fr", "", "")
		stmt := "Ne plus recevoir les messages « Newsletter » de alpha par e-mail à l’adresse j•••@example.com ?"
		if !strings.Contains(html.UnescapeString(up.body), stmt) {
			t.Fatalf("French unsubscribe page has no %q:\n%s", stmt, up.body)
		}
		form := url.Values{"List-Unsubscribe": {"One-Click"}, "lang": {"fr"}}
		if got := e.do("POST", u.URL, "application/x-www-form-urlencoded", form.Encode()); got.status != 200 || !strings.Contains(got.body, `lang="fr"`) {
			t.Fatalf("POST /u = %d", got.status)
		}
		c = e.consent("jane@example.com", "newsletter:email")
		sum = sha256.Sum256([]byte(stmt))
		if c == nil || c.Status != consentd.OptedOut || c.Proof == nil || c.Proof.Language != "fr" || c.Proof.Text != stmt || c.Proof.TextSHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("unsubscribe proof = %+v", c.Proof)
		}

		// A GPC opt-out records the notice the page shows, in Spanish.
		gp := e.do("GET", l.URL+"?lang=es", "", "", "Sec-GPC", "1")
		notice := "Su navegador ha enviado una señal Global Privacy Control. La hemos registrado como una solicitud de no vender ni compartir sus datos personales y hemos desactivado: Partner offers."
		if !strings.Contains(html.UnescapeString(gp.body), notice) {
			t.Fatalf("the Spanish GPC page has no %q:\n%s", notice, gp.body)
		}
		if c := e.consent("jane@example.com", "partners:email"); c == nil || c.Source.Type != consentd.SourceGPC || c.Proof == nil || c.Proof.Language != "es" || c.Proof.Text != notice {
			t.Errorf("GPC consent = %+v", c)
		}

		// Unsubscribe from all records the paragraph that says what it does.
		ap := e.do("GET", l.URL+"?lang=ar", "", "")
		all := "إيقاف كل الرسائل من \u2068alpha\u2069 المذكورة أعلاه التي يمكنك إيقافها، وحظر الرسائل التسويقية إلى هذه العناوين، بما في ذلك ما يُضاف لاحقًا."
		if !strings.Contains(html.UnescapeString(ap.body), all) {
			t.Fatalf("the Arabic page has no %q", all)
		}
		av := parseHTMLForm(t, ap.body).values("unsubscribe_all")
		av.Set("lang", "ar")
		if got := e.do("POST", l.URL, "application/x-www-form-urlencoded", av.Encode(), "Origin", e.srv.URL); got.status != 200 {
			t.Fatalf("unsubscribe from all = %d", got.status)
		}
		if c := e.consent("+14155550123", "newsletter:sms"); c == nil || c.Status != consentd.OptedOut || c.Proof == nil || c.Proof.Language != "ar" || c.Proof.Text != all {
			t.Errorf("unsubscribe-from-all consent = %+v", c)
		}
	})
}
