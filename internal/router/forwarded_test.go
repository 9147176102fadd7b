package router

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// A client that is not a trusted proxy cannot spoof X-Forwarded-*: what it
// sends is dropped and replaced by this hop's values, and its own
// X-Forwarded-For does not move it between slots under client_ip affinity.
func TestForwardedFromUntrustedPeer(t *testing.T) {
	tr := newTestRouter(t, Options{Affinity: AffinityClientIP, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, false)
	tr.SetBackends(Blue, []string{newServer(t, echoHandler(Blue))}, true)
	tr.SetBackends(Green, []string{newServer(t, echoHandler(Green))}, true)
	if err := tr.SetTable(Table{Live: Blue, Weights: map[Slot]int{Blue: 50, Green: 50}}); err != nil {
		t.Fatal(err)
	}
	c := clientFrom(t, "127.0.0.9")
	host := tr.prod.Listener.Addr().String()
	slots := map[string]bool{}
	for i := range 40 {
		e := getEcho(t, c, tr.prod.URL+"/", http.Header{
			"X-Forwarded-For":   {fmt.Sprintf("203.0.113.%d", i+1)},
			"X-Forwarded-Host":  {"evil.example"},
			"X-Forwarded-Proto": {"https"},
		})
		if got := e.Header.Values("X-Forwarded-For"); strings.Join(got, "|") != "127.0.0.9" {
			t.Fatalf("X-Forwarded-For %q, want only this hop's 127.0.0.9", got)
		}
		if got := e.Header.Get("X-Forwarded-Host"); got != host {
			t.Fatalf("X-Forwarded-Host %q, want %q", got, host)
		}
		if got := e.Header.Get("X-Forwarded-Proto"); got != "http" {
			t.Fatalf("X-Forwarded-Proto %q, want http", got)
		}
		slots[e.Slot] = true
	}
	if len(slots) != 1 {
		t.Fatalf("an untrusted client moved between slots with its X-Forwarded-For: %v", slots)
	}
}

// Through a trusted proxy the chain is kept and this hop's peer appended;
// X-Forwarded-Host and -Proto are kept; client_ip affinity uses the
// rightmost address that is not a trusted proxy.
func TestForwardedThroughTrustedProxy(t *testing.T) {
	tp := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	tr := newTestRouter(t, Options{Affinity: AffinityClientIP, TrustedProxies: tp}, false)
	tr.SetBackends(Blue, []string{newServer(t, echoHandler(Blue))}, true)
	tr.SetBackends(Green, []string{newServer(t, echoHandler(Green))}, true)
	if err := tr.SetTable(Table{Live: Blue, Weights: map[Slot]int{Blue: 50, Green: 50}}); err != nil {
		t.Fatal(err)
	}
	c := clientFrom(t, "127.0.0.9")
	e := getEcho(t, c, tr.prod.URL+"/", http.Header{
		"X-Forwarded-For":   {"198.51.100.1, 203.0.113.5", "10.1.2.3"},
		"X-Forwarded-Host":  {"shop.example"},
		"X-Forwarded-Proto": {"https"},
	})
	if got, want := strings.Join(e.Header.Values("X-Forwarded-For"), "|"), "198.51.100.1, 203.0.113.5, 10.1.2.3, 127.0.0.9"; got != want {
		t.Fatalf("X-Forwarded-For %q, want %q", got, want)
	}
	if got := e.Header.Get("X-Forwarded-Host"); got != "shop.example" {
		t.Fatalf("X-Forwarded-Host %q, want shop.example", got)
	}
	if got := e.Header.Get("X-Forwarded-Proto"); got != "https" {
		t.Fatalf("X-Forwarded-Proto %q, want https", got)
	}
	// Without forwarded headers a trusted peer gets this hop's values.
	e = getEcho(t, c, tr.prod.URL+"/", nil)
	if got := e.Header.Get("X-Forwarded-For"); got != "127.0.0.9" {
		t.Fatalf("X-Forwarded-For %q, want 127.0.0.9", got)
	}
	if got := e.Header.Get("X-Forwarded-Proto"); got != "http" {
		t.Fatalf("X-Forwarded-Proto %q, want http", got)
	}

	// Affinity follows the client behind the proxies: each client
	// address lands where its own address hashes, whatever trusted hops
	// follow it, and several clients through one proxy spread over both
	// slots.
	tbl := tr.table.Load()
	seen := map[string]bool{}
	for i := range 40 {
		client := fmt.Sprintf("203.0.113.%d", i+1)
		want := string(allSlots()[pickByClientIP(tbl, client+":1")])
		for _, xff := range []string{client, "192.0.2.1, " + client + ", 10.9.9.9"} {
			e := getEcho(t, c, tr.prod.URL+"/", http.Header{"X-Forwarded-For": {xff}})
			if e.Slot != want {
				t.Fatalf("client %s (X-Forwarded-For %q) went to %s, want %s", client, xff, e.Slot, want)
			}
		}
		seen[want] = true
	}
	if len(seen) != 2 {
		t.Fatalf("40 clients behind a trusted proxy all went to %v", seen)
	}
}

func TestClientAddrThroughTrustedProxies(t *testing.T) {
	tp := trustedProxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, tc := range []struct{ peer, xff, want string }{
		{"192.0.2.7:1000", "203.0.113.1", "192.0.2.7"},            // untrusted peer: its own address
		{"10.0.0.1:1000", "", "10.0.0.1"},                         // trusted, no header: the peer
		{"10.0.0.1:1000", "203.0.113.1, 10.0.0.2", "203.0.113.1"}, // rightmost untrusted
		{"10.0.0.1:1000", "6.6.6.6, 203.0.113.1", "203.0.113.1"},  // a spoofed left part is ignored
		{"[::1]:1000", "10.0.0.5, 10.0.0.6", "10.0.0.5"},          // all trusted: the leftmost
		{"10.0.0.1:1000", "[2001:db8::1]:443", "2001:db8::1"},     // with a port
		{"10.0.0.1:1000", "unknown, 10.0.0.2", "text:unknown"},    // not an address: hashed as text
		{"[::ffff:10.0.0.1]:1000", "203.0.113.9", "203.0.113.9"},  // IPv4-mapped peer
	} {
		h := http.Header{}
		if tc.xff != "" {
			h.Set("X-Forwarded-For", tc.xff)
		}
		a, text, ok := tp.clientAddr(tc.peer, h)
		got := a.String()
		if text != "" {
			got = "text:" + text
		}
		if !ok || got != tc.want {
			t.Errorf("peer %s, X-Forwarded-For %q: client %q (ok %v), want %q", tc.peer, tc.xff, got, ok, tc.want)
		}
	}
}
