package web_test

import (
	"encoding/json"
	"html"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/signedlink"
	"github.com/consentd/consentd/internal/web"
)

var recordHref = regexp.MustCompile(`<a href="([^"]+)">Download my record</a>`)

// recordJSON is the part of the record download the tests read.
type recordJSON struct {
	Format        string `json:"format"`
	Workspace     string `json:"workspace"`
	HowToVerify   string `json:"how_to_verify"`
	ContactPoints []struct {
		ContactPoint string `json:"contact_point"`
		Consents     []struct {
			ChannelType        string          `json:"channel_type"`
			PurposeName        string          `json:"purpose_name"`
			PurposeDescription string          `json:"purpose_description"`
			TopicName          string          `json:"topic_name"`
			Status             consentd.Status `json:"status"`
			CapturedAt         time.Time       `json:"captured_at"`
			Seq                int64           `json:"seq"`
			Receipt            json.RawMessage `json:"receipt"`
		} `json:"consents"`
	} `json:"contact_points"`
}

// TestRecord: the preference center links to the person's record; the
// page lists every consent with its names, description, status, time,
// source and log entry; the JSON download carries each consent's receipt,
// the API's, which verifies with the log's key and fails once altered.
func TestRecord(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		withParty(t, e)
		t0 := time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)
		e.write("jane@example.com", "newsletter:email", consentd.OptedIn, t0)
		e.write("jane@example.com", "weekly:email", consentd.OptedOut, t0.Add(time.Hour))
		e.write("+14155550123", "newsletter:sms", consentd.OptedIn, t0.Add(2*time.Hour))
		news := e.consent("jane@example.com", "newsletter:email")
		l := e.link("preferences", "jane@example.com", "")

		pref := e.do("GET", l.URL, "", "")
		m := recordHref.FindStringSubmatch(pref.body)
		if pref.status != 200 || m == nil {
			t.Fatalf("GET preferences = %d with no record link\n%s", pref.status, pref.body)
		}
		base, _ := url.Parse(l.URL)
		ref, _ := url.Parse(html.UnescapeString(m[1]))
		recordURL := base.ResolveReference(ref).String()
		if recordURL != l.URL+"/record" {
			t.Fatalf("record link %s; want %s/record", recordURL, l.URL)
		}

		p := e.do("GET", recordURL, "", "")
		body := html.UnescapeString(p.body)
		if p.status != 200 || p.header.Get("Cache-Control") != "no-store" || !strings.Contains(p.header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Fatalf("GET record = %d %v\n%s", p.status, p.header, p.body)
		}
		for _, want := range []string{"Your record of consents", "alpha", "Messages to j•••@example.com", "Messages to +14•••••••23",
			"Newsletter, by Email", "News about our products, once a month.", "Newsletter: Weekly digest, by Email", "The week's best articles.",
			"Newsletter, by Text message (SMS)", "Yes: you agreed", "No: you declined or unsubscribed", "14 March 2026, 09:30 UTC",
			"Our systems", "number " + strconv.FormatInt(news.Seq, 10), "consentd receipt verify"} {
			if !strings.Contains(body, want) {
				t.Errorf("record page has no %q", want)
			}
		}
		if strings.Contains(body, "jane@example.com") {
			t.Errorf("the record page shows the whole address")
		}

		d := e.do("GET", recordURL+".json", "", "")
		if d.status != 200 || d.header.Get("Content-Disposition") != `attachment; filename="consent-record.json"` ||
			d.header.Get("Cache-Control") != "no-store" || d.header.Get("X-Content-Type-Options") != "nosniff" ||
			d.header.Get("Referrer-Policy") != "no-referrer" || !strings.HasPrefix(d.header.Get("Content-Type"), "application/json") {
			t.Fatalf("GET record.json = %d %v\n%s", d.status, d.header, d.body)
		}
		var rec recordJSON
		if err := json.Unmarshal([]byte(d.body), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Format != web.RecordFormat || rec.Workspace != "alpha" || !strings.Contains(rec.HowToVerify, "consentd receipt verify") || len(rec.ContactPoints) != 2 {
			t.Fatalf("record = %+v", rec)
		}
		n := 0
		for _, cp := range rec.ContactPoints {
			for _, c := range cp.Consents {
				n++
				if len(c.Receipt) == 0 {
					t.Errorf("%s: no receipt", c.ChannelType)
					continue
				}
				var rc ledger.Receipt
				if err := json.Unmarshal(c.Receipt, &rc); err != nil {
					t.Fatal(err)
				}
				if err := ledger.VerifyReceipt(&rc, e.signer.PublicKeyRing()); err != nil {
					t.Errorf("%s: the downloaded receipt does not verify: %v", c.ChannelType, err)
				}
				if rc.Seq != c.Seq {
					t.Errorf("%s: receipt of entry %d; the consent's is %d", c.ChannelType, rc.Seq, c.Seq)
				}
				// The API's receipt of the same consent proves the same leaf.
				cpv := "jane@example.com"
				if strings.HasSuffix(c.ChannelType, ":sms") {
					cpv = "+14155550123"
				}
				var api ledger.Receipt
				if st := e.call("GET", "/v1/consents/"+url.PathEscape(consentd.ConsentID(cpv, c.ChannelType))+"/receipt", "", &api); st != 200 ||
					string(api.Leaf) != string(rc.Leaf) || api.Seq != rc.Seq || string(api.Evidence) != string(rc.Evidence) {
					t.Errorf("%s: the API's receipt differs from the download's", c.ChannelType)
				}
				// Altered, it fails: one byte of the leaf, or the tree size.
				bad := rc
				bad.Leaf = append([]byte(nil), rc.Leaf...)
				bad.Leaf[len(bad.Leaf)/2] ^= 1
				if ledger.VerifyReceipt(&bad, e.signer.PublicKeyRing()) == nil {
					t.Errorf("%s: a receipt with an altered leaf verifies", c.ChannelType)
				}
				bad = rc
				bad.TreeSize++
				if ledger.VerifyReceipt(&bad, e.signer.PublicKeyRing()) == nil {
					t.Errorf("%s: a receipt with an altered tree size verifies", c.ChannelType)
				}
			}
		}
		if n != 3 {
			t.Errorf("%d consents in the download; want 3", n)
		}
		if strings.Contains(d.body, "jane@example.com") {
			t.Errorf("the download shows the whole address")
		}
	})
}

// TestRecordTokens: the record answers a preference link's token and a
// record token, nothing else; a record token does not open the preference
// center; reading the record writes nothing.
func TestRecordTokens(t *testing.T) {
	e := newEnv(t)
	e.write("jane@example.com", "newsletter:email", consentd.OptedIn, time.Now().Add(-time.Hour))
	pref := e.link("preferences", "jane@example.com", "")
	unsub := e.link("unsubscribe", "jane@example.com", "newsletter:email")
	c, err := e.links.Verify(pref.Token, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c.Kind, c.ExpiresAt = signedlink.Record, time.Now().Add(time.Hour).Unix()
	record, err := e.links.Sign(*c)
	if err != nil {
		t.Fatal(err)
	}
	c.ExpiresAt = time.Now().Add(-time.Minute).Unix()
	expired, _ := e.links.Sign(*c)
	base := e.srv.URL + "/p/"
	size := e.logSize()
	for _, tc := range []struct {
		name, path string
		want       int
		says       string
	}{
		{"preference token", base + pref.Token + "/record", 200, "Back to your preferences"},
		{"preference token json", base + pref.Token + "/record.json", 200, web.RecordFormat},
		{"record token", base + record + "/record", 200, "Your record of consents"},
		{"record token json", base + record + "/record.json", 200, web.RecordFormat},
		{"record token on the preference center", base + record, 404, "This link does not work"},
		{"expired record token", base + expired + "/record", 404, "This link does not work"},
		{"unsubscribe token", base + unsub.Token + "/record", 404, "This link does not work"},
		{"tampered token", base + pref.Token + "x/record.json", 404, "This link does not work"},
		{"another file", base + pref.Token + "/record.csv", 404, "This link does not work"},
	} {
		p := e.do("GET", tc.path, "", "")
		if p.status != tc.want || !strings.Contains(p.body, tc.says) {
			t.Errorf("%s: GET = %d; want %d saying %q\n%s", tc.name, p.status, tc.want, tc.says, p.body)
		}
		if tc.name == "record token" && strings.Contains(p.body, "Back to your preferences") {
			t.Errorf("a record token's page links to the preference center")
		}
	}
	if e.logSize() != size {
		t.Errorf("reading the record wrote to the log: %d -> %d", size, e.logSize())
	}
}
