package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// fakeClock is a manual clock: time moves only when the test says so.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- f.now
		return ch
	}
	f.waiters = append(f.waiters, fakeWaiter{at: f.now.Add(d), ch: ch})
	return ch
}

// Set moves the clock forward to t (never back) and fires due waiters.
func (f *fakeClock) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.After(f.now) {
		f.now = t
	}
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if w.at.After(f.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- f.now
	}
	f.waiters = kept
}

// Add moves the clock forward by d.
func (f *fakeClock) Add(d time.Duration) { f.Set(f.Now().Add(d)) }

// fakeRuntime pretends to run releases. Like the process driver, what it
// runs survives a restart of the controller.
type fakeRuntime struct {
	mu       sync.Mutex
	running  map[string]string // slot → version
	starts   map[string]int    // "slot/version" → Start calls
	stops    map[string]int    // slot → Stop calls
	startErr map[string]error  // slot → what Start returns
}

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{running: map[string]string{}, starts: map[string]int{}, stops: map[string]int{}, startErr: map[string]error{}}
}

func (r *fakeRuntime) Start(_ context.Context, slot, version string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.startErr[slot]; err != nil {
		return nil, err
	}
	r.starts[slot+"/"+version]++
	r.running[slot] = version
	return []string{slot + "-" + version + "-0.test:80", slot + "-" + version + "-1.test:80"}, nil
}

func (r *fakeRuntime) Stop(_ context.Context, slot string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stops[slot]++
	delete(r.running, slot)
	return nil
}

// runs reports what slot runs ("" for nothing).
func (r *fakeRuntime) runs(slot string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running[slot]
}

func (r *fakeRuntime) startCount(slot, version string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.starts[slot+"/"+version]
}

func (r *fakeRuntime) stopCount(slot string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stops[slot]
}

func (r *fakeRuntime) setStartErr(slot string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.startErr[slot] = err
}

// fakeRouter is an in-memory data plane. A sick slot has no healthy
// backend.
type fakeRouter struct {
	mu       sync.Mutex
	backends map[string][]string
	sick     map[string]bool
	live     string
	weights  map[string]int
	swaps    int // SetRoute calls
	// before, if set, sees every route before it is applied (no lock held).
	before func(live string, weights map[string]int)
	// undrained holds the slots not drained yet (drain_test.go), with the
	// wait Drained reports.
	undrained map[string]time.Duration
}

func newFakeRouter() *fakeRouter {
	return &fakeRouter{backends: map[string][]string{}, sick: map[string]bool{}, weights: map[string]int{}}
}

func (r *fakeRouter) SetBackends(slot string, addrs []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.backends[slot] = addrs
}

func (r *fakeRouter) SetRoute(live string, weights map[string]int) error {
	r.mu.Lock()
	before := r.before
	r.mu.Unlock()
	if before != nil {
		before(live, weights)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	sum := 0
	for _, w := range weights {
		sum += w
	}
	if !validSlot(live) || sum != 100 {
		return fmt.Errorf("fake router: bad route %s %v", live, weights)
	}
	r.swaps++
	r.live = live
	r.weights = map[string]int{}
	for s, w := range weights {
		r.weights[s] = w
	}
	return nil
}

func (r *fakeRouter) Route() (string, map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := map[string]int{}
	for s, n := range r.weights {
		w[s] = n
	}
	return r.live, w
}

func (r *fakeRouter) SlotReady(slot string) (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	total := len(r.backends[slot])
	if r.sick[slot] {
		return 0, total
	}
	return total, total
}

func (r *fakeRouter) setBefore(f func(string, map[string]int)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.before = f
}

func (r *fakeRouter) setSick(slot string, sick bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sick[slot] = sick
}

func (r *fakeRouter) swapCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.swaps
}

func (r *fakeRouter) backendsOf(slot string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.backends[slot]...)
}

// fakeVerifier answers with a fixed verdict.
type fakeVerifier struct {
	mu     sync.Mutex
	passed bool
	report json.RawMessage
	err    error
	calls  int
	// took, with clock, is how long a verification takes on that clock.
	clock *fakeClock
	took  time.Duration
}

func (v *fakeVerifier) Verify(context.Context, string, string) (bool, json.RawMessage, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls++
	if v.clock != nil {
		v.clock.Set(v.clock.Now().Add(v.took))
	}
	return v.passed, v.report, v.err
}

var errFakeStart = errors.New("fake: cannot start")
