package deploy

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
	"github.com/bluegreen-dev/bluegreen/internal/store/sqlite"
)

// Test settings: durations on the fake clock.
const (
	testBake      = 5 * time.Minute
	testScaleDown = 30 * time.Minute
	testReady     = time.Minute
	testPoll      = 5 * time.Second
	waitLimit     = 20 * time.Second // real time, generous: only a hang reaches it
)

// harness runs a Controller on a real SQLite store with a fake runtime,
// router and clock. restart models a new process: a new store handle and
// an empty router; the runtime's releases survive, as with the process
// driver.
type harness struct {
	t        *testing.T
	path     string
	clock    *fakeClock
	rt       *fakeRuntime
	router   *fakeRouter
	verifier *fakeVerifier
	reg      *prometheus.Registry
	store    *sqlite.Store
	c        *Controller
	cancel   context.CancelFunc
	done     chan error
	sick     map[slot.Slot]bool // applied to every new router
	// wrap, if set, wraps the store the controller uses.
	wrap func(store.Store) store.Store
	// checks, if set, is the verifier in place of verifier.
	checks Verifier
	// post, if set, is the after_promotion verifier.
	post Verifier
	// meter and analysis, if set, turn analysis on.
	meter    Meter
	analysis *config.Analysis
	// providers, if set, are asked about each analysis window.
	providers Providers
	// synthetic, if set, is told where synthetic traffic goes.
	synthetic Synthetic
	// bake, if set, replaces testBake.
	bake *time.Duration
	// seedVersion is Options.SeedVersion.
	seedVersion string
}

func newHarness(t *testing.T, verifier *fakeVerifier) *harness {
	t.Helper()
	return newHarnessWith(t, verifier, nil)
}

// newHarnessWith is newHarness with setup run on the harness before the
// controller starts.
func newHarnessWith(t *testing.T, verifier *fakeVerifier, setup func(*harness)) *harness {
	t.Helper()
	h := &harness{
		t: t, path: filepath.Join(t.TempDir(), "state.db"), clock: newFakeClock(),
		rt: newFakeRuntime(), verifier: verifier, sick: map[slot.Slot]bool{},
	}
	if setup != nil {
		setup(h)
	}
	t.Cleanup(h.stop)
	h.boot()
	return h
}

// boot opens the store, builds a controller and runs it.
func (h *harness) boot() {
	h.t.Helper()
	st, err := sqlite.Open(context.Background(), h.path)
	if err != nil {
		h.t.Fatal(err)
	}
	h.store = st
	h.router = newFakeRouter()
	h.router.before = h.persistedFirst
	for s, v := range h.sick {
		h.router.setSick(s, v)
	}
	h.reg = prometheus.NewRegistry()
	var cs store.Store = st
	if h.wrap != nil {
		cs = h.wrap(st)
	}
	opts := Options{
		App: "shop", Store: cs, Runtime: h.rt, Router: h.router,
		Strategy: "all-at-once", BakeTime: testBake, ScaleDownDelay: testScaleDown,
		ReadyTimeout: testReady, PollInterval: testPoll, Clock: h.clock, SeedVersion: h.seedVersion,
		Logger:   slog.New(slog.NewTextHandler(h.t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registry: h.reg,
	}
	if h.bake != nil {
		opts.BakeTime = *h.bake
	}
	if h.verifier != nil {
		opts.Verifier = h.verifier
	}
	if h.checks != nil {
		opts.Verifier = h.checks
	}
	if h.meter != nil {
		opts.Meter, opts.Analysis = h.meter, h.analysis
		if h.providers != nil {
			opts.Providers = h.providers
		}
		if h.synthetic != nil {
			opts.Synthetic = h.synthetic
		}
	}
	if h.post != nil {
		opts.AfterPromotion = h.post
	}
	c, err := New(opts)
	if err != nil {
		h.t.Fatal(err)
	}
	h.c = c
	if err := c.Restore(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- c.Run(ctx) }()
}

// stop ends Run (as a signal would) and closes the store.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(waitLimit):
		h.t.Errorf("Run did not return after cancel")
	}
	h.cancel = nil
	if err := h.store.Close(); err != nil {
		h.t.Errorf("close store: %v", err)
	}
}

func (h *harness) restart() {
	h.t.Helper()
	h.stop()
	h.boot()
}

func (h *harness) setSick(sl slot.Slot, sick bool) {
	h.sick[sl] = sick
	h.router.setSick(sl, sick)
}

// ctx bounds a command that waits for the loop, so that a bug fails the
// test instead of hanging it.
func (h *harness) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	h.t.Cleanup(cancel)
	return ctx
}

// idle waits until the loop has caught up and sleeps.
func (h *harness) idle() loopState {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	st, err := h.c.idleAfter(ctx, 0)
	if err != nil {
		h.dump()
		h.t.Fatalf("controller never went idle: %v", err)
	}
	return st
}

// persistedFirst checks, as the router is about to apply a route, that the
// route and the transition announcing it are already in the store: a crash
// right now would restore exactly this.
func (h *harness) persistedFirst(live slot.Slot, weights map[slot.Slot]int) {
	ctx := context.Background()
	r, err := h.store.LoadRoute(ctx, "shop")
	if err != nil || !sameRoute(r, live, weights) {
		h.t.Errorf("route %s %v applied before it was stored (stored %+v, %v)", live, weights, r, err)
		return
	}
	list, err := h.store.ListDeployments(ctx, "shop", 1)
	if err != nil || len(list) == 0 {
		return
	}
	d := list[0]
	switch Phase(d.Phase) {
	case PhaseShifting, PhaseBaking, PhasePaused:
		if weights[d.Slot] != d.Weight || live != d.Slot.Other() {
			h.t.Errorf("route %s %v applied while deployment %d is stored %s at %d%%", live, weights, d.ID, d.Phase, d.Weight)
		}
	case PhaseSucceeded:
		if live != d.Slot || weights[d.Slot] != 100 {
			h.t.Errorf("route %s %v applied while deployment %d is stored succeeded in %s", live, weights, d.ID, d.Slot)
		}
	case PhaseAborted, PhaseRolledBack, PhaseRollingBack:
		if d.FromVersion != "" && (live != d.Slot.Other() || weights[d.Slot] != 0) {
			h.t.Errorf("route %s %v applied while deployment %d is stored %s", live, weights, d.ID, d.Phase)
		}
	case PhasePending, PhaseProvisioning, PhaseWaitingReady, PhaseVerifying, PhaseFailed:
	}
}

// dump logs the loop's state and every goroutine, to see why it hangs.
func (h *harness) dump() {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	h.c.loopMu.Lock()
	st := h.c.loop
	h.c.loopMu.Unlock()
	h.t.Logf("loop %+v, clock %v\n%s", st, h.clock.Now(), buf[:n])
}

// drive moves the fake clock to each time the loop sleeps until, until
// cond holds. It fails if the loop waits for a command instead.
func (h *harness) drive(what string, cond func() bool) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var gen uint64
	for {
		st, err := h.c.idleAfter(ctx, gen)
		if err != nil {
			h.dump()
			h.t.Fatalf("waiting for %s: controller never went idle: %v", what, err)
		}
		if cond() {
			return
		}
		if st.until.IsZero() {
			h.t.Fatalf("waiting for %s: the controller waits for a command", what)
		}
		h.clock.Set(st.until)
		gen = st.gen
	}
}

// driveTo drives deployment id until cond holds for it and returns it.
func (h *harness) driveTo(id int64, what string, cond func(store.Deployment) bool) store.Deployment {
	h.t.Helper()
	var d store.Deployment
	h.drive(what, func() bool {
		d = h.get(id)
		return cond(d)
	})
	return d
}

// finish drives deployment id until it ends.
func (h *harness) finish(id int64) store.Deployment {
	h.t.Helper()
	return h.driveTo(id, "the end of the deployment", func(d store.Deployment) bool { return !d.Active })
}

func inPhase(p Phase) func(store.Deployment) bool {
	return func(d store.Deployment) bool { return Phase(d.Phase) == p }
}

func (h *harness) get(id int64) store.Deployment {
	h.t.Helper()
	d, err := h.store.GetDeployment(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return d
}

func (h *harness) events(id int64) []store.Event {
	h.t.Helper()
	evs, err := h.store.Events(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return evs
}

func (h *harness) slot(name slot.Slot) store.SlotState {
	h.t.Helper()
	slots, err := h.c.loadSlots(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return slots[name]
}

func (h *harness) storedRoute() store.Route {
	h.t.Helper()
	r, err := h.store.LoadRoute(context.Background(), "shop")
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// deploy starts a deployment and fails the test on error.
func (h *harness) deploy(version, strategy string) store.Deployment {
	h.t.Helper()
	d, err := h.c.Deploy(h.ctx(), version, strategy)
	if err != nil {
		h.t.Fatalf("deploy %s: %v", version, err)
	}
	return d
}

// seed makes v1 live on blue (the first release) and v2 live on green
// when two is true.
func (h *harness) seed(two bool) {
	h.t.Helper()
	if d := h.finish(h.deploy("v1", "").ID); Phase(d.Phase) != PhaseSucceeded {
		h.t.Fatalf("seed v1: %s (%s)", d.Phase, d.Reason)
	}
	if !two {
		return
	}
	if d := h.finish(h.deploy("v2", "all-at-once").ID); Phase(d.Phase) != PhaseSucceeded {
		h.t.Fatalf("seed v2: %s (%s)", d.Phase, d.Reason)
	}
}

// assertRoute checks both the stored route and the router's.
func (h *harness) assertRoute(live slot.Slot, blue, green int) {
	h.t.Helper()
	want := map[slot.Slot]int{slot.Blue: blue, slot.Green: green}
	r := h.storedRoute()
	if !sameRoute(r, live, want) {
		h.t.Errorf("stored route = %s %v, want %s %v", r.Live, r.Weights, live, want)
	}
	gotLive, gotW := h.router.Route()
	if !sameRoute(store.Route{Live: live, Weights: want}, gotLive, gotW) {
		h.t.Errorf("router route = %s %v, want %s %v", gotLive, gotW, live, want)
	}
}

// phases lists the events' phases.
func phases(evs []store.Event) []Phase {
	var out []Phase
	for _, ev := range evs {
		out = append(out, Phase(ev.Phase))
	}
	return out
}

// eventData decodes an event's numbers.
func eventData(t *testing.T, ev store.Event) map[string]any {
	t.Helper()
	m := map[string]any{}
	if err := json.Unmarshal(ev.Data, &m); err != nil {
		t.Fatalf("event %s data %s: %v", ev.Phase, ev.Data, err)
	}
	return m
}

// weights lists the weight of every event in one of the given phases.
func weights(t *testing.T, evs []store.Event, in ...Phase) []int {
	t.Helper()
	var out []int
	for _, ev := range evs {
		if slices.Contains(in, Phase(ev.Phase)) {
			out = append(out, int(eventData(t, ev)["weight"].(float64)))
		}
	}
	return out
}

// lastEvent is the newest event in phase p.
func lastEvent(t *testing.T, evs []store.Event, p Phase) store.Event {
	t.Helper()
	for i := len(evs) - 1; i >= 0; i-- {
		if Phase(evs[i].Phase) == p {
			return evs[i]
		}
	}
	t.Fatalf("no %s event in %v", p, phases(evs))
	return store.Event{}
}
