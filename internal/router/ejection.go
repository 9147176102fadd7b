package router

import "github.com/bluegreen-dev/bluegreen/internal/health"

// The passive ejection ceiling (Envoy's max_ejection_percent): passive
// failures alone — requests that failed on an instance — take an instance
// out of rotation only while few enough of its slot's instances are out
// (health.Options.PassiveEjectionLimit). Beyond that the instance is held
// in rotation: a fault that looks like every instance's at once is more
// likely the traffic's than theirs, and a slot emptied by it would answer
// 503 to everyone. A held instance leaves rotation as soon as active
// checks fail UnhealthyThreshold times in a row, and stops being held when
// they bring its counter back to healthy (backend.observe).

// mayEjectLocked reports whether passive failures may take one more
// instance of p, now in rotation, out: the instances out of rotation,
// with it, stay within opts' limit. The caller holds p.mu.
func (p *pool) mayEjectLocked(opts health.Options) bool {
	all := p.all()
	out := 1 // the one to take out
	for _, b := range all {
		if !b.up.Load() {
			out++
		}
	}
	return out <= opts.PassiveEjectionLimit(len(all))
}

// heldCount is how many instances of p are held in rotation by the
// ceiling.
func (p *pool) heldCount() int {
	n := 0
	for _, b := range p.all() {
		if b.held.Load() {
			n++
		}
	}
	return n
}
