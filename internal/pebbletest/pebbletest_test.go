package pebbletest

import (
	"context"
	"net"
	"testing"
)

// TestDNSAnswersLoopback: every name resolves to 127.0.0.1 (and to no
// IPv6 address), as pebble's validation needs.
func TestDNSAnswersLoopback(t *testing.T) {
	addr := startDNS(t)
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}}
	ips, err := r.LookupHost(t.Context(), "shop.bluegreen.test")
	if err != nil {
		t.Fatal(err)
	}
	if len(ips) != 1 || ips[0] != "127.0.0.1" {
		t.Errorf("shop.bluegreen.test resolves to %v, want [127.0.0.1]", ips)
	}
}
