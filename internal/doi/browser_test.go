package doi_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/doi"
	"golang.org/x/time/rate"
)

// The browser helpers are internal/web's (browser_test.go), as they are:
// a test file's helpers cannot be imported.

// chromiumPath is Debian's chromium (apt-get install chromium).
const chromiumPath = "/usr/bin/chromium"

// browser is a headless Chromium tab on a fresh profile, and the folder its
// screenshots go to: $CONSENTD_TEST_ARTIFACTS, else a temporary one. It
// skips the test when Chromium is missing, unless CI=true.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: %v; with CI=true the browser tests must run (apt-get install chromium)", chromiumPath, err)
		}
		t.Skipf("%s not found; browser tests skipped (apt-get install chromium)", chromiumPath)
	}
	dir := os.Getenv("CONSENTD_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	dir = filepath.Join(dir, t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	// The first action starts the browser and ties it to its context:
	// that one must not be one of do's timeouts.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile)); err != nil { // a phone
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	return &browser{t: t, ctx: ctx, dir: dir}
}

// do runs actions with a timeout.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("browser: %s: %v", expr, err)
	}
	return v
}

// waitText waits until the page's text holds s. A poll does not survive
// a navigation, so it starts again after one.
func (b *browser) waitText(s string) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	expr := "document.readyState === 'complete' && document.body !== null && document.body.innerText.includes(" + jsString(s) + ")"
	for {
		ctx, cancel := context.WithTimeout(b.ctx, time.Until(deadline))
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond)))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			text := eval[string](b, "document.body ? document.body.innerText : ''")
			b.t.Fatalf("the page never said %q: %v\n%s", s, err, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// shot saves a full-page PNG screenshot as name.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", path)
}

// fitsWidth fails the test when the page scrolls sideways on the phone.
func (b *browser) fitsWidth() {
	b.t.Helper()
	if eval[bool](b, "document.documentElement.scrollWidth > window.innerWidth") {
		b.t.Errorf("the page is wider than the screen: %v > %v",
			eval[float64](b, "document.documentElement.scrollWidth"), eval[float64](b, "window.innerWidth"))
	}
}

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
	b := newBrowser(t)
	e := newEnv(t, "") // purpose news: double opt-in in DE, on SQLite, mail to an SMTP server
	// Tight limits for an invalid token, to show the 429 page at the end;
	// the button must work whatever they are.
	e.page.SetLimits(doi.Limits{PerIP: 2, IPBurst: 40, PerBadToken: rate.Every(time.Hour), BadTokenBurst: 2, Entries: 100})
	const cp = "jane.doe@example.com"
	e.optIn(cp, "email", "DE", time.Now().Add(-time.Minute))
	if n, err := e.mailer.SendDue(e.ctx); n != 1 || err != nil {
		t.Fatalf("SendDue() = %d, %v", n, err)
	}
	_, _, link := parseMail(t, e.smtp.Messages()[0].Data)
	if d := e.decision(cp); d.Allowed || d.Reason != consentd.ReasonPendingConfirmation {
		t.Fatalf("before confirming: Decide = %v %s; want denied pending_confirmation", d.Allowed, d.Reason)
	}

	b.do(chromedp.Navigate(link))
	b.waitText("Confirm your subscription")
	b.waitText("Product News")
	b.fitsWidth()
	b.shot("1-confirm")
	if d := e.decision(cp); d.Allowed || d.Reason != consentd.ReasonPendingConfirmation {
		t.Fatalf("opening the page changed the decision: %v %s", d.Allowed, d.Reason)
	}
	// The button is big enough to tap.
	if h := eval[float64](b, "document.querySelector('button[type=submit]').getBoundingClientRect().height"); h < 44 {
		t.Errorf("the Confirm button is %vpx high; want at least 44", h)
	}

	b.do(chromedp.Click(chromedp.CSS("button[type=submit]")))
	b.waitText("your subscription is confirmed")
	b.fitsWidth()
	b.shot("2-confirmed")
	if d := e.decision(cp); !d.Allowed || d.Reason != consentd.ReasonOptedIn {
		t.Errorf("after the button: Decide = %v %s; want allowed opted_in", d.Allowed, d.Reason)
	}
	if c := e.consent(cp); c.Source.Type != consentd.SourceDoubleOptIn || !strings.Contains(string(c.Source.Details), "HeadlessChrome") {
		t.Errorf("consent after the button: source %s %s; want double_opt_in with the browser's user agent", c.Source.Type, c.Source.Details)
	}

	// The link again: already confirmed, no button.
	b.do(chromedp.Navigate(link))
	b.waitText("Already confirmed")
	if eval[bool](b, "document.querySelector('form') !== null") {
		t.Errorf("a used link shows a form")
	}
	b.shot("3-already-confirmed")

	// An invalid link gets the generic page, then, tried too often, 429.
	bad := link[:len(link)-3] + "AAA"
	b.do(chromedp.Navigate(bad))
	b.waitText("This link is not valid")
	b.fitsWidth()
	b.shot("4-invalid")
	b.do(chromedp.Navigate(bad + "?again"))
	b.waitText("This link is not valid")
	b.do(chromedp.Navigate(bad + "?and-again"))
	b.waitText("Too many requests")
	b.fitsWidth()
	b.shot("5-too-many-requests")
	if d := e.decision(cp); !d.Allowed || d.Reason != consentd.ReasonOptedIn {
		t.Errorf("after the invalid links: Decide = %v %s; want allowed opted_in", d.Allowed, d.Reason)
	}
}
