package doi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/api"
	"github.com/consentd/consentd/internal/apitest"
	"github.com/consentd/consentd/internal/automation"
	"github.com/consentd/consentd/internal/doi"
	"github.com/consentd/consentd/internal/i18n"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/mail"
	"github.com/consentd/consentd/internal/mail/mailtest"
	"github.com/consentd/consentd/internal/signedlink"
	"github.com/consentd/consentd/internal/sqlite"
	"github.com/consentd/consentd/internal/web"
)

// env is consentd as serve wires it, on loopback: the API and /c/ on one
// HTTP server, a real SQLite database, and a Mailer sending to a real SMTP
// server (or into an outbox folder).
type env struct {
	t      *testing.T
	ctx    context.Context
	db     *sqlite.DB
	links  *signedlink.Keyring
	srv    *httptest.Server
	page   *doi.Handler
	mailer *doi.Mailer
	runner *automation.Runner // runs the confirmation jobs: e.sendDue, e.run
	smtp   *mailtest.Server
	ws     string
	key    string // admin
	skew   atomic.Int64
	logs   *lockedBuffer
	client *http.Client // checks API exchanges against /openapi.json
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newEnv starts everything. With outbox set, mail goes into that folder
// instead of SMTP. The job runner does not run: tests call sendDue, or
// run().
func newEnv(t *testing.T, outbox string) *env {
	t.Helper()
	e := &env{t: t, ctx: t.Context(), logs: &lockedBuffer{}}
	dir := t.TempDir()
	db, err := sqlite.Open(filepath.Join(dir, "consentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	// The store's clock runs e.skew ahead, so that tests can let time pass.
	db.Now = func() time.Time { return time.Now().Add(time.Duration(e.skew.Load())) }
	t.Cleanup(func() { db.Close() })
	e.db = db
	signer, err := ledger.LoadOrCreateKey(filepath.Join(dir, "checkpoint.key"), "consentd")
	if err != nil {
		t.Fatal(err)
	}
	if e.links, err = signedlink.LoadOrCreate(filepath.Join(dir, "link-keys.json")); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(e.logs, nil))
	t.Cleanup(func() {
		if l := e.logs.String(); strings.Contains(l, "level=ERROR") || strings.Contains(l, "@example.") {
			t.Errorf("the server logged errors or addresses:\n%s", l)
		}
	})
	e.page = doi.NewHandler(db, e.links, log)
	mux := http.NewServeMux()
	mux.Handle("/c/", e.page)
	a := api.New(db, signer, log)
	mux.Handle("/", a)
	// The person's record, which the page links to after a confirmation.
	pages := web.New(db, e.links, log)
	pages.Receipts = a
	pages.Mount(mux)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)

	var sender mail.Sender
	if outbox != "" {
		if sender, err = mail.Open("", outbox); err != nil {
			t.Fatal(err)
		}
	} else {
		e.smtp = mailtest.Start(t, "relay", "s3cret")
		if sender, err = mail.Open(e.smtp.URL(), ""); err != nil {
			t.Fatal(err)
		}
	}
	e.mailer = doi.NewMailer(db, e.links, sender, e.srv.URL+"/", "Consent Desk <consent@example.org>", log)
	// The job queue runs the confirmations' messages, as serve has it; no
	// SMS provider.
	e.runner = automation.New(db, nil, log)
	e.runner.Now, e.runner.Base, e.runner.Poll = db.Now, time.Minute, 10*time.Millisecond
	e.runner.Handlers = map[string]automation.Handler{
		consentd.JobKindConfirmationMail: e.mailer,
		consentd.JobKindConfirmationSMS:  &doi.Texter{DB: db, Links: e.links, PublicURL: e.srv.URL + "/", Now: db.Now},
	}

	ws, err := db.CreateWorkspace(e.ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	e.ws = ws.ID
	if _, e.key, err = db.CreateKey(e.ctx, e.ws, consentd.RoleAdmin, "admin", ""); err != nil {
		t.Fatal(err)
	}
	e.api("POST", "/v1/purposes", `{"id":"news","name":"Product News","description":"What is new in our products, twice a month.","type":"commercial","double_opt_in":["DE"],
		"channels":{"email":{"enforcement":"restrictive"},"sms":{"enforcement":"restrictive"}}}`, 201)
	return e
}

// sendDue runs the confirmation jobs that are due and returns how many
// messages went out.
func (e *env) sendDue() (int, error) {
	before := e.sentJobs()
	_, err := e.runner.RunOnce(e.ctx)
	return e.sentJobs() - before, err
}

// sentJobs counts the confirmation jobs that sent their message.
func (e *env) sentJobs() int {
	e.t.Helper()
	js, _, err := e.db.Jobs(e.ctx, e.ws, consentd.JobFilter{State: consentd.JobSucceeded, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, j := range js {
		if strings.HasPrefix(j.Result, "sent") {
			n++
		}
	}
	return n
}

// run runs the job runner, polling often, until the test ends.
func (e *env) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.runner.Run(ctx)
	}()
	e.t.Cleanup(func() {
		cancel()
		<-done
	})
}

// api calls the API with the admin key and checks the status.
func (e *env) api(method, path, body string, want int) map[string]any {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.key)
	req.Header.Set("Content-Type", "application/json")
	if e.client == nil {
		e.client = apitest.Client(e.t)
	}
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		e.t.Fatalf("%s %s = %d %s; want %d", method, path, res.StatusCode, b, want)
	}
	var out map[string]any
	json.Unmarshal(b, &out)
	return out
}

// optIn writes an opt-in of cp to news on channel from jurisdiction.
func (e *env) optIn(cp, channel, jurisdiction string, at time.Time) map[string]any {
	e.t.Helper()
	b, _ := json.Marshal(map[string]any{"contact_point": cp, "channel": channel, "purpose": "news", "status": "opted_in",
		"captured_at": at, "jurisdiction": jurisdiction, "source": map[string]any{"type": "form", "name": "signup"},
		"proof": map[string]any{"ip": "203.0.113.7", "user_agent": "SignupForm/1.0", "form_version": "signup-v3"}})
	return e.api("POST", "/v1/consents", string(b), 201)
}

func (e *env) decide(cp string) consentd.Reason {
	e.t.Helper()
	d, err := e.db.Decide(e.ctx, e.ws, &consentd.DecisionRequest{ContactPoint: cp, Channel: "email", Purpose: "news"})
	if err != nil {
		e.t.Fatal(err)
	}
	return d.Reason
}

func (e *env) logSize() int64 {
	e.t.Helper()
	n, err := e.db.LogSize(e.ctx, e.ws)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) consent(cp string) *consentd.Consent {
	e.t.Helper()
	c, err := e.db.Consent(e.ctx, e.ws, cp+"#news:email", time.Time{})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// visit sends GET or POST to a link as a browser on the page would, and
// returns the status and the page.
func (e *env) visit(method, link string, header ...string) (int, string) {
	e.t.Helper()
	var body io.Reader
	if method == "POST" {
		body = strings.NewReader("")
	}
	req, _ := http.NewRequest(method, link, body)
	req.Header.Set("User-Agent", "PhoneBrowser/9.1")
	if method == "POST" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if ct := res.Header.Get("Content-Type"); res.StatusCode != 403 && ct != "text/html; charset=utf-8" {
		e.t.Errorf("%s link: Content-Type %q", method, ct)
	}
	if rp := res.Header.Get("Referrer-Policy"); res.StatusCode != 403 && rp != "no-referrer" {
		e.t.Errorf("%s link: Referrer-Policy %q; the token would leak in Referer", method, rp)
	}
	return res.StatusCode, string(b)
}

var linkRE = regexp.MustCompile(`https?://\S+`)

// en is the English locale, for the times the mail and the pages write.
var en = i18n.Get("en")

// parseMail parses a received message and returns its header, decoded text
// (the text/plain part) and the one link in it.
func parseMail(t *testing.T, raw []byte) (netmail.Header, string, string) {
	t.Helper()
	h, text, _ := parseParts(t, raw)
	links := linkRE.FindAllString(text, -1)
	if len(links) != 1 {
		t.Fatalf("the mail has %d links; want exactly the confirmation link:\n%s", len(links), text)
	}
	return h, text, links[0]
}

// parseParts parses a received message: its header, and its text and HTML
// decoded. A multipart/alternative message has both, a plain one only the
// text.
func parseParts(t *testing.T, raw []byte) (h netmail.Header, text, htmlBody string) {
	t.Helper()
	p := parseMessage(t, raw)
	return p.header, p.text, p.html
}

// parsedMail is a received message taken apart.
type parsedMail struct {
	header     netmail.Header
	text, html string
	// images are the inline images of a multipart/related HTML part, by
	// Content-ID: their type and bytes.
	images map[string]inlineImage
}

type inlineImage struct {
	contentType string
	data        []byte
}

// parseMessage takes a received message apart: multipart/alternative of
// text/plain and text/html, or of text/plain and multipart/related (the
// HTML and its images); or a plain text message.
func parseMessage(t *testing.T, raw []byte) parsedMail {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("ReadMessage: %v\n%s", err, raw)
	}
	out := parsedMail{header: m.Header, images: map[string]inlineImage{}}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type: %v", err)
	}
	if mt != "multipart/alternative" {
		body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
		if err != nil {
			t.Fatal(err)
		}
		out.text = string(body)
		return out
	}
	var walk func(r *multipart.Reader)
	walk = func(r *multipart.Reader) {
		for {
			p, err := r.NextPart()
			if err == io.EOF {
				return
			} else if err != nil {
				t.Fatalf("NextPart: %v", err)
			}
			ct, params, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
			if ct == "multipart/related" {
				walk(multipart.NewReader(p, params["boundary"]))
				continue
			}
			// The multipart reader decodes quoted-printable parts itself.
			var src io.Reader = p
			if p.Header.Get("Content-Transfer-Encoding") == "base64" {
				src = base64.NewDecoder(base64.StdEncoding, p)
			}
			b, err := io.ReadAll(src)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case ct == "text/plain":
				out.text = string(b)
			case ct == "text/html":
				out.html = string(b)
			case strings.HasPrefix(ct, "image/"):
				out.images[strings.Trim(p.Header.Get("Content-ID"), "<>")] = inlineImage{ct, b}
			default:
				t.Errorf("unexpected part %s", ct)
			}
		}
	}
	walk(multipart.NewReader(m.Body, params["boundary"]))
	if out.text == "" || out.html == "" {
		t.Fatalf("multipart/alternative without a text and an HTML part:\n%s", raw)
	}
	return out
}

// claims returns what a link's token says.
func (e *env) claims(link string) *signedlink.Claims {
	e.t.Helper()
	token := link[strings.LastIndex(link, "/")+1:]
	c, err := e.links.Verify(token, time.Now())
	if err != nil {
		e.t.Fatalf("the link's token does not verify: %v", err)
	}
	return c
}

func TestConfirmationOverSMTP(t *testing.T) {
	e := newEnv(t, "")
	e.run()
	before := time.Now()
	ans := e.optIn("Jane.Doe@Example.com", "email", "DE", before.Add(-time.Minute))
	conf, _ := ans["confirmation"].(map[string]any)
	if ans["status"] != "pending" || conf == nil || conf["sent_to"] != "j***@e***.com" {
		t.Fatalf("POST /v1/consents from DE = %v; want pending with confirmation sent to j***@e***.com", ans)
	}
	if exp, _ := time.Parse(time.RFC3339, conf["expires_at"].(string)); exp.Sub(before) < consentd.ConfirmationTTL-time.Minute || exp.Sub(before) > consentd.ConfirmationTTL+time.Minute {
		t.Errorf("expires_at %v; want 28 days from now", exp)
	}
	const cp = "jane.doe@example.com"
	if r := e.decide(cp); r != consentd.ReasonPendingConfirmation {
		t.Fatalf("Decide before confirming = %s; want pending_confirmation", r)
	}

	got := e.smtp.Wait(t, 1, 10*time.Second)
	if got[0].From != "consent@example.org" || len(got[0].To) != 1 || got[0].To[0] != cp {
		t.Errorf("envelope from %q to %v", got[0].From, got[0].To)
	}
	h, body, link := parseMail(t, got[0].Data)
	subject, _ := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if subject != "Please confirm your subscription to Product News" {
		t.Errorf("Subject = %q", subject)
	}
	if to, _ := h.AddressList("To"); len(to) != 1 || to[0].Address != cp {
		t.Errorf("To = %v", to)
	}
	if from, _ := h.AddressList("From"); len(from) != 1 || from[0].Address != "consent@example.org" {
		t.Errorf("From = %v", from)
	}
	if d, err := h.Date(); err != nil || time.Since(d) > time.Minute {
		t.Errorf("Date = %v, %v", d, err)
	}
	if id := h.Get("Message-ID"); !strings.HasSuffix(id, "@example.org>") {
		t.Errorf("Message-ID = %q", id)
	}
	if !strings.HasPrefix(link, e.srv.URL+"/c/") || !strings.Contains(body, "Product News") {
		t.Errorf("link %q, body:\n%s", link, body)
	}
	if c := e.claims(link); c.Kind != signedlink.Confirm || c.Workspace != e.ws || c.ChannelType != "news:email" || c.Nonce == "" ||
		time.Until(c.Expires()) < consentd.ConfirmationTTL-time.Hour {
		t.Errorf("token claims %+v", c)
	}
	if strings.Contains(link, "jane") || strings.Contains(link, "example.com") {
		t.Errorf("the link carries the address: %s", link)
	}
	// The mail states what the person agrees to, who asks and when.
	issued, err := e.db.Confirmation(e.ctx, e.ws, e.claims(link).Nonce)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"What:       Product News\n              What is new in our products, twice a month.",
		"How:        by email", "To:         " + cp, "Asked by:   default",
		"Requested:  " + en.DateTime(issued.IssuedAt),
		"The link works until " + en.DateTime(issued.ExpiresAt)} {
		if !strings.Contains(strings.ReplaceAll(body, "\r\n", "\n"), want) {
			t.Errorf("the mail does not say %q:\n%s", want, body)
		}
	}

	// GET shows the button and changes nothing, however often.
	size := e.logSize()
	for range 3 {
		status, page := e.visit("GET", link)
		if status != 200 || !strings.Contains(page, `<form method="post">`) || !strings.Contains(page, `<button type="submit">Confirm</button>`) ||
			!strings.Contains(page, "Product News") || !strings.Contains(page, "j***@e***.com") || strings.Contains(page, cp) {
			t.Fatalf("GET link = %d\n%s", status, page)
		}
	}
	if r := e.decide(cp); r != consentd.ReasonPendingConfirmation || e.logSize() != size {
		t.Fatalf("after GET: Decide %s, log %d -> %d; want nothing changed", r, size, e.logSize())
	}

	// POST confirms.
	status, page := e.visit("POST", link)
	if status != 200 || !strings.Contains(page, "confirmed") {
		t.Fatalf("POST link = %d\n%s", status, page)
	}
	if r := e.decide(cp); r != consentd.ReasonOptedIn {
		t.Errorf("Decide after confirming = %s; want opted_in", r)
	}
	c := e.consent(cp)
	if c.Status != consentd.OptedIn || c.Source.Type != consentd.SourceDoubleOptIn || c.Proof == nil || c.Proof.IP != "203.0.113.7" ||
		c.Proof.UserAgent != "SignupForm/1.0" || c.Proof.FormVersion != "signup-v3" || c.Proof.ConfirmedAt == nil {
		t.Errorf("consent after confirming: %+v proof %+v", c, c.Proof)
	}
	// The page after the click states what was agreed, when the log
	// recorded it as confirmed, that entry, and links to the record.
	for _, want := range []string{"Product News", "What is new in our products, twice a month.", "j***@e***.com", "<dd>default</dd>",
		"<dt>Confirmed</dt><dd>" + en.DateTime(c.CapturedAt) + "</dd>",
		"<dt>Requested</dt><dd>" + en.DateTime(issued.IssuedAt) + "</dd>",
		"<dd>number " + strconv.FormatInt(c.Seq, 10) + "</dd>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the confirmed page does not say %q:\n%s", want, page)
		}
	}
	checkRecordLink(t, e, link, page)
	var details map[string]any
	json.Unmarshal(c.Source.Details, &details)
	if details["confirm_ip"] != "127.0.0.1" || details["confirm_user_agent"] != "PhoneBrowser/9.1" {
		t.Errorf("source details %s; want the confirmation's ip and user agent", c.Source.Details)
	}

	// Single use: a second POST says so and writes nothing.
	size = e.logSize()
	status, page = e.visit("POST", link)
	if status != 200 || !strings.Contains(page, "Already confirmed") || e.logSize() != size {
		t.Errorf("POST link again = %d, log %d -> %d\n%s", status, size, e.logSize(), page)
	}
	if status, page := e.visit("GET", link); status != 200 || !strings.Contains(page, "Already confirmed") || strings.Contains(page, "<form") ||
		!strings.Contains(page, "<dt>Confirmed</dt><dd>"+en.DateTime(c.CapturedAt)+"</dd>") {
		t.Errorf("GET a used link = %d\n%s", status, page)
	} else {
		checkRecordLink(t, e, link, page)
	}
	f, err := e.db.Confirmation(e.ctx, e.ws, e.claims(link).Nonce)
	if err != nil || f.SentAt == nil || f.UsedAt == nil || f.ConfirmIP != "127.0.0.1" {
		t.Errorf("the confirmation record: %+v, %v", f, err)
	}
	if n := len(e.smtp.Messages()); n != 1 {
		t.Errorf("%d mails sent; want 1", n)
	}
}

var recordLinkRE = regexp.MustCompile(`<a href="([^"]+)">See your record of consents`)

// checkRecordLink follows the record link of a confirmation page reached
// at link: the person's record, listing the confirmed subscription.
func checkRecordLink(t *testing.T, e *env, link, page string) {
	t.Helper()
	m := recordLinkRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no record link on the page:\n%s", page)
	}
	base, _ := url.Parse(link)
	ref, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	u := base.ResolveReference(ref)
	if !strings.HasPrefix(u.Path, "/p/") || !strings.HasSuffix(u.Path, "/record") {
		t.Fatalf("record link %s", u)
	}
	status, rec := e.visit("GET", u.String())
	if status != 200 || !strings.Contains(rec, "Your record of consents") || !strings.Contains(rec, "Product News") ||
		!strings.Contains(html.UnescapeString(rec), "Your confirmation") {
		t.Errorf("GET the record link = %d\n%s", status, rec)
	}
	// The record token reads the record, not the preference center.
	if status, _ := e.visit("GET", strings.TrimSuffix(u.String(), "/record")); status != 404 {
		t.Errorf("the record token opens the preference center: %d", status)
	}
}

func TestConfirmationAfterOptOutIsRefused(t *testing.T) {
	e := newEnv(t, "")
	t0 := time.Now().Add(-time.Hour)
	e.optIn("jane@example.com", "email", "DE", t0)
	if n, err := e.sendDue(); n != 1 || err != nil {
		t.Fatalf("SendDue() = %d, %v", n, err)
	}
	_, _, link := parseMail(t, e.smtp.Messages()[0].Data)
	e.api("POST", "/v1/consents", `{"contact_point":"jane@example.com","channel":"email","purpose":"news","status":"opted_out",
		"captured_at":"`+t0.Add(time.Minute).UTC().Format(time.RFC3339Nano)+`","source":{"type":"unsubscribe_link"}}`, 200)
	size := e.logSize()
	status, page := e.visit("POST", link)
	if status != http.StatusConflict || !strings.Contains(page, "can no longer be used") {
		t.Errorf("POST link after an opt-out = %d\n%s", status, page)
	}
	if r := e.decide("jane@example.com"); r != consentd.ReasonOptedOut || e.logSize() != size {
		t.Errorf("after the refused confirmation: Decide %s, log %d -> %d; want opted_out, nothing logged", r, size, e.logSize())
	}
}

func TestInvalidLinksGetOneGenericPage(t *testing.T) {
	e := newEnv(t, "")
	e.optIn("jane@example.com", "email", "DE", time.Now().Add(-time.Minute))
	e.sendDue()
	_, _, link := parseMail(t, e.smtp.Messages()[0].Data)
	size := e.logSize()

	// Expired: 29 days on.
	e.page.Now = func() time.Time { return time.Now().Add(29 * 24 * time.Hour) }
	expiredGET, pageGET := e.visit("GET", link)
	expiredPOST, pagePOST := e.visit("POST", link)
	e.page.Now = time.Now
	if expiredGET != 404 || expiredPOST != 404 || pageGET != pagePOST || !strings.Contains(pageGET, "not valid") {
		t.Errorf("expired link: GET %d, POST %d\n%s", expiredGET, expiredPOST, pagePOST)
	}
	tampered := link[:len(link)-3] + "AAA"
	cut := link[:len(link)-20]
	other, _ := e.links.Sign(signedlink.Claims{Kind: signedlink.Unsubscribe, Workspace: e.ws, Hash: e.claims(link).Hash, ChannelType: "news:email", Nonce: e.claims(link).Nonce})
	unknown, _ := e.links.Sign(signedlink.Claims{Kind: signedlink.Confirm, Workspace: e.ws, Hash: e.claims(link).Hash, ChannelType: "news:email", Nonce: "nope"})
	for _, l := range []string{tampered, cut, e.srv.URL + "/c/" + other, e.srv.URL + "/c/" + unknown, e.srv.URL + "/c/", e.srv.URL + "/c/x/y"} {
		for _, m := range []string{"GET", "POST"} {
			status, page := e.visit(m, l)
			if status != 404 || page != pagePOST {
				t.Errorf("%s %s = %d; want the generic 404 page\n%s", m, l, status, page)
			}
		}
	}
	if r := e.decide("jane@example.com"); r != consentd.ReasonPendingConfirmation || e.logSize() != size {
		t.Errorf("after invalid links: Decide %s, log %d -> %d; want nothing changed", r, size, e.logSize())
	}
	// The real link still works.
	if status, _ := e.visit("POST", link); status != 200 || e.decide("jane@example.com") != consentd.ReasonOptedIn {
		t.Errorf("POST the valid link = %d", status)
	}
}

func TestCrossOriginPostIsRefused(t *testing.T) {
	e := newEnv(t, "")
	e.optIn("jane@example.com", "email", "DE", time.Now().Add(-time.Minute))
	e.sendDue()
	_, _, link := parseMail(t, e.smtp.Messages()[0].Data)
	if status, _ := e.visit("POST", link, "Sec-Fetch-Site", "cross-site"); status != http.StatusForbidden {
		t.Errorf("cross-site POST = %d; want 403", status)
	}
	if r := e.decide("jane@example.com"); r != consentd.ReasonPendingConfirmation {
		t.Errorf("after a cross-site POST: %s", r)
	}
	if status, _ := e.visit("POST", link, "Sec-Fetch-Site", "same-origin"); status != 200 || e.decide("jane@example.com") != consentd.ReasonOptedIn {
		t.Errorf("same-origin POST = %d", status)
	}
}

func TestOutboxMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	e := newEnv(t, dir)
	e.optIn("jane@example.com", "email", "DE-BY", time.Now().Add(-time.Minute))
	if n, err := e.sendDue(); n != 1 || err != nil {
		t.Fatalf("SendDue() = %d, %v", n, err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("outbox holds %v; want one .eml", files)
	}
	raw, _ := os.ReadFile(files[0])
	h, _, link := parseMail(t, raw)
	if h.Get("To") != "<jane@example.com>" || h.Get("Date") == "" || h.Get("Message-ID") == "" || h.Get("From") == "" {
		t.Errorf("outbox message header: %v", h)
	}
	if status, _ := e.visit("POST", link); status != 200 || e.decide("jane@example.com") != consentd.ReasonOptedIn {
		t.Errorf("POST the outbox link = %d; decision %s", status, e.decide("jane@example.com"))
	}
	if n, _ := e.sendDue(); n != 0 {
		t.Errorf("SendDue() again = %d; want 0", n)
	}
}

func TestSendFailuresAreKeptAndRetried(t *testing.T) {
	e := newEnv(t, "")
	e.optIn("jane@example.com", "email", "DE", time.Now().Add(-time.Minute))
	e.smtp.Fail(1, 451)
	if n, err := e.sendDue(); n != 0 || err != nil {
		t.Fatalf("SendDue() with the relay failing = %d, %v", n, err)
	}
	fs, _, _ := e.db.ListConsents(e.ctx, e.ws, consentd.ConsentFilter{})
	if len(fs) != 1 || fs[0].Status != consentd.Pending {
		t.Fatalf("consents %v", fs)
	}
	// The job waits for its backoff (up to a minute), with the error...
	js, _, _ := e.db.Jobs(e.ctx, e.ws, consentd.JobFilter{State: consentd.JobQueued})
	if len(js) != 1 || js[0].Kind != consentd.JobKindConfirmationMail || js[0].Attempts != 1 || !strings.Contains(js[0].LastError, "451") ||
		strings.Contains(js[0].LastError, "jane@example.com") {
		t.Fatalf("jobs after the failure = %+v; want the mail job queued again with its error, the address masked", js)
	}
	// ... and then it goes out.
	e.skew.Store(int64(2 * time.Minute))
	if n, err := e.sendDue(); n != 1 || err != nil {
		t.Fatalf("SendDue() after the backoff = %d, %v", n, err)
	}
	_, _, link := parseMail(t, e.smtp.Messages()[0].Data)
	f, _ := e.db.Confirmation(e.ctx, e.ws, e.claims(link).Nonce)
	if f.SendAttempts != 2 || f.SentAt == nil || f.SendError != "" {
		t.Errorf("confirmation after a retry: attempts %d, sent %v, error %q", f.SendAttempts, f.SentAt, f.SendError)
	}

	// A permanent refusal is recorded and not retried.
	e.optIn("joe@example.com", "email", "DE", time.Now().Add(-time.Minute))
	e.smtp.Fail(1, 550)
	e.sendDue()
	e.skew.Store(int64(3 * time.Hour))
	if n, _ := e.sendDue(); n != 0 || len(e.smtp.Messages()) != 1 {
		t.Errorf("SendDue() after a permanent failure = %d; want 0", n)
	}
	if !strings.Contains(e.logs.String(), "permanent=true") {
		t.Errorf("the permanent failure was not logged:\n%s", e.logs.String())
	}
}

// TestSMSConfirmationWithoutProvider: with no SMS provider configured, an
// SMS confirmation is recorded, not mailed, and its confirmation_sms job
// fails at once with a clear error, listed for a retry.
func TestSMSConfirmationWithoutProvider(t *testing.T) {
	e := newEnv(t, "")
	ans := e.optIn("+49 151 12345678", "sms", "DE", time.Now().Add(-time.Minute))
	conf, _ := ans["confirmation"].(map[string]any)
	if ans["status"] != "pending" || conf == nil || conf["sent_to"] != "+49*********78" {
		t.Fatalf("SMS opt-in from DE = %v", ans)
	}
	if n, err := e.sendDue(); n != 0 || err != nil || len(e.smtp.Messages()) != 0 {
		t.Errorf("sendDue() = %d, %v; want nothing sent", n, err)
	}
	js, _, _ := e.db.Jobs(e.ctx, e.ws, consentd.JobFilter{State: consentd.JobFailed})
	if len(js) != 1 || js[0].Kind != consentd.JobKindConfirmationSMS || js[0].LastError != doi.ErrNoSMSSender.Error() {
		t.Errorf("failed jobs = %+v; want the confirmation_sms job, failed for want of a provider", js)
	}
}

func TestPages(t *testing.T) {
	e := newEnv(t, "")
	e.optIn("jane@example.com", "email", "DE", time.Now().Add(-time.Minute))
	e.sendDue()
	_, _, link := parseMail(t, e.smtp.Messages()[0].Data)
	req, _ := http.NewRequest("GET", link, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	page := string(b)
	for _, want := range []string{`<html lang="en" dir="ltr">`, `<meta name="viewport" content="width=device-width, initial-scale=1">`, "<main>", "<h1>", "<title>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(page, "<script") {
		t.Errorf("the page has a script")
	}
	csp := res.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "style-src 'sha256-") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", res.Header.Get("Cache-Control"))
	}
	u, _ := url.Parse(link)
	if strings.Contains(e.logs.String(), u.Path) {
		t.Errorf("the token reached the log")
	}
}

// TestBadTextLinksRefused: a confirmation link whose token holds NUL,
// invalid UTF-8 or a control character gets the 404 of every invalid link,
// one whose query holds one the invalid-link page with 400; neither changes
// anything, and the real link still works.
func TestBadTextLinksRefused(t *testing.T) {
	e := newEnv(t, "")
	e.optIn("jane@example.com", "email", "DE", time.Now().Add(-time.Minute))
	e.sendDue()
	_, _, link := parseMail(t, e.smtp.Messages()[0].Data)
	size := e.logSize()
	for _, l := range []string{e.srv.URL + "/c/a%00b", e.srv.URL + "/c/a%FFb", e.srv.URL + "/c/a%0Ab", link + "?x=%FF", link + "?x=%00", link + "%00"} {
		want := 404 // a bad token: the one answer to every invalid link
		if strings.Contains(l, "?") {
			want = 400
		}
		for _, m := range []string{"GET", "POST"} {
			if status, page := e.visit(m, l); status != want || !strings.Contains(page, "not valid") {
				t.Errorf("%s %s = %d; want %d with the invalid-link page\n%.300s", m, l, status, want, page)
			}
		}
	}
	if n := e.logSize(); n != size {
		t.Errorf("log size %d after the refused links; want %d", n, size)
	}
	if status, _ := e.visit("POST", link); status != 200 || e.decide("jane@example.com") != consentd.ReasonOptedIn {
		t.Errorf("POST the valid link = %d", status)
	}
}

// TestMailNamesTheTopic: a confirmation for a topic's channel type states
// the purpose and the topic, each with its description.
func TestMailNamesTheTopic(t *testing.T) {
	e := newEnv(t, "")
	e.api("POST", "/v1/topics", `{"id":"weekly","purpose":"news","name":"Weekly digest","description":"The week's releases, every Monday."}`, 201)
	e.api("POST", "/v1/consents", `{"contact_point":"max@example.com","channel":"email","purpose":"news","topic":"weekly","status":"opted_in",
		"captured_at":"`+time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)+`","jurisdiction":"DE","source":{"type":"form"}}`, 201)
	if n, err := e.sendDue(); n != 1 || err != nil {
		t.Fatalf("SendDue() = %d, %v", n, err)
	}
	h, body, _ := parseMail(t, e.smtp.Messages()[0].Data)
	body = strings.ReplaceAll(body, "\r\n", "\n")
	for _, want := range []string{"What:       Product News\n              What is new in our products, twice a month.\n" +
		"  Topic:      Weekly digest\n              The week's releases, every Monday.\n  How:        by email"} {
		if !strings.Contains(body, want) {
			t.Errorf("the mail does not say %q:\n%s", want, body)
		}
	}
	if subject, _ := new(mime.WordDecoder).DecodeHeader(h.Get("Subject")); subject != "Please confirm your subscription to Weekly digest" {
		t.Errorf("Subject = %q", subject)
	}
}
