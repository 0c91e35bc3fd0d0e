package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/browsertest"
	"github.com/consentd/consentd/internal/i18n"
)

// The brand the browser tests apply: a sender with a non-ASCII name, an
// accent colour, a privacy policy, a footer, and a German name and
// description of the newsletter.
const (
	brandSender  = "Ünïcorn Bücher GmbH"
	brandAccent  = "#0b5394"
	brandPrivacy = "https://example.com/privacy"
	brandFooter  = "Ünïcorn Bücher GmbH · Hauptstraße 1 · 10115 Berlin · HRB 12345"
	newsletterDE = "Neuigkeiten"
)

// brandedStore is the env's real store, with a brand put on the workspace
// it reads and German names on the newsletter.
type brandedStore struct {
	envDB
}

func (b brandedStore) Workspace(ctx context.Context, id string) (*consentd.Workspace, error) {
	w, err := b.envDB.Workspace(ctx, id)
	if err != nil {
		return nil, err
	}
	w.SenderName, w.AccentColor, w.PrivacyURL, w.Footer = brandSender, brandAccent, brandPrivacy, brandFooter
	return w, nil
}

func (b brandedStore) Catalog(ctx context.Context, id string) (*consentd.Catalog, error) {
	c, err := b.envDB.Catalog(ctx, id)
	if err != nil {
		return nil, err
	}
	if p := c.Purposes["newsletter"]; p != nil {
		p.Names = map[string]string{"de": newsletterDE}
		p.Descriptions = map[string]string{"de": "Neues über unsere Produkte, einmal im Monat."}
	}
	return c, nil
}

// withBrand applies the brand to e's workspace.
func withBrand(t *testing.T, e *env) {
	t.Helper()
	e.pages.DB = brandedStore{e.db}
}

// TestBrowserLanguages: in every shipped language, with the brand
// applied, the unsubscribe page and its answer, the preference center
// (a purpose with a topic, a suppression notice), the record and the
// invalid-link page, on a phone and a desktop screen: screenshots, no
// serious or critical axe-core violation (contrast included), no
// sideways scrolling, the page's language and direction (Arabic right to
// left, as Chromium computes it), the brand's name, accent, privacy link
// and footer. The German run also sends Global Privacy Control.
func TestBrowserLanguages(t *testing.T) {
	b := browsertest.New(t)
	e := newEnv(t)
	withBrand(t, e)
	if _, err := chromedp.Call(b.Ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	headers := func(h network.Headers) {
		t.Helper()
		if _, err := chromedp.Call(b.Ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: h}); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	for _, lang := range i18n.Supported {
		L := i18n.Get(lang)
		addr := lang + "@example.com"
		e.write(addr, "newsletter:email", consentd.OptedIn, time.Now().Add(-48*time.Hour))
		e.write(addr, "weekly:email", consentd.OptedOut, time.Now().Add(-47*time.Hour))
		if _, err := e.db.AddSuppression(ctx, e.ws, consentd.SuppressionInput{ContactPoint: addr, Kind: consentd.KindEmail, Channel: "email",
			Reason: consentd.SuppressComplaint}, "test"); err != nil {
			t.Fatal(err)
		}
		u := e.link("unsubscribe", addr, "newsletter:email")
		p := e.link("preferences", addr, "")
		h := network.Headers{"Accept-Language": lang}
		if lang == "de" {
			h["Sec-GPC"] = "1"
		}
		headers(h)
		name := "Newsletter"
		if lang == "de" {
			name = newsletterDE
		}
		check := func(shot string) {
			t.Helper()
			if got := browsertest.Eval[string](b, "document.documentElement.lang"); got != lang {
				t.Errorf("%s: lang %q", shot, got)
			}
			if got, want := browsertest.Eval[string](b, "getComputedStyle(document.body).direction"), L.Dir; got != want {
				t.Errorf("%s: the body's direction is %s; want %s", shot, got, want)
			}
			b.FitsWidth()
			b.Shot(shot)
		}
		branded := func(shot string) {
			t.Helper()
			text := browsertest.Eval[string](b, "document.body.innerText")
			for _, want := range []string{brandSender, brandFooter, L.T("page.privacy")} {
				if !strings.Contains(text, want) {
					t.Errorf("%s has no %q", shot, want)
				}
			}
			if got := browsertest.Eval[string](b, "getComputedStyle(document.querySelector('main a, button')).color + ' ' + getComputedStyle(document.querySelector('button') || document.body).backgroundColor"); !strings.Contains(got, "rgb(11, 83, 148)") {
				t.Errorf("%s: the accent colour is not on its buttons and links: %s", shot, got)
			}
		}
		for _, width := range []int{390, 1280} {
			if width == 1280 {
				b.Do(chromedp.EmulateViewport(1280, 900))
			} else {
				b.Do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
			}
			shot := func(n int, page string) string { return fmt.Sprintf("%s-%d-%s-%d", lang, n, page, width) }

			b.Do(chromedp.Navigate(u.URL))
			b.WaitText(L.T("page.unsubscribe.heading"))
			branded(shot(1, "unsubscribe"))
			check(shot(1, "unsubscribe"))
			b.Do(chromedp.Click(chromedp.CSS("button[type=submit]")))
			b.WaitText(L.T("page.unsubscribed.title"))
			check(shot(2, "unsubscribed"))

			b.Do(chromedp.Navigate(p.URL))
			b.WaitText(L.T("page.prefs.save"))
			b.WaitText(name)
			b.WaitText(L.T("page.why.complaint"))
			if lang == "de" {
				b.WaitText("Global-Privacy-Control-Signal")
			}
			branded(shot(3, "preferences"))
			check(shot(3, "preferences"))

			b.Do(chromedp.Click(chromedp.CSS(`a[href*="/record"]`)))
			b.WaitText(L.T("page.record.title"))
			check(shot(4, "record"))

			b.Do(chromedp.Navigate(p.URL + "x"))
			b.WaitText(L.T("page.invalid.title"))
			check(shot(5, "invalid"))
		}
		headers(network.Headers{})
	}
}
