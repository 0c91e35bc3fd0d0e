package clientip_test

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/consentd/consentd/internal/clientip"
)

func TestIP(t *testing.T) {
	r, err := clientip.Parse("10.0.0.0/8, 192.0.2.7, ::1")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, remote string
		header       []string
		want         string
	}{
		{"no proxy", "198.51.100.1:5000", nil, "198.51.100.1"},
		{"forged from an untrusted address", "198.51.100.1:5000", []string{"X-Forwarded-For", "203.0.113.9"}, "198.51.100.1"},
		{"forged Forwarded from an untrusted address", "198.51.100.1:5000", []string{"Forwarded", "for=203.0.113.9"}, "198.51.100.1"},
		{"trusted proxy", "10.1.2.3:5000", []string{"X-Forwarded-For", "203.0.113.9"}, "203.0.113.9"},
		{"a chain of trusted proxies", "10.1.2.3:5000", []string{"X-Forwarded-For", "203.0.113.9, 192.0.2.7, 10.9.9.9"}, "203.0.113.9"},
		{"a client's forged first hop is not believed", "10.1.2.3:5000", []string{"X-Forwarded-For", "1.2.3.4, 203.0.113.9"}, "203.0.113.9"},
		{"several headers", "10.1.2.3:5000", []string{"X-Forwarded-For", "1.2.3.4", "X-Forwarded-For", "203.0.113.9"}, "203.0.113.9"},
		{"garbage stops the walk", "10.1.2.3:5000", []string{"X-Forwarded-For", "203.0.113.9, nonsense"}, "10.1.2.3"},
		{"Forwarded with IPv6 and port", "[::1]:5000", []string{"Forwarded", `for="[2001:db8::17]:4711";proto=https`}, "2001:db8::17"},
		{"Forwarded chain", "10.1.2.3:5000", []string{"Forwarded", "for=203.0.113.9, for=192.0.2.7"}, "203.0.113.9"},
		{"Forwarded wins", "10.1.2.3:5000", []string{"Forwarded", "for=203.0.113.9", "X-Forwarded-For", "1.2.3.4"}, "203.0.113.9"},
		{"obfuscated node", "10.1.2.3:5000", []string{"Forwarded", "for=_hidden"}, "10.1.2.3"},
		{"only trusted hops", "10.1.2.3:5000", []string{"X-Forwarded-For", "10.0.0.1"}, "10.0.0.1"},
		{"IPv4-mapped peer", "[::ffff:10.1.2.3]:5000", []string{"X-Forwarded-For", "203.0.113.9"}, "203.0.113.9"},
	} {
		req := &http.Request{RemoteAddr: c.remote, Header: http.Header{}}
		for i := 0; i+1 < len(c.header); i += 2 {
			req.Header.Add(c.header[i], c.header[i+1])
		}
		if got := r.IP(req); got != c.want {
			t.Errorf("%s: IP() = %q; want %q", c.name, got, c.want)
		}
	}
	var none *clientip.Resolver
	if got := none.IP(&http.Request{RemoteAddr: "10.1.2.3:5000", Header: http.Header{"X-Forwarded-For": {"203.0.113.9"}}}); got != "10.1.2.3" {
		t.Errorf("nil resolver: IP() = %q; want the connection's address", got)
	}
}

func TestParseRefusesGarbage(t *testing.T) {
	for _, s := range []string{"10.0.0.0/33", "proxy.local", "10.0.0.1/8/8"} {
		if _, err := clientip.Parse(s); err == nil {
			t.Errorf("Parse(%q) = nil error", s)
		}
	}
	if r, err := clientip.Parse(" "); err != nil || r.Trusted(mustAddr("127.0.0.1")) {
		t.Errorf("Parse(blank) = %v; want a resolver trusting nobody", err)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
