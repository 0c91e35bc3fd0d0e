package doi_test

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ratelimit"
	"golang.org/x/time/rate"
)

// TestRespelledLinksAreRefused sends spellings of a valid confirmation
// token that a lenient base64 decoder reads as the same bytes (the MAC's
// last character changed in its unused low bits, a line break inside the
// MAC): each answers the generic invalid page and confirms nothing.
func TestRespelledLinksAreRefused(t *testing.T) {
	e := newEnv(t, "")
	e.page.SetLimits(ratelimit.Limits{PerIP: rate.Inf, IPBurst: 1000, PerBadToken: rate.Inf, BadTokenBurst: 1000, Entries: 1000})
	e.optIn("jane@example.com", "email", "DE", time.Now().Add(-time.Minute))
	e.sendDue()
	_, _, link := parseMail(t, e.smtp.Messages()[0].Data)
	_, invalid := e.visit("GET", e.srv.URL+"/c/not-a-token")
	size := e.logSize()

	i := strings.LastIndex(link, ".")
	head, sig := link[:i+1], link[i+1:]
	want, _ := base64.RawURLEncoding.DecodeString(sig)
	var links []string
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		v := sig[:len(sig)-1] + string(c)
		if b, err := base64.RawURLEncoding.DecodeString(v); v != sig && err == nil && bytes.Equal(b, want) {
			links = append(links, head+v)
		}
	}
	if len(links) != 3 {
		t.Fatalf("%d respellings of the MAC's last character; want 3", len(links))
	}
	links = append(links, head+sig[:5]+"%0A"+sig[5:])
	for _, l := range links {
		for _, m := range []string{"GET", "POST"} {
			if status, page := e.visit(m, l); status != 404 || page != invalid {
				t.Errorf("%s %s = %d; want the generic 404 page", m, l, status)
			}
		}
	}
	if r := e.decide("jane@example.com"); r != consentd.ReasonPendingConfirmation || e.logSize() != size {
		t.Errorf("after respelled links: Decide %s, log %d -> %d; want nothing changed", r, size, e.logSize())
	}
	if status, _ := e.visit("POST", link); status != 200 || e.decide("jane@example.com") != consentd.ReasonOptedIn {
		t.Errorf("POST the valid link = %d", status)
	}
}
