package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
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

// logoPNG is a small logo: a band of the accent colour.
func logoPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 160, 48))
	for y := 0; y < 48; y++ {
		for x := 0; x < 160; x++ {
			c := color.RGBA{0x0b, 0x53, 0x94, 0xff}
			if y > 18 && y < 30 && x > 12 && x < 148 {
				c = color.RGBA{0xff, 0xff, 0xff, 0xff}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withBrand applies the brand to e's workspace through the API: the
// sender, accent, privacy policy and footer (PATCH /v1/workspace), the
// logo (PUT /v1/workspace/logo) and the German name of the newsletter
// (PATCH /v1/purposes/newsletter).
func withBrand(t *testing.T, e *env) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"sender_name": brandSender, "accent_color": brandAccent, "privacy_url": brandPrivacy, "footer": brandFooter})
	if st := e.call("PATCH", "/v1/workspace", string(body), nil); st != 200 {
		t.Fatalf("PATCH /v1/workspace = %d", st)
	}
	req, _ := http.NewRequest("PUT", e.srv.URL+"/v1/workspace/logo", bytes.NewReader(logoPNG(t)))
	req.Header.Set("Authorization", "Bearer "+e.admin)
	req.Header.Set("Content-Type", "image/png")
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT /v1/workspace/logo = %d", resp.StatusCode)
	}
	body, _ = json.Marshal(map[string]map[string]string{"names": {"de": newsletterDE}, "descriptions": {"de": "Neues über unsere Produkte, einmal im Monat."}})
	if st := e.call("PATCH", "/v1/purposes/newsletter", string(body), nil); st != 200 {
		t.Fatalf("PATCH /v1/purposes/newsletter = %d", st)
	}
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
	ws, err := e.db.Workspace(ctx, e.ws)
	if err != nil || ws.Logo == nil {
		t.Fatalf("workspace %+v: %v", ws, err)
	}
	// The logo is served at its URL, without a key.
	if st := e.do("GET", e.srv.URL+ws.Logo.URL, "", "").status; st != 200 {
		t.Fatalf("GET %s = %d", ws.Logo.URL, st)
	}
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
			if got := browsertest.Eval[string](b, "(document.querySelector('header img') || {}).alt || ''"); got != brandSender {
				t.Errorf("%s: the logo's alt text is %q; want the sender's name", shot, got)
			}
			if !browsertest.Eval[bool](b, "document.querySelector('header img').naturalWidth === 160") {
				t.Errorf("%s: the logo did not load", shot)
			}
			text := browsertest.Eval[string](b, "document.body.innerText")
			for _, want := range []string{brandFooter, L.T("page.privacy")} {
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
