package router

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRoutesToLiveSlotRoundRobin(t *testing.T) {
	tr := newTestRouter(t, Options{}, false)
	hits := map[string]*atomic.Int32{}
	var addrs []string
	for range 3 {
		n := &atomic.Int32{}
		addr := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			n.Add(1)
			_, _ = io.WriteString(w, "blue")
		}))
		hits[addr] = n
		addrs = append(addrs, addr)
	}
	tr.SetBackends(Blue, addrs, true)
	tr.SetBackends(Green, []string{newServer(t, slotHandler(Green))}, true)

	client := tr.prod.Client()
	for range 30 {
		code, slot, body := get(t, client, tr.prod.URL+"/", nil)
		if code != http.StatusOK || slot != "blue" || body != "blue" {
			t.Fatalf("GET = %d slot %q body %q, want 200 blue blue", code, slot, body)
		}
	}
	for addr, n := range hits {
		if got := n.Load(); got != 10 {
			t.Errorf("backend %s got %d requests, want 10 (round-robin)", addr, got)
		}
	}

	if err := tr.SetTable(LiveTable(Green)); err != nil {
		t.Fatal(err)
	}
	if _, slot, body := get(t, client, tr.prod.URL+"/", nil); slot != "green" || body != "green" {
		t.Fatalf("after switch: slot %q body %q, want green", slot, body)
	}
}

func TestWeightedSplit(t *testing.T) {
	tr := newTestRouter(t, Options{}, false)
	tr.SetBackends(Blue, []string{newServer(t, slotHandler(Blue))}, true)
	tr.SetBackends(Green, []string{newServer(t, slotHandler(Green))}, true)
	if err := tr.SetTable(Table{Live: Blue, Weights: map[Slot]int{Blue: 50, Green: 50}}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for range 200 {
		_, slot, body := get(t, tr.prod.Client(), tr.prod.URL+"/", nil)
		if slot != body {
			t.Fatalf("slot header %q but body %q", slot, body)
		}
		seen[slot]++
	}
	// Probability that a fair split gives fewer than 40 of 200 to one side
	// is below 1e-17.
	if seen["blue"] < 40 || seen["green"] < 40 {
		t.Fatalf("50/50 split served %v", seen)
	}
	// Without sticky sessions there is no cookie.
	resp, err := tr.prod.Client().Get(tr.prod.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	if c := resp.Header.Get("Set-Cookie"); c != "" {
		t.Fatalf("Set-Cookie %q without sticky sessions", c)
	}
}

func TestWholeSlotUnhealthy(t *testing.T) {
	tr := newTestRouter(t, Options{}, false)
	var hits atomic.Int32
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) })
	tr.SetBackends(Green, []string{newServer(t, h), newServer(t, h)}, false)
	if err := tr.SetTable(LiveTable(Green)); err != nil {
		t.Fatal(err)
	}
	resp, err := tr.prod.Client().Get(tr.prod.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
	if got, want := strings.TrimSpace(string(body)), "bluegreen: no healthy instance in slot green (0 of 2 healthy)"; got != want {
		t.Fatalf("body %q, want %q", got, want)
	}
	if resp.Header.Get(HeaderError) == "" {
		t.Fatalf("no %s header", HeaderError)
	}
	if got := resp.Header.Get(HeaderSlot); got != "green" {
		t.Fatalf("slot header %q, want green", got)
	}
	if hits.Load() != 0 {
		t.Fatalf("unhealthy backends got %d requests", hits.Load())
	}

	// A slot without any instance answers the same way.
	code, _, body2 := get(t, tr.preview.Client(), tr.preview.URL+"/", nil)
	if code != http.StatusServiceUnavailable || strings.TrimSpace(body2) != "bluegreen: no healthy instance in slot blue (0 of 0 healthy)" {
		t.Fatalf("empty slot: %d %q", code, body2)
	}
}

func TestStreamsFlushImmediately(t *testing.T) {
	tr := newTestRouter(t, Options{}, false)
	release := make(chan struct{})
	handlerBlocked := make(chan struct{})
	tr.SetBackends(Blue, []string{newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			// No Content-Type: a plain chunked response.
			_, _ = io.WriteString(w, "first chunk\n")
		} else {
			w.Header().Set("Content-Type", "text/event-stream")
			_ = writeEvent(w, "one")
		}
		_ = http.NewResponseController(w).Flush()
		handlerBlocked <- struct{}{}
		<-release
	}))}, true)
	t.Cleanup(func() { close(release) }) // before the backend closes (cleanups run last-in first-out)

	s := openSSE(t, tr.prod.Client(), tr.prod.URL+"/events")
	recv(t, handlerBlocked, "SSE handler to block")
	if data, err := s.nextWithin(t); err != nil || data != "one" {
		t.Fatalf("first event = %q, %v; want one while the handler is still blocked", data, err)
	}

	resp, err := tr.prod.Client().Get(tr.prod.URL + "/chunked")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	recv(t, handlerBlocked, "chunked handler to block")
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(resp.Body).ReadString('\n')
		line <- l
	}()
	if got := recv(t, line, "first chunk"); got != "first chunk\n" {
		t.Fatalf("first chunk = %q", got)
	}
}

func TestWebSocketUpgrade(t *testing.T) {
	tr := newTestRouter(t, Options{}, false)
	tr.SetBackends(Blue, []string{newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || !strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
			http.Error(w, "want an upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer func() { _ = conn.Close() }()
		if _, err := brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"); err != nil {
			return
		}
		if err := brw.Flush(); err != nil {
			return
		}
		// Echo every line back.
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			if _, err := brw.WriteString("echo " + line); err != nil {
				return
			}
			if err := brw.Flush(); err != nil {
				return
			}
		}
	}))}, true)

	conn, err := net.Dial("tcp", tr.prod.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read upgrade response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	if got := resp.Header.Get(HeaderSlot); got != "blue" {
		t.Fatalf("slot header %q on upgrade, want blue", got)
	}
	for _, msg := range []string{"hello", "world"} {
		fmt.Fprintf(conn, "%s\n", msg)
		got, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read echo: %v", err)
		}
		if got != "echo "+msg+"\n" {
			t.Fatalf("echo = %q, want %q", got, "echo "+msg+"\n")
		}
	}
}

func TestForwardedAndHopByHopHeaders(t *testing.T) {
	tr := newTestRouter(t, Options{}, false)
	tr.SetBackends(Blue, []string{newServer(t, echoHandler(Blue))}, true)

	e := getEcho(t, tr.prod.Client(), tr.prod.URL+"/path?a=1;b=2", http.Header{
		"Connection":      {"X-Foo"},
		"X-Foo":           {"dropped"},
		"X-Keep":          {"kept"},
		"X-Forwarded-For": {"10.9.9.9"},
	})
	host := tr.prod.Listener.Addr().String()
	checks := []struct{ name, got, want string }{
		// A client-supplied X-Forwarded-For is not trusted: replaced, not
		// appended to.
		{"X-Forwarded-For", e.Header.Get("X-Forwarded-For"), "127.0.0.1"},
		{"X-Forwarded-Proto", e.Header.Get("X-Forwarded-Proto"), "http"},
		{"X-Forwarded-Host", e.Header.Get("X-Forwarded-Host"), host},
		{"Host", e.Host, host},
		{"X-Keep", e.Header.Get("X-Keep"), "kept"},
		{"X-Foo (named in Connection)", e.Header.Get("X-Foo"), ""},
		{"Connection", e.Header.Get("Connection"), ""},
		{"raw query", e.Query, "a=1;b=2"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

func TestHeadersSurviveInformationalResponses(t *testing.T) {
	tr := newTestRouter(t, Options{Sticky: &StickyOptions{Cookie: "bg_slot"}}, false)
	early := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		_, _ = io.WriteString(w, "final")
	})
	tr.SetBackends(Blue, []string{newServer(t, early)}, true)
	tr.SetBackends(Green, []string{newServer(t, early)}, true)
	if err := tr.SetTable(Table{Live: Blue, Weights: map[Slot]int{Blue: 50, Green: 50}}); err != nil {
		t.Fatal(err)
	}
	resp, err := tr.prod.Client().Get(tr.prod.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	slot := resp.Header.Get(HeaderSlot)
	if resp.StatusCode != http.StatusOK || string(body) != "final" || slot == "" {
		t.Fatalf("status %d body %q slot %q", resp.StatusCode, body, slot)
	}
	if c := resp.Header.Get("Set-Cookie"); !strings.HasPrefix(c, "bg_slot="+slot+";") {
		t.Fatalf("Set-Cookie %q after a 103, want a pin to %s", c, slot)
	}
}
