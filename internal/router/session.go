package router

import (
	"net/http"
)

// HeaderMCPSession is the header a session-based MCP server (Streamable
// HTTP, revisions up to 2025-11-25) issues in its answer to initialize and
// the client sends on every later request of the session.
const HeaderMCPSession = "Mcp-Session-Id"

// sessionID returns the session id a request or response carries.
func sessionID(h http.Header) (string, bool) {
	v := h[HeaderMCPSession]
	if len(v) == 0 || v[0] == "" {
		return "", false
	}
	return v[0], true
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
func (r *Router) trackSession(s *slotState, resp *http.Response, _ *requestInfo) {
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
