package router

import (
	"fmt"
	"math/bits"
	"net"
	"net/http"
	"net/netip"
)

// Affinity says how a weighted split keeps a client on one slot.
type Affinity string

const (
	// AffinityCookie pins a client with the sticky cookie
	// (Options.Sticky; nil turns it off). The zero Affinity means it.
	AffinityCookie Affinity = "cookie"
	// AffinityClientIP picks the slot from a hash of the client's IP
	// address (the connection's remote address, or, from a peer in
	// Options.TrustedProxies, the rightmost untrusted address of
	// X-Forwarded-For), consistently under the weights: a client stays on its slot
	// while the weights stand, and as the new slot's weight grows clients
	// only ever move to it.
	AffinityClientIP Affinity = "client_ip"
	// AffinityNone picks every request's slot at random by weight.
	AffinityNone Affinity = "none"
)

// check validates a against the sticky options.
func (a Affinity) check(sticky *StickyOptions) error {
	switch a {
	case "", AffinityCookie:
		return nil
	case AffinityClientIP, AffinityNone:
		if sticky != nil {
			return fmt.Errorf("affinity %s: the sticky cookie %q is not used; leave Sticky nil", a, sticky.Cookie)
		}
		return nil
	default:
		return fmt.Errorf("unknown affinity %q: want cookie, client_ip or none", a)
	}
}

// pickByClient is pickByClientIP for the client of req, derived through
// the trusted proxies (trustedProxies.clientAddr).
func pickByClient(t *compiledTable, tp trustedProxies, req *http.Request) int {
	if len(tp) == 0 {
		return pickByClientIP(t, req.RemoteAddr)
	}
	a, text, ok := tp.clientAddr(req.RemoteAddr, req.Header)
	var p uint64
	switch {
	case text != "":
		p = pointOf(fnv1a([]byte(text)))
	case ok:
		b := a.As16()
		p = pointOf(fnv1a(b[:]))
	default:
		p = clientPoint(req.RemoteAddr)
	}
	if p < uint64(t.weights[0]) {
		return 0
	}
	return 1
}

// pickByClientIP returns the slot index for a client during a weighted
// split: the client's IP address hashes to a point in [0, 100); blue (index
// 0) gets the points below its weight, green the others. Moving weight to
// one slot thus moves only the clients it gains, never back and forth.
func pickByClientIP(t *compiledTable, remoteAddr string) int {
	if clientPoint(remoteAddr) < uint64(t.weights[0]) {
		return 0
	}
	return 1
}

// clientPoint maps the IP address of remoteAddr ("ip:port") to [0, 100),
// the same for every router (no random seed), so several routers and a
// restarted one agree. An address that does not parse hashes as text.
func clientPoint(remoteAddr string) uint64 {
	var h uint64
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		b := ap.Addr().Unmap().As16()
		h = fnv1a(b[:])
	} else if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		h = fnv1a([]byte(host))
	} else {
		h = fnv1a([]byte(remoteAddr))
	}
	return pointOf(h)
}

// pointOf maps a hash to [0, 100).
func pointOf(h uint64) uint64 {
	hi, _ := bits.Mul64(mix64(h), 100)
	return hi
}

// fnv1a is the 64-bit FNV-1a hash of b.
func fnv1a(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// mix64 is the SplitMix64 finaliser: FNV's low bits alone spread poorly
// over neighbouring addresses.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
