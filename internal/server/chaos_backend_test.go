package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/capture"
	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/router"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// The chaos cases of a misbehaving instance: serve on the static driver,
// each slot's instances real HTTP servers on loopback that the test turns
// bad while a deployment runs. The health path always answers (the app's
// handlers are what break), so it is the router's request path — timeouts,
// passive health, analysis, drains — that must cope.

// How a chaos instance answers requests other than the health check.
const (
	behaveOK    int32 = iota
	behaveHang        // accepts the request, never answers
	behaveDrip        // /drip: a head, then one byte every dripEvery
	behaveReset       // a head and part of the body, then a TCP reset
)

const (
	// dripEvery paces a dripping answer: /drip?n=N sends N bytes and
	// ends, /drip without n drips until the client or the router gives
	// up.
	dripEvery = 50 * time.Millisecond
	// resetBodyLen is the length a resetting instance announces; it
	// sends half of it, more than the router's write buffer, so that the
	// head reaches the client before the reset does.
	resetBodyLen = 64 << 10
)

// chaosInstance is one instance of a slot.
type chaosInstance struct {
	name   string
	addr   string
	behave atomic.Int32
	taken  atomic.Int64 // requests (not health checks) it received
}

func newChaosInstance(t *testing.T, name string) *chaosInstance {
	t.Helper()
	in := &chaosInstance{name: name}
	srv := httptest.NewServer(http.HandlerFunc(in.serveHTTP))
	t.Cleanup(srv.Close)
	in.addr = srv.Listener.Addr().String()
	return in
}

func (in *chaosInstance) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/health" {
		return
	}
	in.taken.Add(1)
	w.Header().Set("X-Instance", in.name)
	switch in.behave.Load() {
	case behaveHang:
		<-r.Context().Done() // the router gave up and closed the connection
		return
	case behaveDrip:
		if r.URL.Path == "/drip" {
			n := -1
			if v := r.URL.Query().Get("n"); v != "" {
				_, _ = fmt.Sscan(v, &n)
				w.Header().Set("Content-Length", v)
			}
			w.WriteHeader(http.StatusOK)
			http.NewResponseController(w).Flush()
			tick := time.NewTicker(dripEvery)
			defer tick.Stop()
			for i := 0; n < 0 || i < n; i++ {
				select {
				case <-r.Context().Done():
					return
				case <-tick.C:
				}
				if _, err := io.WriteString(w, "x"); err != nil {
					return
				}
				_ = http.NewResponseController(w).Flush()
			}
			return
		}
	case behaveReset:
		c, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Instance: %s\r\n\r\n%s", resetBodyLen, in.name, strings.Repeat("y", resetBodyLen/2))
		_ = buf.Flush()
		_ = c.(*net.TCPConn).SetLinger(0) // Close sends RST
		_ = c.Close()
		return
	}
	_, _ = io.WriteString(w, in.name)
}

// chaosServer runs serve with blue's and green's instances, analysis on
// (every error counts: error_rate max 5%, windows of 1s) and the routing
// keys given, its log in the returned buffer.
func chaosServer(t *testing.T, blue, green []*chaosInstance, routing string) (*Server, *capture.Buffer) {
	t.Helper()
	addrs := func(ins []*chaosInstance) string {
		var q []string
		for _, in := range ins {
			q = append(q, fmt.Sprintf("%q", in.addr))
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	yaml := fmt.Sprintf(`app: shop
listen: 127.0.0.1:0
preview_listen: ""
admin_listen: 127.0.0.1:0
state: state.db
admin_token_file: admin.token
driver:
  kind: static
  static: { blue: %s, green: %s }
routing:
  preview_header: { name: "" }
  affinity: none
  %s
health: { interval: 200ms, healthy_threshold: 1, unhealthy_threshold: 3 }
checks: []
bake_time: 0s
scale_down_delay: 1h
analysis:
  interval: 1s
  min_requests: 5
  rules:
    - { metric: error_rate, max: 1%% }
  on_inconclusive: extend
`, addrs(blue), addrs(green), routing)
	logs := &capture.Buffer{}
	s, _ := serveYAMLLog(t, t.TempDir(), yaml, io.MultiWriter(logs, t.Output()))
	waitServing(t, s.production.addr())
	return s, logs
}

// deployLive deploys v1 all at once and returns the slot it went live on.
func deployLive(t *testing.T, s *Server) slot.Slot {
	t.Helper()
	d, err := s.ctrl.Deploy(t.Context(), "v1", "all-at-once")
	if err != nil {
		t.Fatal(err)
	}
	if d = waitDeployment(t, s, d.ID, func(d store.Deployment) bool { return !d.Active }); d.Phase != string(deploy.PhaseSucceeded) {
		t.Fatalf("v1: %s (%s)", d.Phase, d.Reason)
	}
	routeApplied(t, s)
	return d.Slot
}

// routeApplied waits until the router's table is the stored route, and
// fails when it does not come (the route half-applied).
func routeApplied(t *testing.T, s *Server) store.Route {
	t.Helper()
	var stored store.Route
	var tb router.Table
	ok := false
	deadline := time.Now().Add(hang)
	for time.Now().Before(deadline) {
		var err error
		if stored, err = s.store.LoadRoute(t.Context(), s.cfg.App); err != nil {
			t.Fatal(err)
		}
		tb = s.router.Table()
		if ok = tb.Live == stored.Live && tb.Weights[slot.Blue] == stored.Weights[slot.Blue] && tb.Weights[slot.Green] == stored.Weights[slot.Green]; ok {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !ok {
		t.Fatalf("route half-applied: stored %s %v, router %s %v", stored.Live, stored.Weights, tb.Live, tb.Weights)
	}
	return stored
}

// outcome is what one client request got.
type outcome struct {
	path     string
	status   int
	slot     string // X-Bluegreen-Slot
	kind     string // X-Bluegreen-Error
	instance string // X-Instance
	body     string
	err      error // transport error, or a broken body
	took     time.Duration
}

// traffic is n clients sending GET path to addr, one at a time each, until
// stop (or hang passed); it returns every outcome.
func traffic(addr, path string, n int, stop <-chan struct{}) []outcome {
	tr := &http.Transport{MaxIdleConnsPerHost: n}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: hang}
	var mu sync.Mutex
	var out []outcome
	var wg sync.WaitGroup
	limit := time.After(hang)
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-limit:
					return
				default:
				}
				o := get(c, "http://"+addr+path)
				mu.Lock()
				out = append(out, o)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

func get(c *http.Client, url string) outcome {
	start := time.Now()
	o := outcome{path: url}
	resp, err := c.Get(url)
	if err != nil {
		o.err, o.took = err, time.Since(start)
		return o
	}
	defer resp.Body.Close()
	o.status, o.slot, o.kind, o.instance = resp.StatusCode, resp.Header.Get(router.HeaderSlot), resp.Header.Get(router.HeaderError), resp.Header.Get("X-Instance")
	b, err := io.ReadAll(resp.Body)
	o.body, o.err, o.took = string(b), err, time.Since(start)
	return o
}

// phases lists the phases of d's events, in order.
func phases(t *testing.T, s *Server, id int64) (out []string, evs []store.Event) {
	t.Helper()
	evs, err := s.store.Events(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		out = append(out, ev.Phase)
	}
	return out, evs
}

// rolledBackUnderTraffic deploys v2 (linear 25% every 5s) while 8 clients
// send requests to the production listener, waits for the deployment to
// end, and checks that the analysis rolled it back to live. It returns the
// deployment and what every request got.
func rolledBackUnderTraffic(t *testing.T, s *Server, live slot.Slot) (store.Deployment, []outcome) {
	t.Helper()
	stop := make(chan struct{})
	var out []outcome
	var wg sync.WaitGroup
	wg.Go(func() { out = traffic(s.production.addr(), "/", 8, stop) })
	d, err := s.ctrl.Deploy(t.Context(), "v2", "linear 25% every 5s")
	if err != nil {
		close(stop)
		wg.Wait()
		t.Fatal(err)
	}
	d = waitDeployment(t, s, d.ID, func(d store.Deployment) bool { return !d.Active })
	close(stop)
	wg.Wait()
	rolledBackByAnalysis(t, s, d, live)
	return d, out
}

// rolledBackByAnalysis checks that d rolled back by itself on a failed
// analysis window, with every event of the way there recorded in order,
// the route back on live and applied as stored.
func rolledBackByAnalysis(t *testing.T, s *Server, d store.Deployment, live slot.Slot) {
	t.Helper()
	if d.Phase != string(deploy.PhaseRolledBack) {
		t.Fatalf("%s: %s (%s), want rolled_back by the analysis", d.Version, d.Phase, d.Reason)
	}
	ph, evs := phases(t, s, d.ID)
	want := []string{"pending", "provisioning", "waiting_ready", "verifying", "shifting", "rolling_back", "rolled_back"}
	got := compact(ph)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("events %v (compacted %v), want %v: an event lost or out of order", ph, got, want)
	}
	var rb store.Event
	for _, ev := range evs {
		if ev.Phase == "rolling_back" {
			rb = ev
		}
	}
	if !strings.Contains(rb.Reason, "error_rate") {
		t.Errorf("rolling_back event %q does not name the failed error_rate rule", rb.Reason)
	}
	r := routeApplied(t, s)
	if r.Live != live || r.Weights[live] != 100 {
		t.Errorf("route after the rollback %s %v, want all on %s", r.Live, r.Weights, live)
	}
}

// compact drops repeats of the same phase next to each other (one event
// per shifting step).
func compact(ph []string) []string {
	var out []string
	for _, p := range ph {
		if len(out) == 0 || out[len(out)-1] != p {
			out = append(out, p)
		}
	}
	return out
}

// TestHangingInstanceMidShift: the new slot's instance accepts requests
// and never answers while the deployment shifts. Each of its requests
// ends with the router's 504 naming the slot after
// routing.response_header_timeout, the analysis counts them as errors and
// rolls the deployment back by itself, the live slot's requests all
// succeed, every event is recorded and the route is applied as stored.
func TestHangingInstanceMidShift(t *testing.T) {
	const timeout = 300 * time.Millisecond
	blue, green := newChaosInstance(t, "blue-0"), newChaosInstance(t, "green-0")
	s, logs := chaosServer(t, []*chaosInstance{blue}, []*chaosInstance{green}, "response_header_timeout: 300ms")
	live := deployLive(t, s)
	bad := map[slot.Slot]*chaosInstance{slot.Blue: green, slot.Green: blue}[live]
	bad.behave.Store(behaveHang)
	before := s.router.Measure(live.Other())

	d, out := rolledBackUnderTraffic(t, s, live)
	var timeouts, ok int
	for _, o := range out {
		switch {
		case o.err != nil:
			t.Errorf("request failed without an answer: %v", o.err)
		case o.status == http.StatusOK && o.slot == string(live):
			ok++
		case o.status == http.StatusGatewayTimeout && o.slot == string(d.Slot) && o.kind == "timeout" &&
			strings.Contains(o.body, "slot "+string(d.Slot)) && strings.Contains(o.body, "response_header_timeout"):
			timeouts++
			if o.took < timeout {
				t.Errorf("504 after %v, before routing.response_header_timeout (%v)", o.took, timeout)
			}
		default:
			t.Errorf("unexpected answer %d from slot %q (%s): %q", o.status, o.slot, o.kind, o.body)
		}
	}
	m := s.router.Measure(d.Slot)
	m.Requests -= before.Requests
	m.Errors -= before.Errors
	t.Logf("%d requests: %d answered by %s, %d timed out on %s; analysis saw %d requests, %d errors on %s; %d taken by the hanging instance",
		len(out), ok, live, timeouts, d.Slot, m.Requests, m.Errors, d.Slot, bad.taken.Load())
	if timeouts == 0 {
		t.Fatal("no request reached the hanging instance")
	}
	if m.Errors < uint64(timeouts) || m.Errors != m.Requests {
		t.Errorf("analysis measured %d errors in %d requests on %s; clients saw %d timeouts: every one is an error", m.Errors, m.Requests, d.Slot, timeouts)
	}
	if !strings.Contains(logs.String(), "instance sent no response headers in time") {
		t.Error("no log line for the timed out requests")
	}
}

// TestResettingInstanceMidShift: one of the new slot's two instances
// writes the head and part of the body of each answer, then resets the
// connection. Only the requests it answered break (their clients see a
// body cut short), passive health takes it out of rotation, the analysis
// counts its broken answers as errors and rolls the deployment back by
// itself, with every event recorded and the route applied as stored.
func TestResettingInstanceMidShift(t *testing.T) {
	blue := []*chaosInstance{newChaosInstance(t, "blue-0"), newChaosInstance(t, "blue-1")}
	green := []*chaosInstance{newChaosInstance(t, "green-0"), newChaosInstance(t, "green-1")}
	s, logs := chaosServer(t, blue, green, "response_header_timeout: 5s")
	live := deployLive(t, s)
	newSlot := map[slot.Slot][]*chaosInstance{slot.Blue: green, slot.Green: blue}[live]
	bad := newSlot[0]
	bad.behave.Store(behaveReset)
	before := s.router.Measure(live.Other())

	d, out := rolledBackUnderTraffic(t, s, live)
	var broken, cut, ok int
	for _, o := range out {
		switch {
		case o.err != nil && o.instance == bad.name && o.status == http.StatusOK:
			broken++
			if !errors.Is(o.err, io.ErrUnexpectedEOF) {
				t.Errorf("broken answer of %s: %v, want the body cut short (unexpected EOF)", bad.name, o.err)
			}
		case o.err != nil && o.status == 0 && (errors.Is(o.err, io.EOF) || errors.Is(o.err, syscall.ECONNRESET)):
			// The router closed the connection before the head left
			// its buffer (Go's client retries most of those itself).
			cut++
		case o.err == nil && o.status == http.StatusOK && o.instance != bad.name && o.body == o.instance:
			ok++
		default:
			t.Errorf("request %s: %d from %q (%s), error %v: only the resetting instance's answers may break", o.path, o.status, o.instance, o.kind, o.err)
		}
	}
	m := s.router.Measure(d.Slot)
	m.Requests -= before.Requests
	m.Errors -= before.Errors
	t.Logf("%d requests: %d answered, %d broken by %s and %d cut before the head (it took %d); analysis saw %d requests, %d errors on %s",
		len(out), ok, broken, bad.name, cut, bad.taken.Load(), m.Requests, m.Errors, d.Slot)
	if broken == 0 {
		t.Fatal("no answer of the resetting instance reached a client")
	}
	if int64(broken+cut) > bad.taken.Load() {
		t.Errorf("%d requests broke, more than the %d the resetting instance took", broken+cut, bad.taken.Load())
	}
	if m.Errors < uint64(broken) {
		t.Errorf("analysis measured %d errors on %s; clients saw %d broken answers: each is an error", m.Errors, d.Slot, broken)
	}
	var ejected bool
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "backend left rotation") && strings.Contains(l, bad.addr) && strings.Contains(l, "source=passive") {
			ejected = true
		}
	}
	if !ejected {
		t.Errorf("no log of %s (%s) leaving rotation on passive health", bad.name, bad.addr)
	}
}

// TestDrippingInstanceDuringASwitch: the live slot's instance answers
// /drip with a head, then one byte every 50ms, while a deployment moves
// traffic to the other slot. The other clients see no failure; a drip
// that ends by itself within routing.drain_timeout completes whole; the
// endless ones end when the drain deadline cancels them, with a log line
// saying so; the deployment succeeds with every event recorded and the
// route applied as stored.
func TestDrippingInstanceDuringASwitch(t *testing.T) {
	const drain = 3 * time.Second
	blue, green := newChaosInstance(t, "blue-0"), newChaosInstance(t, "green-0")
	s, logs := chaosServer(t, []*chaosInstance{blue}, []*chaosInstance{green}, "response_header_timeout: 5s\n  drain_timeout: 3s")
	live := deployLive(t, s)
	old := map[slot.Slot]*chaosInstance{slot.Blue: blue, slot.Green: green}[live]
	old.behave.Store(behaveDrip)
	addr := s.production.addr()

	// Endless and finite drips start on the live slot before the switch.
	c := &http.Client{Timeout: hang}
	drips := make(chan outcome, 6)
	for i := range 6 {
		path := "/drip"
		if i >= 4 {
			path = "/drip?n=20" // 1s
		}
		go func() { drips <- get(c, "http://"+addr+path) }()
	}
	waitFor(t, "the drips to reach the instance", func() bool { return old.taken.Load() >= 6 })

	stop := make(chan struct{})
	var out []outcome
	var wg sync.WaitGroup
	wg.Go(func() { out = traffic(addr, "/", 8, stop) })
	d, err := s.ctrl.Deploy(t.Context(), "v2", "all-at-once")
	if err != nil {
		t.Fatal(err)
	}
	switched := time.Now()
	var ended []outcome
	for range 6 {
		ended = append(ended, recvWithin(t, drips, "a dripping request to end"))
	}
	d = waitDeployment(t, s, d.ID, func(d store.Deployment) bool { return !d.Active })
	close(stop)
	wg.Wait()

	if d.Phase != string(deploy.PhaseSucceeded) {
		t.Fatalf("v2: %s (%s), want succeeded", d.Phase, d.Reason)
	}
	ph, _ := phases(t, s, d.ID)
	if want := "pending provisioning waiting_ready verifying baking succeeded"; strings.Join(compact(ph), " ") != want {
		t.Errorf("events %v, want %s: an event lost or out of order", ph, want)
	}
	if r := routeApplied(t, s); r.Live != d.Slot || r.Weights[d.Slot] != 100 {
		t.Errorf("route %s %v, want all on %s", r.Live, r.Weights, d.Slot)
	}
	var whole, cut int
	for _, o := range ended {
		switch {
		case o.err != nil || o.status != http.StatusOK || o.slot != string(live):
			t.Errorf("drip %s: %d from %q, %v", o.path, o.status, o.slot, o.err)
		case strings.HasSuffix(o.path, "n=20") && o.body == strings.Repeat("x", 20):
			whole++
		case !strings.Contains(o.path, "n="):
			cut++
			if o.body == "" || strings.Trim(o.body, "x") != "" {
				t.Errorf("endless drip got %q before it ended, want some of its bytes", o.body)
			}
		default:
			t.Errorf("finite drip got %q, want 20 bytes", o.body)
		}
	}
	var failed int
	for _, o := range out {
		if o.err != nil || o.status != http.StatusOK {
			failed++
			t.Errorf("a client beside the drips failed: %d from %q (%s): %v", o.status, o.slot, o.kind, o.err)
		}
	}
	t.Logf("%d other requests, %d failed; drips: %d complete, %d cut by the drain deadline (%v after the deploy began)",
		len(out), failed, whole, cut, time.Since(switched).Round(100*time.Millisecond))
	if whole != 2 || cut != 4 {
		t.Errorf("%d finite drips complete (want 2), %d endless ones cut (want 4)", whole, cut)
	}
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "drain deadline reached; cancelled in-flight requests") && strings.Contains(l, "slot="+string(live)) {
			line = l
		}
	}
	if !strings.Contains(line, "count=4") || !strings.Contains(line, "drain timeout: still running "+drain.String()) {
		t.Errorf("drain log line %q, want the 4 cancelled drips and the drain timeout named", line)
	}
}
