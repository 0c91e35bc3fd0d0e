// Package clientip finds the address of the client that sent a request,
// for the proof of a consent given on a page, rate limits and logs. Behind
// a reverse proxy the connection's address is the proxy's; the client's is
// in the X-Forwarded-For or Forwarded (RFC 7239) header the proxy adds.
// Anyone can send those headers, so they count only on connections from a
// trusted proxy, and only as far back as the chain of trusted proxies goes.
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver answers the client address of a request. The zero Resolver
// trusts no proxy: the address is the connection's.
type Resolver struct {
	trusted []netip.Prefix
}

// Parse reads a comma-separated list of trusted proxy addresses and CIDR
// prefixes ("10.0.0.0/8, 192.0.2.7, ::1"). An empty list trusts nobody.
func Parse(list string) (*Resolver, error) {
	r := &Resolver{}
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		var p netip.Prefix
		var err error
		if strings.Contains(f, "/") {
			p, err = netip.ParsePrefix(f)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(f); err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is not an IP address or CIDR prefix", f)
		}
		r.trusted = append(r.trusted, p.Masked())
	}
	return r, nil
}

// Trusted reports whether a is the address of a trusted proxy.
func (r *Resolver) Trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// IP returns the client's address of req: the connection's, unless it is a
// trusted proxy; then the forwarding headers are read from the nearest hop
// back, skipping trusted proxies, and the first address that is not one is
// the client. A hop that cannot be read stops the walk at the address that
// reported it. Forwarded wins over X-Forwarded-For when both are present.
func (r *Resolver) IP(req *http.Request) string {
	peer := remoteAddr(req.RemoteAddr)
	if !peer.IsValid() {
		return req.RemoteAddr
	}
	if r == nil || len(r.trusted) == 0 || !r.Trusted(peer) {
		return peer.String()
	}
	hops := forwarded(req.Header)
	if hops == nil {
		hops = xForwardedFor(req.Header)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			break
		}
		client = a.Unmap()
		if !r.Trusted(client) {
			break
		}
	}
	return client.String()
}

func remoteAddr(s string) netip.Addr {
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		host = s
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// xForwardedFor lists the addresses of every X-Forwarded-For header, first
// hop first.
func xForwardedFor(h http.Header) []string {
	var hops []string
	for _, v := range h.Values("X-Forwarded-For") {
		for _, f := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(f))
		}
	}
	return hops
}

// forwarded lists the for= addresses of every Forwarded header (RFC 7239
// section 4), first hop first, without quotes, brackets and ports; an
// obfuscated or unknown node is kept as written, which stops the walk. It
// returns nil when there is no Forwarded header.
func forwarded(h http.Header) []string {
	var hops []string
	for _, v := range h.Values("Forwarded") {
		for _, elem := range strings.Split(v, ",") {
			node := "unknown"
			for _, pair := range strings.Split(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(k, "for") {
					node = strings.Trim(val, `"`)
				}
			}
			hops = append(hops, nodeAddr(node))
		}
	}
	return hops
}

// nodeAddr is the address of an RFC 7239 node: "192.0.2.43",
// "192.0.2.43:47011", "[2001:db8::17]" or "[2001:db8::17]:4711".
func nodeAddr(node string) string {
	if strings.HasPrefix(node, "[") {
		if i := strings.Index(node, "]"); i > 0 {
			return node[1:i]
		}
		return node
	}
	if host, _, err := net.SplitHostPort(node); err == nil {
		return host
	}
	return node
}
