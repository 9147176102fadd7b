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
	id       string
	slot     int // slot index
	b        *backend
	lastUsed time.Time
	elem     *list.Element
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

// lookup returns the slot index and instance pinned for id, refreshing the
// pin's idle timer, or ok false when id is unknown or expired.
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
	return p.slot, p.b, true
}

// pin records that instance b of slot index slot holds session id, or
// refreshes the pin when it is already there.
func (t *sessionTable) pin(id string, slot int, b *backend) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, found := t.pins[id]; found {
		if p.slot != slot {
			t.perSlot[p.slot].Add(-1)
			t.perSlot[slot].Add(1)
		}
		p.slot, p.b, p.lastUsed = slot, b, now
		t.lru.MoveToFront(p.elem)
		return
	}
	t.pruneLocked(now)
	for len(t.pins) >= t.max {
		t.removeLocked(t.lru.Back().Value.(*sessionPin))
		t.evicted.Add(1)
	}
	p := &sessionPin{id: id, slot: slot, b: b, lastUsed: now}
	p.elem = t.lru.PushFront(p)
	t.pins[id] = p
	t.perSlot[slot].Add(1)
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
}

// pinned returns the slot index and the instance holding the MCP session of
// req, or a nil instance when req carries no session id, the id is not
// pinned, or (when only >= 0) it is pinned on a slot other than only. A pin
// whose instance left its pool or rotation ends here, and is counted: the
// request is routed normally, the server answers 404 and the client starts
// a new session.
func (r *Router) pinned(req *http.Request, only int) (int, *backend) {
	id, ok := sessionID(req.Header)
	if !ok {
		return 0, nil
	}
	i, b, ok := r.sessions.lookup(id)
	if !ok || (only >= 0 && i != only) {
		return 0, nil
	}
	if !b.usable() {
		if r.sessions.unpin(id) {
			r.metrics.sessionsLost.WithLabelValues(string(b.slot)).Inc()
		}
		r.log.Info("mcp session lost: its instance left rotation; routing normally",
			keySlot, b.slot, keyBackend, b.addr)
		return 0, nil
	}
	return i, b
}

// trackSession pins the session a response of slot s names to the instance
// that answered, and ends the pin of the request's session when the server
// says it is over: 404, or a DELETE that succeeded.
func (r *Router) trackSession(s *slotState, resp *http.Response) {
	if id, ok := sessionID(resp.Header); ok {
		if b := backendOf(resp); b != nil {
			r.sessions.pin(id, s.slot.index(), b)
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
