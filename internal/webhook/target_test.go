package webhook

import (
	"net/netip"
	"testing"
)

func TestPublic(t *testing.T) {
	for _, c := range []struct {
		ip   string
		want bool
	}{
		{"93.184.215.14", true}, {"2606:2800:21f:cb07:6820:80da:af6b:8b2c", true}, {"8.8.8.8", true},
		{"127.0.0.1", false}, {"127.1.2.3", false}, {"::1", false}, {"10.0.0.1", false}, {"172.16.5.4", false}, {"192.168.1.1", false},
		{"fd00::1", false}, {"169.254.169.254", false}, {"fe80::1", false}, {"0.0.0.0", false}, {"::", false}, {"224.0.0.1", false},
		{"ff02::1", false}, {"::ffff:127.0.0.1", false}, {"::ffff:10.0.0.1", false}, {"100.64.0.1", false}, {"0.1.2.3", false},
		{"255.255.255.255", false}, {"64:ff9b::7f00:1", false},
	} {
		if got := Public(netip.MustParseAddr(c.ip)); got != c.want {
			t.Errorf("Public(%s) = %v; want %v", c.ip, got, c.want)
		}
	}
}
