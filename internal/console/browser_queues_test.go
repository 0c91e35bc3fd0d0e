package console_test

import (
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/browsertest"
)

// TestBrowserQueues signs in as an admin, sees every queue with real data
// (requests by days left, failed and retrying jobs, a failing and a
// disabled webhook, an import with rejects, SMS replies for review), then
// resumes the webhook, resolves a reply and retries the job, each read
// back through the API; on a phone and a desktop.
func TestBrowserQueues(t *testing.T) {
	b := browsertest.New(t) // a 390 px wide phone
	e := newEnv(t)
	_, replies := moreQueues(t, e)
	failed, _ := queueFixture(t, e)

	b.Do(chromedp.Navigate(e.srv.URL + "/admin/"))
	b.WaitText("API key of the workspace")
	b.Do(chromedp.SendKeys(chromedp.CSS("#key"), e.keys[consentd.RoleAdmin]), chromedp.Click(chromedp.CSS(`form.signin button[type=submit]`)))
	b.WaitText("Workspace alpha")
	b.Do(chromedp.Click(chromedp.CSS(`nav a[href="/admin/queues"]`)))
	b.WaitText("SMS replies waiting for review")
	for _, s := range []string{"overdue by 5 days", "mail server refused the connection", "the endpoint answered 500 Internal Server Error",
		"Download 3 rejected rows (CSV)", "Who is this? Please call me tomorrow"} {
		b.WaitText(s)
	}
	b.FitsWidth()
	b.Shot("1-queues-390")

	b.Do(chromedp.Click(chromedp.CSS(`button[aria-label="Resume webhook wh-gone"]`)))
	b.WaitText("The webhook is enabled again")
	b.FitsWidth()
	if w := e.webhookState("wh-gone"); w.Disabled {
		t.Errorf("after Resume the API reads the webhook disabled")
	}

	b.Do(chromedp.SendKeys(chromedp.CSS("#note-"+replies[1]), "asked to stop by text"),
		chromedp.Click(chromedp.CSS(`input[value="`+replies[1]+`"] ~ .buttons button[value="opt_out"]`)))
	b.WaitText("opted out of texts")
	b.FitsWidth()
	b.Shot("2-resolved-390")
	if m := e.reply(replies[1]); m.State != consentd.InboundResolved || m.Resolution != consentd.ResolveOptOut || m.Note != "asked to stop by text" {
		t.Errorf("after Opt out the API reads %s, %s, %q", m.State, m.Resolution, m.Note)
	}

	b.Do(chromedp.EmulateViewport(1280, 900))
	b.Do(chromedp.Navigate(e.srv.URL + "/admin/queues"))
	b.WaitText("SMS replies waiting for review")
	b.FitsWidth()
	b.Shot("3-queues-1280")
	b.Do(chromedp.Click(chromedp.CSS(`button[aria-label="Retry job ` + failed + `"]`)))
	b.WaitText("The job is queued again")
	b.FitsWidth()
	b.Shot("4-retried-1280")
	if st, _ := e.jobState(failed); st != consentd.JobQueued {
		t.Errorf("after Retry the API reads the job %s", st)
	}
}
