package doi_test

import (
	"github.com/consentd/consentd/internal/browsertest"
	"github.com/consentd/consentd/internal/ratelimit"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/consentd/consentd"
	"golang.org/x/time/rate"
)

// decision is the store's decision on news by email to cp.
func (e *env) decision(cp string) *consentd.DecisionResult {
	e.t.Helper()
	d, err := e.db.Decide(e.ctx, e.ws, &consentd.DecisionRequest{ContactPoint: cp, Channel: "email", Purpose: "news"})
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func TestBrowserConfirm(t *testing.T) {
	b := browsertest.New(t)
	e := newEnv(t, "") // purpose news: double opt-in in DE, on SQLite, mail to an SMTP server
	// Tight limits for an invalid token, to show the 429 page at the end;
	// the button must work whatever they are.
	e.page.SetLimits(ratelimit.Limits{PerIP: 2, IPBurst: 40, PerBadToken: rate.Every(time.Hour), BadTokenBurst: 2, Entries: 100})
	const cp = "jane.doe@example.com"
	e.optIn(cp, "email", "DE", time.Now().Add(-time.Minute))
	if n, err := e.sendDue(); n != 1 || err != nil {
		t.Fatalf("SendDue() = %d, %v", n, err)
	}
	_, _, link := parseMail(t, e.smtp.Messages()[0].Data)
	if d := e.decision(cp); d.Allowed || d.Reason != consentd.ReasonPendingConfirmation {
		t.Fatalf("before confirming: Decide = %v %s; want denied pending_confirmation", d.Allowed, d.Reason)
	}

	b.Do(chromedp.Navigate(link))
	b.WaitText("Confirm your subscription")
	b.WaitText("Product News")
	b.FitsWidth()
	b.Axe("confirm")
	b.Shot("1-confirm")
	if d := e.decision(cp); d.Allowed || d.Reason != consentd.ReasonPendingConfirmation {
		t.Fatalf("opening the page changed the decision: %v %s", d.Allowed, d.Reason)
	}
	// The button is big enough to tap.
	if h := browsertest.Eval[float64](b, "document.querySelector('button[type=submit]').getBoundingClientRect().height"); h < 44 {
		t.Errorf("the Confirm button is %vpx high; want at least 44", h)
	}

	b.Do(chromedp.Click(chromedp.CSS("button[type=submit]")))
	b.WaitText("your subscription is confirmed")
	b.WaitText("What is new in our products, twice a month.")
	b.FitsWidth()
	b.Axe("confirmed")
	b.Shot("2-confirmed")
	// The page links to the person's record, which lists the
	// confirmation.
	b.Do(chromedp.Click(chromedp.CSS(`a[href*="/record"]`)))
	b.WaitText("Your record of consents")
	b.WaitText("Your confirmation (confirmation link)")
	b.FitsWidth()
	b.Axe("record from the confirmation")
	b.Shot("2b-record")
	if d := e.decision(cp); !d.Allowed || d.Reason != consentd.ReasonOptedIn {
		t.Errorf("after the button: Decide = %v %s; want allowed opted_in", d.Allowed, d.Reason)
	}
	if c := e.consent(cp); c.Source.Type != consentd.SourceDoubleOptIn || !strings.Contains(string(c.Source.Details), "HeadlessChrome") {
		t.Errorf("consent after the button: source %s %s; want double_opt_in with the browser's user agent", c.Source.Type, c.Source.Details)
	}

	// The link again: already confirmed, no button.
	b.Do(chromedp.Navigate(link))
	b.WaitText("Already confirmed")
	if browsertest.Eval[bool](b, "document.querySelector('form') !== null") {
		t.Errorf("a used link shows a form")
	}
	b.Shot("3-already-confirmed")
	b.Do(chromedp.EmulateViewport(1280, 900))
	b.Do(chromedp.Navigate(link))
	b.WaitText("Already confirmed")
	b.FitsWidth()
	b.Axe("already confirmed, 1280 px")
	b.Shot("3b-already-confirmed-1280")
	b.Do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))

	// An invalid link gets the generic page, then, tried too often, 429.
	bad := link[:len(link)-3] + "AAA"
	b.Do(chromedp.Navigate(bad))
	b.WaitText("This link is not valid")
	b.FitsWidth()
	b.Shot("4-invalid")
	b.Do(chromedp.Navigate(bad + "?again"))
	b.WaitText("This link is not valid")
	b.Do(chromedp.Navigate(bad + "?and-again"))
	b.WaitText("Too many requests")
	b.FitsWidth()
	b.Shot("5-too-many-requests")
	if d := e.decision(cp); !d.Allowed || d.Reason != consentd.ReasonOptedIn {
		t.Errorf("after the invalid links: Decide = %v %s; want allowed opted_in", d.Allowed, d.Reason)
	}
}
