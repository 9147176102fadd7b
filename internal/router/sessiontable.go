package router

import (
	"container/list"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the MCP session table.
const (
	DefaultMCPSessionTTL = time.Hour
	DefaultMCPSessionMax = 100_000
)

// sessionPin is where one MCP session lives: the slot and the instance that
// issued its id.
type sessionPin struct {
	id   string
	slot int // slot index
	// b is the instance holding the session; nil pins the session to any
	// instance of the slot (a pin restored from the store whose instance
	// is not in the pool any more).
	b        *backend
	lastUsed time.Time
	// saved is the lastUsed last handed to the write-behind.
	saved time.Time
	elem  *list.Element
}

// sessionTable maps MCP session ids to the instance that holds the session.
// It is bounded (the least recently used pin is evicted) and a pin expires
// after ttl without use. Expired pins are dropped lazily: on lookup, and
// from the cold end of the LRU list on every insertion and count.
type sessionTable struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu   sync.Mutex
	pins map[string]*sessionPin
	lru  list.List // of *sessionPin, most recently used first
	// wb queues changes for the store (sessionstore.go); nil when the
	// table is not persisted. Guarded by mu.
	wb *pinQueue
	// drainSince is, per slot index, when the slot lost its production
	// traffic (zero: it has traffic, or never lost any while this router
	// ran). Guarded by mu. See sessiondrain.go.
	drainSince [numSlots]time.Time

	// perSlot counts pins per slot index, read lock-free by metrics.
	perSlot [numSlots]atomic.Int64
	evicted atomic.Int64
}

func newSessionTable(ttl time.Duration, maxPins int, now func() time.Time) *sessionTable {
	if ttl <= 0 {
		ttl = DefaultMCPSessionTTL
	}
	if maxPins <= 0 {
		maxPins = DefaultMCPSessionMax
	}
	return &sessionTable{ttl: ttl, max: maxPins, now: now, pins: make(map[string]*sessionPin)}
}

// lookup returns the slot index and instance pinned for id (nil: any
// instance of the slot), refreshing the pin's idle timer, or ok false when
// id is unknown or expired.
func (t *sessionTable) lookup(id string) (slot int, b *backend, ok bool) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	p, found := t.pins[id]
	if !found {
		return 0, nil, false
	}
	if now.Sub(p.lastUsed) >= t.ttl {
		t.removeLocked(p)
		return 0, nil, false
	}
	p.lastUsed = now
	t.lru.MoveToFront(p.elem)
	if t.wb != nil && now.Sub(p.saved) >= t.wb.refresh {
		t.saveLocked(p)
	}
	return p.slot, p.b, true
}

// pin records that instance b of slot index slot holds session id, or
// refreshes the pin when it is already there.
func (t *sessionTable) pin(id string, slot int, b *backend) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, found := t.pins[id]; found {
		moved := p.slot != slot || p.b != b
		if p.slot != slot {
			t.perSlot[p.slot].Add(-1)
			t.perSlot[slot].Add(1)
		}
		p.slot, p.b, p.lastUsed = slot, b, now
		t.lru.MoveToFront(p.elem)
		if t.wb != nil && (moved || now.Sub(p.saved) >= t.wb.refresh) {
			t.saveLocked(p)
		}
		return
	}
	p := t.insertLocked(id, slot, b, now)
	if t.wb != nil {
		t.saveLocked(p)
	}
}

// insertLocked adds a new pin, evicting the least recently used pins
// beyond the bound.
func (t *sessionTable) insertLocked(id string, slot int, b *backend, lastUsed time.Time) *sessionPin {
	t.pruneLocked(t.now())
	for len(t.pins) >= t.max {
		t.removeLocked(t.lru.Back().Value.(*sessionPin))
		t.evicted.Add(1)
	}
	p := &sessionPin{id: id, slot: slot, b: b, lastUsed: lastUsed, saved: lastUsed}
	p.elem = t.lru.PushFront(p)
	t.pins[id] = p
	t.perSlot[slot].Add(1)
	return p
}

// unpin ends the pin of session id, if any. It reports whether there was
// one.
func (t *sessionTable) unpin(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, found := t.pins[id]
	if found {
		t.removeLocked(p)
	}
	return found
}

// dropWhere ends every pin for which lost is true and returns how many it
// ended per slot index.
func (t *sessionTable) dropWhere(lost func(p *sessionPin) bool) [numSlots]int {
	var n [numSlots]int
	t.mu.Lock()
	defer t.mu.Unlock()
	for e := t.lru.Front(); e != nil; {
		p := e.Value.(*sessionPin)
		e = e.Next()
		if lost(p) {
			t.removeLocked(p)
			n[p.slot]++
		}
	}
	return n
}

// counts returns the number of live pins per slot index, after dropping
// the expired ones.
func (t *sessionTable) counts() [numSlots]int64 {
	now := t.now()
	t.mu.Lock()
	t.pruneLocked(now)
	t.mu.Unlock()
	var out [numSlots]int64
	for i := range numSlots {
		out[i] = t.perSlot[i].Load()
	}
	return out
}

// pruneLocked drops expired pins from the cold end of the LRU list.
func (t *sessionTable) pruneLocked(now time.Time) {
	for e := t.lru.Back(); e != nil; e = t.lru.Back() {
		p := e.Value.(*sessionPin)
		if now.Sub(p.lastUsed) < t.ttl {
			return
		}
		t.removeLocked(p)
	}
}

func (t *sessionTable) removeLocked(p *sessionPin) {
	t.lru.Remove(p.elem)
	delete(t.pins, p.id)
	t.perSlot[p.slot].Add(-1)
	if t.wb != nil {
		t.wb.remove(p.id)
	}
}

// saveLocked queues p for the store as it is now.
func (t *sessionTable) saveLocked(p *sessionPin) {
	t.wb.save(p)
	p.saved = p.lastUsed
}
