package pebbletest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"os"
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

// TestStart: pebble (built on first use) serves its directory over
// HTTPS trusted through CAFile, and its issuing root.
func TestStart(t *testing.T) {
	p := Start(t, Options{HTTPPort: 5002, TLSPort: 5001})
	data, err := os.ReadFile(p.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatalf("%s has no PEM certificate", p.CAFile)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(p.DirectoryURL)
	if err != nil {
		t.Fatal(err)
	}
	var dir map[string]any
	err = json.NewDecoder(resp.Body).Decode(&dir)
	_ = resp.Body.Close()
	if err != nil || dir["newOrder"] == nil {
		t.Errorf("directory %v (%v), want a newOrder URL", dir, err)
	}
	if p.Roots(t) == nil || p.Orders() != 0 {
		t.Errorf("a new pebble has %d orders, want 0", p.Orders())
	}
}
