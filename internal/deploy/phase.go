package deploy

import "github.com/bluegreen-dev/bluegreen/internal/api"

// Phase is where a deployment is in its lifecycle. The phase names are part
// of the admin API's contract (package api); the transitions between them
// are this package's.
type Phase = api.Phase

// The phases, as package api names them.
const (
	PhasePending      = api.PhasePending
	PhaseProvisioning = api.PhaseProvisioning
	PhaseWaitingReady = api.PhaseWaitingReady
	PhaseVerifying    = api.PhaseVerifying
	PhaseShifting     = api.PhaseShifting
	PhaseBaking       = api.PhaseBaking
	PhaseSucceeded    = api.PhaseSucceeded
	PhaseFailed       = api.PhaseFailed
	PhasePaused       = api.PhasePaused
	PhaseAborted      = api.PhaseAborted
	PhaseRollingBack  = api.PhaseRollingBack
	PhaseRolledBack   = api.PhaseRolledBack
)

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

// canMove reports whether the table allows from → to.
func canMove(from, to Phase) bool {
	for _, n := range next(from) {
		if n == to {
			return true
		}
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
