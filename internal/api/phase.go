package api

// Phase is where a deployment is in its lifecycle. It is stored as this
// text (store.Deployment.Phase) and shown to users as is; package deploy
// owns the transitions between phases.
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

// Terminal reports whether p ends a deployment.
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
