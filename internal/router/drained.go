package router

import "time"

// Drained is the question a controller asks, without waiting, before it
// stops the release of a slot that gets no production traffic: is the
// slot done with what it still serves? It is, once
//
//   - its MCP sessions are over: none is pinned to it any more, or
//     Options.SessionDrain has passed since it lost its traffic
//     (SessionsDrained); and
//   - no request or stream is in flight on it (production and preview),
//     or Options.DrainTimeout has passed since the stop began — counted
//     from the end of the session drain when sessions were waited for
//     until then.
//
// Drained changes nothing. The controller then ends what is left with
// EndSlot (streams cleanly) before the instances stop.

// Recheck bounds for Drained's wait: a session or a request may end any
// time, so the controller asks again after at most these.
const (
	sessionRecheck  = time.Second
	inflightRecheck = 100 * time.Millisecond
)

// Drained reports whether slot, whose stop began at since, may stop now
// and, if not, how long to wait at most before asking again. A slot with
// production traffic is never drained.
func (r *Router) Drained(slot Slot, since time.Time) (drained bool, wait time.Duration) {
	i := slot.Index()
	if i < 0 {
		return true, 0 // no such slot: nothing to wait for
	}
	w := r.table.Load().weights[i]
	if w > 0 {
		return false, sessionRecheck
	}
	now := r.drainNow()
	sd := r.sessionDrain(i, w)
	if !sd.Drained {
		return false, min(max(sd.Deadline.Sub(now), 0), sessionRecheck)
	}
	if r.slots[i].inflight.Load() == 0 {
		return true, 0
	}
	start := since
	if sd.Sessions > 0 && sd.Deadline.After(start) {
		// The sessions held the stop up to their deadline: requests get
		// their drain from then.
		start = sd.Deadline
	}
	deadline := start.Add(r.drainTimeout)
	if !now.Before(deadline) {
		return true, 0
	}
	return false, min(deadline.Sub(now), inflightRecheck)
}

// drainNow is the time Drained judges by: the session table's clock when
// there is one (tests replace it), else the wall clock.
func (r *Router) drainNow() time.Time {
	if r.sessions != nil {
		return r.sessions.now()
	}
	return time.Now()
}
