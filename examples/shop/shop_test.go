package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestServer(t *testing.T, cfg config, now func() time.Time) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = newShop(cfg, srv.Listener.Addr(), now).handler()
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func getJSON(t *testing.T, url string, into any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: content type %q", url, ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: decode: %v", url, err)
	}
	return resp.StatusCode
}

func TestParseConfig(t *testing.T) {
	env := map[string]string{"PORT": "4321", "BLUEGREEN_SLOT": "green"}
	cfg, err := parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.listen != "127.0.0.1:4321" || cfg.slot != "green" || cfg.version != "v1" {
		t.Errorf("defaults from the environment: %+v", cfg)
	}
	cfg, err = parseConfig([]string{"--listen", "127.0.0.1:9", "--slot", "blue", "--version", "v2",
		"--fail-rate", "0.5", "--latency", "200ms", "--ready-delay", "1s"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config{listen: "127.0.0.1:9", slot: "blue", version: "v2", failRate: 0.5,
		latency: 200 * time.Millisecond, readyDelay: time.Second, shutdownTimeout: 10 * time.Second}
	if cfg != want {
		t.Errorf("flags: %+v, want %+v", cfg, want)
	}
	none := func(string) string { return "" }
	for _, bad := range [][]string{{"--fail-rate", "1.5"}, {"--latency", "-1s"}, {"--latency", "soon"}, {"extra"}, {"--version", ""}} {
		if _, err := parseConfig(bad, none, io.Discard); err == nil {
			t.Errorf("parseConfig(%q) succeeded", bad)
		}
	}
}

func TestHealthWaitsForReadyDelay(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	srv := newTestServer(t, config{version: "v1", slot: "blue", readyDelay: 5 * time.Second}, clk.now)

	var h healthReply
	if code := getJSON(t, srv.URL+"/health", &h); code != http.StatusServiceUnavailable || h != (healthReply{Status: "starting"}) {
		t.Errorf("before the ready delay: %d %+v", code, h)
	}
	clk.add(5 * time.Second)
	if code := getJSON(t, srv.URL+"/health", &h); code != http.StatusOK || h != (healthReply{Status: "healthy", Version: "v1", Slot: "blue"}) {
		t.Errorf("after the ready delay: %d %+v", code, h)
	}
}

func TestHomeDiffersByVersion(t *testing.T) {
	for _, version := range []string{"v1", "v2"} {
		srv := newTestServer(t, config{version: version, slot: "green"}, time.Now)
		var rep homeReply
		if code := getJSON(t, srv.URL+"/", &rep); code != http.StatusOK {
			t.Fatalf("%s: status %d", version, code)
		}
		_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
		if rep.Message != "shop "+version || rep.Version != version || rep.Slot != "green" || rep.Instance != port {
			t.Errorf("%s: %+v", version, rep)
		}
		if hasFeatured := len(rep.Featured) > 0; hasFeatured != (version == "v2") {
			t.Errorf("%s: featured = %v", version, rep.Featured)
		}
	}
}

func TestFailRateSparesHealth(t *testing.T) {
	srv := newTestServer(t, config{version: "v3", slot: "blue", failRate: 1}, time.Now)
	var rep map[string]string
	if code := getJSON(t, srv.URL+"/", &rep); code != http.StatusInternalServerError || rep["error"] != "simulated failure" {
		t.Errorf("fail rate 1: %d %v", code, rep)
	}
	var h healthReply
	if code := getJSON(t, srv.URL+"/health", &h); code != http.StatusOK {
		t.Errorf("health with fail rate 1: %d %+v", code, h)
	}
}

func TestSlowAndEcho(t *testing.T) {
	srv := newTestServer(t, config{version: "v1", slot: "blue"}, time.Now)
	var slow map[string]any
	if code := getJSON(t, srv.URL+"/slow?ms=20", &slow); code != http.StatusOK || slow["slept_ms"] != float64(20) {
		t.Errorf("slow: %d %v", code, slow)
	}
	if code := getJSON(t, srv.URL+"/slow?ms=nope", &slow); code != http.StatusBadRequest {
		t.Errorf("slow with a bad ms: %d", code)
	}

	req, err := http.NewRequest(http.MethodPut, srv.URL+"/echo?a=1", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Test", "yes")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var echo echoReply
	if err := json.NewDecoder(resp.Body).Decode(&echo); err != nil {
		t.Fatal(err)
	}
	if echo.Method != "PUT" || echo.Path != "/echo" || echo.Query != "a=1" || echo.Body != "hello" ||
		len(echo.Headers["X-Test"]) != 1 || echo.Headers["X-Test"][0] != "yes" || echo.Version != "v1" {
		t.Errorf("echo: %+v", echo)
	}
}

// TestGracefulShutdown cancels serve while a slow request and an event
// stream are open: the request completes, the stream ends cleanly, serve
// returns nil.
func TestGracefulShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s := newShop(config{version: "v2", slot: "green"}, ln.Addr(), time.Now)
	slowStarted := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(slowStarted)
		}
		s.handler().ServeHTTP(w, r)
	})
	served := make(chan error, 1)
	go func() { served <- serve(ctx, ln, h, s.stopStreams, 10*time.Second, slog.New(slog.DiscardHandler)) }()
	base := "http://" + ln.Addr().String()

	stream, err := http.Get(base + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if ct := stream.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events content type %q", ct)
	}
	events := bufio.NewScanner(stream.Body)
	var datas []string
	for len(datas) < 2 && events.Scan() {
		if d, ok := strings.CutPrefix(events.Text(), "data: "); ok {
			datas = append(datas, d)
		}
	}
	for _, d := range datas {
		if !strings.Contains(d, `"version":"v2"`) {
			t.Errorf("event %s lacks the version", d)
		}
	}
	if len(datas) != 2 {
		t.Fatalf("got %d events before the stream ended: %v", len(datas), events.Err())
	}

	slow := make(chan int, 1)
	go func() {
		resp, err := http.Get(base + "/slow?ms=300")
		if err != nil {
			slow <- 0
			return
		}
		_ = resp.Body.Close()
		slow <- resp.StatusCode
	}()
	select {
	case <-slowStarted: // in flight
	case code := <-slow:
		t.Fatalf("slow request ended before shutdown began: status %d", code)
	}
	cancel()

	if code := <-slow; code != http.StatusOK {
		t.Errorf("in-flight request during shutdown: status %d", code)
	}
	for events.Scan() { // the stream ends with EOF, not a reset
	}
	if err := events.Err(); err != nil {
		t.Errorf("event stream ended with %v, want a clean end", err)
	}
	if err := <-served; err != nil {
		t.Errorf("serve: %v", err)
	}
}

func TestRunExitCodes(t *testing.T) {
	none := func(string) string { return "" }
	if code := run(t.Context(), []string{"--fail-rate", "2"}, none, io.Discard); code != 2 {
		t.Errorf("bad flag: exit %d, want 2", code)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = busy.Close() })
	if code := run(t.Context(), []string{"--listen", busy.Addr().String()}, none, io.Discard); code != 1 {
		t.Errorf("address in use: exit %d, want 1", code)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // serve, then stop at once
	if code := run(ctx, []string{"--listen", "127.0.0.1:0"}, none, io.Discard); code != 0 {
		t.Errorf("graceful stop: exit %d, want 0", code)
	}
}
