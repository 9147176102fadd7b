package router

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// memSessions is an in-memory SessionStore.
type memSessions struct {
	mu     sync.Mutex
	pins   map[string]SessionPin
	saves  int // pins saved, over all calls
	calls  int
	failed bool // every call fails while set
}

func newMemSessions() *memSessions { return &memSessions{pins: map[string]SessionPin{}} }

var errStoreDown = errors.New("store down")

func (m *memSessions) SaveSessionPins(_ context.Context, pins []SessionPin) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.failed {
		return errStoreDown
	}
	if len(pins) > sessionFlushBatch {
		panic("batch beyond sessionFlushBatch")
	}
	for _, p := range pins {
		m.pins[p.ID] = p
	}
	m.saves += len(pins)
	return nil
}

func (m *memSessions) DeleteSessionPins(_ context.Context, ids []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.failed {
		return errStoreDown
	}
	for _, id := range ids {
		delete(m.pins, id)
	}
	return nil
}

func (m *memSessions) get(id string) (SessionPin, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pins[id]
	return p, ok
}

func (m *memSessions) all() []SessionPin {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]SessionPin, 0, len(m.pins))
	for _, p := range m.pins {
		out = append(out, p)
	}
	return out
}

func (m *memSessions) setFailed(v bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failed = v
}

func (m *memSessions) savedCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.saves
}

// persist runs the router's write-behind to st until the test ends.
func persist(t *testing.T, r *Router, st SessionStore) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.persistSessions(ctx, st)
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// instanceAddr is the address of the instance of m named name.
func (m *mcpSlots) instanceAddr(name string) string {
	slot := Slot(name[:strings.IndexByte(name, '-')])
	idx := int(name[len(name)-1] - '0')
	return m.slots[slot.Index()].pool.all()[idx].addr
}

// The session table is written behind the request path: new pins, pins
// that end, and (coarsely) pins used again; a failed write is retried;
// what is queued at shutdown is written.
func TestSessionWriteBehind(t *testing.T) {
	st := newMemSessions()
	m := newMCPSlots(t, Options{SessionStore: st, MCPSessionTTL: 80 * time.Second})
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	m.sessions.now = clock.Now
	persist(t, m.Router, st)

	id1, inst1 := m.open(t)
	id2, inst2 := m.open(t)
	waitFor(t, "both pins stored", func() bool { return len(st.all()) == 2 })
	for _, c := range []struct{ id, inst string }{{id1, inst1}, {id2, inst2}} {
		p, _ := st.get(c.id)
		want := SessionPin{ID: c.id, Slot: Blue, Instance: m.instanceAddr(c.inst), LastUsed: clock.Now()}
		if p != want {
			t.Fatalf("stored pin %+v, want %+v", p, want)
		}
	}

	// Use within the refresh interval (ttl/8 = 10s) writes nothing; after
	// it, the new LastUsed is written.
	saves := st.savedCount()
	clock.advance(5 * time.Second)
	m.expectOn(t, id1, inst1, 3)
	clock.advance(6 * time.Second)
	m.expectOn(t, id1, inst1, 3)
	waitFor(t, "the refreshed pin stored", func() bool {
		p, _ := st.get(id1)
		return p.LastUsed.Equal(clock.Now())
	})
	if got := st.savedCount() - saves; got != 1 {
		t.Fatalf("%d pins written for six uses, want 1", got)
	}

	// An ended session is deleted; while the store fails, changes wait.
	st.setFailed(true)
	if code, _, _ := mcpCall(t, http.MethodDelete, m.prod.URL+"/mcp", id2); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d", code)
	}
	waitFor(t, "a failed write", func() bool { return m.sessions.wb.failed.Load() > 0 })
	if _, ok := st.get(id2); !ok {
		t.Fatal("pin deleted while the store was down")
	}
	st.setFailed(false)
	waitFor(t, "the ended pin deleted", func() bool { _, ok := st.get(id2); return !ok })
	if n, err := testutil.GatherAndCount(m.reg, "bluegreen_mcp_session_write_errors_total", "bluegreen_mcp_session_writes_dropped_total"); err != nil || n != 2 {
		t.Fatalf("write-behind metrics: %d, %v; want 2", n, err)
	}
}

// What is queued when the write-behind stops is written before it
// returns.
func TestSessionWriteBehindLastFlush(t *testing.T) {
	st := newMemSessions()
	m := newMCPSlots(t, Options{SessionStore: st})
	stop := persist(t, m.Router, st)
	id, _ := m.open(t)
	stop()
	if _, ok := st.get(id); !ok {
		t.Fatal("pin queued at shutdown not written")
	}
}

// The queue of changes is bounded: beyond it, changes are dropped and
// counted.
func TestPinQueueBounded(t *testing.T) {
	q := newPinQueue(time.Hour, 2)
	for _, id := range []string{"a", "b", "c", "d"} {
		q.remove(id)
	}
	q.remove("a") // replaces its change: not dropped
	q.remove("e")
	if len(q.pending) != 4 || q.dropped.Load() != 1 {
		t.Fatalf("%d pending, %d dropped; want 4 and 1", len(q.pending), q.dropped.Load())
	}
	if q.refresh != 5*time.Minute {
		t.Fatalf("refresh %s for a 1h ttl, want 5m", q.refresh)
	}
}

// Pins loaded from the store go back to their instance when it is in the
// pool, to their slot when only the slot has instances, and are dropped
// (and deleted from the store) otherwise. The session drain of a slot
// without traffic counts from the route's time, not from the restart.
func TestRestoreSessions(t *testing.T) {
	st := newMemSessions()
	m := newMCPSlots(t, Options{SessionStore: st, SessionDrain: 15 * time.Minute})
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	m.sessions.now = clock.Now
	// A session opened since the start wins over a stored pin of its id.
	fresh, freshInst := m.open(t)
	// As Controller.Restore does: the stored route, green live.
	if err := m.SetTable(LiveTable(Green)); err != nil {
		t.Fatal(err)
	}
	now := clock.Now()
	blue0 := m.instanceAddr("blue-0")
	pins := []SessionPin{
		{ID: "on-inst", Slot: Blue, Instance: blue0, LastUsed: now.Add(-time.Minute)},
		{ID: "on-slot", Slot: Blue, Instance: "127.0.0.1:1", LastUsed: now.Add(-2 * time.Minute)},
		{ID: "expired", Slot: Blue, Instance: blue0, LastUsed: now.Add(-2 * time.Hour)},
		{ID: "bad-slot", Slot: "red", Instance: blue0, LastUsed: now},
		{ID: fresh, Slot: Green, Instance: m.instanceAddr("green-0"), LastUsed: now.Add(-time.Hour / 2)},
	}
	for _, p := range pins {
		st.pins[p.ID] = p
	}
	for _, name := range []string{"blue-0", "blue-1"} {
		m.inst[name].mu.Lock()
		m.inst[name].sessions["on-slot"] = true // sessions kept outside the instance's memory
		m.inst[name].mu.Unlock()
	}
	m.inst["blue-0"].mu.Lock()
	m.inst["blue-0"].sessions["on-inst"] = true
	m.inst["blue-0"].mu.Unlock()

	got := m.RestoreSessions(pins, now.Add(-10*time.Minute))
	if want := (RestoredSessions{Instance: 1, Slot: 1, Dropped: 2}); got != want {
		t.Fatalf("restored %+v, want %+v", got, want)
	}
	m.expectSessions(t, 3, 0)
	m.expectOn(t, "on-inst", "blue-0", 3)
	m.expectOn(t, fresh, freshInst, 1)
	for range 4 {
		if code, body, _ := mcpCall(t, http.MethodPost, m.prod.URL+"/mcp", "on-slot"); code != http.StatusOK || !strings.HasPrefix(body, "blue-") {
			t.Fatalf("session pinned to blue: %d from %q", code, body)
		}
	}
	if d := m.SessionDrainOf(Blue); d.Drained || !d.Deadline.Equal(now.Add(5*time.Minute)) {
		t.Fatalf("blue session drain %+v, want until 5m from now (10m since the route's time)", d)
	}

	persist(t, m.Router, st)
	waitFor(t, "the store tidied", func() bool {
		_, expired := st.get("expired")
		_, bad := st.get("bad-slot")
		// The fake names the session in every answer: the answering
		// instance holds it now.
		p, _ := st.get("on-slot")
		return !expired && !bad && p.Instance != "127.0.0.1:1" && p.Instance != ""
	})
	if p, _ := st.get(fresh); p.Slot != Blue {
		t.Fatalf("stored pin of %s: %+v; want the one in memory, on blue", fresh, p)
	}

	// A pin to a slot without instances is dropped.
	lone := newTestRouter(t, Options{MCPSessions: true}, false)
	_, addr := newFakeMCP(t, "blue-0")
	lone.SetBackends(Blue, []string{addr}, true)
	if got := lone.RestoreSessions([]SessionPin{{ID: "x", Slot: Green, Instance: "127.0.0.1:1", LastUsed: time.Now()}}, time.Time{}); got != (RestoredSessions{Dropped: 1}) {
		t.Fatalf("pin to an empty slot: %+v, want dropped", got)
	}
}

// SDK sessions pinned to blue keep working on their instance after the
// router is replaced by a new one that restores the table from the store
// (a restart of serve), while green is live; a router without the table
// breaks them (control).
func TestMCPSessionsSurviveRouterRestart(t *testing.T) {
	st := newMemSessions()
	opts := Options{MCPSessions: true, SessionStore: st}
	inits := map[Slot]*atomic.Int64{Blue: {}, Green: {}}
	addrs := map[Slot][]string{}
	for _, slot := range allSlots() {
		for i := range 2 {
			addrs[slot] = append(addrs[slot], fleetInstance(t, string(slot)+"-"+string(rune('0'+i)), false, inits[slot]))
		}
	}
	newRouter := func(o Options) *testRouter {
		r := newTestRouter(t, o, false)
		for _, slot := range allSlots() {
			r.SetBackends(slot, addrs[slot], true)
		}
		return r
	}
	var current atomic.Pointer[Router]
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		current.Load().Production().ServeHTTP(w, req)
	}))
	t.Cleanup(front.Close)

	r1 := newRouter(opts)
	current.Store(r1.Router)
	stop1 := persist(t, r1.Router, st)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	type session struct {
		cs   *mcp.ClientSession
		inst string
	}
	var sessions []session
	for range 6 {
		c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, nil)
		cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: front.URL + "/mcp"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cs.Close() })
		inst, err := callText(ctx, cs, "whoami")
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, session{cs, inst})
	}
	if err := r1.SetTable(LiveTable(Green)); err != nil {
		t.Fatal(err)
	}
	stop1() // serve's shutdown: the last flush

	r2 := newRouter(opts)
	if err := r2.SetTable(LiveTable(Green)); err != nil {
		t.Fatal(err)
	}
	if got := r2.RestoreSessions(st.all(), time.Now()); got.Instance != len(sessions) {
		t.Fatalf("restored %+v, want %d on their instance", got, len(sessions))
	}
	current.Store(r2.Router)
	for i, s := range sessions {
		for range 3 {
			if got, err := callText(ctx, s.cs, "whoami"); err != nil || got != s.inst {
				t.Fatalf("session %d after the restart: %q, %v; want %s", i, got, err, s.inst)
			}
		}
	}
	if got := inits[Blue].Load(); got != int64(len(sessions)) {
		t.Fatalf("blue initialised %d sessions, want %d: a session started over", got, len(sessions))
	}
	if got := r2.Status().Slots[Blue].MCPSessions; got != int64(len(sessions)) {
		t.Fatalf("blue sessions after the restart: %d, want %d", got, len(sessions))
	}

	// Control: without the table, the session goes to green.
	current.Store(newRouter(Options{MCPSessions: true}).Router)
	if got, err := callText(ctx, sessions[0].cs, "whoami"); err == nil {
		t.Fatalf("session without its pin answered by %s; want it lost", got)
	}
}
