package router

import (
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
)

func TestStickySessions(t *testing.T) {
	tr := newTestRouter(t, Options{Sticky: &StickyOptions{Cookie: "bg_slot", TTL: 3600e9}}, false)
	tr.SetBackends(Blue, []string{newServer(t, echoHandler(Blue))}, true)
	tr.SetBackends(Green, []string{newServer(t, echoHandler(Green))}, true)
	if err := tr.SetTable(Table{Live: Blue, Weights: map[Slot]int{Blue: 50, Green: 50}}); err != nil {
		t.Fatal(err)
	}

	// The first response of a split pins the client.
	resp, err := tr.prod.Client().Get(tr.prod.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	var pin *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "bg_slot" {
			pin = c
		}
	}
	if pin == nil {
		t.Fatalf("no sticky cookie in %v", resp.Header["Set-Cookie"])
	}
	if pin.Value != resp.Header.Get(HeaderSlot) || pin.MaxAge != 3600 || !pin.HttpOnly || pin.SameSite != http.SameSiteLaxMode || pin.Path != "/" {
		t.Fatalf("cookie %+v for slot %s", pin, resp.Header.Get(HeaderSlot))
	}

	// Several clients with cookie jars each stay on their first slot.
	firstSlots := map[string]int{}
	for c := range 8 {
		jar, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		client := &http.Client{Jar: jar, Transport: tr.prod.Client().Transport}
		req := func() echoed {
			return getEcho(t, client, tr.prod.URL+"/", http.Header{"Cookie": {"app=keep-me"}})
		}
		first := req().Slot
		firstSlots[first]++
		for i := range 30 {
			e := req()
			if e.Slot != first {
				t.Fatalf("client %d request %d went to %s, pinned to %s", c, i, e.Slot, first)
			}
			cookies := strings.Join(e.Header["Cookie"], "; ")
			if strings.Contains(cookies, "bg_slot") {
				t.Fatalf("backend saw the sticky cookie: %q", cookies)
			}
			if !strings.Contains(cookies, "app=keep-me") {
				t.Fatalf("backend lost the application cookie: %q", cookies)
			}
		}

		// Once the pinned slot has no weight, the client moves, and no new
		// pin is set while one slot has everything.
		other := Slot(first).Other()
		if err := tr.SetTable(LiveTable(other)); err != nil {
			t.Fatal(err)
		}
		if e := req(); e.Slot != string(other) {
			t.Fatalf("client %d pinned to %s stayed there at weight 0 (served by %s)", c, first, e.Slot)
		}
		if err := tr.SetTable(Table{Live: Blue, Weights: map[Slot]int{Blue: 50, Green: 50}}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("first slots of 8 clients: %v", firstSlots)
}

func TestStickyCookieStripping(t *testing.T) {
	st, err := newSticky(&StickyOptions{Cookie: "bg_slot"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   []string
		want []string
	}{
		{[]string{"bg_slot=green"}, nil},
		{[]string{"a=1; bg_slot=green; b=2"}, []string{"a=1; b=2"}},
		{[]string{"a=1", "bg_slot=blue"}, []string{"a=1"}},
		{[]string{"bg_slot_other=1; a=2"}, []string{"bg_slot_other=1; a=2"}},
	}
	for _, tt := range tests {
		h := http.Header{"Cookie": append([]string(nil), tt.in...)}
		st.strip(h)
		if got := h["Cookie"]; strings.Join(got, "|") != strings.Join(tt.want, "|") || (tt.want == nil && got != nil) {
			t.Errorf("strip(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if v, ok := st.lookup(http.Header{"Cookie": {"x=1; bg_slot=green"}}); !ok || v != "green" {
		t.Errorf("lookup = %q, %v", v, ok)
	}
	if _, ok := st.lookup(http.Header{"Cookie": {"bg_slotx=green"}}); ok {
		t.Error("lookup matched a longer cookie name")
	}
	if _, err := newSticky(&StickyOptions{Cookie: "bad name"}); err == nil {
		t.Error("invalid cookie name accepted")
	}
}

// TestStickyCookieSecureOverTLS: the cookie a request gets is Secure when
// the request came over TLS, and only then.
func TestStickyCookieSecureOverTLS(t *testing.T) {
	st, err := newSticky(&StickyOptions{Cookie: "bg"})
	if err != nil {
		t.Fatal(err)
	}
	for _, secure := range []bool{false, true} {
		h := http.Header{}
		st.pin(h, 1, secure)
		c, err := http.ParseSetCookie(h.Get("Set-Cookie"))
		if err != nil {
			t.Fatalf("Set-Cookie %q: %v", h.Get("Set-Cookie"), err)
		}
		if c.Secure != secure || c.Name != "bg" || c.Value != "green" || !c.HttpOnly {
			t.Errorf("over TLS %v: cookie %+v, want bg=green HttpOnly, Secure %v", secure, c, secure)
		}
	}
}
