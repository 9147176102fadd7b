package router

import (
	"container/list"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// HeaderMCPSession is the header a session-based MCP server (Streamable
// HTTP, revisions up to 2025-11-25) issues in its answer to initialize and
// the client sends on every later request of the session.
const HeaderMCPSession = "Mcp-Session-Id"

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

// sessionID returns the session id a request or response carries.
func sessionID(h http.Header) (string, bool) {
	v := h[HeaderMCPSession]
	if len(v) == 0 || v[0] == "" {
		return "", false
	}
	return v[0], true
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

// pinned returns the slot index and the instance holding the MCP session of
// req (a nil instance: any instance of the slot), with ok false when req
// carries no session id, the id is not pinned, or (when only >= 0) it is
// pinned on a slot other than only. A pin whose instance left its pool or
// rotation (or, for a pin to the slot, whose slot has no instance in
// rotation) ends here, and is counted: the request is routed normally, the
// server answers 404 and the client starts a new session.
func (r *Router) pinned(req *http.Request, only int) (slot int, b *backend, ok bool) {
	id, ok := sessionID(req.Header)
	if !ok {
		return 0, nil, false
	}
	i, b, ok := r.sessions.lookup(id)
	if !ok || (only >= 0 && i != only) {
		return 0, nil, false
	}
	s := &r.slots[i]
	if b == nil {
		if healthy, _ := s.pool.counts(); healthy > 0 {
			return i, nil, true
		}
	} else if b.usable() {
		return i, b, true
	}
	if r.sessions.unpin(id) {
		r.metrics.sessionsLost.WithLabelValues(string(s.slot)).Inc()
	}
	addr := "any"
	if b != nil {
		addr = b.addr
	}
	r.log.Info("mcp session lost: its instance left rotation; routing normally",
		keySlot, s.slot, keyBackend, addr)
	return 0, nil, false
}

// dropGonePins ends the pins of instances that left slot s's pool (and the
// pins to any instance of s when none is left), counting them as lost:
// after a scale-down the slot's session count falls to zero at once.
func (r *Router) dropGonePins(s *slotState) {
	idx := s.slot.Index()
	_, total := s.pool.counts()
	n := r.sessions.dropWhere(func(p *sessionPin) bool {
		if p.slot != idx {
			return false
		}
		if p.b == nil {
			return total == 0
		}
		return p.b.gone.Load()
	})
	if lost := n[idx]; lost > 0 {
		r.metrics.sessionsLost.WithLabelValues(string(s.slot)).Add(float64(lost))
		r.log.Info("mcp sessions lost: their instances left the pool", keySlot, s.slot, keyCount, lost)
	}
}

// EndSessions ends the pins of every MCP session on slot and returns how
// many there were (counted as lost). Call it when the slot is about to
// stop: the sessions' next requests are routed normally, the server's 404
// makes their clients start over, and the requests already in flight may
// finish before the instances stop.
func (r *Router) EndSessions(slot Slot) int {
	idx := slot.Index()
	if r.sessions == nil || idx < 0 {
		return 0
	}
	n := r.sessions.dropWhere(func(p *sessionPin) bool { return p.slot == idx })[idx]
	if n > 0 {
		r.metrics.sessionsLost.WithLabelValues(string(slot)).Add(float64(n))
		r.log.Info("mcp sessions ended: their slot stops", keySlot, slot, keyCount, n)
	}
	return n
}

// trackSession pins the session a response of slot s names to the instance
// that answered, and ends the pin of the request's session when the server
// says it is over: 404, or a DELETE that succeeded.
func (r *Router) trackSession(s *slotState, resp *http.Response) {
	if id, ok := sessionID(resp.Header); ok {
		if b := backendOf(resp); b != nil {
			r.sessions.pin(id, s.slot.Index(), b)
		}
	}
	code := resp.StatusCode
	if code != http.StatusNotFound && resp.Request.Method != http.MethodDelete {
		return
	}
	if code != http.StatusNotFound && code/100 != 2 {
		// A DELETE refused (405: the server does not let clients end
		// sessions) leaves the session alive.
		return
	}
	if id, ok := sessionID(resp.Request.Header); ok && r.sessions.unpin(id) {
		r.log.Debug("mcp session ended", keySlot, s.slot, "status", code, "method", resp.Request.Method)
	}
}

// backendOf returns the instance that produced resp (set by
// slotTransport.attempt), or nil.
func backendOf(resp *http.Response) *backend {
	switch body := resp.Body.(type) {
	case *backendBody:
		return body.b
	case *backendConn:
		return body.b
	default:
		return nil
	}
}

// pinnedTransport sends a pinned MCP session's request to the instance in
// its requestInfo, without retrying elsewhere (another instance does not
// know the session). Requests without one take the slot's normal path.
type pinnedTransport struct{ st *slotTransport }

var _ http.RoundTripper = (*pinnedTransport)(nil)

func (t *pinnedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if ri := infoOf(req.Context()); ri != nil && ri.backend != nil {
		return t.st.attempt(req, ri.backend)
	}
	return t.st.RoundTrip(req)
}
