package console_test

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
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

// TestBrowserRefusals: a read key sees the actions it may not take
// refused; a form on another site that posts to the console (even with a
// valid CSRF token copied into it) is refused and changes nothing; after
// sign-out, going back shows no one.
func TestBrowserRefusals(t *testing.T) {
	b := browsertest.New(t)
	e := newEnv(t)

	b.Do(chromedp.Navigate(e.srv.URL + "/admin/"))
	b.WaitText("API key of the workspace")
	b.Do(chromedp.SendKeys(chromedp.CSS("#key"), e.keys[consentd.RoleRead]), chromedp.Click(chromedp.CSS(`form.signin button[type=submit]`)))
	b.WaitText("Workspace alpha")
	b.Do(chromedp.Navigate(e.srv.URL + "/admin/person?q=jane%40example.com"))
	b.WaitText("may read, not opt anyone out")
	if !browsertest.Eval[bool](b, `[...document.querySelectorAll('form[action="/admin/opt-out"] button')].every(b => b.disabled)`) {
		t.Errorf("a read key's opt-out buttons are not disabled")
	}
	b.Shot("1-read-key-390")
	// Enabled by hand, the form is still refused by the server.
	csrf := browsertest.Eval[string](b, `document.querySelector('input[name=csrf]').value`)
	browsertest.Eval[bool](b, `(document.querySelectorAll('form[action="/admin/opt-out"] button').forEach(b => b.disabled = false), true)`)
	b.Do(chromedp.Click(chromedp.CSS(`form[action="/admin/opt-out"] button`)))
	b.WaitText("may not")
	b.Shot("2-read-key-refused-390")
	if c := e.consent("jane@example.com#newsletter:email"); c.Status != consentd.OptedIn {
		t.Errorf("a read key's opt-out changed the consent: %s", c.Status)
	}

	// Another site: a page on another origin (localhost, not 127.0.0.1)
	// whose form posts to the console.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><title>Win a prize</title><form method="post" action="%s/admin/opt-out">
<input type="hidden" name="csrf" value="%s"><input type="hidden" name="consent" value="jane@example.com#newsletter:email">
<button type="submit">Claim</button></form></html>`, e.srv.URL, html.EscapeString(csrf))
	}))
	defer evil.Close()
	b.Do(chromedp.Navigate(strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)))
	b.WaitText("Claim")
	b.Do(chromedp.Click(chromedp.CSS(`button`)))
	b.WaitText("sent from another site")
	b.Shot("3-cross-site-refused-390")
	if c := e.consent("jane@example.com#newsletter:email"); c.Status != consentd.OptedIn {
		t.Errorf("a cross-site form changed the consent: %s", c.Status)
	}

	b.Do(chromedp.Navigate(e.srv.URL + "/admin/person?q=jane%40example.com"))
	b.WaitText("Workspace alpha")
	b.Do(chromedp.Click(chromedp.CSS(`header.bar button[type=submit]`)))
	b.WaitText("API key of the workspace")
	b.Do(chromedp.NavigateBack())
	b.Do(chromedp.Reload())
	b.WaitText("API key of the workspace")
	if browsertest.Eval[bool](b, `document.body.innerText.includes('jane@example.com')`) {
		t.Errorf("after sign-out, going back shows the person")
	}
	b.Shot("4-signed-out-back-390")
}
