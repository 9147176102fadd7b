package router

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeMCP is a session-based MCP-ish server: a POST without a session id
// (initialize) opens a session and returns its id; any request with an id
// it does not hold gets 404; DELETE ends the session; GET opens an SSE
// stream of the session. Every answer's body is the instance's name.
type fakeMCP struct {
	name    string
	streams chan *backendStream
	release chan struct{}

	mu       sync.Mutex
	sessions map[string]bool
	n        int
}

func newFakeMCP(t *testing.T, name string) (*fakeMCP, string) {
	f := &fakeMCP{name: name, sessions: map[string]bool{},
		streams: make(chan *backendStream, 16), release: make(chan struct{})}
	addr := newServer(t, f)
	t.Cleanup(func() { close(f.release) })
	return f, addr
}

// forget drops a session, as an instance restart would.
func (f *fakeMCP) forget(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sessions, id)
}

func (f *fakeMCP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get(HeaderMCPSession)
	f.mu.Lock()
	if id == "" {
		if r.Method != http.MethodPost {
			f.mu.Unlock()
			http.Error(w, "session id required", http.StatusBadRequest)
			return
		}
		f.n++
		id = fmt.Sprintf("%s-s%d", f.name, f.n)
		f.sessions[id] = true
	} else if !f.sessions[id] {
		f.mu.Unlock()
		http.Error(w, "session not found", http.StatusNotFound)
		return
	}
	if r.Method == http.MethodDelete {
		delete(f.sessions, id)
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	f.mu.Unlock()
	w.Header().Set(HeaderMCPSession, id)
	if r.Method == http.MethodGet {
		st := &backendStream{send: make(chan string), gone: make(chan struct{})}
		w.Header().Set("Content-Type", "text/event-stream")
		if err := writeEvent(w, "start:"+f.name); err != nil {
			return
		}
		f.streams <- st
		for {
			select {
			case msg := <-st.send:
				if err := writeEvent(w, msg); err != nil {
					return
				}
			case <-r.Context().Done():
				close(st.gone)
				return
			case <-f.release:
				return
			}
		}
	}
	_, _ = io.WriteString(w, f.name)
}

// mcpCall sends one request with session id (none when empty) and returns
// the status, the body and the session id of the answer.
func mcpCall(t *testing.T, method, url, id string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	if err != nil {
		t.Fatal(err)
	}
	if id != "" {
		req.Header.Set(HeaderMCPSession, id)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, strings.TrimSpace(string(body)), resp.Header.Get(HeaderMCPSession)
}

// mcpSlots is a router with MCP pinning and two fake instances per slot.
type mcpSlots struct {
	*testRouter
	inst map[string]*fakeMCP // by name: blue-0, blue-1, green-0, green-1
}

func newMCPSlots(t *testing.T, opts Options) *mcpSlots {
	opts.MCPSessions = true
	m := &mcpSlots{testRouter: newTestRouter(t, opts, false), inst: map[string]*fakeMCP{}}
	for _, slot := range allSlots() {
		var addrs []string
		for i := range 2 {
			f, addr := newFakeMCP(t, fmt.Sprintf("%s-%d", slot, i))
			m.inst[f.name] = f
			addrs = append(addrs, addr)
		}
		m.SetBackends(slot, addrs, true)
	}
	return m
}

// open starts a session and returns its id and the instance that holds it.
func (m *mcpSlots) open(t *testing.T) (id, inst string) {
	t.Helper()
	code, body, id := mcpCall(t, http.MethodPost, m.prod.URL+"/mcp", "")
	if code != http.StatusOK || id == "" {
		t.Fatalf("initialize: status %d, session %q, body %q", code, id, body)
	}
	return id, body
}

// expectOn sends n requests of session id and expects each to reach inst.
func (m *mcpSlots) expectOn(t *testing.T, id, inst string, n int) {
	t.Helper()
	for range n {
		code, body, _ := mcpCall(t, http.MethodPost, m.prod.URL+"/mcp", id)
		if code != http.StatusOK || body != inst {
			t.Fatalf("session %s: status %d from %q, want 200 from %s", id, code, body, inst)
		}
	}
}

func (m *mcpSlots) expectSessions(t *testing.T, blue, green int64) {
	t.Helper()
	st := m.Status()
	if st.Slots[Blue].MCPSessions != blue || st.Slots[Green].MCPSessions != green {
		t.Fatalf("pinned sessions: blue %d green %d, want %d and %d",
			st.Slots[Blue].MCPSessions, st.Slots[Green].MCPSessions, blue, green)
	}
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(fmt.Sprintf(`
# HELP bluegreen_mcp_sessions MCP sessions pinned to the slot.
# TYPE bluegreen_mcp_sessions gauge
bluegreen_mcp_sessions{slot="blue"} %d
bluegreen_mcp_sessions{slot="green"} %d
`, blue, green)), "bluegreen_mcp_sessions"); err != nil {
		t.Fatal(err)
	}
}

func TestMCPSessionsOffRoundRobinsSessions(t *testing.T) {
	// The defect this feature fixes: without pinning, the second instance
	// of the slot does not know the session.
	tr := newTestRouter(t, Options{}, false)
	_, a := newFakeMCP(t, "blue-0")
	_, b := newFakeMCP(t, "blue-1")
	tr.SetBackends(Blue, []string{a, b}, true)
	code, _, id := mcpCall(t, http.MethodPost, tr.prod.URL+"/mcp", "")
	if code != http.StatusOK || id == "" {
		t.Fatalf("initialize: %d %q", code, id)
	}
	notFound := 0
	for range 4 {
		if code, _, _ := mcpCall(t, http.MethodPost, tr.prod.URL+"/mcp", id); code == http.StatusNotFound {
			notFound++
		}
	}
	if notFound == 0 {
		t.Fatal("no 404 without pinning: the fake does not reproduce the defect")
	}
}

func TestMCPSessionPinnedAcrossWeightsAndSwitch(t *testing.T) {
	m := newMCPSlots(t, Options{})
	type sess struct{ id, inst string }
	var ss []sess
	for range 4 {
		id, inst := m.open(t)
		if !strings.HasPrefix(inst, "blue-") {
			t.Fatalf("new session on %s while blue is live", inst)
		}
		ss = append(ss, sess{id, inst})
	}
	if ss[0].inst == ss[1].inst {
		t.Fatalf("sessions did not spread over both instances: %v", ss)
	}
	for _, s := range ss {
		m.expectOn(t, s.id, s.inst, 5)
	}
	m.expectSessions(t, 4, 0)

	// A weighted split: pinned sessions stay on their instance.
	if err := m.SetTable(Table{Live: Blue, Weights: map[Slot]int{Blue: 50, Green: 50}}); err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		m.expectOn(t, s.id, s.inst, 5)
	}
	// A live switch: blue keeps its sessions; new ones land on green.
	if err := m.SetTable(LiveTable(Green)); err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		m.expectOn(t, s.id, s.inst, 5)
	}
	id, inst := m.open(t)
	if !strings.HasPrefix(inst, "green-") {
		t.Fatalf("session opened after the switch on %s", inst)
	}
	m.expectOn(t, id, inst, 3)
	m.expectSessions(t, 4, 1)

	// DELETE ends the pin; the id then routes by the weights (green),
	// which does not know it.
	if code, _, _ := mcpCall(t, http.MethodDelete, m.prod.URL+"/mcp", ss[0].id); code != http.StatusNoContent {
		t.Fatalf("DELETE: status %d", code)
	}
	m.expectSessions(t, 3, 1)
	if code, body, _ := mcpCall(t, http.MethodPost, m.prod.URL+"/mcp", ss[0].id); code != http.StatusNotFound || !strings.Contains(body, "session not found") {
		t.Fatalf("ended session: status %d %q, want 404", code, body)
	}

	// A 404 from the pinned instance (it lost the session) ends the pin.
	m.inst[ss[1].inst].forget(ss[1].id)
	if code, _, _ := mcpCall(t, http.MethodPost, m.prod.URL+"/mcp", ss[1].id); code != http.StatusNotFound {
		t.Fatalf("forgotten session: status %d, want 404", code)
	}
	m.expectSessions(t, 2, 1)

	// A DELETE the server refuses leaves the session pinned.
	m.expectOn(t, ss[2].id, ss[2].inst, 1)
}

func TestMCPSessionDeleteRefusedKeepsPin(t *testing.T) {
	tr := newTestRouter(t, Options{MCPSessions: true}, false)
	var n int
	var mu sync.Mutex
	h := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete {
				http.Error(w, "no", http.StatusMethodNotAllowed)
				return
			}
			mu.Lock()
			n++
			w.Header().Set(HeaderMCPSession, fmt.Sprintf("s%d", n))
			mu.Unlock()
			_, _ = io.WriteString(w, name)
		})
	}
	tr.SetBackends(Blue, []string{newServer(t, h("a")), newServer(t, h("b"))}, true)
	_, inst, id := mcpCall(t, http.MethodPost, tr.prod.URL+"/", "")
	if code, _, _ := mcpCall(t, http.MethodDelete, tr.prod.URL+"/", id); code != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE: %d", code)
	}
	if got := tr.Status().Slots[Blue].MCPSessions; got != 1 {
		t.Fatalf("pins after a refused DELETE: %d, want 1", got)
	}
	if _, body, _ := mcpCall(t, http.MethodPost, tr.prod.URL+"/", id); body != inst {
		t.Fatalf("after a refused DELETE: served by %q, want %q", body, inst)
	}
}

func TestMCPSessionInstanceGone(t *testing.T) {
	m := newMCPSlots(t, Options{})
	var id, inst string
	opened := int64(0)
	for inst != "blue-0" {
		id, inst = m.open(t)
		opened++
	}
	// Keep only blue-1 in the pool: the pin is dropped and counted, the
	// request routed normally gets 404 from blue-1.
	addrs := m.slots[Blue.Index()].pool.addrs()
	m.SetBackends(Blue, addrs[1:], true)
	if code, _, _ := mcpCall(t, http.MethodPost, m.prod.URL+"/mcp", id); code != http.StatusNotFound {
		t.Fatalf("session of a removed instance: status %d, want 404", code)
	}
	if got := testutil.ToFloat64(m.metrics.sessionsLost.WithLabelValues("blue")); got != 1 {
		t.Fatalf("sessions lost: %v, want 1", got)
	}
	m.expectSessions(t, opened-1, 0)
}

func TestMCPSessionUnhealthyInstanceRoutesNormally(t *testing.T) {
	m := newMCPSlots(t, Options{})
	var id, inst string
	for inst != "blue-0" {
		id, inst = m.open(t)
	}
	b := m.slots[Blue.Index()].pool.all()[0]
	for range m.health.UnhealthyThreshold {
		m.observe(b, sourceActive, false, nil)
	}
	if b.usable() {
		t.Fatal("instance still in rotation")
	}
	if code, body, _ := mcpCall(t, http.MethodPost, m.prod.URL+"/mcp", id); code != http.StatusNotFound || body == inst {
		t.Fatalf("session of an unhealthy instance: %d from %q, want 404 from the other", code, body)
	}
}

// fakeClock is a settable clock for the session table.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestMCPSessionIdleTTL(t *testing.T) {
	m := newMCPSlots(t, Options{MCPSessionTTL: time.Minute})
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	m.sessions.now = clock.Now
	id, inst := m.open(t)
	if err := m.SetTable(LiveTable(Green)); err != nil {
		t.Fatal(err)
	}
	// Use refreshes the idle timer.
	for range 3 {
		clock.advance(50 * time.Second)
		m.expectOn(t, id, inst, 1)
	}
	m.expectSessions(t, 1, 0)
	clock.advance(time.Minute)
	m.expectSessions(t, 0, 0)
	// Expired: routed by the weights, to green.
	if code, body, _ := mcpCall(t, http.MethodPost, m.prod.URL+"/mcp", id); code != http.StatusNotFound || !strings.HasPrefix(body, "session not found") {
		t.Fatalf("expired session: %d %q, want 404", code, body)
	}
}

func TestSessionTableBounded(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	tab := newSessionTable(time.Hour, 3, clock.Now)
	b := &backend{}
	for i := range 3 {
		tab.pin(fmt.Sprint(i), i%numSlots, b)
		clock.advance(time.Second)
	}
	// "0" is used, so "1" is the least recently used.
	if _, _, ok := tab.lookup("0"); !ok {
		t.Fatal("pin 0 missing")
	}
	tab.pin("3", 1, b)
	if _, _, ok := tab.lookup("1"); ok {
		t.Fatal("least recently used pin 1 not evicted")
	}
	for _, id := range []string{"0", "2", "3"} {
		if _, _, ok := tab.lookup(id); !ok {
			t.Fatalf("pin %s evicted", id)
		}
	}
	if got := tab.evicted.Load(); got != 1 {
		t.Fatalf("evicted %d, want 1", got)
	}
	if got := tab.counts(); got != [numSlots]int64{2, 1} {
		t.Fatalf("counts %v, want [2 1]", got)
	}
	// Re-pinning an id to the other slot moves its count.
	tab.pin("3", 0, b)
	if got := tab.counts(); got != [numSlots]int64{3, 0} {
		t.Fatalf("counts after re-pin %v, want [3 0]", got)
	}
	// Expiry of all.
	clock.advance(time.Hour)
	if got := tab.counts(); got != [numSlots]int64{0, 0} {
		t.Fatalf("counts after ttl %v, want [0 0]", got)
	}
	if len(tab.pins) != 0 || tab.lru.Len() != 0 {
		t.Fatalf("expired pins left: %d in map, %d in list", len(tab.pins), tab.lru.Len())
	}
}

func TestMCPSessionSurvivesDrainDeadline(t *testing.T) {
	m := newMCPSlots(t, Options{DrainTimeout: time.Hour})
	fts := &fakeTimers{}
	m.afterFunc = fts.afterFunc
	id, inst := m.open(t)
	f := m.inst[inst]
	openSession := func() (*sseReader, *backendStream) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, m.prod.URL+"/mcp", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(HeaderMCPSession, id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = resp.Body.Close() })
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("session stream: status %d", resp.StatusCode)
		}
		s := &sseReader{resp: resp, br: bufio.NewReader(resp.Body)}
		if data, err := s.nextWithin(t); err != nil || data != "start:"+inst {
			t.Fatalf("first event %q, %v", data, err)
		}
		return s, recv(t, f.streams, "session stream")
	}
	before, beforeB := openSession()
	if err := m.SetTable(LiveTable(Green)); err != nil {
		t.Fatal(err)
	}
	after, afterB := openSession()
	timers := fts.all()
	if len(timers) != 1 {
		t.Fatalf("%d drain timers, want 1", len(timers))
	}
	timers[0].f()
	// The stream that started before the switch is drained like any
	// request; the session's requests after the switch are not new
	// production traffic and run on.
	assertEndedCleanly(t, "session stream opened before the switch", before, beforeB)
	assertAlive(t, "session stream opened after the switch", after, afterB)
	m.expectOn(t, id, inst, 2)
	m.expectSessions(t, 1, 0)
}
