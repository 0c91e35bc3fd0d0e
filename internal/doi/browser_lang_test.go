package doi_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/consentd/consentd/internal/browsertest"
	"github.com/consentd/consentd/internal/i18n"
)

// TestBrowserConfirmLanguages opens the confirmation page of a branded
// workspace in each shipped language (the language of the signup, in the
// pending consent's proof), with its logo, at 390 and 1280 px, confirms, and shows the
// result page at both widths: each screen checked by axe-core, none
// scrolling sideways, Arabic right to left.
func TestBrowserConfirmLanguages(t *testing.T) {
	b := browsertest.New(t)
	e := newEnv(t, "")
	e.brandWorkspace("")
	if _, err := e.db.SetLogo(e.ctx, e.ws, "image/png", testPNG(t), "admin"); err != nil {
		t.Fatal(err)
	}
	headings := map[string]string{}
	done := map[string]string{}
	for _, lang := range i18n.Supported {
		headings[lang], _ = i18n.Text(lang, "confirm.heading")
		done[lang], _ = i18n.Text(lang, "confirm.done.heading")
	}
	phone := chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile)
	desk := chromedp.EmulateViewport(1280, 900)
	for i, lang := range i18n.Supported {
		cp := fmt.Sprintf("person%d.%s@example.com", i, lang)
		e.optInLang(cp, lang, time.Now().Add(-time.Minute))
		if n, err := e.sendDue(); n != 1 || err != nil {
			t.Fatalf("%s: sendDue() = %d, %v", lang, n, err)
		}
		msgs := e.smtp.Messages()
		_, text, _ := parseParts(t, msgs[len(msgs)-1].Data)
		link := linkRE.FindString(text)

		b.Do(phone, chromedp.Navigate(link))
		b.WaitText(headings[lang])
		if got := browsertest.Eval[string](b, "document.documentElement.lang"); got != lang {
			t.Errorf("%s: <html lang=%q>", lang, got)
		}
		wantDir := "ltr"
		if lang == "ar" {
			wantDir = "rtl"
		}
		if got := browsertest.Eval[string](b, "getComputedStyle(document.querySelector('main')).direction"); got != wantDir {
			t.Errorf("%s: the page's computed direction is %s; want %s", lang, got, wantDir)
		}
		// The logo, served by consentd and allowed by the page's CSP, loaded.
		if w := browsertest.Eval[float64](b, "document.querySelector('header img.logo').naturalWidth"); w != 40 {
			t.Errorf("%s: the logo's natural width is %v; want 40 (the uploaded image)", lang, w)
		}
		if h := browsertest.Eval[float64](b, "document.querySelector('button[type=submit]').getBoundingClientRect().height"); h < 44 {
			t.Errorf("%s: the Confirm button is %vpx high; want at least 44", lang, h)
		}
		b.FitsWidth()
		b.Shot(lang + "-1-confirm-390")
		b.Do(desk)
		b.FitsWidth()
		b.Shot(lang + "-2-confirm-1280")

		b.Do(phone)
		b.Do(chromedp.Click(chromedp.CSS("button[type=submit]")))
		b.WaitText(done[lang])
		if got := browsertest.Eval[string](b, "getComputedStyle(document.querySelector('main')).direction"); got != wantDir {
			t.Errorf("%s: the result page's computed direction is %s; want %s", lang, got, wantDir)
		}
		b.FitsWidth()
		b.Shot(lang + "-3-confirmed-390")
		b.Do(desk)
		b.FitsWidth()
		b.Shot(lang + "-4-confirmed-1280")

		if c := e.consent(cp); c.Proof == nil || c.Proof.Language != lang || !strings.Contains(c.Proof.Text, "\n") {
			t.Errorf("%s: the opt-in's proof %+v; want language %s and the statement", lang, c.Proof, lang)
		}
	}
}
