package console_test

import (
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/browsertest"
)

// TestBrowserConsole signs in, lands on the overview, finds a person, opts one consent out on
// their behalf, and sees the decision change; on a phone and a desktop.
func TestBrowserConsole(t *testing.T) {
	b := browsertest.New(t) // a 390 px wide phone
	e := newEnv(t)

	b.Do(chromedp.Navigate(e.srv.URL + "/admin/"))
	b.WaitText("API key of the workspace")
	b.Shot("1-sign-in-390")
	b.Do(chromedp.SendKeys(chromedp.CSS("#key"), e.keys[consentd.RoleAgent]), chromedp.Click(chromedp.CSS(`form.signin button[type=submit]`)))
	b.WaitText("Workspace alpha")
	b.WaitText("Opt-in rate") // the landing screen is the overview

	b.Do(chromedp.Click(chromedp.CSS(`nav a[href="/admin/person"]`)))
	b.WaitText("E-mail address, phone number")
	b.Do(chromedp.SendKeys(chromedp.CSS("#q"), "jane@example.com"), chromedp.Click(chromedp.CSS(`form.search button[type=submit]`)))
	b.WaitText("will send, because they opted in")
	b.FitsWidth()
	b.Shot("2-person-390")

	b.Do(chromedp.Click(chromedp.CSS(`input[value="jane@example.com#newsletter:email"] ~ button`)))
	b.WaitText("Opted out. The decisions below are as they are now.")
	if browsertest.Eval[bool](b, `document.body.innerText.includes('will send, because they opted in')`) {
		t.Errorf("the page still says the newsletter will be sent")
	}
	b.FitsWidth()
	b.Shot("3-opted-out-390")
	if c := e.consent("jane@example.com#newsletter:email"); c.Status != consentd.OptedOut || c.Source.Type != consentd.SourceAgent {
		t.Errorf("the API reads %s from %s; want opted_out from agent", c.Status, c.Source.Type)
	}

	b.Do(chromedp.EmulateViewport(1280, 900))
	b.Do(chromedp.Reload())
	b.WaitText("will not send, because they opted out")
	b.Shot("4-opted-out-1280")

	b.Do(chromedp.Click(chromedp.CSS(`header.bar button[type=submit]`)))
	b.WaitText("API key of the workspace")
	b.Shot("5-signed-out-1280")
}
