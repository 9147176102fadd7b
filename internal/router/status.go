package router

import (
	"fmt"
	"github.com/bluegreen-dev/bluegreen/internal/api"
)

// Status, SlotStatus and BackendStatus are the admin API's types
// (package api): the router's snapshot is part of GET /api/v1/status.
type (
	Status        = api.RouterStatus
	SlotStatus    = api.RouterSlotStatus
	BackendStatus = api.BackendStatus
	StreamStatus  = api.StreamStatus
)

// Status returns a snapshot of the route table, the slots and their
// instances.
func (r *Router) Status() Status {
	t := r.table.Load()
	tt := t.table.clone()
	st := Status{Table: api.Route{Live: tt.Live, Weights: tt.Weights}, Slots: make(map[Slot]SlotStatus, numSlots)}
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
