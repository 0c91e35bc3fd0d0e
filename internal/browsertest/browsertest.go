// Package browsertest drives Debian's headless Chromium (chromedp) for the
// tests of consentd's public pages: a phone-sized tab on a fresh profile,
// waits, JavaScript evaluation, screenshots saved as test artifacts, and
// axe-core's accessibility checks of every screen shot. Tests only; it skips when Chromium is missing, unless CI=true.
package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is Debian's chromium (apt-get install chromium).
const ChromiumPath = "/usr/bin/chromium"

// Browser is a headless Chromium tab on a fresh profile, and the folder its
// screenshots go to: $CONSENTD_TEST_ARTIFACTS, else a temporary one. It
// skips the test when Chromium is missing, unless CI=true.
type Browser struct {
	t   *testing.T
	Ctx context.Context // the tab
	dir string
}

// New starts a browser for the test t; it is closed when t ends.
func New(t *testing.T) *Browser {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: %v; with CI=true the browser tests must run (apt-get install chromium)", ChromiumPath, err)
		}
		t.Skipf("%s not found; browser tests skipped (apt-get install chromium)", ChromiumPath)
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
		chromedp.ExecPath(ChromiumPath),
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
		t.Fatalf("start %s: %v", ChromiumPath, err)
	}
	return &Browser{t: t, Ctx: ctx, dir: dir}
}

// Do runs actions with a timeout.
func (b *Browser) Do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// Eval evaluates a JavaScript expression.
func Eval[T any](b *Browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("browser: %s: %v", expr, err)
	}
	return v
}

// WaitText waits until the page's text holds s. A poll does not survive
// a navigation, so it starts again after one.
func (b *Browser) WaitText(s string) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	expr := "document.readyState === 'complete' && document.body !== null && document.body.innerText.includes(" + JSString(s) + ")"
	for {
		ctx, cancel := context.WithTimeout(b.Ctx, time.Until(deadline))
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond)))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			text := Eval[string](b, "document.body ? document.body.innerText : ''")
			b.t.Fatalf("the page never said %q: %v\n%s", s, err, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// JSString quotes s as a JavaScript string literal.
func JSString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// Shot saves a full-page PNG screenshot as name.png, then checks the page
// with axe-core (Axe): every screen a test shows is also checked.
func (b *Browser) Shot(name string) {
	b.t.Helper()
	defer b.Axe(name)
	ctx, cancel := context.WithTimeout(b.Ctx, 30*time.Second)
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

// FitsWidth fails the test when the page scrolls sideways on the phone.
func (b *Browser) FitsWidth() {
	b.t.Helper()
	if Eval[bool](b, "document.documentElement.scrollWidth > window.innerWidth") {
		b.t.Errorf("the page is wider than the screen: %v > %v",
			Eval[float64](b, "document.documentElement.scrollWidth"), Eval[float64](b, "window.innerWidth"))
	}
}

// axeSource is axe-core's script (tools/axe, installed by npm ci), read
// once per test binary; axeErr says why it could not be.
var (
	axeOnce   sync.Once
	axeSource string
	axeErr    error
)

// loadAxe reads tools/axe/node_modules/axe-core/axe.min.js from the module
// root, found by walking up from the test's folder to go.mod.
func loadAxe() {
	dir, err := os.Getwd()
	if err != nil {
		axeErr = err
		return
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			axeErr = errors.New("go.mod not found above the test's folder")
			return
		}
		dir = parent
	}
	b, err := os.ReadFile(filepath.Join(dir, "tools", "axe", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		axeErr = fmt.Errorf("%w (run: cd tools/axe && npm ci)", err)
		return
	}
	axeSource = string(b)
}

// axeViolation is one rule axe-core found broken, with the elements that
// break it.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any  `json:"target"`
		HTML   string `json:"html"`
	} `json:"nodes"`
}

// Axe runs axe-core on the page as it is now (WCAG 2.x A and AA rules and
// axe's best practices) and fails the test on every violation of impact
// serious or critical; lesser ones are logged. name says which screen it
// was, in the messages. Without axe-core installed it skips the check
// (logged), unless CI=true, where it fails.
func (b *Browser) Axe(name string) {
	b.t.Helper()
	axeOnce.Do(loadAxe)
	if axeErr != nil {
		if os.Getenv("CI") == "true" {
			b.t.Fatalf("axe-core: %v", axeErr)
		}
		b.t.Logf("axe-core not installed, accessibility check of %s skipped: %v", name, axeErr)
		return
	}
	ctx, cancel := context.WithTimeout(b.Ctx, 60*time.Second)
	defer cancel()
	// The script goes in through DevTools, which the pages' CSP (no
	// script at all) does not govern.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](axeSource+";undefined")); err != nil {
		b.t.Fatalf("axe-core: load into %s: %v", name, err)
	}
	res, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify(r.violations))`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("axe-core: run on %s: %v", name, err)
	}
	var vs []axeViolation
	if err := json.Unmarshal([]byte(res), &vs); err != nil {
		b.t.Fatalf("axe-core: read its answer on %s: %v", name, err)
	}
	for _, v := range vs {
		var where []string
		for _, n := range v.Nodes {
			where = append(where, fmt.Sprint(n.Target)+" "+n.HTML)
		}
		msg := fmt.Sprintf("axe-core on %s: %s (%s): %s\n  %s", name, v.ID, v.Impact, v.Help, strings.Join(where, "\n  "))
		if v.Impact == "serious" || v.Impact == "critical" {
			b.t.Error(msg)
		} else {
			b.t.Log(msg)
		}
	}
}
