package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// limitServer runs serve on the static driver, both slots answering with
// their name after wait, with the limits section given.
func limitServer(t *testing.T, limits string, wait time.Duration) *Server {
	return limitServerTB(t, limits, wait)
}

// limitServerTB is limitServer for a test or a benchmark (whose serve log
// is dropped).
func limitServerTB(t testing.TB, limits string, wait time.Duration) *Server {
	t.Helper()
	dir := t.TempDir()
	backend := func(name string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(wait):
			case <-r.Context().Done():
			}
			_, _ = io.WriteString(w, name)
		}))
		t.Cleanup(srv.Close)
		return srv.Listener.Addr().String()
	}
	yaml := fmt.Sprintf(`app: shop
listen: 127.0.0.1:0
preview_listen: ""
admin_listen: 127.0.0.1:0
state: state.db
admin_token_file: admin.token
driver:
  kind: static
  static: { blue: [%q], green: [%q] }
routing:
  preview_header: { name: "" }
health: { interval: 50ms, healthy_threshold: 1 }
checks: []
limits: %s
`, backend("blue"), backend("green"), limits)
	logs := t.Output()
	if _, ok := t.(*testing.B); ok {
		logs = io.Discard
	}
	s, _ := serveYAMLLog(t, dir, yaml, logs)
	waitServing(t, s.production.addr())
	return s
}

// waitServing waits until the production listener answers 200.
func waitServing(t testing.TB, addr string) {
	t.Helper()
	for range 200 {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("production listener %s never answered 200", addr)
}

// load is n keep-alive clients sending GETs to addr until stop; it returns
// the latencies and the failures (errors and non-200 answers).
func load(addr string, n int, stop <-chan struct{}) (lat []time.Duration, failures []string) {
	tr := &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				resp, err := c.Get("http://" + addr + "/")
				var fail string
				if err != nil {
					fail = err.Error()
				} else {
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						fail = resp.Status
					}
				}
				mu.Lock()
				lat = append(lat, time.Since(start))
				if fail != "" {
					failures = append(failures, fail)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return lat, failures
}

// slowloris keeps n connections to addr that send a request's headers a
// line at a time and never end them, dialling again when one is closed,
// until stop; it returns how many times the router closed one.
func slowloris(addr string, n int, stop <-chan struct{}) (closed int64) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.Dial("tcp", addr)
				if err != nil {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				_, err = fmt.Fprintf(c, "GET /slow/%d HTTP/1.1\r\nHost: shop\r\n", i)
				for err == nil {
					select {
					case <-stop:
						_ = c.Close()
						return
					case <-time.After(200 * time.Millisecond):
					}
					_, err = io.WriteString(c, "X-Drip: 1\r\n")
				}
				_ = c.Close()
				atomic.AddInt64(&closed, 1)
			}
		})
	}
	wg.Wait()
	return closed
}

func p99(lat []time.Duration) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[len(s)*99/100]
}

// TestSlowlorisDoesNotStarveClients: 1,000 connections that never finish
// their headers, against a listener limited to 256 connections, while 16
// normal keep-alive clients send requests: the clients see no failure,
// the router makes room by closing unfinished connections (counted in
// bluegreen_connections_dropped_total{reason="evicted"}) and never holds
// more than the limit. The clients' p99 with and without the attack is
// logged (bench/README.md reports the ratio; timing is not asserted).
func TestSlowlorisDoesNotStarveClients(t *testing.T) {
	s := limitServer(t, "{ max_connections: 256, read_header_timeout: 10s }", 0)
	addr := s.production.addr()
	cl := s.production.ln.(*connLimit)

	quietStop := make(chan struct{})
	time.AfterFunc(2*time.Second, func() { close(quietStop) })
	quiet, quietFail := load(addr, 16, quietStop)

	stop := make(chan struct{})
	var closed int64
	var wg sync.WaitGroup
	wg.Go(func() { closed = slowloris(addr, 1000, stop) })
	time.Sleep(time.Second) // let the attack fill the listener
	attackStop := make(chan struct{})
	time.AfterFunc(4*time.Second, func() { close(attackStop) })
	var maxOpen int
	sampler := make(chan struct{})
	go func() {
		defer close(sampler)
		for {
			select {
			case <-attackStop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			cl.mu.Lock()
			maxOpen = max(maxOpen, len(cl.conns))
			cl.mu.Unlock()
		}
	}()
	attacked, attackFail := load(addr, 16, attackStop)
	<-sampler
	close(stop)
	wg.Wait()

	evicted := testutil.ToFloat64(cl.m.dropped.WithLabelValues("production", "evicted"))
	t.Logf("quiet: %d requests, p99 %v; under 1,000 slowloris connections: %d requests, p99 %v (%.2fx); %d slow connections closed by the router, %v evicted, at most %d open",
		len(quiet), p99(quiet), len(attacked), p99(attacked), float64(p99(attacked))/float64(p99(quiet)), closed, evicted, maxOpen)
	if len(quietFail)+len(attackFail) > 0 {
		t.Errorf("failed requests: quiet %d %v, under attack %d %v", len(quietFail), first(quietFail), len(attackFail), first(attackFail))
	}
	if len(attacked) == 0 {
		t.Fatal("no request was answered under attack")
	}
	if evicted == 0 || closed == 0 {
		t.Errorf("the limit never bit: evicted %v, slow connections closed %d", evicted, closed)
	}
	if maxOpen > 256 {
		t.Errorf("%d connections open at once, limit 256", maxOpen)
	}
}

// TestConnLimitRefusesWhenAllBusy: when every connection under the limit
// is busy with a request, a new connection is closed at once, counted as
// refused, and the busy requests still complete.
func TestConnLimitRefusesWhenAllBusy(t *testing.T) {
	s := limitServer(t, "{ max_connections: 16 }", 2*time.Second)
	addr := s.production.addr()
	cl := s.production.ln.(*connLimit)
	// waitServing left an idle keep-alive connection in the default
	// client; drop it so the 16 below are the only ones.
	http.DefaultClient.CloseIdleConnections()

	var wg sync.WaitGroup
	var ok atomic.Int64
	conns := make([]net.Conn, 16)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: shop\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			resp, err := http.ReadResponse(bufioReader(c), nil)
			if err == nil && resp.StatusCode == http.StatusOK {
				ok.Add(1)
			}
		})
	}
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	// Wait until all 16 are active (their requests reached the backend).
	deadline := time.Now().Add(5 * time.Second)
	for {
		cl.mu.Lock()
		active := 0
		for c := range cl.conns {
			if st, _ := c.state(); st == http.StateActive {
				active++
			}
		}
		cl.mu.Unlock()
		if active == 16 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of 16 connections became active", active)
		}
		time.Sleep(10 * time.Millisecond)
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	_, _ = io.WriteString(extra, "GET / HTTP/1.1\r\nHost: shop\r\n\r\n")
	_ = extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := extra.Read(make([]byte, 1)); err == nil {
		t.Errorf("the 17th connection got %d bytes, want it closed", n)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Error("the 17th connection was left open, want it closed at once")
	}
	wg.Wait()
	if ok.Load() != 16 {
		t.Errorf("%d of the 16 busy requests got 200", ok.Load())
	}
	if got := testutil.ToFloat64(cl.m.dropped.WithLabelValues("production", "refused")); got != 1 {
		t.Errorf("refused = %v, want 1", got)
	}
}

func first(s []string) []string { return s[:min(len(s), 3)] }

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

// TestConnLimitEvictsUnfinishedBeforeIdle: at the limit, a new connection
// takes the place of one that never finished a request even when an idle
// keep-alive connection of a working client is older: that client keeps
// its connection (closing it would send it to the back of an accept queue
// full of slowloris connections).
func TestConnLimitEvictsUnfinishedBeforeIdle(t *testing.T) {
	s := limitServer(t, "{ max_connections: 16, read_header_timeout: 10s }", 0)
	addr := s.production.addr()
	cl := s.production.ln.(*connLimit)
	http.DefaultClient.CloseIdleConnections() // waitServing's

	ka, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ka.Close()
	br := bufioReader(ka)
	ask := func(what string) {
		t.Helper()
		if _, err := io.WriteString(ka, "GET / HTTP/1.1\r\nHost: shop\r\n\r\n"); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		_ = ka.SetReadDeadline(time.Now().Add(hang))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s on the keep-alive connection: %v", what, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", what, resp.Status)
		}
	}
	ask("first request")
	states := func() (idle, fresh, total int) {
		cl.mu.Lock()
		defer cl.mu.Unlock()
		total = len(cl.conns)
		for c := range cl.conns {
			switch st, _ := c.state(); st {
			case http.StateIdle:
				idle++
			case http.StateNew:
				fresh++
			}
		}
		return idle, fresh, total
	}
	waitFor(t, "the keep-alive connection idle", func() bool { idle, _, _ := states(); return idle == 1 })
	// Fifteen unfinished requests, younger than the idle connection, fill
	// the listener; a sixteenth and seventeenth must each evict one of
	// them.
	var slow []net.Conn
	defer func() {
		for _, c := range slow {
			_ = c.Close()
		}
	}()
	for i := range 17 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		slow = append(slow, c)
		if _, err := fmt.Fprintf(c, "GET /slow/%d HTTP/1.1\r\nHost: shop\r\n", i); err != nil {
			t.Fatal(err)
		}
		want, evictions := min(i+1, 15), float64(max(0, i+1-15))
		waitFor(t, "the unfinished connection counted", func() bool {
			idle, fresh, total := states()
			if idle == 0 {
				t.Fatalf("the idle keep-alive connection was closed to make room for unfinished connection %d", i)
			}
			return fresh == want && total == want+1 && testutil.ToFloat64(cl.m.dropped.WithLabelValues("production", "evicted")) == evictions
		})
	}
	ask("request after the evictions")
}
