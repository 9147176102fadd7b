package router

import (
	"fmt"
	"time"
)

// Status is a snapshot of the router for the admin API and the dashboard.
type Status struct {
	Table Table               `json:"table"`
	Slots map[Slot]SlotStatus `json:"slots"`
}

// SlotStatus describes one slot.
type SlotStatus struct {
	Weight  int `json:"weight"`
	Healthy int `json:"healthy"`
	Total   int `json:"total"`
	// Inflight counts requests and streams in flight (production and
	// preview).
	Inflight int64 `json:"inflight"`
	// Retries counts requests retried on another instance since start.
	Retries int64 `json:"retries"`
	// PassiveEjectionLimit is how many of the slot's instances may be out
	// of rotation for passive failures to take one more out
	// (health.max_passive_ejection of Total, rounded down).
	PassiveEjectionLimit int `json:"passive_ejection_limit"`
	// PassiveHeld counts the instances passive failures would have taken
	// out beyond that limit: they stay in rotation until active checks
	// fail (BackendStatus.PassiveHeld).
	PassiveHeld int `json:"passive_held"`
	// Draining is true while the slot waits, after losing production
	// traffic, for its earlier requests to finish before DrainDeadline.
	Draining      bool      `json:"draining"`
	DrainDeadline time.Time `json:"drain_deadline,omitzero"`
	// DrainingRequests counts requests started before the slot lost
	// production traffic that are still running.
	DrainingRequests int64 `json:"draining_requests"`
	// MCPSessions counts the MCP sessions pinned to the slot (0 when
	// Options.MCPSessions is off). A slot that lost production traffic
	// keeps serving them.
	MCPSessions int64 `json:"mcp_sessions"`
	// SessionDrainDeadline is when the slot, which lost production
	// traffic, stops waiting for its MCP sessions to end (see
	// SessionDrainOf); zero when it has traffic.
	SessionDrainDeadline time.Time `json:"session_drain_deadline,omitzero"`
	// CanScaleDown is true when the slot has no production traffic and no
	// MCP session to wait for (none left, or the session drain is over).
	CanScaleDown bool `json:"can_scale_down"`
	// Streams counts the slot's open SSE streams and WebSockets, and those
	// the router ended at a drain deadline or shutdown.
	Streams  StreamStatus    `json:"streams"`
	Backends []BackendStatus `json:"backends"`
}

// BackendStatus describes one instance.
type BackendStatus struct {
	Addr                string `json:"addr"`
	Healthy             bool   `json:"healthy"`
	Inflight            int64  `json:"inflight"`
	ConsecutiveFailures int    `json:"consecutive_failures"`
	// PassiveHeld is true while the instance is in rotation only because
	// passive failures may not take more of its slot out; HeldReason says
	// so in words.
	PassiveHeld bool   `json:"passive_held"`
	HeldReason  string `json:"held_reason,omitempty"`
}

// Status returns a snapshot of the route table, the slots and their
// instances.
func (r *Router) Status() Status {
	t := r.table.Load()
	st := Status{Table: t.table.clone(), Slots: make(map[Slot]SlotStatus, numSlots)}
	for i, slot := range allSlots() {
		s := &r.slots[i]
		healthy, total := s.pool.counts()
		draining, deadline, waiting := s.drain.status()
		sd := r.sessionDrain(i, t.weights[i])
		ss := SlotStatus{
			Weight:               t.weights[i],
			Healthy:              healthy,
			Total:                total,
			Inflight:             s.inflight.Load(),
			Retries:              s.retries.Load(),
			Draining:             draining,
			DrainDeadline:        deadline,
			DrainingRequests:     waiting,
			MCPSessions:          sd.Sessions,
			SessionDrainDeadline: sd.Deadline,
			CanScaleDown:         sd.Drained,
			Streams:              s.streams.status(),
			Backends:             []BackendStatus{},
		}
		limit := r.health.PassiveEjectionLimit(total)
		ss.PassiveEjectionLimit = limit
		for _, b := range s.pool.all() {
			bs := b.status()
			if bs.PassiveHeld {
				ss.PassiveHeld++
				bs.HeldReason = fmt.Sprintf("failed requests would take it out (%d failures in a row), but passive checks may take an instance out only while at most %d of %d are out (health.max_passive_ejection %d%%); it leaves rotation when active checks fail %d times in a row",
					bs.ConsecutiveFailures, limit, total, *r.health.MaxPassiveEjection, r.health.UnhealthyThreshold)
			}
			ss.Backends = append(ss.Backends, bs)
		}
		st.Slots[slot] = ss
	}
	return st
}
