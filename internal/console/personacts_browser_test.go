package console_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/browsertest"
)

// TestBrowserPersonActions does every action of the person page in a
// browser without JavaScript on the page: reads a consent's history,
// suppresses and lifts, starts a data-subject request and follows the
// link to the queues, mails a preference link; each checked against what
// the API reads, on a phone (390 px, which the page must fit) and a
// desktop (1280 px).
func TestBrowserPersonActions(t *testing.T) {
	b := browsertest.New(t) // a 390 px wide phone
	e := newEnv(t)

	b.Do(chromedp.Navigate(e.srv.URL + "/admin/"))
	b.WaitText("API key of the workspace")
	b.Do(chromedp.SendKeys(chromedp.CSS("#key"), e.keys[consentd.RoleAdmin]), chromedp.Click(chromedp.CSS(`form.signin button[type=submit]`)))
	b.WaitText("Workspace alpha")
	b.Do(chromedp.Click(chromedp.CSS(`nav a[href="/admin/person"]`)))
	b.WaitText("E-mail address, phone number")
	b.Do(chromedp.SendKeys(chromedp.CSS("#q"), "jane@example.com"), chromedp.Click(chromedp.CSS(`form.search button[type=submit]`)))
	b.WaitText("will send, because they opted in")

	// The history of the newsletter consent.
	b.Do(chromedp.Click(chromedp.CSS(`tr.history details summary`)))
	b.WaitText("form (signup)")
	b.FitsWidth()
	b.Shot("1-history-390")

	// Suppress on email, with a note.
	b.Do(chromedp.Click(chromedp.CSS(`details.act summary`)))
	browsertest.Eval[bool](b, `document.querySelector('#sup-reason-0').value = 'complaint'; document.querySelector('#sup-channel-0').value = 'email'; true`)
	b.Do(chromedp.SendKeys(chromedp.CSS("#sup-note-0"), "called the help desk"))
	b.FitsWidth()
	b.Shot("2-suppress-form-390")
	b.Do(chromedp.Click(chromedp.CSS(`form[action="/admin/suppress"] button[type=submit]`)))
	b.WaitText("Suppressed. The decisions below are as they are now.")
	b.WaitText("will not send, because the contact point is suppressed")
	b.FitsWidth()
	b.Shot("3-suppressed-390")
	var sup *consentd.Suppression
	for _, s := range e.suppressions() {
		if s.ContactPoint == "jane@example.com" {
			sup = &s
		}
	}
	if sup == nil || sup.Reason != consentd.SuppressComplaint || sup.Channel != "email" || sup.Note != "called the help desk" {
		t.Fatalf("the API reads %+v; want jane's complaint on email", sup)
	}

	// Lift it.
	b.Do(chromedp.Click(chromedp.CSS(`form[action="/admin/lift-suppression"] button[type=submit]`)))
	b.WaitText("Suppression lifted.")
	b.WaitText("will send, because they opted in")
	for _, s := range e.suppressions() {
		if s.ID == sup.ID {
			t.Errorf("the API still lists the lifted suppression")
		}
	}

	// A data-subject request: access under GDPR.
	b.Do(chromedp.Click(chromedp.CSS(`details.act:has(form[action="/admin/request"]) summary`)))
	browsertest.Eval[bool](b, `document.querySelector('#rq-type-0').value = 'access'; true`)
	b.Do(chromedp.SendKeys(chromedp.CSS("#rq-ref-0"), "T-42"))
	b.FitsWidth()
	b.Shot("4-request-form-390")
	b.Do(chromedp.Click(chromedp.CSS(`form[action="/admin/request"] button[type=submit]`)))
	b.WaitText("filed: access under GDPR")
	b.FitsWidth()
	b.Shot("5-request-filed-390")
	rs := e.requests()
	if len(rs) != 1 || rs[0].Type != "access" || rs[0].Reference != "T-42" {
		t.Fatalf("the API reads %+v; want one access request", rs)
	}

	// The request is on the queues screen, pending: no job runner runs yet.
	b.Do(chromedp.Click(chromedp.CSS(`.notice a[href="/admin/queues"]`)))
	b.WaitText(rs[0].ID)
	b.FitsWidth()
	b.Shot("6-queues-390")
	b.Do(chromedp.Navigate(e.srv.URL + "/admin/person?q=jane%40example.com"))
	b.WaitText("Mail a preference link")

	// Mail a preference link: the server now has link keys, an SMTP relay
	// and a job runner.
	_, relay := e.linkMail()
	b.Do(chromedp.Click(chromedp.CSS(`form[action="/admin/send-link"] button[type=submit]`)))
	b.WaitText("A preference link is on its way by mail")
	if msgs := relay.Wait(t, 1, 10*time.Second); len(msgs) != 1 || msgs[0].To[0] != "jane@example.com" {
		t.Errorf("the relay got %+v; want one mail to jane", msgs)
	}
	b.FitsWidth()
	b.Shot("7-link-sent-390")

	b.Do(chromedp.EmulateViewport(1280, 900))
	if st, body := e.api("POST", "/v1/suppressions", `{"contact_point":"jane@example.com","reason":"hard_bounce","note":"550 mailbox unknown"}`); st != 201 {
		t.Fatalf("suppress = %d %s", st, body)
	}
	b.Do(chromedp.Reload())
	b.WaitText("A preference link is on its way by mail")
	b.WaitText("550 mailbox unknown")
	b.Do(chromedp.Click(chromedp.CSS(`tr.history details summary`)))
	b.Do(chromedp.Click(chromedp.CSS(`details.act summary`)))
	b.Shot("8-person-1280")
}
