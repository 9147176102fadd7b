package router

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluegreen-dev/bluegreen/internal/health"
)

// backend is one instance of a slot: its address, its health state and its
// in-flight count. The pointer is the identity: a backend removed by
// SetBackends and added again is a new backend.
type backend struct {
	slot Slot
	addr string

	// up is read on the request path: the instance is in rotation. It is
	// counter.Healthy(), or held.
	up       atomic.Bool
	inflight atomic.Int64
	// failures mirrors counter.ConsecutiveFailures() so the request path
	// can skip the lock when there is nothing to reset.
	failures atomic.Int32
	// held is set while the counter says unhealthy but the slot's passive
	// ejection ceiling keeps the instance in rotation (ejection.go).
	held    atomic.Bool
	upGauge prometheus.Gauge
	// gone is set once SetBackends removed the instance.
	gone atomic.Bool

	mu      sync.Mutex // guards counter, activeFailures and removed
	counter *health.Counter
	// activeFailures counts consecutive failed active checks: only they
	// take a held instance out.
	activeFailures     int
	unhealthyThreshold int
	removed            bool
}

func newBackend(slot Slot, addr string, healthy bool, opts health.Options, upVec *prometheus.GaugeVec) *backend {
	b := &backend{
		slot:               slot,
		addr:               addr,
		counter:            health.NewCounter(opts.HealthyThreshold, opts.UnhealthyThreshold, healthy),
		unhealthyThreshold: max(opts.UnhealthyThreshold, 1),
		upGauge:            upVec.WithLabelValues(string(slot), addr),
	}
	b.up.Store(healthy)
	b.upGauge.Set(boolFloat(healthy))
	return b
}

// observed is what one health result did to an instance.
type observed struct {
	// up is whether the instance is in rotation after the result, changed
	// whether that changed, applied whether the result counted at all.
	up, changed, applied bool
	// held is whether the passive ejection ceiling alone keeps the
	// instance in rotation after the result; newlyHeld and released say
	// that started or stopped with it.
	held, newlyHeld, released bool
}

// observe records one health result. mayEject, asked only when failures
// that are not all active ones would take the instance out of rotation,
// says whether the slot's passive ejection ceiling allows it; the caller
// holds the pool's lock, so that two instances cannot both take the last
// place.
//
// An instance leaves rotation when the counter turns it unhealthy and
// either its last UnhealthyThreshold failures were all active checks or
// mayEject allows it; otherwise it is held in rotation, and each later
// failure asks again. It comes back, or stops being held, when the counter
// turns it healthy. A passive success only resets the failure count of a
// healthy instance: an unhealthy one comes back through active checks
// alone. Results for a removed backend are dropped.
func (b *backend) observe(source observationSource, ok bool, mayEject func() bool) observed {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.removed {
		return observed{}
	}
	switch source {
	case sourcePassive:
		if ok && (!b.counter.Healthy() || b.counter.ConsecutiveFailures() == 0) {
			return observed{up: b.up.Load(), held: b.held.Load()}
		}
	case sourceActive:
		if ok {
			b.activeFailures = 0
		} else {
			b.activeFailures++
		}
	}
	healthy, _ := b.counter.Observe(ok)
	b.failures.Store(int32(b.counter.ConsecutiveFailures()))
	wasUp, wasHeld := b.up.Load(), b.held.Load()
	up, held := healthy, false
	if !healthy && wasUp {
		switch {
		case b.activeFailures >= b.unhealthyThreshold:
			up = false // active checks confirm it
		case ok || !mayEject():
			// A success of a held instance, or passive failures beyond
			// the ceiling: it stays in rotation.
			up, held = true, true
		default:
			up = false
		}
	}
	if up != wasUp {
		b.up.Store(up)
		b.upGauge.Set(boolFloat(up))
	}
	if held != wasHeld {
		b.held.Store(held)
	}
	return observed{up: up, changed: up != wasUp, applied: true, held: held, newlyHeld: held && !wasHeld, released: wasHeld && !held}
}

// remove marks b as no longer part of its pool: later health results are
// dropped. In-flight requests finish.
func (b *backend) remove() {
	b.mu.Lock()
	b.removed = true
	b.mu.Unlock()
	b.gone.Store(true)
}

// usable reports whether b is still in its pool and in rotation.
func (b *backend) usable() bool { return b.up.Load() && !b.gone.Load() }

func (b *backend) status() BackendStatus {
	return BackendStatus{
		Addr:                b.addr,
		Healthy:             b.up.Load(),
		Inflight:            b.inflight.Load(),
		ConsecutiveFailures: int(b.failures.Load()),
		PassiveHeld:         b.held.Load(),
	}
}

func boolFloat(v bool) float64 {
	if v {
		return 1
	}
	return 0
}
