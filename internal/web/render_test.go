package web

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"golang.org/x/net/html"
)

// en is an English page of workspace alpha.
var en = brandPage(&consentd.Workspace{Name: "alpha"}, "en", "")

// unsub is the unsubscribe page's view of the newsletter (or another
// name) by email.
func unsub(name string, already bool) unsubscribeView {
	t := &target{cp: consentd.PartyContactPoint{Kind: consentd.KindEmail, Value: "jane@example.com"},
		ct: consentd.ChannelType{ID: "newsletter:email", Purpose: "newsletter", Channel: "email"}, name: name, pc: en}
	if already {
		t.current = &consentd.Consent{Status: consentd.OptedOut}
	}
	return t.view()
}

// fixed is every page with fixed data.
var fixed = []struct {
	name   string
	status int
	pc     *pageCtx
	page   any
	want   []string
}{
	{"unsubscribe", 200, en, unsub("Newsletter", false),
		[]string{"<title>Unsubscribe from Newsletter</title>", "Unsubscribe j•••@example.com from Newsletter", `name="List-Unsubscribe" value="One-Click"`,
			"Stop Newsletter messages from alpha by email to j•••@example.com?", `<input type="hidden" name="lang" value="en">`}},
	{"unsubscribe", 200, en, unsub("Newsletter", true),
		[]string{"already unsubscribed"}},
	{"unsubscribed", 200, en, unsub("Weekly digest", false),
		[]string{"You are unsubscribed", "will no longer get Weekly digest messages from alpha by email"}},
	{"preferences", 200, en, preferencesView{
		CSRF: "kid.payload.mac", Notice: en.T("page.prefs.saved"), GPC: &gpcView{Purposes: []string{"Partner offers"}, Text: en.T("page.gpc.off", "purposes", "Partner offers")},
		ContactPoints: []*cpView{
			{Heading: "Messages to j•••@example.com", Purposes: []*purposeView{
				{Name: "Newsletter", Rows: []*rowView{{ID: "c0", Key: "0/newsletter:email", Label: "Email", Checked: true}},
					Topics: []*topicView{{Name: "Weekly digest", Rows: []*rowView{{ID: "c1", Key: "0/weekly:email", Label: "Email"}}}}},
				{Name: "Partner offers", Rows: []*rowView{{ID: "c2", Key: "0/partners:email", Label: "Email", GPCOff: true, Note: en.T("page.gpc.row")}}},
				{Name: "Order updates", Rows: []*rowView{{ID: "c3", Key: "0/orders:email", Label: "Email", Fixed: true, Note: en.T("page.prefs.fixed")}}},
			}},
			{Heading: "Messages to +14•••••••23", Blocked: []string{suppressionText(en.L, &consentd.Suppression{Reason: consentd.SuppressSMSStop, Channel: "sms"})}},
		}},
		[]string{"Your communication preferences", "Your browser sent a Global Privacy Control signal", "turned off: Partner offers",
			`<input type="hidden" name="csrf" value="kid.payload.mac">`, `<input type="checkbox" id="c0" name="on" value="0/newsletter:email" checked>`,
			`<label for="c1">Email</label>`, `disabled aria-describedby="c2-note"`, "Always sent", "Messages by text message to this address are blocked because you replied STOP. Reply START to receive them again.",
			"There is nothing to choose for this address.", `value="unsubscribe_all"`, "Your choices are saved."}},
	{"preferences", 403, en, preferencesView{Error: en.T("page.prefs.stale")}, []string{`role="alert"`, "out of date"}},
	{"invalid", 404, nil, nil, []string{"This link does not work", "Nothing was changed"}},
	{"limited", 429, nil, nil, []string{"Too many requests"}},
	{"crossorigin", 403, nil, nil, []string{"sent from another website"}},
	{"error", 500, nil, nil, []string{"Something went wrong"}},
}

func TestRenderPages(t *testing.T) {
	s := New(nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for i, c := range fixed {
		t.Run(fmt.Sprintf("%s/%d", c.name, i), func(t *testing.T) {
			w := httptest.NewRecorder()
			r := httptest.NewRequest("GET", "/u/x", nil)
			s.render(w, r, c.status, c.name, c.pc, c.page)
			body := w.Body.String()
			if w.Code != c.status {
				t.Errorf("status = %d; want %d", w.Code, c.status)
			}
			if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			text := html.UnescapeString(body)
			for _, want := range c.want {
				if !strings.Contains(body, want) && !strings.Contains(text, want) {
					t.Errorf("page has no %q:\n%s", want, body)
				}
			}
			checkPage(t, body)
		})
	}
}

// checkPage checks what every page needs: a language, a viewport for
// phones, a title, one h1, a label for every form control, and a style
// the Content-Security-Policy admits.
func checkPage(t *testing.T, body string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var lang, viewport, title bool
	h1 := 0
	ids := map[string]bool{}
	labelled := map[string]bool{}
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		a := map[string]string{}
		for _, at := range n.Attr {
			a[at.Key] = at.Val
		}
		switch n.Data {
		case "html":
			lang = a["lang"] == "en"
		case "meta":
			viewport = viewport || (a["name"] == "viewport" && strings.Contains(a["content"], "width=device-width"))
		case "title":
			title = n.FirstChild != nil && strings.TrimSpace(n.FirstChild.Data) != ""
		case "h1":
			h1++
		case "input":
			if a["type"] == "checkbox" {
				ids[a["id"]] = true
			}
		case "label":
			labelled[a["for"]] = true
		case "button":
			if n.FirstChild == nil || strings.TrimSpace(n.FirstChild.Data) == "" {
				t.Errorf("a button without text")
			}
		case "img": // the workspace's logo, from this server
			if a["alt"] == "" {
				t.Errorf("an image without alt text")
			}
		case "script", "iframe", "link":
			t.Errorf("page has a <%s>: pages work without scripts or outside resources", n.Data)
		}
	}
	if !lang || !viewport || !title || h1 != 1 {
		t.Errorf("lang %v, viewport %v, title %v, h1 %d; want all, and one h1", lang, viewport, title, h1)
	}
	for id := range ids {
		if !labelled[id] {
			t.Errorf("checkbox %s has no <label for>", id)
		}
	}
}

func TestStyleMatchesCSP(t *testing.T) {
	s := New(nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "/u/", nil))
	css := strings.TrimSuffix(strings.TrimPrefix(string(s.style), "<style>"), "</style>")
	sum := sha256.Sum256([]byte(css))
	csp := w.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q does not admit the page's style", csp)
	}
	for _, h := range []string{"Cache-Control", "Referrer-Policy", "X-Frame-Options", "X-Robots-Tag"} {
		if w.Header().Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
}

func TestMask(t *testing.T) {
	for _, c := range []struct {
		kind      consentd.ContactPointKind
		in, want  string
		forbidden string
	}{
		{consentd.KindEmail, "jane.doe@example.com", "j•••@example.com", "jane"},
		{consentd.KindEmail, "élise@example.com", "é•••@example.com", "lise"},
		{consentd.KindPhone, "+14155550123", "+14•••••••23", "5550"},
		{consentd.KindCustom, "device-token-123456", "de•••", "token"},
		{consentd.KindCustom, "abc", "•••", "abc"},
	} {
		got := mask(c.kind, c.in)
		if got != c.want || strings.Contains(got, c.forbidden) {
			t.Errorf("mask(%s, %q) = %q; want %q", c.kind, c.in, got, c.want)
		}
	}
}

func TestOptOutTime(t *testing.T) {
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Hour), now.Add(time.Minute)
	for _, c := range []struct {
		cur  *consentd.Consent
		want time.Time
	}{
		{nil, now},
		{&consentd.Consent{Status: consentd.OptedIn, CapturedAt: past}, now},
		{&consentd.Consent{Status: consentd.OptedOut, CapturedAt: past}, past},    // replay: unchanged
		{&consentd.Consent{Status: consentd.OptedIn, CapturedAt: future}, future}, // tie: opted_out wins
	} {
		if got := optOutTime(c.cur, now); !got.Equal(c.want) {
			t.Errorf("optOutTime(%+v) = %v; want %v", c.cur, got, c.want)
		}
	}
}

// TestBrandStyle: a workspace's accent colour comes in a second style
// element that the response's Content-Security-Policy admits by its hash;
// a malformed colour is never put into CSS; the default accent, like a
// workspace's, has a contrast of at least 4.5:1 with white (WCAG AA).
func TestBrandStyle(t *testing.T) {
	s := New(nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ws := &consentd.Workspace{Name: "alpha"}
	ws.AccentColor = "#0b5394"
	ws.Logo = &consentd.Logo{URL: "/brand/ws_1/logo/abc", Width: 160, Height: 48}
	w := httptest.NewRecorder()
	s.render(w, httptest.NewRequest("GET", "/u/x", nil), 200, "unsubscribe", brandPage(ws, "en", ""), unsub("Newsletter", false))
	css := accentCSS("#0b5394")
	sum := sha256.Sum256([]byte(css))
	csp := w.Header().Get("Content-Security-Policy")
	if !strings.Contains(w.Body.String(), "<style>"+css+"</style>") || !strings.Contains(csp, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") ||
		!strings.Contains(csp, "img-src 'self'") {
		t.Errorf("accent style or its CSP missing: %s\n%s", csp, w.Body.String())
	}
	if !strings.Contains(w.Body.String(), `<img src="/brand/ws_1/logo/abc" alt="alpha" width="160" height="48">`) {
		t.Errorf("no logo:\n%s", w.Body.String())
	}
	checkPage(t, w.Body.String())

	ws.AccentColor = "red;}body{display:none"
	if pc := brandPage(ws, "en", ""); pc.accent != "" {
		t.Errorf("accent %q was taken", pc.accent)
	}

	m := regexp.MustCompile(`--accent:(#[0-9a-f]{6})`).FindStringSubmatch(string(s.style))
	if m == nil || consentd.ContrastWithWhite(m[1]) < consentd.MinAccentContrast {
		t.Errorf("the default accent %v has too little contrast with white", m)
	}
}
