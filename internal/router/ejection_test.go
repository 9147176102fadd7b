package router

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/health"
)

// flakyBackend answers /health with 200 while healthOK, and other requests
// with 200 unless failing: then it closes the connection before any
// response (a passive failure of the instance).
func flakyBackend(t *testing.T, failing, healthOK *atomic.Bool) string {
	t.Helper()
	return newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			if !healthOK.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			return
		}
		if failing.Load() {
			c, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = c.Close()
			}
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
}

// minReady records the fewest instances of blue in rotation after any
// health observation.
type minReady struct {
	tr  *testRouter
	obs *observations
	min atomic.Int64
}

func watchReady(tr *testRouter) *minReady {
	m := &minReady{tr: tr, obs: &observations{}}
	m.min.Store(1 << 30)
	tr.observeHook = func(o observation) {
		m.obs.add(o)
		h, _ := tr.SlotReady(Blue)
		for {
			cur := m.min.Load()
			if int64(h) >= cur || m.min.CompareAndSwap(cur, int64(h)) {
				return
			}
		}
	}
	return m
}

// TestPassiveFailuresCannotEmptyASlot: every instance of the live slot
// fails every request at once while passing active checks. Passive
// failures take out only what health.max_passive_ejection allows (1 of 2);
// the other instance stays in rotation, held, and status and metrics say
// so; once the instances recover, traffic flows at once.
func TestPassiveFailuresCannotEmptyASlot(t *testing.T) {
	var failing, healthOK atomic.Bool
	healthOK.Store(true)
	a, b := flakyBackend(t, &failing, &healthOK), flakyBackend(t, &failing, &healthOK)
	// One probe at start (interval 1h): the instances pass active checks.
	tr := newTestRouter(t, Options{Health: health.Options{
		Interval: time.Hour, HealthyThreshold: 1, UnhealthyThreshold: 2,
	}}, true)
	ready := watchReady(tr)
	tr.SetBackends(Blue, []string{a, b}, true)
	waitFor(t, "a passing probe of each instance", func() bool {
		seen := map[string]bool{}
		for _, o := range ready.obs.snapshot() {
			if o.source == sourceActive && o.ok {
				seen[o.addr] = true
			}
		}
		return seen[a] && seen[b]
	})

	failing.Store(true)
	for i := range 10 {
		if code, _, body := get(t, tr.prod.Client(), tr.prod.URL+"/", nil); code != http.StatusBadGateway {
			t.Fatalf("request %d while failing: %d %q, want 502 from the instances", i, code, body)
		}
	}
	if got := ready.min.Load(); got < 1 {
		t.Fatalf("passive failures left %d instances in rotation", got)
	}
	if h, n := tr.SlotReady(Blue); h != 1 || n != 2 {
		t.Fatalf("SlotReady = %d of %d, want 1 of 2", h, n)
	}
	st := tr.Status().Slots[Blue]
	if st.PassiveHeld != 1 || st.PassiveEjectionLimit != 1 {
		t.Fatalf("slot status: passive_held %d, passive_ejection_limit %d; want 1 and 1", st.PassiveHeld, st.PassiveEjectionLimit)
	}
	var held BackendStatus
	for _, bs := range st.Backends {
		if bs.PassiveHeld {
			held = bs
		}
	}
	if !held.Healthy || held.ConsecutiveFailures < 2 || !strings.Contains(held.HeldReason, "health.max_passive_ejection 50%") ||
		!strings.Contains(held.HeldReason, "at most 1 of 2") {
		t.Fatalf("held instance status %+v", held)
	}
	if got := metricValue(t, tr, "bluegreen_passive_ejections_held", string(Blue), "", ""); got != 1 {
		t.Errorf("bluegreen_passive_ejections_held{slot=blue} = %v, want 1", got)
	}
	if got := metricValue(t, tr, "bluegreen_passive_ejections_refused_total", string(Blue), "", ""); got < 1 {
		t.Errorf("bluegreen_passive_ejections_refused_total{slot=blue} = %v, want at least 1", got)
	}
	if !strings.Contains(tr.logs.String(), "backend kept in rotation") {
		t.Error("no log of the held instance")
	}

	// The instances recover: the held one serves at once.
	failing.Store(false)
	for i := range 20 {
		if code, _, body := get(t, tr.prod.Client(), tr.prod.URL+"/", nil); code != http.StatusOK {
			t.Fatalf("request %d after recovery: %d %q", i, code, body)
		}
	}
}

// TestActiveChecksEjectAHeldInstance: a single instance (which passive
// failures alone never take out at 50%) fails requests and stays in
// rotation while it passes active checks; once active checks fail
// unhealthy_threshold times, it leaves rotation. (Threshold 1: a probe
// passing between two failed requests cannot keep it from being held.)
func TestActiveChecksEjectAHeldInstance(t *testing.T) {
	var failing, healthOK atomic.Bool
	healthOK.Store(true)
	failing.Store(true)
	addr := flakyBackend(t, &failing, &healthOK)
	tr := newTestRouter(t, Options{Health: health.Options{
		Interval: 10 * time.Millisecond, HealthyThreshold: 1, UnhealthyThreshold: 1,
	}}, true)
	ready := watchReady(tr)
	tr.SetBackends(Blue, []string{addr}, true)

	for i := range 5 {
		if code, _, body := get(t, tr.prod.Client(), tr.prod.URL+"/", nil); code != http.StatusBadGateway {
			t.Fatalf("request %d: %d %q, want 502 from the instance", i, code, body)
		}
	}
	if got := ready.min.Load(); got != 1 {
		t.Fatalf("passive failures took the only instance out (%d in rotation)", got)
	}
	var held bool
	for _, o := range ready.obs.snapshot() {
		held = held || (o.source == sourcePassive && o.held)
	}
	if !held {
		t.Fatal("the instance was never held by the ceiling")
	}

	healthOK.Store(false)
	waitFor(t, "active checks to take the instance out", func() bool { h, _ := tr.SlotReady(Blue); return h == 0 })
	var byActive bool
	for _, o := range ready.obs.snapshot() {
		byActive = byActive || (o.source == sourceActive && o.changed && !o.healthy)
	}
	if !byActive {
		t.Fatal("the instance did not leave rotation by an active check")
	}
	if bs := tr.Status().Slots[Blue].Backends[0]; bs.Healthy || bs.PassiveHeld || bs.HeldReason != "" {
		t.Fatalf("status after active failures %+v", bs)
	}
	if code, _, body := get(t, tr.prod.Client(), tr.prod.URL+"/", nil); code != http.StatusServiceUnavailable {
		t.Fatalf("with no instance in rotation: %d %q, want 503", code, body)
	}
}

// TestEjectionCeilingRules drives the health state of two instances with
// observations alone.
func TestEjectionCeilingRules(t *testing.T) {
	errDown := errors.New("down")
	newRouter := func(t *testing.T, pct *int) (*testRouter, []*backend) {
		tr := newTestRouter(t, Options{Health: health.Options{
			HealthyThreshold: 2, UnhealthyThreshold: 2, MaxPassiveEjection: pct,
		}}, false)
		tr.SetBackends(Blue, []string{"127.0.0.1:1", "127.0.0.1:2"}, true)
		return tr, tr.slots[0].pool.all()
	}
	fail := func(tr *testRouter, b *backend, src observationSource, n int) {
		for range n {
			tr.observe(b, src, false, errDown)
		}
	}
	pass := func(tr *testRouter, b *backend, n int) {
		for range n {
			tr.observe(b, sourceActive, true, nil)
		}
	}
	state := func(b *backend) string {
		switch {
		case b.held.Load() && b.up.Load():
			return "held"
		case b.held.Load():
			return "held but out"
		case b.up.Load():
			return "in"
		default:
			return "out"
		}
	}
	expect := func(t *testing.T, step string, bs []*backend, want ...string) {
		t.Helper()
		for i, b := range bs {
			if got := state(b); got != want[i] {
				t.Fatalf("%s: instance %d is %s, want %s", step, i, got, want[i])
			}
		}
	}

	t.Run("default 50%", func(t *testing.T) {
		tr, bs := newRouter(t, nil)
		a, b := bs[0], bs[1]
		fail(tr, a, sourcePassive, 2)
		expect(t, "a fails requests", bs, "out", "in")
		fail(tr, b, sourcePassive, 2)
		expect(t, "b fails requests too", bs, "out", "held")
		fail(tr, b, sourcePassive, 5)
		fail(tr, b, sourceActive, 1)
		pass(tr, b, 1)
		fail(tr, b, sourceActive, 1)
		expect(t, "b fails more requests and probes, not 2 probes in a row", bs, "out", "held")
		if h, _ := tr.SlotReady(Blue); h != 1 {
			t.Fatalf("SlotReady %d, want 1", h)
		}
		fail(tr, b, sourceActive, 1)
		expect(t, "b fails 2 probes in a row", bs, "out", "out")
		if h, _ := tr.SlotReady(Blue); h != 0 {
			t.Fatalf("SlotReady %d, want 0: active checks may empty a slot", h)
		}

		pass(tr, a, 2)
		pass(tr, b, 2)
		expect(t, "both pass probes", bs, "in", "in")
		fail(tr, b, sourcePassive, 2)
		fail(tr, a, sourcePassive, 2)
		expect(t, "b, then a, fail requests", bs, "held", "out")
		pass(tr, b, 2)
		expect(t, "the other comes back", bs, "held", "in")
		fail(tr, a, sourcePassive, 1)
		expect(t, "the held one fails a request with room under the ceiling", bs, "out", "in")

		pass(tr, a, 2)
		fail(tr, a, sourcePassive, 2)
		fail(tr, b, sourcePassive, 2)
		expect(t, "both fail requests again", bs, "out", "held")
		pass(tr, b, 2)
		expect(t, "the held one passes probes", bs, "out", "in")
		if got := tr.slots[0].passiveRefused.Load(); got != 3 {
			t.Fatalf("refused ejections %d, want 3", got)
		}
	})

	t.Run("a mix of failures ejects within the ceiling", func(t *testing.T) {
		tr, bs := newRouter(t, nil)
		fail(tr, bs[0], sourcePassive, 1)
		fail(tr, bs[0], sourceActive, 1)
		expect(t, "one request and one probe", bs, "out", "in")
	})

	t.Run("100% lets requests empty a slot", func(t *testing.T) {
		tr, bs := newRouter(t, new(100))
		fail(tr, bs[0], sourcePassive, 2)
		fail(tr, bs[1], sourcePassive, 2)
		expect(t, "both fail requests", bs, "out", "out")
	})

	t.Run("0% leaves ejection to active checks", func(t *testing.T) {
		tr, bs := newRouter(t, new(0))
		fail(tr, bs[0], sourcePassive, 3)
		expect(t, "a fails requests", bs, "held", "in")
		fail(tr, bs[0], sourceActive, 2)
		expect(t, "a fails probes", bs, "out", "in")
	})

	t.Run("concurrent failures on every instance", func(t *testing.T) {
		tr, bs := newRouter(t, nil)
		var wg sync.WaitGroup
		for _, b := range bs {
			for range 4 {
				wg.Go(func() { fail(tr, b, sourcePassive, 50) })
			}
		}
		wg.Wait()
		if h, _ := tr.SlotReady(Blue); h != 1 {
			t.Fatalf("SlotReady %d after concurrent failures, want 1", h)
		}
		if st := tr.Status().Slots[Blue]; st.PassiveHeld != 1 {
			t.Fatalf("passive_held %d, want 1", st.PassiveHeld)
		}
	})
}
