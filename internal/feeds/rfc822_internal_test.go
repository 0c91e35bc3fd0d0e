package feeds

import (
	"testing"
	"time"

	"github.com/consentd/consentd"
)

func TestParseDSNRecipients(t *testing.T) {
	// CRLF lines, a blank line of spaces, a folded field, two recipients.
	status := "Reporting-MTA: dns; mx.example.org\r\n \r\n" +
		"Final-Recipient: rfc822; a@example.com\r\nAction: failed\r\nStatus: 5.2.1\r\nDiagnostic-Code: smtp; 550 5.2.1\r\n  mailbox disabled\r\n\r\n" +
		"Original-Recipient: utf-8; b@example.com\r\nAction: Failed (after 5 days)\r\nStatus: 4.4.7\r\n"
	evs, err := parseDSN([]byte(status), time.Time{}, "", func(i int) string { return string(rune('a' + i)) })
	if err != nil || len(evs) != 2 {
		t.Fatalf("parseDSN = %+v, %v; want two events", evs, err)
	}
	if evs[0].Recipient != "a@example.com" || evs[0].Kind != consentd.FeedHardBounce || evs[1].Recipient != "b@example.com" || evs[1].Kind != consentd.FeedSoftBounce || evs[0].ID == evs[1].ID {
		t.Errorf("parseDSN = %+v", evs)
	}
}

func TestHeaderRef(t *testing.T) {
	for _, c := range []struct{ xref, lu, want string }{
		{" tok.a.b ", "<https://c.example.com/u/other>", "tok.a.b"},
		{"", "<mailto:u@example.org>, <https://c.example.com/consent/u/tok.a.b?x=1>", "tok.a.b"},
		{"", "<mailto:u@example.org?subject=/u/x>", ""},
		{"", "<https://c.example.com/p/tok>", ""},
		{"", "", ""},
	} {
		if got := headerRef(c.xref, c.lu); got != c.want {
			t.Errorf("headerRef(%q, %q) = %q; want %q", c.xref, c.lu, got, c.want)
		}
	}
}
