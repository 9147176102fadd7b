package router

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// serveDirect serves h on a loopback FastListener of r behind an
// http.Server (for what it hands off), with the timeouts of
// internal/server, and returns its address.
func serveDirect(t testing.TB, r *Router, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := r.FastListener(ln, ServeOptions{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute, ConnState: fl.ConnStateFunc()}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(fl) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		fl.Shutdown(ctx)
		fl.CloseConns()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// The client-side fast path serves a GET itself and hands the rest to
// net/http on the same listener: an HTTP/1.0 request, a chunked body, an
// upgrade attempt, a malformed head.
func TestFastListenerServesAndHandsOff(t *testing.T) {
	tr := newTestRouter(t, Options{}, false)
	tr.SetBackends(Blue, []string{newServer(t, echoHandler(Blue))}, true)
	addr := serveDirect(t, tr.Router, tr.Production())
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range 3 {
		resp, err := client.Get("http://" + addr + fmt.Sprintf("/x?i=%d", i))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get(HeaderSlot) != "blue" {
			t.Fatalf("status %d slot %q", resp.StatusCode, resp.Header.Get(HeaderSlot))
		}
	}
	if got := tr.direct.Load(); got != 3 {
		t.Fatalf("%d requests served directly, want 3", got)
	}
	for _, raw := range []string{
		"GET /a HTTP/1.0\r\nHost: x\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
	} {
		before := tr.handoffs.Load()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, raw)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		resp.Body.Close()
		c.Close()
		if resp.StatusCode != 200 || tr.handoffs.Load() != before+1 {
			t.Fatalf("%q: status %d, handoffs %d → %d", raw, resp.StatusCode, before, tr.handoffs.Load())
		}
	}
	// Malformed: net/http answers 400 as it did before the fast path.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /a HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("malformed header: status %d, want 400", resp.StatusCode)
	}
}

// Keep-alive through the client-side fast path: many requests on few
// connections, pipelined ones included, each answered in order.
func TestFastListenerPipelined(t *testing.T) {
	tr := newTestRouter(t, Options{}, false)
	tr.SetBackends(Blue, []string{newServer(t, echoHandler(Blue))}, true)
	addr := serveDirect(t, tr.Router, tr.Production())
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	for i := range 20 {
		fmt.Fprintf(&b, "GET /p?i=%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
	}
	io.WriteString(c, b.String())
	br := bufio.NewReader(c)
	for i := range 20 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(body), fmt.Sprintf(`"query":"i=%d"`, i)) {
			t.Fatalf("response %d out of order: %s", i, body)
		}
	}
}

// Idle connections: the listener holds no buffers for them, and closing
// it ends them.
func TestFastListenerIdleAndClose(t *testing.T) {
	tr := newTestRouter(t, Options{}, false)
	tr.SetBackends(Blue, []string{newServer(t, echoHandler(Blue))}, true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var states sync.Map
	var closed atomic.Int64
	// A connection the client dialed spare and never used is left to its
	// head timeout at shutdown (a client does not retry a request on a
	// connection it never used, so closing one early would fail it):
	// with none, Shutdown would wait for it forever.
	fl := tr.FastListener(ln, ServeOptions{Handler: tr.Production(), IdleTimeout: time.Minute, ReadHeaderTimeout: 2 * time.Second, ConnState: func(c net.Conn, st http.ConnState) {
		states.Store(c, st)
		if st == http.StateClosed {
			closed.Add(1)
		}
	}})
	srv := &http.Server{Handler: tr.Production(), ConnState: fl.ConnStateFunc()}
	go srv.Serve(fl)
	defer srv.Close()
	tc := &http.Transport{MaxIdleConnsPerHost: 10}
	defer tc.CloseIdleConnections()
	client := &http.Client{Transport: tc}
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get("http://" + ln.Addr().String() + "/")
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Every connection waits without a read buffer: those that
		// served a request (idle) and any the client dialed spare.
		idle, free := 0, 0
		fl.mu.Lock()
		for dc := range fl.conns {
			if dc.idle.Load() {
				idle++
			}
			if !dc.holding.Load() {
				free++
			}
		}
		n := len(fl.conns)
		fl.mu.Unlock()
		if free == n && idle > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections without a read buffer, %d idle", free, n, idle)
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fl.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with idle connections: %v", err)
	}
	if closed.Load() == 0 {
		t.Fatal("no connection reported closed")
	}
}

// A client still sending its request head is not Active (so
// limits.max_connections may evict it, as with net/http), and
// ReadHeaderTimeout ends it.
func TestFastListenerUnfinishedHead(t *testing.T) {
	tr := newTestRouter(t, Options{}, false)
	tr.SetBackends(Blue, []string{newServer(t, echoHandler(Blue))}, true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []http.ConnState
	fl := tr.FastListener(ln, ServeOptions{Handler: tr.Production(), ReadHeaderTimeout: 300 * time.Millisecond, ConnState: func(_ net.Conn, st http.ConnState) {
		mu.Lock()
		seen = append(seen, st)
		mu.Unlock()
	}})
	srv := &http.Server{Handler: tr.Production(), ConnState: fl.ConnStateFunc()}
	go srv.Serve(fl)
	defer srv.Close()
	defer fl.CloseConns()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("an unfinished head: read %v, want the connection closed at read_header_timeout", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, st := range seen {
		if st == http.StateActive {
			t.Fatalf("states %v: Active before the head was read", seen)
		}
	}
	if len(seen) == 0 || seen[0] != http.StateNew {
		t.Fatalf("states %v, want New first", seen)
	}
}

// TestHTTPDate: the cached Date value is the current second's, also
// across second boundaries (the cache ends with its second).
func TestHTTPDate(t *testing.T) {
	seen := map[string]bool{}
	for end := time.Now().Add(1200 * time.Millisecond); time.Now().Before(end); time.Sleep(time.Millisecond) {
		before := time.Now().Unix()
		d := httpDate()
		after := time.Now().Unix()
		at, err := http.ParseTime(d)
		if err != nil {
			t.Fatalf("Date %q: %v", d, err)
		}
		if s := at.Unix(); s < before || s > after {
			t.Fatalf("Date %q is second %d, read between seconds %d and %d", d, s, before, after)
		}
		seen[d] = true
	}
	if len(seen) < 2 {
		t.Fatalf("1.2 s of Date values gave %d distinct seconds: %v", len(seen), seen)
	}
}

// TestFastListenerCloseServesUnusedConn: a connection that has sent
// nothing yet when the listener closes (a client's spare, at a handoff)
// is not cut: its request is answered, with Connection: close.
func TestFastListenerCloseServesUnusedConn(t *testing.T) {
	tr := newTestRouter(t, Options{}, false)
	tr.SetBackends(Blue, []string{newServer(t, echoHandler(Blue))}, true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := tr.FastListener(ln, ServeOptions{Handler: tr.Production(), IdleTimeout: time.Minute, ReadHeaderTimeout: 10 * time.Second})
	srv := &http.Server{Handler: tr.Production()}
	go srv.Serve(fl)
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "the connection accepted", func() bool {
		fl.mu.Lock()
		defer fl.mu.Unlock()
		return len(fl.conns) == 1
	})
	fl.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("the unused connection's request after Close: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !resp.Close {
		t.Fatalf("status %d, close %v; want 200 with Connection: close", resp.StatusCode, resp.Close)
	}
}

// The header maps the fast path reuses (headerMaps) carry nothing from one
// request to the next: on one keep-alive connection, a request's headers
// and its response's reach neither the next request nor its response,
// whether the exchanges alternate between a head with many names and one
// with none.
func TestFastListenerHeaderMapsCarryNothing(t *testing.T) {
	backend := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var names []string
		for k := range r.Header {
			if strings.HasPrefix(k, "X-Req-") {
				names = append(names, k)
			}
		}
		w.Header().Set("X-Saw", fmt.Sprint(len(names)))
		if v := r.Header.Get("X-Want-Resp"); v != "" {
			for i := range 20 { // past maxPooledHeader: the map is dropped
				w.Header().Set(fmt.Sprintf("X-Resp-%d", i), v)
			}
		}
	}))
	tr := newTestRouter(t, Options{}, false)
	tr.SetBackends(Blue, []string{backend}, true)
	addr := serveDirect(t, tr.Router, tr.Production())
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	for i := range 40 {
		var b strings.Builder
		fmt.Fprintf(&b, "GET /%d HTTP/1.1\r\nHost: x\r\n", i)
		many := i%2 == 0
		n := 0
		if many {
			n = 3 + i%25 // some past maxPooledHeader
			for j := range n {
				fmt.Fprintf(&b, "X-Req-%d: v\r\n", j)
			}
			b.WriteString("X-Want-Resp: yes\r\n")
		}
		b.WriteString("\r\n")
		if _, err := io.WriteString(c, b.String()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if got := resp.Header.Get("X-Saw"); got != fmt.Sprint(n) {
			t.Fatalf("request %d: the instance saw %s X-Req- headers, want %d", i, got, n)
		}
		resps := 0
		for k := range resp.Header {
			if strings.HasPrefix(k, "X-Resp-") {
				resps++
			}
		}
		if want := map[bool]int{true: 20, false: 0}[many]; resps != want {
			t.Fatalf("request %d: %d X-Resp- headers in the answer, want %d", i, resps, want)
		}
	}
	if got := tr.direct.Load(); got < 40 {
		t.Fatalf("%d requests on the fast path, want 40", got)
	}
}
