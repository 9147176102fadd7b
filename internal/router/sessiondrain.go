package router

import "time"

// Session drain: a slot that loses all production traffic keeps serving
// the MCP sessions pinned to it. It is "drained" — it may scale down —
// once none is left (they ended: DELETE, 404, idle TTL) or
// Options.SessionDrain has passed since it lost its traffic. Reaching the
// deadline does not cut the sessions: they keep going to the slot as long
// as its instances run; scale-down then ends them (bluegreen's controller
// asks SessionsDrained before it stops a slot).

// trafficChanged records, for the session drain, which slots lost or
// regained production traffic in a switch from prev to next weights.
func (t *sessionTable) trafficChanged(prev, next [numSlots]int) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range numSlots {
		switch {
		case prev[i] > 0 && next[i] == 0:
			t.drainSince[i] = now
		case next[i] > 0:
			t.drainSince[i] = time.Time{}
		}
	}
}

// SessionDrain describes the MCP sessions of one slot for scale-down.
type SessionDrain struct {
	// Sessions counts the sessions pinned to the slot.
	Sessions int64
	// Deadline is when the session drain ends (the slot lost production
	// traffic at Deadline - Options.SessionDrain); zero when the slot has
	// traffic or never lost any while this router ran.
	Deadline time.Time
	// Drained is true when the slot has no production traffic and either
	// no session left or Deadline passed: it may scale down.
	Drained bool
}

// SessionDrainOf reports slot's session drain. Without Options.MCPSessions
// a slot without production traffic is always drained.
func (r *Router) SessionDrainOf(slot Slot) SessionDrain {
	i := slot.Index()
	if i < 0 {
		return SessionDrain{}
	}
	return r.sessionDrain(i, r.table.Load().weights[i])
}

// SessionsDrained reports whether slot may scale down as far as MCP
// sessions go and, when not, how long until its session drain ends at the
// latest (it may end sooner, when the last session does).
func (r *Router) SessionsDrained(slot Slot) (drained bool, left time.Duration) {
	d := r.SessionDrainOf(slot)
	if d.Drained || d.Deadline.IsZero() {
		return d.Drained, 0
	}
	return false, max(d.Deadline.Sub(r.sessions.now()), 0)
}

// sessionDrain is SessionDrainOf for slot index i with production weight
// w.
func (r *Router) sessionDrain(i, w int) SessionDrain {
	t := r.sessions
	if t == nil {
		return SessionDrain{Drained: w == 0}
	}
	n := t.counts()[i]
	now := t.now()
	t.mu.Lock()
	since := t.drainSince[i]
	t.mu.Unlock()
	d := SessionDrain{Sessions: n}
	if w > 0 {
		return d
	}
	if !since.IsZero() {
		d.Deadline = since.Add(r.sessionDrainTimeout)
	}
	// A slot that never lost traffic here has no users' sessions to
	// protect (preview and check sessions only).
	d.Drained = n == 0 || d.Deadline.IsZero() || !now.Before(d.Deadline)
	return d
}
