package router

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

// clientFrom returns an HTTP client whose connections come from local
// address ip (any 127.0.0.0/8 address works on loopback).
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// With client_ip affinity a client's requests all go to one slot during a
// split, no cookie is set, and as the new slot's weight grows clients only
// ever move to it.
func TestClientIPAffinity(t *testing.T) {
	tr := newTestRouter(t, Options{Affinity: AffinityClientIP}, false)
	tr.SetBackends(Blue, []string{newServer(t, slotHandler(Blue))}, true)
	tr.SetBackends(Green, []string{newServer(t, slotHandler(Green))}, true)

	const clients = 40
	clientsOf := make([]*http.Client, clients)
	for i := range clientsOf {
		clientsOf[i] = clientFrom(t, fmt.Sprintf("127.0.0.%d", i+2))
	}
	// slotsAt routes 4 requests per client under weight green=w and
	// returns each client's slot.
	slotsAt := func(w int) []string {
		t.Helper()
		if err := tr.SetTable(Table{Live: Blue, Weights: map[Slot]int{Blue: 100 - w, Green: w}}); err != nil {
			t.Fatal(err)
		}
		got := make([]string, clients)
		for i, c := range clientsOf {
			for range 4 {
				req, err := http.NewRequest(http.MethodGet, tr.prod.URL+"/", nil)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Fatalf("client %d: %v", i, err)
				}
				_ = resp.Body.Close()
				slot := resp.Header.Get(HeaderSlot)
				if got[i] != "" && got[i] != slot {
					t.Fatalf("green=%d%%: client %d went to %s and %s", w, i, got[i], slot)
				}
				got[i] = slot
				if sc := resp.Header.Values("Set-Cookie"); len(sc) > 0 {
					t.Fatalf("client_ip affinity set a cookie: %q", sc)
				}
			}
		}
		return got
	}
	prev := slotsAt(10)
	for _, w := range []int{30, 50, 80, 100} {
		cur := slotsAt(w)
		onGreen := 0
		for i := range cur {
			if prev[i] == "green" && cur[i] != "green" {
				t.Fatalf("green %d%%: client %d moved back to %s", w, i, cur[i])
			}
			if cur[i] == "green" {
				onGreen++
			}
		}
		if w < 100 && (onGreen == 0 || onGreen == clients) {
			t.Fatalf("green %d%%: %d of %d clients on green, want a split", w, onGreen, clients)
		}
		prev = cur
	}
	if strings.Count(strings.Join(prev, ","), "green") != clients {
		t.Fatalf("at 100%% not every client is on green: %v", prev)
	}
}

// The hash spreads addresses evenly and maps an IPv4 address and its
// IPv6-mapped form to the same point.
func TestClientPoint(t *testing.T) {
	if a, b := clientPoint("10.1.2.3:4000"), clientPoint("[::ffff:10.1.2.3]:5000"); a != b {
		t.Fatalf("mapped address hashes to %d, plain to %d", b, a)
	}
	ct := compile(Table{Live: Blue, Weights: map[Slot]int{Blue: 30, Green: 70}})
	blue := 0
	const n = 20000
	for i := range n {
		addr := fmt.Sprintf("10.%d.%d.%d:1234", i>>16&0xff, i>>8&0xff, i&0xff)
		if pickByClientIP(ct, addr) == 0 {
			blue++
		}
	}
	// 30% of 20000 is 6000; a fair coin strays by 3 sigma (~200) rarely,
	// and the hash is deterministic, so this never flakes.
	if blue < 5600 || blue > 6400 {
		t.Fatalf("%d of %d addresses on blue at 30%%, want about 6000", blue, n)
	}
}

func TestAffinityOptions(t *testing.T) {
	sticky := &StickyOptions{Cookie: "bg_slot"}
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Affinity: "sticky"}, `unknown affinity "sticky"`},
		{Options{Affinity: AffinityClientIP, Sticky: sticky}, `affinity client_ip: the sticky cookie "bg_slot" is not used`},
		{Options{Affinity: AffinityNone, Sticky: sticky}, "affinity none"},
	} {
		if _, err := New(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error containing %q", tc.opts.Affinity, err, tc.want)
		}
	}
	for _, opts := range []Options{{Affinity: AffinityCookie, Sticky: sticky}, {Affinity: AffinityNone}, {Affinity: AffinityClientIP}} {
		if _, err := New(opts); err != nil {
			t.Errorf("New(affinity %s): %v", opts.Affinity, err)
		}
	}
}
