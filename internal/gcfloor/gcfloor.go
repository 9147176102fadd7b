// Package gcfloor keeps Go's garbage collector from running while the
// heap is small.
//
// Go starts a collection when the heap reaches the live heap of the last
// one times 1+GOGC/100: with the router's few MiB of live data and its
// allocation rate under load (some KiB per request), that is dozens of
// collections a second, each a fixed cost on top of the marking, and a
// quarter of the CPUs taken while it marks. A floor lets the heap grow to
// a fixed size before a collection instead: after each collection, GOGC is
// raised so that the next one starts at the floor, and it falls back to
// the base value (GOGC as the process started) once the live heap times
// the base is over the floor. So the memory the router holds under load
// is about the floor, or what Go would hold anyway when that is more.
package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// maxPercent bounds the GOGC the floor sets: at a live heap of a few
// hundred KiB, one collection in 1000×.
const maxPercent = 100_000

// Floor holds the collector back until the heap is at least floor bytes
// (see the package doc) until Stop.
type Floor struct {
	floor int64
	base  int

	mu      sync.Mutex
	stopped bool
	sample  []metrics.Sample
	set     int // GOGC set last; 0 before the first collection
}

// Start applies floor to this process and returns the Floor; a floor of 0
// or less, or a base GOGC of off, changes nothing (Stop still works).
func Start(floor int64) *Floor {
	f := &Floor{floor: floor, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	f.base = debug.SetGCPercent(100)
	debug.SetGCPercent(f.base)
	if floor <= 0 || f.base < 0 {
		f.stopped = true
		return f
	}
	f.arm()
	return f
}

// arm sets a sentinel that the next collection frees; its cleanup adjusts
// GOGC and arms again.
func (f *Floor) arm() {
	s := new([16]byte)
	runtime.AddCleanup(s, func(*Floor) { f.collected() }, f)
}

// collected runs after a collection freed the sentinel.
func (f *Floor) collected() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	metrics.Read(f.sample)
	if v := f.sample[0].Value; v.Kind() == metrics.KindUint64 {
		p := Percent(f.floor, int64(v.Uint64()), f.base)
		// Only a change of a tenth or more is set: the pacer reacts to
		// every call.
		if f.set == 0 || p > f.set+f.set/10 || p < f.set-f.set/10 {
			debug.SetGCPercent(p)
			f.set = p
		}
	}
	f.arm()
}

// Percent is the GOGC under which a heap with live bytes live after a
// collection grows to floor bytes before the next one, and never below
// base.
func Percent(floor, live int64, base int) int {
	if live <= 0 {
		live = 1
	}
	if floor <= live {
		return base
	}
	p := (floor - live) * 100 / live
	if p > maxPercent {
		p = maxPercent
	}
	return max(int(p), base)
}

// Stop puts GOGC back to its base value and stops adjusting it.
func (f *Floor) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	f.stopped = true
	debug.SetGCPercent(f.base)
}
