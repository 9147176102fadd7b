package router

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestResponseHeaderTimeout: an instance that takes a request and sends
// no response head within Options.ResponseHeaderTimeout gets the client a
// 504 timeout naming the slot, on the fast path and on http.Transport (a
// request with a chunked body goes there).
func TestResponseHeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hung := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		select {
		case <-release:
		case <-req.Context().Done():
		}
	}))
	r := newTestRouter(t, Options{ResponseHeaderTimeout: 200 * time.Millisecond}, false)
	r.SetBackends(Green, []string{hung}, true)
	r.SetTable(LiveTable(Green))
	ft := r.slots[1].proxy.Transport.(*slotTransport).base.(*fastTransport)
	for _, tc := range []struct {
		name string
		body io.Reader
		fast bool
	}{
		{"fast path", nil, true},
		{"http.Transport", io.MultiReader(strings.NewReader("chunk")), false},
	} {
		before := ft.fast.Load()
		req, err := http.NewRequest(http.MethodPost, r.prod.URL+"/slow", tc.body)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusGatewayTimeout || resp.Header.Get(HeaderError) != "timeout" ||
			!strings.Contains(string(body), "slot green") || !strings.Contains(string(body), "routing.response_header_timeout") {
			t.Errorf("%s: %d %q %q, want 504 timeout naming slot green and the key", tc.name, resp.StatusCode, resp.Header.Get(HeaderError), body)
		}
		if got := ft.fast.Load() > before; got != tc.fast {
			t.Errorf("%s: on the fast path %v, want %v", tc.name, got, tc.fast)
		}
	}
	if n, err := testutil.GatherAndCount(r.reg, "bluegreen_fastpath_requests_total"); err != nil || n != 2 {
		t.Errorf("bluegreen_fastpath_requests_total: %d series, %v; want fast and general", n, err)
	}
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// exchangeWriter's waiting write: it returns once the peer answered, with
// the answer readable after it; a write larger than the socket takes at
// once is finished as a plain write, every byte in order; a write whose
// peer never answers returns at the read deadline, its bytes sent; a
// peer gone makes the write or the read that follows fail.
func TestExchangeWriter(t *testing.T) {
	t.Run("waits for the answer", func(t *testing.T) {
		c, s := tcpPair(t)
		var w exchangeWriter
		w.init(c)
		go func() {
			buf := make([]byte, 5)
			if _, err := io.ReadFull(s, buf); err == nil && string(buf) == "hello" {
				s.Write([]byte("world"))
			}
		}()
		w.await = true
		if n, err := w.Write([]byte("hello")); n != 5 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		if w.await {
			t.Fatal("await still set after the write")
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "world" {
			t.Fatalf("answer %q, %v", buf, err)
		}
	})
	t.Run("larger than the socket buffer", func(t *testing.T) {
		c, s := tcpPair(t)
		c.(*net.TCPConn).SetWriteBuffer(4096)
		var w exchangeWriter
		w.init(c)
		payload := []byte(strings.Repeat("0123456789abcdef", 1<<15)) // 512 KiB, past what loopback buffers take at once
		got := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(io.LimitReader(s, int64(len(payload))))
			got <- b
			s.Write([]byte("ok"))
		}()
		w.await = true
		if n, err := w.Write(payload); n != len(payload) || err != nil {
			t.Fatalf("Write = %d, %v; want %d", n, err, len(payload))
		}
		if w.n >= len(payload) {
			t.Fatalf("the socket took all %d bytes at once: the plain write after a partial one went untested", w.n)
		}
		if b := <-got; string(b) != string(payload) {
			t.Fatalf("the peer read %d bytes, not the payload", len(b))
		}
	})
	t.Run("no answer: the read deadline ends the wait", func(t *testing.T) {
		c, s := tcpPair(t)
		var w exchangeWriter
		w.init(c)
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		w.await = true
		if n, err := w.Write([]byte("ping")); n != 4 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		buf := make([]byte, 4)
		s.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("peer read %q, %v", buf, err)
		}
		if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read after the wait: %v, want the deadline", err)
		}
	})
	t.Run("deadline past before the write", func(t *testing.T) {
		c, _ := tcpPair(t)
		var w exchangeWriter
		w.init(c)
		c.SetDeadline(time.Unix(1, 0)) // a cancellation
		w.await = true
		if _, err := w.Write([]byte("ping")); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write: %v, want the deadline", err)
		}
	})
	t.Run("peer closed", func(t *testing.T) {
		c, s := tcpPair(t)
		s.Close()
		var w exchangeWriter
		w.init(c)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		w.await = true
		_, werr := w.Write([]byte("ping"))
		buf := make([]byte, 4)
		_, rerr := c.Read(buf)
		if werr == nil && rerr == nil {
			t.Fatal("neither the write nor the read failed on a closed peer")
		}
		if errors.Is(rerr, os.ErrDeadlineExceeded) {
			t.Fatal("the wait went to the deadline: the close did not wake it")
		}
	})
}
