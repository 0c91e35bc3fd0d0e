package console_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/browsertest"
)

// TestBrowserBlockedAndLog: the blocked-sends screen with real counts,
// and the log screen before and after "Verify the log", on a phone and a
// desktop (each shot checked by axe-core).
func TestBrowserBlockedAndLog(t *testing.T) {
	b := browsertest.New(t) // a 390 px wide phone
	e := newEnv(t)
	today := time.Now().UTC()
	e.decide(today, 5, "jane@example.com", "email", "newsletter")
	e.decide(today, 2, "jane@example.com", "email", "partners")
	e.decide(today.AddDate(0, 0, -1), 3, "+14155550123", "sms", "newsletter")
	if st, body := e.api("POST", "/v1/log/checkpoints", ""); st != 201 {
		t.Fatalf("sign a checkpoint = %d %s", st, body)
	}

	b.Do(chromedp.Navigate(e.srv.URL + "/admin/"))
	b.WaitText("API key of the workspace")
	b.Do(chromedp.SendKeys(chromedp.CSS("#key"), e.keys[consentd.RoleRead]), chromedp.Click(chromedp.CSS(`form.signin button[type=submit]`)))
	b.WaitText("Workspace alpha")

	b.Do(chromedp.Click(chromedp.CSS(`nav a[href="/admin/blocked"]`)))
	b.WaitText("the contact point is suppressed: 3")
	b.WaitText("they opted out: 2")
	b.FitsWidth()
	b.Shot("1-blocked-390")

	b.Do(chromedp.Click(chromedp.CSS(`nav a[href="/admin/log"]`)))
	b.WaitText("The log has not been verified yet.")
	b.FitsWidth()
	b.Shot("2-log-390")
	b.Do(chromedp.Click(chromedp.CSS(`form[action="/admin/log/verify"] button[type=submit]`)))
	b.WaitText("The log verifies.")
	b.FitsWidth()
	b.Shot("3-log-verified-390")

	b.Do(chromedp.EmulateViewport(1280, 900))
	b.Do(chromedp.Navigate(e.srv.URL + "/admin/log"))
	b.WaitText("the log verified")
	b.Shot("4-log-last-verified-1280")
	b.Do(chromedp.Navigate(e.srv.URL + "/admin/blocked?period=12m"))
	b.WaitText("Last 12 months")
	b.Shot("5-blocked-12m-1280")
}
