package web_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"golang.org/x/net/html"
)

// htmlForm is the form of a preference page as a browser would post it.
type htmlForm struct {
	csrf     string
	shown    []string
	checked  map[string]bool // key -> ticked
	disabled map[string]bool
	labels   map[string]string // key -> label text
}

func parseHTMLForm(t *testing.T, body string) *htmlForm {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	f := &htmlForm{checked: map[string]bool{}, disabled: map[string]bool{}, labels: map[string]string{}}
	ids := map[string]string{}    // element id -> key
	labels := map[string]string{} // for -> text
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		attr := map[string]string{}
		has := map[string]bool{}
		for _, a := range n.Attr {
			attr[a.Key], has[a.Key] = a.Val, true
		}
		switch {
		case n.Data == "input" && attr["name"] == "csrf":
			f.csrf = attr["value"]
		case n.Data == "input" && attr["name"] == "shown":
			f.shown = append(f.shown, attr["value"])
		case n.Data == "input" && attr["type"] == "checkbox":
			f.checked[attr["value"]] = has["checked"]
			f.disabled[attr["value"]] = has["disabled"]
			ids[attr["id"]] = attr["value"]
		case n.Data == "label":
			var text strings.Builder
			for c := range n.Descendants() {
				if c.Type == html.TextNode {
					text.WriteString(c.Data)
				}
			}
			labels[attr["for"]] = strings.TrimSpace(text.String())
		}
	}
	for id, key := range ids {
		if labels[id] == "" {
			t.Errorf("checkbox %s (%s) has no label", id, key)
		}
		f.labels[key] = labels[id]
	}
	return f
}

// values are what a browser posts for the form with action.
func (f *htmlForm) values(action string) url.Values {
	v := url.Values{"csrf": {f.csrf}, "shown": f.shown, "action": {action}}
	for k, on := range f.checked {
		if on && !f.disabled[k] {
			v.Add("on", k)
		}
	}
	return v
}

// withParty sets up party p1 with an email address and a phone number.
func withParty(t *testing.T, e *env) {
	t.Helper()
	if st := e.call("PUT", "/v1/parties/p1", `{"contact_points":[{"kind":"email","value":"jane@example.com"},{"kind":"phone","value":"+1 415 555 0123"}]}`, nil); st != 200 {
		t.Fatalf("PUT party = %d", st)
	}
}

func TestPreferenceCenterSave(t *testing.T) {
	e := newEnv(t)
	withParty(t, e)
	l := e.link("preferences", "jane@example.com", "")
	p := e.do("GET", l.URL, "", "")
	if p.status != 200 {
		t.Fatalf("GET = %d", p.status)
	}
	for _, want := range []string{"Messages to j•••@example.com", "Messages to +14•••••••23", "Newsletter", "Weekly digest", "Partner offers", "Order updates", "Always sent"} {
		if !strings.Contains(html.UnescapeString(p.body), want) {
			t.Errorf("page has no %q", want)
		}
	}
	f := parseHTMLForm(t, p.body)
	want := map[string]bool{"0/newsletter:email": true, "0/weekly:email": true, "0/partners:email": false, "1/newsletter:sms": false, "1/weekly:sms": false}
	for k, on := range want {
		if got, ok := f.checked[k]; !ok || got != on {
			t.Errorf("checkbox %s = %v (present %v); want %v", k, got, ok, on)
		}
	}
	if _, ok := f.checked["0/orders:email"]; ok {
		t.Errorf("disabled enforcement has a checkbox")
	}
	// The label is the statement the person agrees to: who, what, how, where.
	if f.labels["1/newsletter:sms"] != "alpha may send me “Newsletter” by text message to +14•••••••23." {
		t.Errorf("label of 1/newsletter:sms = %q", f.labels["1/newsletter:sms"])
	}

	// Not accepted: no CSRF token, another link's, a cross-site post.
	n := e.logSize()
	other := e.link("preferences", "max@example.com", "")
	otherForm := parseHTMLForm(t, e.do("GET", other.URL, "", "").body)
	noCSRF := f.values("save")
	noCSRF.Del("csrf")
	noCSRF.Set("on", "1/newsletter:sms")
	foreign := f.values("save")
	foreign.Set("csrf", otherForm.csrf)
	foreign.Set("on", "1/newsletter:sms")
	for name, c := range map[string]struct {
		body   string
		header []string
		status int
	}{
		"no csrf":    {noCSRF.Encode(), nil, 403},
		"other csrf": {foreign.Encode(), nil, 403},
		"cross-site": {f.values("unsubscribe_all").Encode(), []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, 403},
		"bad link":   {f.values("unsubscribe_all").Encode(), nil, 404},
	} {
		u := l.URL
		if name == "bad link" {
			u += "x"
		}
		if p := e.do("POST", u, form, c.body, c.header...); p.status != c.status {
			t.Errorf("POST %s = %d; want %d", name, p.status, c.status)
		}
	}
	if got := e.logSize(); got != n {
		t.Fatalf("refused POSTs changed the log: %d -> %d", n, got)
	}

	// Untick the weekly digest by email, tick the newsletter by SMS.
	v := f.values("save")
	v.Del("on")
	v["on"] = []string{"0/newsletter:email", "1/newsletter:sms"}
	p = e.do("POST", l.URL, form, v.Encode(), "Origin", e.srv.URL, "Sec-Fetch-Site", "same-origin")
	if p.status != 200 || !strings.Contains(p.body, "Your choices are saved.") {
		t.Fatalf("save = %d\n%s", p.status, p.body)
	}
	if got := e.logSize(); got != n+2 {
		t.Errorf("save logged %d entries; want 2 (only what changed)", got-n)
	}
	if d := e.decide("jane@example.com", "email", "newsletter", "weekly"); d.Allowed || d.Reason != consentd.ReasonTopicOptedOut {
		t.Errorf("Decide(weekly email) = %v %s; want topic_opted_out", d.Allowed, d.Reason)
	}
	if d := e.decide("+14155550123", "sms", "newsletter", ""); !d.Allowed || d.Reason != consentd.ReasonOptedIn {
		t.Errorf("Decide(newsletter sms) = %v %s; want opted_in", d.Allowed, d.Reason)
	}
	if c := e.consent("+14155550123", "newsletter:sms"); c == nil || c.Source.Type != consentd.SourcePreferenceCenter || c.Proof == nil || c.Proof.IP == "" {
		t.Errorf("newsletter sms consent = %+v; want source preference_center with proof", c)
	}
	if c := e.consent("jane@example.com", "newsletter:email"); c != nil {
		t.Errorf("an unchanged row was written: %+v", c)
	}
	after := parseHTMLForm(t, p.body)
	if after.checked["0/weekly:email"] || !after.checked["1/newsletter:sms"] {
		t.Errorf("the page after saving does not show the new state: %v", after.checked)
	}
	// The form of the answer works again (a fresh CSRF token).
	if p := e.do("POST", l.URL, form, after.values("save").Encode()); p.status != 200 || e.logSize() != n+2 {
		t.Errorf("saving again unchanged = %d, log %d; want 200 and nothing logged", p.status, e.logSize()-n-2)
	}
}

func TestPreferenceCenterUnsubscribeAll(t *testing.T) {
	e := newEnv(t)
	withParty(t, e)
	e.write("+14155550123", "newsletter:sms", consentd.OptedIn, time.Now().Add(-time.Hour))
	l := e.link("preferences", "+1 (415) 555-0123", "newsletter:sms") // a link for the phone, with a header for SMS
	if !strings.Contains(l.ListUnsubscribe, "/u/") || l.ListUnsubscribePost != "List-Unsubscribe=One-Click" {
		t.Errorf("preference link with a channel type: list_unsubscribe %q, post %q; want a one-click /u/ link", l.ListUnsubscribe, l.ListUnsubscribePost)
	}
	f := parseHTMLForm(t, e.do("GET", l.URL, "", "").body)
	p := e.do("POST", l.URL, form, f.values("unsubscribe_all").Encode())
	if p.status != 200 || !strings.Contains(p.body, "You are unsubscribed from everything listed here") {
		t.Fatalf("unsubscribe all = %d\n%s", p.status, p.body)
	}
	for _, c := range []struct{ cp, ch, purpose, topic string }{
		{"jane@example.com", "email", "newsletter", ""}, {"jane@example.com", "email", "newsletter", "weekly"},
		{"jane@example.com", "email", "partners", ""}, {"+14155550123", "sms", "newsletter", ""},
	} {
		if d := e.decide(c.cp, c.ch, c.purpose, c.topic); d.Allowed || d.Reason != consentd.ReasonSuppressed {
			t.Errorf("Decide(%s %s %s %s) = %v %s; want suppressed", c.cp, c.ch, c.purpose, c.topic, d.Allowed, d.Reason)
		}
	}
	if d := e.decide("jane@example.com", "email", "orders", ""); !d.Allowed {
		t.Errorf("Decide(orders) = %v %s; transactional messages go on", d.Allowed, d.Reason)
	}
	for _, k := range []struct{ cp, ct string }{{"jane@example.com", "newsletter:email"}, {"jane@example.com", "weekly:email"}, {"+14155550123", "newsletter:sms"}, {"+14155550123", "weekly:sms"}} {
		if c := e.consent(k.cp, k.ct); c == nil || c.Status != consentd.OptedOut {
			t.Errorf("consent %s %s = %+v; want opted_out", k.cp, k.ct, c)
		}
	}
	var sups struct{ Suppressions []consentd.Suppression }
	e.call("GET", "/v1/suppressions", "", &sups)
	if len(sups.Suppressions) != 2 {
		t.Errorf("suppressions = %+v; want one do_not_contact per contact point", sups.Suppressions)
	}
	if !strings.Contains(p.body, "you asked not to be contacted") {
		t.Errorf("the page does not say marketing is blocked")
	}
	// Again: nothing new.
	n := e.logSize()
	f = parseHTMLForm(t, p.body)
	if p := e.do("POST", l.URL, form, f.values("unsubscribe_all").Encode()); p.status != 200 || e.logSize() != n {
		t.Errorf("unsubscribe all again = %d, logged %d entries; want 200, none", p.status, e.logSize()-n)
	}
}

func TestPreferenceCenterGPC(t *testing.T) {
	e := newEnv(t)
	e.write("jane@example.com", "partners:email", consentd.OptedIn, time.Now().Add(-time.Hour))
	l := e.link("preferences", "jane@example.com", "")
	p := e.do("GET", l.URL, "", "", "Sec-GPC", "1")
	if p.status != 200 || !strings.Contains(p.body, "Your browser sent a Global Privacy Control signal") || !strings.Contains(p.body, "turned off: Partner offers") {
		t.Fatalf("GET with Sec-GPC = %d\n%s", p.status, p.body)
	}
	c := e.consent("jane@example.com", "partners:email")
	if c == nil || c.Status != consentd.OptedOut || c.Source.Type != consentd.SourceGPC {
		t.Errorf("partners consent = %+v; want opted_out by gpc", c)
	}
	if c := e.consent("jane@example.com", "newsletter:email"); c != nil {
		t.Errorf("GPC wrote the newsletter, which is not sale_or_share: %+v", c)
	}
	f := parseHTMLForm(t, p.body)
	if !f.disabled["0/partners:email"] || f.checked["0/partners:email"] {
		t.Errorf("partners checkbox: disabled %v checked %v; want off and disabled under GPC", f.disabled["0/partners:email"], f.checked["0/partners:email"])
	}
	// A page without the single contact point's party: only its own section.
	if strings.Count(p.body, "<h2>Messages to") != 1 {
		t.Errorf("want one contact point on the page")
	}
	n := e.logSize()
	if p := e.do("GET", l.URL, "", "", "Sec-GPC", "1"); p.status != 200 || e.logSize() != n {
		t.Errorf("GPC again logged %d entries; want none", e.logSize()-n)
	}
	// Saving with GPC on cannot tick the sale_or_share purpose back on.
	v := f.values("save")
	v.Add("on", "0/partners:email")
	if p := e.do("POST", l.URL, form, v.Encode(), "Sec-GPC", "1"); p.status != 200 {
		t.Errorf("save with GPC = %d", p.status)
	}
	if c := e.consent("jane@example.com", "partners:email"); c.Status != consentd.OptedOut {
		t.Errorf("partners = %s after a save with GPC; want opted_out", c.Status)
	}
	// Without GPC, no notice.
	if p := e.do("GET", l.URL, "", ""); strings.Contains(p.body, "Global Privacy Control signal") {
		t.Errorf("the GPC notice shows without Sec-GPC")
	}
	if !slices.Contains(f.shown, "0/partners:email") {
		t.Errorf("shown = %v", f.shown)
	}
}
