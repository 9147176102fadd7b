package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
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
	running  map[slot.Slot]string // slot → version
	starts   map[string]int       // "slot/version" → Start calls
	stops    map[slot.Slot]int    // slot → Stop calls
	startErr map[slot.Slot]error  // slot → what Start returns
	stuck    map[slot.Slot]string // slot → what Stuck says
}

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{running: map[slot.Slot]string{}, starts: map[string]int{}, stops: map[slot.Slot]int{}, startErr: map[slot.Slot]error{}, stuck: map[slot.Slot]string{}}
}

func (r *fakeRuntime) Start(_ context.Context, sl slot.Slot, version string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.startErr[sl]; err != nil {
		return nil, err
	}
	r.starts[string(sl)+"/"+version]++
	r.running[sl] = version
	return []string{string(sl) + "-" + version + "-0.test:80", string(sl) + "-" + version + "-1.test:80"}, nil
}

// Running is what runs in sl, as the process driver finds it after a
// crash.
func (r *fakeRuntime) Running(sl slot.Slot) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.running[sl]
	if !ok {
		return nil
	}
	return []string{string(sl) + "-" + v + "-0.test:80", string(sl) + "-" + v + "-1.test:80"}
}

func (r *fakeRuntime) Stop(_ context.Context, sl slot.Slot) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stops[sl]++
	delete(r.running, sl)
	return nil
}

// Stuck is what setStuck said for sl.
func (r *fakeRuntime) Stuck(_ context.Context, sl slot.Slot) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stuck[sl], nil
}

// setStuck makes Stuck report why for sl.
func (r *fakeRuntime) setStuck(sl slot.Slot, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stuck[sl] = why
}

// runs reports what slot runs ("" for nothing).
func (r *fakeRuntime) runs(sl slot.Slot) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running[sl]
}

func (r *fakeRuntime) startCount(sl slot.Slot, version string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.starts[string(sl)+"/"+version]
}

func (r *fakeRuntime) stopCount(sl slot.Slot) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stops[sl]
}

func (r *fakeRuntime) setStartErr(sl slot.Slot, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.startErr[sl] = err
}

// fakeRouter is an in-memory data plane. A sick slot has no healthy
// backend.
type fakeRouter struct {
	mu       sync.Mutex
	backends map[slot.Slot][]string
	sick     map[slot.Slot]bool
	live     slot.Slot
	weights  map[slot.Slot]int
	swaps    int // SetRoute calls
	// before, if set, sees every route before it is applied (no lock held).
	before func(live slot.Slot, weights map[slot.Slot]int)
	// inRotation holds the addresses given in rotation at once.
	inRotation map[slot.Slot][]string
	// undrained holds the slots not drained yet (drain_test.go), with the
	// wait Drained reports; asked holds the since of each slot's last
	// Drained.
	undrained map[slot.Slot]time.Duration
	asked     map[slot.Slot]time.Time
	// ends counts EndSlot calls per slot; while hold is not nil, EndSlot
	// waits until it is closed.
	ends map[slot.Slot]int
	hold chan struct{}
}

func newFakeRouter() *fakeRouter {
	return &fakeRouter{backends: map[slot.Slot][]string{}, sick: map[slot.Slot]bool{}, weights: map[slot.Slot]int{},
		inRotation: map[slot.Slot][]string{}, undrained: map[slot.Slot]time.Duration{}, asked: map[slot.Slot]time.Time{},
		ends: map[slot.Slot]int{}}
}

func (r *fakeRouter) SetBackends(sl slot.Slot, addrs []string, inRotation bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.backends[sl] = addrs
	if inRotation {
		r.inRotation[sl] = addrs
	}
}

// Drained: a slot set with setUndrained is not drained.
func (r *fakeRouter) Drained(sl slot.Slot, since time.Time) (bool, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked[sl] = since
	wait, waiting := r.undrained[sl]
	return !waiting, wait
}

func (r *fakeRouter) EndSlot(sl slot.Slot) {
	r.mu.Lock()
	r.ends[sl]++
	hold := r.hold
	r.mu.Unlock()
	if hold != nil {
		<-hold
	}
}

func (r *fakeRouter) setUndrained(sl slot.Slot, wait time.Duration, undrained bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if undrained {
		r.undrained[sl] = wait
	} else {
		delete(r.undrained, sl)
	}
}

// askedSince is the since of sl's last Drained (zero: never asked).
func (r *fakeRouter) askedSince(sl slot.Slot) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.asked[sl]
}

func (r *fakeRouter) endCount(sl slot.Slot) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ends[sl]
}

// holdEnds makes EndSlot wait until the returned function is called.
func (r *fakeRouter) holdEnds() (release func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := make(chan struct{})
	r.hold = ch
	return sync.OnceFunc(func() {
		r.mu.Lock()
		r.hold = nil
		r.mu.Unlock()
		close(ch)
	})
}

func (r *fakeRouter) rotated(sl slot.Slot) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.inRotation[sl]...)
}

func (r *fakeRouter) SetRoute(live slot.Slot, weights map[slot.Slot]int) error {
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
	if !live.Valid() || sum != 100 {
		return fmt.Errorf("fake router: bad route %s %v", live, weights)
	}
	r.swaps++
	r.live = live
	r.weights = map[slot.Slot]int{}
	for s, w := range weights {
		r.weights[s] = w
	}
	return nil
}

func (r *fakeRouter) Route() (slot.Slot, map[slot.Slot]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := map[slot.Slot]int{}
	for s, n := range r.weights {
		w[s] = n
	}
	return r.live, w
}

func (r *fakeRouter) SlotReady(sl slot.Slot) (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	total := len(r.backends[sl])
	if r.sick[sl] {
		return 0, total
	}
	return total, total
}

func (r *fakeRouter) setBefore(f func(slot.Slot, map[slot.Slot]int)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.before = f
}

func (r *fakeRouter) setSick(sl slot.Slot, sick bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sick[sl] = sick
}

func (r *fakeRouter) swapCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.swaps
}

func (r *fakeRouter) backendsOf(sl slot.Slot) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.backends[sl]...)
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

func (v *fakeVerifier) Verify(context.Context, slot.Slot, string) (bool, json.RawMessage, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls++
	if v.clock != nil {
		v.clock.Set(v.clock.Now().Add(v.took))
	}
	return v.passed, v.report, v.err
}

var errFakeStart = errors.New("fake: cannot start")
