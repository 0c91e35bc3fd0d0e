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
// reserved, and IPv4 translated into IPv6.
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
}

// Public reports whether ip is an address a webhook may reach without
// allow-private: not loopback, private (RFC 1918, ULA), link-local,
// unspecified, multicast or otherwise reserved.
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
		d.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !Public(ap.Addr()) {
				return notAllowed(address)
			}
			return nil
		}
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
