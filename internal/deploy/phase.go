package deploy

// Phase is where a deployment is in its lifecycle. It is stored as this
// text (store.Deployment.Phase) and shown to users as is.
type Phase string

// The phases, exactly as in the product design (docs/lifecycle.md).
const (
	PhasePending      Phase = "pending"       // recorded, nothing started yet
	PhaseProvisioning Phase = "provisioning"  // the runtime starts the release in the idle slot
	PhaseWaitingReady Phase = "waiting_ready" // every instance must pass its health checks
	PhaseVerifying    Phase = "verifying"     // checks through the preview route; no user traffic yet
	PhaseShifting     Phase = "shifting"      // the strategy moves production traffic step by step
	PhaseBaking       Phase = "baking"        // 100% on the new slot for bake_time, old slot warm
	PhaseSucceeded    Phase = "succeeded"     // the new slot is live; the old one stays warm, then stops
	PhaseFailed       Phase = "failed"        // stopped before any user traffic moved
	PhasePaused       Phase = "paused"        // frozen in shifting or baking by a person
	PhaseAborted      Phase = "aborted"       // stopped by a person; traffic back on the old slot
	PhaseRollingBack  Phase = "rolling_back"  // failed after traffic moved; moving it back
	PhaseRolledBack   Phase = "rolled_back"   // traffic back on the old slot, new release stopped
)

// Phases lists every phase in lifecycle order.
func Phases() []Phase {
	return []Phase{
		PhasePending, PhaseProvisioning, PhaseWaitingReady, PhaseVerifying,
		PhaseShifting, PhaseBaking, PhaseSucceeded, PhaseFailed, PhasePaused,
		PhaseAborted, PhaseRollingBack, PhaseRolledBack,
	}
}

// next is the table of allowed transitions: the phases a deployment in
// phase from may move to. It is the only place that says so.
//
// Edges that only some deployments take:
//   - pending → succeeded: a rollback while the old slot is warm and healthy
//     (one route swap).
//   - waiting_ready → succeeded: a rollback after scale-down, once the
//     restarted old release is healthy (no verifying, no gradual shift).
//   - verifying → succeeded: the first release ever (no live slot to shift
//     from: straight to 100%).
//   - verifying → baking: a strategy whose first step is already 100%
//     (all-at-once).
//   - shifting → shifting: the next step of the strategy.
//   - baking → baking: promote, which skips the rest of bake_time.
func next(from Phase) []Phase {
	switch from {
	case PhasePending:
		return []Phase{PhaseProvisioning, PhaseSucceeded, PhaseFailed, PhaseAborted}
	case PhaseProvisioning:
		return []Phase{PhaseWaitingReady, PhaseFailed, PhaseAborted}
	case PhaseWaitingReady:
		return []Phase{PhaseVerifying, PhaseSucceeded, PhaseFailed, PhaseAborted}
	case PhaseVerifying:
		return []Phase{PhaseShifting, PhaseBaking, PhaseSucceeded, PhaseFailed, PhaseAborted}
	case PhaseShifting:
		return []Phase{PhaseShifting, PhaseBaking, PhasePaused, PhaseRollingBack, PhaseAborted}
	case PhaseBaking:
		return []Phase{PhaseBaking, PhaseSucceeded, PhasePaused, PhaseRollingBack, PhaseAborted}
	case PhasePaused:
		return []Phase{PhaseShifting, PhaseBaking, PhaseRollingBack, PhaseAborted}
	case PhaseRollingBack:
		return []Phase{PhaseRolledBack}
	case PhaseSucceeded, PhaseFailed, PhaseAborted, PhaseRolledBack:
		return nil
	}
	return nil
}

// CanMoveTo reports whether the table allows p → to.
func (p Phase) CanMoveTo(to Phase) bool {
	for _, n := range next(p) {
		if n == to {
			return true
		}
	}
	return false
}

// Terminal reports whether p ends a deployment (it is no longer active).
func (p Phase) Terminal() bool {
	switch p {
	case PhaseSucceeded, PhaseFailed, PhaseAborted, PhaseRolledBack:
		return true
	case PhasePending, PhaseProvisioning, PhaseWaitingReady, PhaseVerifying,
		PhaseShifting, PhaseBaking, PhasePaused, PhaseRollingBack:
		return false
	}
	return false
}

// Valid reports whether p is one of the phases.
func (p Phase) Valid() bool {
	switch p {
	case PhasePending, PhaseProvisioning, PhaseWaitingReady, PhaseVerifying,
		PhaseShifting, PhaseBaking, PhaseSucceeded, PhaseFailed, PhasePaused,
		PhaseAborted, PhaseRollingBack, PhaseRolledBack:
		return true
	}
	return false
}

// ownsRoute reports whether a deployment in phase p decides the route
// (its weight on the new slot); in the other active phases the stored
// route stays as it was before the deployment.
func ownsRoute(p Phase) bool {
	switch p {
	case PhaseShifting, PhaseBaking, PhasePaused, PhaseRollingBack:
		return true
	case PhasePending, PhaseProvisioning, PhaseWaitingReady, PhaseVerifying,
		PhaseSucceeded, PhaseFailed, PhaseAborted, PhaseRolledBack:
		return false
	}
	return false
}
