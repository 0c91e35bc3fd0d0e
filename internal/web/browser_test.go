package web_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/consentd/consentd"
)

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

func TestBrowserUnsubscribe(t *testing.T) {
	b := newBrowser(t)
	e := newEnv(t)
	e.write("jane@example.com", "newsletter:email", consentd.OptedIn, time.Now().Add(-time.Hour))
	l := e.link("unsubscribe", "jane@example.com", "newsletter:email")

	b.do(chromedp.Navigate(l.URL))
	b.waitText("Unsubscribe j•••@example.com from Newsletter")
	b.shot("1-unsubscribe")
	if d := e.decide("jane@example.com", "email", "newsletter", ""); !d.Allowed {
		t.Fatalf("opening the page changed the decision: %v %s", d.Allowed, d.Reason)
	}
	b.do(chromedp.Click(chromedp.CSS("button[type=submit]")))
	b.waitText("You are unsubscribed")
	b.shot("2-unsubscribed")
	if d := e.decide("jane@example.com", "email", "newsletter", ""); d.Allowed || d.Reason != consentd.ReasonOptedOut {
		t.Errorf("after the button: Decide = %v %s; want denied opted_out", d.Allowed, d.Reason)
	}

	// An invalid link, for the record.
	b.do(chromedp.Navigate(l.URL + "x"))
	b.waitText("This link does not work")
	b.shot("3-invalid")
}

func TestBrowserPreferences(t *testing.T) {
	b := newBrowser(t)
	e := newEnv(t)
	withParty(t, e)
	l := e.link("preferences", "jane@example.com", "")

	b.do(chromedp.Navigate(l.URL))
	b.waitText("Your communication preferences")
	b.shot("1-preferences")

	// Tick the newsletter by SMS with the keyboard; untick the weekly
	// digest by email by its label.
	sms := eval[string](b, `document.querySelector('input[type=checkbox][value="1/newsletter:sms"]').id`)
	weekly := eval[string](b, `document.querySelector('input[type=checkbox][value="0/weekly:email"]').id`)
	b.do(chromedp.Focus(chromedp.CSS("#"+sms)), chromedp.KeyEvent(" "))
	b.do(chromedp.Click(chromedp.CSS(`label[for="` + weekly + `"]`)))
	if !eval[bool](b, "document.getElementById('"+sms+"').checked") || eval[bool](b, "document.getElementById('"+weekly+"').checked") {
		t.Fatalf("the checkboxes did not toggle")
	}
	b.shot("2-preferences-edited")
	b.do(chromedp.Click(chromedp.CSS(`button[value="save"]`)))
	b.waitText("Your choices are saved.")
	b.shot("3-preferences-saved")
	if d := e.decide("+14155550123", "sms", "newsletter", ""); !d.Allowed || d.Reason != consentd.ReasonOptedIn {
		t.Errorf("Decide(newsletter sms) = %v %s; want allowed opted_in", d.Allowed, d.Reason)
	}
	if d := e.decide("jane@example.com", "email", "newsletter", "weekly"); d.Allowed || d.Reason != consentd.ReasonTopicOptedOut {
		t.Errorf("Decide(weekly email) = %v %s; want topic_opted_out", d.Allowed, d.Reason)
	}

	b.do(chromedp.Click(chromedp.CSS(`button[value="unsubscribe_all"]`)))
	b.waitText("You are unsubscribed from everything listed here")
	b.shot("4-unsubscribed-from-all")
	for _, c := range []struct{ cp, ch string }{{"jane@example.com", "email"}, {"+14155550123", "sms"}} {
		if d := e.decide(c.cp, c.ch, "newsletter", ""); d.Allowed || d.Reason != consentd.ReasonSuppressed {
			t.Errorf("after unsubscribe from all: Decide(%s newsletter) = %v %s; want suppressed", c.ch, d.Allowed, d.Reason)
		}
	}

	// On a wide screen too.
	b.do(chromedp.EmulateViewport(1280, 900))
	b.do(chromedp.Navigate(l.URL))
	b.waitText("Your communication preferences")
	b.shot("5-preferences-desktop")
}

func TestBrowserGPC(t *testing.T) {
	b := newBrowser(t)
	e := newEnv(t)
	e.write("max@example.com", "partners:email", consentd.OptedIn, time.Now().Add(-time.Hour))
	l := e.link("preferences", "max@example.com", "")
	if _, err := chromedp.Call(b.ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(b.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Sec-GPC": "1"}}); err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.Navigate(l.URL))
	b.waitText("Your browser sent a Global Privacy Control signal")
	b.shot("1-preferences-gpc")
	if d := e.decide("max@example.com", "email", "partners", ""); d.Allowed || d.Reason != consentd.ReasonOptedOut {
		t.Errorf("Decide(partners) with GPC = %v %s; want opted_out", d.Allowed, d.Reason)
	}
	if c := e.consent("max@example.com", "partners:email"); c == nil || c.Source.Type != consentd.SourceGPC {
		t.Errorf("partners consent = %+v; want source gpc", c)
	}
	if d := e.decide("max@example.com", "email", "newsletter", ""); !d.Allowed {
		t.Errorf("Decide(newsletter) = %v %s; GPC is not an email opt-out", d.Allowed, d.Reason)
	}
}
