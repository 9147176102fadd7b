package router

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strings"
)

// trustedProxies are the peers whose X-Forwarded-* headers the router
// honours (Options.TrustedProxies).
type trustedProxies []netip.Prefix

// maskedPrefixes copies ps with their host bits cleared.
func maskedPrefixes(ps []netip.Prefix) trustedProxies {
	if len(ps) == 0 {
		return nil
	}
	tp := make(trustedProxies, len(ps))
	for i, p := range ps {
		tp[i] = p.Masked()
	}
	return tp
}

// contains reports whether a is in one of the prefixes.
func (tp trustedProxies) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range tp {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr is the IP address of a connection's remote address ("ip:port").
func peerAddr(remoteAddr string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		return ap.Addr().Unmap(), true
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return a.Unmap(), err == nil
}

// trustedPeer reports whether the connection's peer is a trusted proxy.
func (tp trustedProxies) trustedPeer(remoteAddr string) bool {
	if len(tp) == 0 {
		return false
	}
	a, ok := peerAddr(remoteAddr)
	return ok && tp.contains(a)
}

// clientAddr is the client's address as client_ip affinity sees it: the
// connection's peer, or, when the peer is a trusted proxy, the rightmost
// address of X-Forwarded-For that is not a trusted proxy (the leftmost
// when all are). An entry that does not parse as an IP address ends the
// walk: it is what the last trusted proxy says the client is, and it is
// hashed as text. ok is false when the peer address does not parse.
func (tp trustedProxies) clientAddr(remoteAddr string, h http.Header) (addr netip.Addr, text string, ok bool) {
	a, ok := peerAddr(remoteAddr)
	if !ok || len(tp) == 0 || !tp.contains(a) {
		return a, "", ok
	}
	xff := h["X-Forwarded-For"]
	for i := len(xff) - 1; i >= 0; i-- {
		v := xff[i]
		for v != "" {
			var e string
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				e, v = v[j+1:], v[:j]
			} else {
				e, v = v, ""
			}
			e = strings.TrimSpace(e)
			if e == "" {
				continue
			}
			ea, err := netip.ParseAddr(e)
			if err != nil {
				if ap, perr := netip.ParseAddrPort(e); perr == nil {
					ea, err = ap.Addr(), nil
				}
			}
			if err != nil {
				return netip.Addr{}, e, true
			}
			a = ea.Unmap()
			if !tp.contains(a) {
				return a, "", true
			}
		}
	}
	return a, "", true
}

// setForwarded sets the outbound X-Forwarded-For, -Host and -Proto
// (ReverseProxy removed the client's before Rewrite). From a trusted
// proxy the incoming values are kept: this hop's peer address is appended
// to X-Forwarded-For, and X-Forwarded-Host and -Proto are kept when sent
// (else this hop's). From any other peer they describe this hop only:
// what the client sent is dropped.
func (r *Router) setForwarded(pr *httputil.ProxyRequest) {
	in, out := pr.In.Header, pr.Out.Header
	// One backing array for the three values: a request costs one
	// allocation here, not three (SetXForwarded's Header.Set each).
	vals := make([]string, 3)
	set := func(i int, k, v string) {
		vals[i] = v
		out[k] = vals[i : i+1 : i+1]
	}
	ip, _, err := net.SplitHostPort(pr.In.RemoteAddr)
	if !r.trusted.trustedPeer(pr.In.RemoteAddr) {
		// As httputil's SetXForwarded: this hop only.
		if err != nil {
			delete(out, "X-Forwarded-For")
		} else if prior := out["X-Forwarded-For"]; len(prior) > 0 {
			set(0, "X-Forwarded-For", strings.Join(prior, ", ")+", "+ip)
		} else {
			set(0, "X-Forwarded-For", ip)
		}
		set(1, "X-Forwarded-Host", pr.In.Host)
		set(2, "X-Forwarded-Proto", protoOf(pr.In))
		return
	}
	if err != nil {
		ip = pr.In.RemoteAddr
	}
	if prior := in["X-Forwarded-For"]; len(prior) > 0 {
		set(0, "X-Forwarded-For", strings.Join(prior, ", ")+", "+ip)
	} else {
		set(0, "X-Forwarded-For", ip)
	}
	if v := in["X-Forwarded-Host"]; len(v) > 0 {
		set(1, "X-Forwarded-Host", v[0])
	} else {
		set(1, "X-Forwarded-Host", pr.In.Host)
	}
	if v := in["X-Forwarded-Proto"]; len(v) > 0 {
		set(2, "X-Forwarded-Proto", v[0])
	} else {
		set(2, "X-Forwarded-Proto", protoOf(pr.In))
	}
}

// protoOf is "https" for a request that came over TLS, else "http".
func protoOf(req *http.Request) string {
	if req.TLS != nil {
		return "https"
	}
	return "http"
}
