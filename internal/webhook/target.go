package webhook

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"github.com/consentd/consentd"
)

// blocked are the ranges beyond those netip names that a webhook may not
// reach: this network, shared address space (carrier NAT), benchmarking,
// reserved; in IPv6 the forms that carry an IPv4 address where the
// address is not at a fixed place or the form is not routed on the
// internet: IPv4-compatible (::/96, deprecated by RFC 4291), IPv4-
// translated (::ffff:0:0:0/96, RFC 2765), NAT64 (the well-known 64:ff9b::/96
// and the local-use 64:ff9b:1::/48 of RFC 8215), and the deprecated
// site-local fec0::/10.
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/96"),
	netip.MustParsePrefix("::ffff:0:0:0/96"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("fec0::/10"),
}

// The IPv6 ranges that tunnel to an IPv4 address held in the address
// itself: a webhook URL in them reaches that IPv4 address through a relay
// or the host's own tunnel interface, so it is Public only when every IPv4
// address it holds is.
var (
	sixToFour = netip.MustParsePrefix("2002::/16") // RFC 3056: the IPv4 address in bits 16-47
	teredo    = netip.MustParsePrefix("2001::/32") // RFC 4380: the server's IPv4 address in bits 32-63, the client's inverted in bits 96-127
)

// Public reports whether ip is an address a webhook may reach without
// allow-private: not loopback, private (RFC 1918, ULA), link-local,
// unspecified, multicast or otherwise reserved, nor an IPv6 address that
// carries an IPv4 address that is not Public (IPv4-mapped, 6to4, Teredo;
// the other IPv4-carrying forms are refused whole, see blocked). Both the
// check at creation (CheckTarget) and the one when the deliverer connects
// use it.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range blocked {
		if p.Contains(ip) {
			return false
		}
	}
	b := ip.As16()
	switch {
	case !ip.Is6():
	case sixToFour.Contains(ip):
		return Public(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
	case teredo.Contains(ip):
		server := netip.AddrFrom4([4]byte{b[4], b[5], b[6], b[7]})
		client := netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]})
		return Public(server) && Public(client)
	}
	return true
}

func notAllowed(host string) error {
	return consentd.FieldErrorf(consentd.EWEBHOOKTARGET, "url", "webhook targets on loopback, private or link-local addresses are refused (%s); the operator may allow them with --webhook-allow-private", host)
}

// CheckTarget resolves the host of a webhook URL and refuses it
// (EWEBHOOKTARGET) when any of its addresses is not Public, unless
// allowPrivate. A host that does not resolve is EINVALID. The deliverer's
// client checks the address it actually connects to again.
func CheckTarget(ctx context.Context, rawURL string, allowPrivate bool) error {
	if allowPrivate {
		return nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return consentd.FieldErrorf(consentd.EINVALID, "url", "url is not a URL")
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if !Public(ip) {
			return notAllowed(host)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return consentd.FieldErrorf(consentd.EINVALID, "url", "the url's host does not resolve")
	}
	for _, ip := range ips {
		if !Public(ip) {
			return notAllowed(host)
		}
	}
	return nil
}

// NewClient returns the HTTP client that delivers events: no proxy (it
// would hide the target's address), no redirects (a 3xx is a failed
// attempt), and unless allowPrivate a check of every address it connects
// to, so that a name that resolves to a private address at delivery time
// (DNS rebinding) is refused too.
func NewClient(allowPrivate bool) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = checkDial
	}
	t := &http.Transport{
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
	}
	return &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// checkDial is the dialer's Control when private targets are not allowed:
// it refuses to connect to an address that is not Public, after DNS, so
// whatever name or literal the URL held.
func checkDial(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !Public(ap.Addr()) {
		return notAllowed(address)
	}
	return nil
}
