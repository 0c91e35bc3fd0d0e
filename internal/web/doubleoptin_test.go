package web_test

import (
	"context"
	"html"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/automation"
	"github.com/consentd/consentd/internal/doi"
	"github.com/consentd/consentd/internal/i18n"
	"github.com/consentd/consentd/internal/mail"
	"github.com/consentd/consentd/internal/mail/mailtest"
)

var confirmLink = regexp.MustCompile(`http://[^\s]+/c/[A-Za-z0-9_.~-]+`)

// TestPreferenceCenterDoubleOptIn: ticking a purpose whose double_opt_in
// is "always" on the preference page goes through the API's double
// opt-in: the consent is stored pending, the page says to check the mail,
// the confirmation mail reaches a real SMTP server (sent by the job queue,
// as serve runs it), and its link confirms: opted_in.
func TestPreferenceCenterDoubleOptIn(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		e.api201("/v1/purposes", `{"id":"letters","name":"Letters","description":"A letter from our founder, now and then.","type":"commercial","double_opt_in":"always","channels":{"email":{"enforcement":"restrictive"}}}`)
		withParty(t, e)
		relay := mailtest.Start(t, "", "")
		sender, err := mail.Open(relay.URL(), "")
		if err != nil {
			t.Fatal(err)
		}
		runner := automation.New(e.db, e.api, slog.New(slog.DiscardHandler))
		runner.Poll, runner.Base = 20*time.Millisecond, time.Millisecond
		runner.Handlers = map[string]automation.Handler{
			consentd.JobKindConfirmationMail: doi.NewMailer(e.db, e.links, sender, e.srv.URL, "", slog.New(slog.DiscardHandler)),
		}
		e.pages.JobsNudge = runner.Nudge
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); runner.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })

		l := e.link("preferences", "jane@example.com", "")
		f := parseHTMLForm(t, e.do("GET", l.URL, "", "").body)
		if on, ok := f.checked["0/letters:email"]; !ok || on {
			t.Fatalf("letters by email: present %v, checked %v; want an unticked box", ok, on)
		}
		v := f.values("save")
		v.Add("on", "0/letters:email")
		p := e.do("POST", l.URL, form, v.Encode(), "Origin", e.srv.URL, "Sec-Fetch-Site", "same-origin")
		body := html.UnescapeString(p.body)
		if p.status != 200 || !strings.Contains(body, "please check your mail") || !strings.Contains(body, "Waiting for your confirmation") {
			t.Fatalf("save = %d; want the page to ask to check the mail\n%s", p.status, p.body)
		}
		if c := e.consent("jane@example.com", "letters:email"); c == nil || c.Status != consentd.Pending || c.Source.Type != consentd.SourcePreferenceCenter {
			t.Fatalf("letters consent = %+v; want pending from the preference center", c)
		}
		if d := e.decide("jane@example.com", "email", "letters", ""); d.Allowed || d.Reason != consentd.ReasonPendingConfirmation {
			t.Errorf("Decide before confirming = %v %s; want pending_confirmation", d.Allowed, d.Reason)
		}

		msgs := relay.Wait(t, 1, 10*time.Second)
		if len(msgs) != 1 || msgs[0].To[0] != "jane@example.com" {
			t.Fatalf("mail = %+v; want one to jane", msgs)
		}
		link := confirmLink.FindString(strings.ReplaceAll(string(msgs[0].Data), "=\r\n", ""))
		if link == "" {
			t.Fatalf("no confirmation link in\n%s", msgs[0].Data)
		}
		// The mail states what jane agrees to, who asks and when.
		text := strings.ReplaceAll(strings.ReplaceAll(string(msgs[0].Data), "=\r\n", ""), "\r\n", "\n")
		claims, err := e.links.Verify(link[strings.LastIndex(link, "/")+1:], time.Now())
		if err != nil {
			t.Fatal(err)
		}
		issued, err := e.db.Confirmation(ctx, e.ws, claims.Nonce)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"What:       Letters\n              A letter from our founder, now and then.",
			"How:        by email", "To:         jane@example.com", "Asked by:   alpha", "Requested:  " + i18n.Get("en").DateTime(issued.IssuedAt)} {
			if !strings.Contains(text, want) {
				t.Errorf("the mail does not say %q:\n%s", want, text)
			}
		}
		p = e.do("POST", link, form, "", "Origin", e.srv.URL, "Sec-Fetch-Site", "same-origin")
		if p.status != 200 {
			t.Fatalf("POST the confirmation link = %d\n%s", p.status, p.body)
		}
		// The page after the click: what was agreed, when the log recorded
		// it, and the person's record, which lists it.
		confirmed := e.consent("jane@example.com", "letters:email")
		for _, want := range []string{"A letter from our founder, now and then.", "<dd>alpha</dd>",
			"<dt>Confirmed</dt><dd>" + i18n.Get("en").DateTime(confirmed.CapturedAt) + "</dd>",
			"<dd>number " + strconv.FormatInt(confirmed.Seq, 10) + "</dd>"} {
			if !strings.Contains(p.body, want) {
				t.Errorf("the confirmed page does not say %q:\n%s", want, p.body)
			}
		}
		m := regexp.MustCompile(`<a href="([^"]+)">See your record`).FindStringSubmatch(p.body)
		if m == nil {
			t.Fatalf("no record link on the confirmed page:\n%s", p.body)
		}
		base, _ := url.Parse(link)
		ref, _ := url.Parse(html.UnescapeString(m[1]))
		rec := e.do("GET", base.ResolveReference(ref).String(), "", "")
		if rec.status != 200 || !strings.Contains(rec.body, "Letters, by Email") || !strings.Contains(rec.body, "Your confirmation") {
			t.Errorf("GET the record link = %d\n%s", rec.status, rec.body)
		}
		if d := e.decide("jane@example.com", "email", "letters", ""); !d.Allowed || d.Reason != consentd.ReasonOptedIn {
			t.Errorf("Decide after confirming = %v %s; want opted_in", d.Allowed, d.Reason)
		}
		if c := e.consent("jane@example.com", "letters:email"); c == nil || c.Status != consentd.OptedIn || c.Source.Type != consentd.SourceDoubleOptIn {
			t.Errorf("letters consent after confirming = %+v; want opted_in by the confirmation", c)
		}
	})
}
