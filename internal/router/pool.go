package router

import (
	"sync"
	"sync/atomic"
)

// pool holds the instances of one slot. The request path reads two
// immutable snapshots through atomic pointers (all instances, and those in
// rotation) and picks round-robin with an atomic counter; changes rebuild
// the snapshots under mu.
type pool struct {
	slot Slot

	mu       sync.Mutex // serialises replace and health changes (Router.observe)
	backends atomic.Pointer[[]*backend]
	healthy  atomic.Pointer[[]*backend]
	next     atomic.Uint64
}

func (p *pool) init(slot Slot) {
	p.slot = slot
	empty := []*backend{}
	p.backends.Store(&empty)
	p.healthy.Store(&empty)
}

// all returns the current instances (do not modify).
func (p *pool) all() []*backend { return *p.backends.Load() }

// addrs lists the addresses of the current instances.
func (p *pool) addrs() []string { return addrsOf(p.all()) }

// pick returns the next healthy instance round-robin, or nil when none is.
func (p *pool) pick() *backend {
	h := *p.healthy.Load()
	n := uint64(len(h))
	if n == 0 {
		return nil
	}
	return h[p.next.Add(1)%n]
}

// pickOther returns a healthy instance other than failed, for a retry:
// the one after failed in the rotation. It does not advance the rotation,
// so retries do not skew the share of the other requests. It returns nil
// when no other instance is healthy.
func (p *pool) pickOther(failed *backend) *backend {
	h := *p.healthy.Load()
	n := len(h)
	start := int(p.next.Load() % uint64(max(n, 1)))
	for i, b := range h {
		if b == failed {
			start = i + 1
			break
		}
	}
	for k := range n {
		if b := h[(start+k)%n]; b != failed {
			return b
		}
	}
	return nil
}

// counts returns how many instances are in rotation, of how many.
func (p *pool) counts() (healthy, total int) {
	return len(*p.healthy.Load()), len(*p.backends.Load())
}

// noHealthy describes the pool when pick found nothing.
func (p *pool) noHealthy() *noHealthyError {
	h, n := p.counts()
	return &noHealthyError{slot: p.slot, healthy: h, total: n}
}

// replace sets the instances to addrs (duplicates dropped, order kept).
// Instances already present are kept as they are; newBackend makes the
// others; drop is called for each instance removed. It returns the numbers
// of instances added and removed.
func (p *pool) replace(addrs []string, newBackend func(addr string) *backend, drop func(*backend)) (added, removed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := make(map[string]*backend, len(addrs))
	for _, b := range p.all() {
		old[b.addr] = b
	}
	next := make([]*backend, 0, len(addrs))
	seen := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		if seen[a] {
			continue
		}
		seen[a] = true
		if b, ok := old[a]; ok {
			next = append(next, b)
			delete(old, a)
			continue
		}
		next = append(next, newBackend(a))
		added++
	}
	for _, b := range p.all() {
		if _, gone := old[b.addr]; gone {
			drop(b)
			removed++
		}
	}
	p.backends.Store(&next)
	p.rebuildHealthyLocked()
	return added, removed
}

// rebuildHealthyLocked recomputes the rotation after an instance changed
// state. The caller holds p.mu.
func (p *pool) rebuildHealthyLocked() {
	all := p.all()
	h := make([]*backend, 0, len(all))
	for _, b := range all {
		if b.up.Load() {
			h = append(h, b)
		}
	}
	p.healthy.Store(&h)
}
