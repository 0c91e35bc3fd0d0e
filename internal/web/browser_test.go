package web_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/consentd/consentd/internal/browsertest"
	"github.com/consentd/consentd/internal/ledger"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/consentd/consentd"
)

func TestBrowserUnsubscribe(t *testing.T) {
	b := browsertest.New(t)
	e := newEnv(t)
	e.write("jane@example.com", "newsletter:email", consentd.OptedIn, time.Now().Add(-time.Hour))
	l := e.link("unsubscribe", "jane@example.com", "newsletter:email")

	b.Do(chromedp.Navigate(l.URL))
	b.WaitText("Unsubscribe j•••@example.com from Newsletter")
	b.Shot("1-unsubscribe")
	if d := e.decide("jane@example.com", "email", "newsletter", ""); !d.Allowed {
		t.Fatalf("opening the page changed the decision: %v %s", d.Allowed, d.Reason)
	}
	b.Do(chromedp.Click(chromedp.CSS("button[type=submit]")))
	b.WaitText("You are unsubscribed")
	b.Shot("2-unsubscribed")
	if d := e.decide("jane@example.com", "email", "newsletter", ""); d.Allowed || d.Reason != consentd.ReasonOptedOut {
		t.Errorf("after the button: Decide = %v %s; want denied opted_out", d.Allowed, d.Reason)
	}

	// An invalid link, for the record.
	b.Do(chromedp.Navigate(l.URL + "x"))
	b.WaitText("This link does not work")
	b.Shot("3-invalid")
}

func TestBrowserPreferences(t *testing.T) {
	b := browsertest.New(t)
	e := newEnv(t)
	withParty(t, e)
	l := e.link("preferences", "jane@example.com", "")

	b.Do(chromedp.Navigate(l.URL))
	b.WaitText("Your communication preferences")
	b.Shot("1-preferences")

	// Tick the newsletter by SMS with the keyboard; untick the weekly
	// digest by email by its label.
	sms := browsertest.Eval[string](b, `document.querySelector('input[type=checkbox][value="1/newsletter:sms"]').id`)
	weekly := browsertest.Eval[string](b, `document.querySelector('input[type=checkbox][value="0/weekly:email"]').id`)
	b.Do(chromedp.Focus(chromedp.CSS("#"+sms)), chromedp.KeyEvent(" "))
	b.Do(chromedp.Click(chromedp.CSS(`label[for="` + weekly + `"]`)))
	if !browsertest.Eval[bool](b, "document.getElementById('"+sms+"').checked") || browsertest.Eval[bool](b, "document.getElementById('"+weekly+"').checked") {
		t.Fatalf("the checkboxes did not toggle")
	}
	b.Shot("2-preferences-edited")
	b.Do(chromedp.Click(chromedp.CSS(`button[value="save"]`)))
	b.WaitText("Your choices are saved.")
	b.Shot("3-preferences-saved")
	if d := e.decide("+14155550123", "sms", "newsletter", ""); !d.Allowed || d.Reason != consentd.ReasonOptedIn {
		t.Errorf("Decide(newsletter sms) = %v %s; want allowed opted_in", d.Allowed, d.Reason)
	}
	if d := e.decide("jane@example.com", "email", "newsletter", "weekly"); d.Allowed || d.Reason != consentd.ReasonTopicOptedOut {
		t.Errorf("Decide(weekly email) = %v %s; want topic_opted_out", d.Allowed, d.Reason)
	}

	b.Do(chromedp.Click(chromedp.CSS(`button[value="unsubscribe_all"]`)))
	b.WaitText("You are unsubscribed from everything listed here")
	b.Shot("4-unsubscribed-from-all")
	for _, c := range []struct{ cp, ch string }{{"jane@example.com", "email"}, {"+14155550123", "sms"}} {
		if d := e.decide(c.cp, c.ch, "newsletter", ""); d.Allowed || d.Reason != consentd.ReasonSuppressed {
			t.Errorf("after unsubscribe from all: Decide(%s newsletter) = %v %s; want suppressed", c.ch, d.Allowed, d.Reason)
		}
	}

	// On a wide screen too.
	b.Do(chromedp.EmulateViewport(1280, 900))
	b.Do(chromedp.Navigate(l.URL))
	b.WaitText("Your communication preferences")
	b.Shot("5-preferences-desktop")
}

func TestBrowserGPC(t *testing.T) {
	b := browsertest.New(t)
	e := newEnv(t)
	e.write("max@example.com", "partners:email", consentd.OptedIn, time.Now().Add(-time.Hour))
	l := e.link("preferences", "max@example.com", "")
	if _, err := chromedp.Call(b.Ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(b.Ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Sec-GPC": "1"}}); err != nil {
		t.Fatal(err)
	}
	b.Do(chromedp.Navigate(l.URL))
	b.WaitText("Your browser sent a Global Privacy Control signal")
	b.Shot("1-preferences-gpc")
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

// TestBrowserRecord: from the preference center, "Download my record"
// opens the record page, which fits a phone and a desktop screen; its
// download link saves the JSON file, whose receipts verify.
func TestBrowserRecord(t *testing.T) {
	b := browsertest.New(t)
	e := newEnv(t)
	withParty(t, e)
	t0 := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	e.write("jane@example.com", "newsletter:email", consentd.OptedIn, t0)
	e.write("jane@example.com", "weekly:email", consentd.OptedOut, t0.Add(time.Hour))
	e.write("+14155550123", "newsletter:sms", consentd.OptedIn, t0.Add(2*time.Hour))
	l := e.link("preferences", "jane@example.com", "")

	b.Do(chromedp.Navigate(l.URL))
	b.WaitText("Download my record")
	b.Do(chromedp.Click(chromedp.CSS(`a[href$="/record"]`)))
	b.WaitText("Your record of consents")
	b.WaitText("News about our products, once a month.")
	b.FitsWidth()
	b.Axe("record, 390 px")
	b.Shot("1-record-390")
	if got := browsertest.Eval[string](b, "location.href"); got != l.URL+"/record" {
		t.Errorf("the link opened %s; want %s/record", got, l.URL)
	}

	// The download link saves the file.
	dir := t.TempDir()
	if _, err := chromedp.Call(b.Ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir}); err != nil {
		t.Fatal(err)
	}
	b.Do(chromedp.Click(chromedp.CSS(`a[download]`)))
	path := filepath.Join(dir, "consent-record.json")
	var raw []byte
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var err error
		if raw, err = os.ReadFile(path); err == nil && json.Valid(raw) {
			break
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(dir)
			t.Fatalf("no download at %s (the folder has %v)", path, entries)
		}
	}
	var rec recordJSON
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, cp := range rec.ContactPoints {
		for _, c := range cp.Consents {
			var rc ledger.Receipt
			if err := json.Unmarshal(c.Receipt, &rc); err != nil || ledger.VerifyReceipt(&rc, e.signer.PublicKeyRing()) != nil {
				t.Errorf("%s: the downloaded receipt does not verify: %v", c.ChannelType, err)
			}
			n++
		}
	}
	if n != 3 {
		t.Errorf("the download has %d consents; want 3", n)
	}

	b.Do(chromedp.EmulateViewport(1280, 900))
	b.Do(chromedp.Navigate(l.URL + "/record"))
	b.WaitText("Your record of consents")
	b.FitsWidth()
	b.Axe("record, 1280 px")
	b.Shot("2-record-1280")
	b.Do(chromedp.Navigate(l.URL))
	b.WaitText("Download my record")
	b.Axe("preferences with the record link, 1280 px")
	b.Shot("3-preferences-1280")
}
