package console_test

import (
	"context"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/browsertest"
)

// TestBrowserOverview signs in, lands on the overview with a week of
// consents against the week before, and reads it on a phone and a
// desktop: its figures, its charts (named images) and their tables, a
// custom period chosen in the form, the dark palette, and an empty period.
// Every shot is checked with axe-core.
func TestBrowserOverview(t *testing.T) {
	b := browsertest.New(t) // a 390 px wide phone
	e := newEnv(t)
	overviewHistory(e)

	b.Do(chromedp.Navigate(e.srv.URL + "/admin/"))
	b.WaitText("API key of the workspace")
	b.Do(chromedp.SendKeys(chromedp.CSS("#key"), e.keys[consentd.RoleRead]), chromedp.Click(chromedp.CSS(`form.signin button[type=submit]`)))
	b.WaitText("Last 30 days against the period before")
	b.Do(chromedp.Click(chromedp.CSS(`nav a[href="/admin/overview?period=7d"]`)))
	b.WaitText("Last 7 days against the period before")
	b.WaitText("+10 points")
	b.FitsWidth()
	// Every chart is an image named by its title and description, drawn
	// within the screen's width.
	charts := browsertest.Eval[[]string](b, `[...document.querySelectorAll('svg[role=img]')].map(s => {
		const r = s.getBoundingClientRect();
		const name = s.getAttribute('aria-labelledby').split(' ').map(id => document.getElementById(id).textContent).join(' ');
		return (r.width > 300 && r.right <= window.innerWidth ? 'ok ' : 'bad ' + r.width + ' ') + name;
	})`)
	if len(charts) != 1+len(consentd.ConsentReportGroupings) {
		t.Errorf("%d charts; want %d", len(charts), 1+len(consentd.ConsentReportGroupings))
	}
	for _, c := range charts {
		if c[:3] != "ok " {
			t.Errorf("a chart does not fit the phone: %s", c)
		}
	}
	if len(charts) > 0 && charts[0] != "ok Consents captured per day Bars above the line are opt-ins with pending confirmations stacked on them, bars below are opt-outs, per day from "+
		e.day(-6)+" to "+e.day(0)+": 3 opt-ins, 1 pending, 2 opt-outs in all. The table of the figures per day follows the chart." {
		t.Errorf("the first chart is named %q", charts[0])
	}
	b.Shot("1-overview-7d-390")

	// A custom period, from the form.
	b.Do(chromedp.SetValue(chromedp.CSS("#from"), e.day(-2)), chromedp.SetValue(chromedp.CSS("#to"), e.day(-1)), chromedp.Click(chromedp.CSS(`form.period button[type=submit]`)))
	b.WaitText(e.day(-2) + " to " + e.day(-1) + " against the period before")
	b.FitsWidth()
	b.Shot("2-overview-custom-390")

	// Twelve months, per month: the month names fit under the bars.
	b.Do(chromedp.Click(chromedp.CSS(`nav a[href="/admin/overview?period=12m"]`)))
	b.WaitText("Last 12 months against the period before")
	b.FitsWidth()
	b.Shot("3-overview-12m-390")

	b.Do(chromedp.EmulateViewport(1280, 900))
	b.Do(chromedp.Navigate(e.srv.URL + "/admin/overview?period=7d"))
	b.WaitText("Last 7 days against the period before")
	b.FitsWidth()
	b.Shot("4-overview-7d-1280")

	// The dark palette, for a look at its contrast.
	b.Do(func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
		return chromedp.Void{}, err
	})
	b.Shot("5-overview-7d-1280-dark")

	// A period without consents says so, and draws nothing.
	b.Do(chromedp.Navigate(e.srv.URL + "/admin/overview?from=2020-01-01&to=2020-12-31"))
	b.WaitText("No consents were captured in this period.")
	if n := browsertest.Eval[int](b, `document.querySelectorAll('svg[role=img]').length`); n != 0 {
		t.Errorf("an empty period draws %d charts", n)
	}
	b.Shot("6-overview-empty-1280-dark")
}
