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

	// up is read on the request path; it mirrors counter.Healthy().
	up       atomic.Bool
	inflight atomic.Int64
	// failures mirrors counter.ConsecutiveFailures() so the request path
	// can skip the lock when there is nothing to reset.
	failures atomic.Int32
	upGauge  prometheus.Gauge
	// gone is set once SetBackends removed the instance.
	gone atomic.Bool

	mu      sync.Mutex // guards counter and removed
	counter *health.Counter
	removed bool
}

func newBackend(slot Slot, addr string, healthy bool, opts health.Options, upVec *prometheus.GaugeVec) *backend {
	b := &backend{
		slot:    slot,
		addr:    addr,
		counter: health.NewCounter(opts.HealthyThreshold, opts.UnhealthyThreshold, healthy),
		upGauge: upVec.WithLabelValues(string(slot), addr),
	}
	b.up.Store(healthy)
	b.upGauge.Set(boolFloat(healthy))
	return b
}

// observe records one health result and reports the resulting state,
// whether it changed, and whether the result was applied at all.
//
// A passive success only resets the failure count of a healthy instance:
// an unhealthy instance comes back through active checks alone. Results for
// a removed backend are dropped.
func (b *backend) observe(source observationSource, ok bool) (healthy, changed, applied bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.removed {
		return false, false, false
	}
	switch source {
	case sourcePassive:
		if ok && (!b.counter.Healthy() || b.counter.ConsecutiveFailures() == 0) {
			return b.counter.Healthy(), false, false
		}
	case sourceActive:
	}
	healthy, changed = b.counter.Observe(ok)
	b.failures.Store(int32(b.counter.ConsecutiveFailures()))
	if changed {
		b.up.Store(healthy)
		b.upGauge.Set(boolFloat(healthy))
	}
	return healthy, changed, true
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
	}
}

func boolFloat(v bool) float64 {
	if v {
		return 1
	}
	return 0
}
