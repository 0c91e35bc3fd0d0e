package webhook

import (
	"net/netip"
	"testing"

	"github.com/consentd/consentd"
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

// embeddings returns the IPv6 forms that carry the IPv4 address v4, by
// name: IPv4-mapped, IPv4-compatible, IPv4-translated, 6to4, Teredo with v4
// as the server and with v4 as the client (the other end 8.8.8.8 or
// 8.8.4.4, public), NAT64 in the well-known and in the local-use prefix.
func embeddings(v4 netip.Addr) map[string]netip.Addr {
	a := v4.As4()
	from := func(b [16]byte) netip.Addr { return netip.AddrFrom16(b) }
	return map[string]netip.Addr{
		"mapped":        from([16]byte{10: 0xff, 11: 0xff, 12: a[0], 13: a[1], 14: a[2], 15: a[3]}),
		"compatible":    from([16]byte{12: a[0], 13: a[1], 14: a[2], 15: a[3]}),
		"translated":    from([16]byte{8: 0xff, 9: 0xff, 12: a[0], 13: a[1], 14: a[2], 15: a[3]}),
		"6to4":          from([16]byte{0: 0x20, 1: 0x02, 2: a[0], 3: a[1], 4: a[2], 5: a[3], 15: 1}),
		"teredo server": from([16]byte{0: 0x20, 1: 0x01, 4: a[0], 5: a[1], 6: a[2], 7: a[3], 12: ^uint8(8), 13: ^uint8(8), 14: ^uint8(4), 15: ^uint8(4)}),
		"teredo client": from([16]byte{0: 0x20, 1: 0x01, 4: 8, 5: 8, 6: 8, 7: 8, 12: ^a[0], 13: ^a[1], 14: ^a[2], 15: ^a[3]}),
		"nat64":         from([16]byte{0: 0x00, 1: 0x64, 2: 0xff, 3: 0x9b, 12: a[0], 13: a[1], 14: a[2], 15: a[3]}),
		"nat64 local":   from([16]byte{0: 0x00, 1: 0x64, 2: 0xff, 3: 0x9b, 5: 1, 12: a[0], 13: a[1], 14: a[2], 15: a[3]}),
	}
}

// TestEmbeddedIPv4 checks every IPv6 form that carries a loopback, private
// or link-local IPv4 address, through Public and through the dialer's
// check: all refused. Of the forms that carry a public IPv4 address, those
// routed on the internet (IPv4-mapped, 6to4, Teredo) stay allowed; the
// others are refused whatever they carry. No test connects anywhere.
func TestEmbeddedIPv4(t *testing.T) {
	for _, v4 := range []string{"127.0.0.1", "10.0.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0"} {
		for name, ip := range embeddings(netip.MustParseAddr(v4)) {
			if Public(ip) {
				t.Errorf("Public(%s) = true; want false (%s of %s)", ip, name, v4)
			}
			if err := checkDial("tcp6", netip.AddrPortFrom(ip, 443).String(), nil); consentd.ErrorCode(err) != consentd.EWEBHOOKTARGET {
				t.Errorf("checkDial(%s) = %v; want %s (%s of %s)", ip, err, consentd.EWEBHOOKTARGET, name, v4)
			}
		}
	}
	allowed := map[string]bool{"mapped": true, "6to4": true, "teredo server": true, "teredo client": true}
	for name, ip := range embeddings(netip.MustParseAddr("8.8.8.8")) {
		if got := Public(ip); got != allowed[name] {
			t.Errorf("Public(%s) = %v; want %v (%s of 8.8.8.8)", ip, got, allowed[name], name)
		}
		if err := checkDial("tcp6", netip.AddrPortFrom(ip, 443).String(), nil); (err == nil) != allowed[name] {
			t.Errorf("checkDial(%s) = %v; want allowed %v (%s of 8.8.8.8)", ip, err, allowed[name], name)
		}
	}
	// The literal forms from the URLs, as written.
	for _, s := range []string{"::127.0.0.1", "2002:7f00:1::1", "2001:0:7f00:1::", "2001:0:808:808::80ff:fffe", "::ffff:7f00:1",
		"64:ff9b::10.0.0.1", "64:ff9b:1::a00:1", "fe80::1", "fc00::1", "fd12:3456::1", "fec0::1", "::", "ff0e::1"} {
		if Public(netip.MustParseAddr(s)) {
			t.Errorf("Public(%s) = true; want false", s)
		}
	}
}
